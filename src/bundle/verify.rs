//! Checking a bundle without trusting its sender: decrypt (age) if needed,
//! read the tar with hostile-input limits, then check the BagIt manifests
//! and Payload-Oxum, the minisign signature of the tag manifest (against a
//! given signer, or the key inside, which proves nothing on its own), every
//! custody chain and event signature, and that each statement text and
//! exhibit matches the fingerprints its custody events recorded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::*;
use crate::custody::chain::{brought_history, check_handover, readable_events, verify_chain};
use crate::custody::{Action, Event};
use crate::error::{Error, Integrity, Invalid, Result};
use crate::formats::bagit::{
    parse_bag_info, parse_bagit_txt, parse_manifest, parse_payload_oxum, parse_tag_manifest,
    MANIFEST_NAME, TAG_MANIFEST_NAME,
};
use crate::formats::minisign::{self, PublicKey, SignatureFile};
use crate::formats::tar::{for_each_entry, ReadLimits, TarError};
use crate::vault::{Unlocked, Vault};

/// Most bytes of non-evidence files (metadata, texts, custody logs, the
/// report…) held in memory while reading a bundle, all files together.
/// Exhibits (`data/evidence/`) are streamed and do not count.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;

/// How to open an encrypted bundle.
pub enum Unlock {
    /// Not encrypted (or no key given).
    None,
    /// age identities (from `--identity FILE`).
    Identities(Vec<Box<dyn age::Identity>>),
    /// An age passphrase.
    Passphrase(SecretString),
}

/// Why a signer key is trusted.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrustSource {
    /// Given on the command line (`--signer`).
    CommandLine,
    /// Pinned earlier in this vault (`custodia signer add NAME PUBKEY`).
    Pinned {
        /// The name it was pinned under.
        name: String,
    },
}

impl TrustSource {
    /// A phrase for the verdict: "given with --signer", "pinned in this
    /// vault as \"NAME\"".
    pub fn describe(&self) -> String {
        match self {
            TrustSource::CommandLine => "the key given with --signer".to_owned(),
            TrustSource::Pinned { name } => format!("the key pinned in this vault as {name:?}"),
        }
    }
}

/// A signer key the verifier vouches for, and why.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Why it is trusted.
    pub source: TrustSource,
}

impl TrustedKey {
    /// A key given on the command line.
    pub fn given(key: PublicKey) -> TrustedKey {
        TrustedKey {
            key,
            source: TrustSource::CommandLine,
        }
    }

    /// A key pinned in the vault.
    pub fn pinned(signer: &crate::vault::signers::PinnedSigner) -> TrustedKey {
        TrustedKey {
            key: PublicKey::new(signer.key),
            source: TrustSource::Pinned {
                name: signer.name.clone(),
            },
        }
    }
}

impl Vault<Unlocked> {
    /// The keys this vault trusts as bundle signers: `given` (from the
    /// command line) first, then every signer pinned in the vault.
    pub(crate) fn trusted_signers(&mut self, given: &[PublicKey]) -> Result<Vec<TrustedKey>> {
        let mut keys: Vec<TrustedKey> = given.iter().cloned().map(TrustedKey::given).collect();
        keys.extend(self.pinned_signers()?.iter().map(TrustedKey::pinned));
        Ok(keys)
    }

    /// [`verify_bundle`] trusting `given` keys and this vault's pinned
    /// signers.
    pub fn verify_bundle(
        &mut self,
        path: &Path,
        unlock: &Unlock,
        given: &[PublicKey],
    ) -> Result<Verdict> {
        let trusted = self.trusted_signers(given)?;
        verify_bundle(path, unlock, &trusted)
    }
}

/// Reads age identities from a file (as `age -d -i FILE` does).
pub fn identities_from_file(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let file = File::open(path).map_err(|e| {
        Error::io(
            format!("cannot read the identity file {}", path.display()),
            e,
        )
    })?;
    let ids = age::IdentityFile::from_buffer(BufReader::new(file))
        .map_err(|e| {
            Error::io(
                format!("cannot read the identity file {}", path.display()),
                e,
            )
        })?
        .into_identities()
        .map_err(|e| {
            Error::CannotDecrypt(format!(
                "the identity file {} is not usable: {e}",
                path.display()
            ))
        })?;
    Ok(ids)
}

/// One file of the bag as read.
pub struct Entry {
    /// Size.
    pub size: u64,
    /// SHA-256.
    pub sha256: [u8; 32],
    /// The bytes, for everything but exhibits.
    pub bytes: Option<Vec<u8>>,
}

/// One line of the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// What (statement, exhibit, custody chain, signature…).
    pub what: String,
    /// Which.
    pub name: String,
    /// OK or not.
    pub ok: bool,
    /// Detail.
    pub detail: String,
}

/// The verdict on a bundle.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Verdict {
    /// Was it age-encrypted.
    pub encrypted: bool,
    /// The bag's directory name.
    pub bag: String,
    /// Case reference (bag-info).
    pub case_reference: String,
    /// Exporter (bag-info).
    pub exporter: String,
    /// Signer's minisign key id (a 64-bit label, for `minisign -V` only).
    pub signer_key_id: String,
    /// Signer key's fingerprint: SHA-256 of the 32 key bytes, hex. This is
    /// what to compare with the signer.
    pub signer_fingerprint: String,
    /// The first 128 bits of the fingerprint, in groups of 4.
    pub signer_fingerprint_short: String,
    /// How the signer key was established.
    pub signer_source: String,
    /// True when the signature verified with a key the verifier trusts
    /// (given with --signer, or pinned); false when only with the key the
    /// bundle carries (nobody vouched for it).
    pub signer_authenticated: bool,
    /// Why the signer key is trusted, when it is.
    pub trusted_as: Option<TrustSource>,
    /// The id of the vault the bundle was exported from (its checkpoint).
    pub source_vault: String,
    /// Checkpoint receipt (bag-info).
    pub checkpoint: String,
    /// Each item checked.
    pub items: Vec<Item>,
    /// Problems (empty = valid).
    pub problems: Vec<String>,
}

/// The outcome of a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Intact, consistent, and signed by a trusted key (exit 0).
    Valid,
    /// Intact and consistent, but signed by a key nobody vouched for
    /// (exit 5).
    Unauthenticated,
    /// Altered, incomplete, inconsistent or badly signed (exit 4).
    Invalid,
}

impl Verdict {
    /// True when nothing is wrong with the bundle itself (files, manifests,
    /// signature, chains). Says nothing about who signed it: see
    /// [`Verdict::status`].
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Valid, unauthenticated or invalid.
    pub fn status(&self) -> Status {
        if !self.is_valid() {
            Status::Invalid
        } else if self.signer_authenticated {
            Status::Valid
        } else {
            Status::Unauthenticated
        }
    }

    /// The error to refuse an import with, if any: integrity problems
    /// first, then an unauthenticated signer.
    pub fn refusal(&self) -> Option<Error> {
        match self.status() {
            Status::Valid => None,
            Status::Invalid => Some(Error::Integrity(Integrity::Bundle { problem: format!(
                "the bundle failed verification, nothing was imported: {}",
                self.problems.join("; ")
            ) })),
            Status::Unauthenticated => Some(Error::Unauthenticated(format!(
                "the bundle is intact, but its signer (key fingerprint {}) is not one you \
                 trust: nothing was imported; give the signer's key with --signer PUBKEY (or \
                 pin it with `custodia signer add`) after comparing its fingerprint with the signer",
                self.signer_fingerprint_short
            ))),
        }
    }

    fn item(&mut self, what: &str, name: &str, ok: bool, detail: impl Into<String>) {
        let detail = detail.into();
        if !ok {
            self.problems.push(format!("{what} {name}: {detail}"));
        }
        self.items.push(Item {
            what: what.into(),
            name: name.into(),
            ok,
            detail,
        });
    }

    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }
}

/// A verified (or not) bundle: the verdict and the files read.
pub struct ReadBundle {
    /// The verdict.
    pub verdict: Verdict,
    /// Files by path relative to the bag directory.
    pub files: BTreeMap<String, Entry>,
}

/// Sorts age's failures: a key that does not fit is exit 3; a header or
/// payload that does not authenticate is tampering (exit 4), even when the
/// right key was given.
fn age_error(e: age::DecryptError, wrong_key: &str) -> Error {
    use age::DecryptError as E;
    match e {
        // At header time, DecryptionFailed is what a wrong scrypt
        // passphrase gives (payload damage surfaces later, while reading).
        E::NoMatchingKeys | E::KeyDecryptionFailed | E::DecryptionFailed => {
            Error::CannotDecrypt(format!("{wrong_key} ({e})"))
        }
        E::ExcessiveWork { .. } => Error::Invalid(Invalid::Bundle {
            problem: format!("the bundle asks for too much work to decrypt ({e})"),
        }),
        E::InvalidHeader | E::InvalidMac | E::UnknownFormat => {
            Error::Integrity(Integrity::Bundle {
                problem: format!(
            "the bundle's encryption does not authenticate: it was altered or damaged ({e})"
        ),
            })
        }
        other => Error::Integrity(Integrity::Bundle {
            problem: format!("the bundle cannot be decrypted: {other}"),
        }),
    }
}

/// Opens a bundle file for reading its tar: decrypts age if needed.
pub(crate) fn open_tar(path: &Path, unlock: &Unlock) -> Result<(Box<dyn Read>, bool)> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut reader = BufReader::with_capacity(1024 * 1024, file);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .to_vec();
    if head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(Error::Invalid(Invalid::Bundle {
            problem: "this bundle is ASCII-armored; run `age -d` on it first, then verify the tar"
                .into(),
        }));
    }
    if !head.starts_with(b"age-encryption.org/v1") {
        return Ok((Box::new(reader), false));
    }
    let decryptor = age::Decryptor::new_buffered(reader)
        .map_err(|e| age_error(e, "this is not an age file this build can read"))?;
    let decrypted: Box<dyn Read> = match unlock {
        Unlock::None => {
            return Err(Error::CannotDecrypt(
                "this bundle is encrypted: give --identity FILE, or --bundle-passphrase-file FILE for a passphrase bundle".into(),
            ))
        }
        Unlock::Passphrase(p) => {
            if !decryptor.is_scrypt() {
                return Err(Error::CannotDecrypt(
                    "this bundle is encrypted to age recipients, not a passphrase: give --identity FILE".into(),
                ));
            }
            let id = age::scrypt::Identity::new(p.clone());
            Box::new(
                decryptor
                    .decrypt(std::iter::once(&id as &dyn age::Identity))
                    .map_err(|e| age_error(e, "wrong passphrase for this bundle"))?,
            )
        }
        Unlock::Identities(ids) => {
            if decryptor.is_scrypt() {
                return Err(Error::CannotDecrypt(
                    "this bundle is encrypted with a passphrase: give --passphrase-file FILE".into(),
                ));
            }
            Box::new(
                decryptor
                    .decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity))
                    .map_err(|e| age_error(e, "none of the given identities opens this bundle"))?,
            )
        }
    };
    Ok((decrypted, true))
}

/// What a walk over a bundle's tar found: the bag directory and its files
/// (relative to the bag directory).
pub struct Walked {
    /// The bag's directory name.
    pub bag: String,
    /// Files by path relative to the bag directory.
    pub files: BTreeMap<String, Entry>,
}

/// Reads the tar of a bundle ONCE, entry by entry, with the hostile-input
/// limits of [`for_each_entry`]: every file must sit under one bag
/// directory; files outside `data/evidence/` are kept in memory, at most
/// [`MAX_METADATA_BYTES`] in all; each exhibit is handed to `exhibit`
/// (path relative to the bag, size, reader, the files read so far), which
/// must consume it and return its SHA-256. The importer stores exhibits
/// there while they stream by; the verifier only hashes them.
pub fn walk_bundle(
    reader: impl Read,
    mut exhibit: impl FnMut(
        &str,
        u64,
        &mut dyn Read,
        &BTreeMap<String, Entry>,
    ) -> std::result::Result<[u8; 32], TarError>,
) -> std::result::Result<Walked, TarError> {
    let invalid =
        |msg: String| TarError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    let mut bag: Option<String> = None;
    let mut kept_total = 0u64;
    let limits = ReadLimits::default();
    for_each_entry(reader, &limits, |full, size, r| {
        let (top, rel) = full.split_once('/').unwrap_or((full, ""));
        match &bag {
            None => bag = Some(top.to_owned()),
            Some(b) if b != top => {
                return Err(invalid(format!("{full}: outside the bag directory {b}/")))
            }
            Some(_) => {}
        }
        if rel.is_empty() {
            return Err(invalid(format!("{full}: a file beside the bag directory")));
        }
        if rel.starts_with(EVIDENCE_DIR) {
            let sha256 = exhibit(rel, size, r, &files)?;
            files.insert(
                rel.to_owned(),
                Entry {
                    size,
                    sha256,
                    bytes: None,
                },
            );
            return Ok(());
        }
        kept_total = kept_total.saturating_add(size);
        if kept_total > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "{rel}: the bundle's files other than exhibits add up to more than {} MiB \
                 (the most a reader holds in memory); refused",
                MAX_METADATA_BYTES >> 20
            )));
        }
        // At most MAX_METADATA_BYTES (checked above): allocated once.
        let mut kept = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        r.take(size).read_to_end(&mut kept)?;
        let sha256: [u8; 32] = Sha256::digest(&kept).into();
        files.insert(
            rel.to_owned(),
            Entry {
                size,
                sha256,
                bytes: Some(kept),
            },
        );
        Ok(())
    })?;
    Ok(Walked {
        bag: bag.unwrap_or_default(),
        files,
    })
}

/// Hashes a reader to its end in 256 KiB reads.
pub fn hash_reader(r: &mut dyn Read) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher.finalize().into())
}

/// Reads every entry of a bundle once (exhibits hashed, not kept) and
/// checks it, trusting `trusted` signer keys. A hostile archive
/// (traversal, links, devices, absurd sizes…) is a problem in the verdict,
/// not a crash.
pub(crate) fn read_bundle(
    path: &Path,
    unlock: &Unlock,
    trusted: &[TrustedKey],
) -> Result<ReadBundle> {
    let (reader, encrypted) = open_tar(path, unlock)?;
    let mut verdict = Verdict {
        encrypted,
        ..Verdict::default()
    };
    match walk_bundle(reader, |_, _, r, _| Ok(hash_reader(r)?)) {
        Err(e) => {
            verdict.problem(format!("the bundle's archive is unsafe or malformed: {e}"));
            Ok(ReadBundle {
                verdict,
                files: BTreeMap::new(),
            })
        }
        Ok(walked) => {
            verdict.bag = walked.bag;
            check_bag(&mut verdict, &walked.files, trusted);
            Ok(ReadBundle {
                verdict,
                files: walked.files,
            })
        }
    }
}

fn text<'a>(files: &'a BTreeMap<String, Entry>, name: &str) -> Option<&'a str> {
    files
        .get(name)
        .and_then(|e| e.bytes.as_deref())
        .and_then(|b| std::str::from_utf8(b).ok())
}

/// Checks a walked bag (see [`walk_bundle`]) into `v`.
pub fn check_bag(v: &mut Verdict, files: &BTreeMap<String, Entry>, trusted: &[TrustedKey]) {
    // BagIt declaration and bag-info.
    match text(files, "bagit.txt").map(parse_bagit_txt) {
        Some(Ok((version, _))) if version == "1.0" => {}
        Some(Ok((version, _))) => v.problem(format!("bagit.txt declares BagIt {version}, not 1.0")),
        Some(Err(e)) => v.problem(format!("bagit.txt: {e}")),
        None => v.problem("bagit.txt is missing"),
    }
    let info = match text(files, "bag-info.txt").map(parse_bag_info) {
        Some(Ok(info)) => info,
        Some(Err(e)) => {
            v.problem(format!("bag-info.txt: {e}"));
            Vec::new()
        }
        None => {
            v.problem("bag-info.txt is missing");
            Vec::new()
        }
    };
    let field = |label: &str| {
        info.iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(label))
            .map(|(_, value)| value.clone())
    };
    v.case_reference = field(INFO_CASE).unwrap_or_default();
    v.exporter = field(INFO_EXPORTER).unwrap_or_default();
    v.checkpoint = field(INFO_CHECKPOINT).unwrap_or_default();
    let exporter_key = field(INFO_EXPORTER_KEY).unwrap_or_default();

    // Payload manifest: every listed file present and intact, nothing extra.
    let manifest = match text(files, MANIFEST_NAME).map(parse_manifest) {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            v.problem(format!("{MANIFEST_NAME}: {e}"));
            Vec::new()
        }
        None => {
            v.problem(format!("{MANIFEST_NAME} is missing"));
            Vec::new()
        }
    };
    let mut listed = std::collections::BTreeSet::new();
    for (path, digest) in &manifest {
        listed.insert(path.clone());
        match files.get(path) {
            None => v.problem(format!("{path}: listed in the manifest but missing")),
            Some(e) if e.sha256 != *digest => v.problem(format!(
                "{path}: altered (its SHA-256 differs from the manifest)"
            )),
            Some(_) => {}
        }
    }
    let payload: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.starts_with("data/"))
        .collect();
    for (path, _) in &payload {
        if !listed.contains(*path) {
            v.problem(format!("{path}: an extra file, not in the manifest"));
        }
    }
    match field("Payload-Oxum").map(|o| parse_payload_oxum(&o)) {
        Some(Ok((bytes, count))) => {
            let real: u64 = payload.iter().map(|(_, e)| e.size).sum();
            if bytes != real || count != payload.len() as u64 {
                v.problem(format!(
                    "Payload-Oxum says {bytes} bytes in {count} files, the bag has {real} bytes in {}",
                    payload.len()
                ));
            }
        }
        Some(Err(e)) => v.problem(format!("Payload-Oxum: {e}")),
        None => v.problem("bag-info.txt has no Payload-Oxum"),
    }

    // Tag manifest: covers the tag files; nothing unlisted beside them.
    let tagman_text = text(files, TAG_MANIFEST_NAME);
    let tagman = match tagman_text.map(parse_tag_manifest) {
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            v.problem(format!("{TAG_MANIFEST_NAME}: {e}"));
            Vec::new()
        }
        None => {
            v.problem(format!("{TAG_MANIFEST_NAME} is missing"));
            Vec::new()
        }
    };
    let mut tag_listed = std::collections::BTreeSet::new();
    for (path, digest) in &tagman {
        tag_listed.insert(path.clone());
        match files.get(path) {
            None => v.problem(format!("{path}: listed in the tag manifest but missing")),
            Some(e) if e.sha256 != *digest => v.problem(format!(
                "{path}: altered (its SHA-256 differs from the tag manifest)"
            )),
            Some(_) => {}
        }
    }
    for required in ["bagit.txt", "bag-info.txt", MANIFEST_NAME] {
        if !tag_listed.contains(required) {
            v.problem(format!("{required} is not covered by the tag manifest"));
        }
    }
    for (path, _) in files.iter().filter(|(p, _)| !p.starts_with("data/")) {
        if path != TAG_MANIFEST_NAME && path != SIGNATURE_NAME && !tag_listed.contains(path) {
            v.problem(format!(
                "{path}: an extra tag file, not in the tag manifest"
            ));
        }
    }

    // Signature, then what it vouches for.
    check_signature(v, files, tagman_text, trusted);
    if !v.signer_key_id.is_empty() && !exporter_key.eq_ignore_ascii_case(&v.signer_key_id) {
        v.problem(format!(
            "bag-info.txt names exporter key {exporter_key:?}, but the bag is signed by key {}",
            v.signer_key_id
        ));
    }
    check_signer_files(v, files);
    check_checkpoint(v, files);
    check_custody_and_records(v, files);
}

/// The minisign signature of the tag manifest. It is checked with a
/// trusted key whose id it names (then the signer is authenticated), else,
/// when no --signer was given, with the key the bundle carries (intact,
/// but nobody vouched for that key: unauthenticated).
fn check_signature(
    v: &mut Verdict,
    files: &BTreeMap<String, Entry>,
    tagman: Option<&str>,
    trusted: &[TrustedKey],
) {
    let Some(sig_text) = text(files, SIGNATURE_NAME) else {
        v.problem("the bundle is unsigned (no tagmanifest-sha256.txt.minisig)");
        return;
    };
    let Some(tagman) = tagman else { return };
    let sig = match SignatureFile::parse(sig_text) {
        Ok(s) => s,
        Err(e) => {
            v.problem(format!("the signature file is malformed: {e}"));
            return;
        }
    };
    let key_id = sig.key_id_hex();
    v.signer_key_id = key_id.clone();
    let inside = text(files, &signer_path(&key_id)).map(PublicKey::parse);
    let (key, trust) = match trusted.iter().find(|t| t.key.key_id == sig.key_id) {
        Some(t) => {
            // The key the bag carries under that id must be this very key
            // (compared in full, not by the 64-bit id).
            if let Some(Ok(k)) = &inside {
                if k.key != t.key.key {
                    v.item(
                        "signature",
                        &key_id,
                        false,
                        format!(
                            "the bundle's key {} has fingerprint {}, not the trusted key's {}",
                            signer_path(&key_id),
                            k.fingerprint(),
                            t.key.fingerprint()
                        ),
                    );
                    return;
                }
            }
            (t.key.clone(), Some(t.source.clone()))
        }
        None if trusted.iter().any(|t| t.source == TrustSource::CommandLine) => {
            let expected: Vec<String> = trusted
                .iter()
                .filter(|t| t.source == TrustSource::CommandLine)
                .map(|t| {
                    format!(
                        "{} (fingerprint {})",
                        t.key.key_id_hex(),
                        t.key.fingerprint_short()
                    )
                })
                .collect();
            let real = match &inside {
                Some(Ok(k)) => format!(" (fingerprint {})", k.fingerprint_short()),
                _ => String::new(),
            };
            v.item(
                "signature",
                &key_id,
                false,
                format!(
                    "signed by key {key_id}{real}, not by the expected signer {}",
                    expected.join(" or ")
                ),
            );
            return;
        }
        None => match inside {
            Some(Ok(k)) => (k, None),
            Some(Err(e)) => {
                v.item(
                    "signature",
                    &key_id,
                    false,
                    format!("the signer's key in the bundle is refused: {e}"),
                );
                return;
            }
            None => {
                v.item(
                    "signature",
                    &key_id,
                    false,
                    "no --signer given and the signer's key is not in the bundle",
                );
                return;
            }
        },
    };
    let source = match &trust {
        Some(t) => t.describe(),
        None => "the key inside the bundle, which nobody vouched for: the signer is \
                 UNAUTHENTICATED (compare the fingerprint with one obtained from the signer, \
                 then verify with --signer)"
            .to_owned(),
    };
    v.signer_source = source.clone();
    v.signer_fingerprint = key.fingerprint();
    v.signer_fingerprint_short = key.fingerprint_short();
    match minisign::verify(&key, tagman.as_bytes(), sig_text) {
        Ok(_) => {
            v.signer_authenticated = trust.is_some();
            v.trusted_as = trust;
            v.item(
                "signature",
                &key_id,
                true,
                format!(
                    "valid, key fingerprint {}, checked with {source}",
                    key.fingerprint()
                ),
            )
        }
        Err(e) => v.item("signature", &key_id, false, format!("does not verify: {e}")),
    }
}

/// Each `data/signers/<key id>.pub` must hold a key whose id, derived
/// from the key itself, is the one its name says.
fn check_signer_files(v: &mut Verdict, files: &BTreeMap<String, Entry>) {
    for path in files.keys().filter(|p| p.starts_with("data/signers/")) {
        let named = path
            .trim_start_matches("data/signers/")
            .trim_end_matches(".pub");
        match text(files, path).map(PublicKey::parse) {
            Some(Ok(key)) if key.key_id_hex().eq_ignore_ascii_case(named) => {}
            Some(Ok(key)) => v.problem(format!(
                "{path} holds key {}, not the key its name says",
                key.key_id_hex()
            )),
            Some(Err(e)) => v.problem(format!("{path} is refused: {e}")),
            None => v.problem(format!("{path} is not a minisign public key (not UTF-8)")),
        }
    }
}

/// The vault checkpoint receipt in bag-info.txt must be signed by a key of
/// the bag's signers.
fn check_checkpoint(v: &mut Verdict, files: &BTreeMap<String, Entry>) {
    if v.checkpoint.is_empty() {
        v.problem("bag-info.txt has no vault checkpoint");
        return;
    }
    let receipt = match crate::formats::checkpoint::Checkpoint::parse(&v.checkpoint) {
        Ok(r) => r,
        Err(e) => {
            v.problem(format!(
                "the vault checkpoint in bag-info.txt is malformed: {e}"
            ));
            return;
        }
    };
    let key = text(files, &signer_path(&receipt.key_id)).and_then(|t| PublicKey::parse(t).ok());
    let ok = key.is_some_and(|k| receipt.signed_by(&k.key));
    v.source_vault = receipt.vault.clone();
    v.item(
        "checkpoint",
        &format!("{} events", receipt.count),
        ok,
        if ok {
            format!(
                "vault {} at event {}, signed by key {}",
                receipt.vault, receipt.count, receipt.key_id
            )
        } else {
            "the checkpoint receipt's signature does not verify with the bag's signer keys"
                .to_owned()
        },
    );
}

/// The position of the first amend that follows a seal in a record's
/// chain, if any: the seal event is the authority, whatever the rows say.
fn amend_after_seal(events: &[Event]) -> Option<u64> {
    let mut sealed = false;
    for e in events {
        match e.action {
            Action::Seal => sealed = true,
            Action::Amend if sealed => return Some(e.position),
            _ => {}
        }
    }
    None
}

/// The vault position of the first event written over a rebuilt log head.
fn rebuilt_at(events: &[Event]) -> Option<u64> {
    events
        .iter()
        .find(|e| {
            e.details.get(crate::custody::LOG_HEAD_REBUILT) == Some(&serde_json::Value::Bool(true))
        })
        .map(|e| e.position)
}

/// The checkpoint in bag-info.txt was taken by the exporter right after
/// this export's events: it must be signed by the bundle's signer, and its
/// count and head must be the newest of those events. A forger who signs
/// new export events and the bag with their own key must then also sign a
/// receipt of their own: only `--signer` (or the signer's key obtained
/// elsewhere) tells that bundle from the exporter's.
fn check_checkpoint_matches_export(v: &mut Verdict, export_events: &[Event]) {
    let Ok(receipt) = crate::formats::checkpoint::Checkpoint::parse(&v.checkpoint) else {
        return; // reported by check_checkpoint
    };
    let Some(newest) = export_events.iter().max_by_key(|e| e.position) else {
        return;
    };
    let hash = serde_json::to_string(newest)
        .map(|c| hex::encode(Sha256::digest(c.as_bytes())))
        .unwrap_or_default();
    let why = if !v.signer_key_id.is_empty() && receipt.key_id != v.signer_key_id {
        Some(format!(
            "it is signed by key {}, not by the bundle's signer {}",
            receipt.key_id, v.signer_key_id
        ))
    } else if receipt.vault != newest.vault
        || receipt.count != newest.position
        || receipt.head != hash
    {
        Some(format!(
            "it records event {} of vault {}, but this export's newest event is {} of vault {}",
            receipt.count, receipt.vault, newest.position, newest.vault
        ))
    } else {
        None
    };
    match why {
        Some(why) => v.item(
            "checkpoint",
            "export",
            false,
            format!("does not match the export: {why}"),
        ),
        None => v.item(
            "checkpoint",
            "export",
            true,
            "taken right after this export's events, by its signer",
        ),
    }
}

/// Remembers what a verified event says about content: the SHA-256 of
/// statement versions (create, amend, import) and of an exhibit at intake.
fn note_recorded_content(
    event: &Event,
    recorded_sha: &mut BTreeMap<(String, u64), String>,
    evidence_sha: &mut BTreeMap<String, String>,
) {
    let record = &event.record;
    if let Some(map) = event
        .details
        .get("version_sha256")
        .and_then(|m| m.as_object())
    {
        for (version, sha) in map {
            if let (Ok(v), Some(sha)) = (version.parse::<u64>(), sha.as_str()) {
                recorded_sha.insert((record.clone(), v), sha.to_owned());
            }
        }
    }
    if let Some(sha) = event.details.get("body_sha256").and_then(|s| s.as_str()) {
        let version = event
            .details
            .get("version")
            .and_then(|n| n.as_u64())
            .unwrap_or(1);
        recorded_sha.insert((record.clone(), version), sha.to_owned());
    }
    if event.record_kind == "evidence" {
        if let Some(sha) = event.details.get("sha256").and_then(|s| s.as_str()) {
            evidence_sha
                .entry(record.clone())
                .or_insert_with(|| sha.to_owned());
        }
    }
}

/// The chains that imported records brought from earlier vaults
/// (`data/prior-custody/<record>/<n>.jsonl`): each must verify against the
/// signers' keys in the bundle, and belong to a record the bundle carries.
fn check_prior_custody(v: &mut Verdict, files: &BTreeMap<String, Entry>) {
    const WHAT: &str = "earlier custody chain";
    // Per record, its earlier chains by number.
    let mut by_record: BTreeMap<String, BTreeMap<usize, (&String, &Entry)>> = BTreeMap::new();
    for (path, entry) in files
        .iter()
        .filter(|(p, _)| p.starts_with(PRIOR_CUSTODY_DIR))
    {
        match parse_prior_custody_path(path) {
            Some((record, n)) => {
                by_record
                    .entry(record)
                    .or_default()
                    .insert(n, (path, entry));
            }
            None => v.item(WHAT, path, false, "unexpected file name"),
        }
    }
    let utf8 = |entry: &Entry| -> Option<String> { String::from_utf8(entry.bytes.clone()?).ok() };
    for (record, chains) in by_record {
        let Some(own) = files.get(&custody_path(&record)).and_then(utf8) else {
            for (path, _) in chains.values() {
                v.item(
                    WHAT,
                    path,
                    false,
                    "its record has no custody chain in this bundle",
                );
            }
            continue;
        };
        let texts: Vec<(usize, &String, Option<String>)> = chains
            .iter()
            .map(|(n, (path, entry))| (*n, *path, utf8(entry)))
            .collect();
        for (i, (n, path, body)) in texts.iter().enumerate() {
            if *n != i + 1 {
                v.item(
                    WHAT,
                    path,
                    false,
                    format!("chain {} of this record is missing", i + 1),
                );
                break;
            }
            let Some(body) = body else {
                v.item(WHAT, path, false, "not UTF-8");
                continue;
            };
            let chain = verify_chain(&record, body, |key_id| {
                text(files, &signer_path(key_id))
                    .and_then(|t| PublicKey::parse(t).ok())
                    .map(|k| k.key)
            });
            // The chain that follows: the next earlier one, or this vault's.
            let next_text = texts
                .get(i + 1)
                .map_or(Some(own.as_str()), |(_, _, t)| t.as_deref());
            let import = next_text.and_then(|t| readable_events(t).into_iter().next());
            let vault = chain
                .events
                .first()
                .map(|e| e.vault.clone())
                .unwrap_or_default();
            match (&chain.broken, check_handover(&chain, import.as_ref())) {
                (Some((_, why)), _) => v.item(WHAT, path, false, why.clone()),
                (None, Some(why)) => v.item(
                    WHAT,
                    path,
                    false,
                    format!("cut short or padded before the hand-over: {why}"),
                ),
                (None, None) => v.item(
                    WHAT,
                    path,
                    true,
                    format!(
                        "{} signed events from vault {vault}, chain intact",
                        chain.events.len()
                    ),
                ),
            }
        }
    }
}

fn check_custody_and_records(v: &mut Verdict, files: &BTreeMap<String, Entry>) {
    // Custody chains; remember what each record's events say about content.
    let mut recorded_sha: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut evidence_sha: BTreeMap<String, String> = BTreeMap::new();
    // The last event of each intact chain: this export's events.
    let mut export_events: Vec<Event> = Vec::new();
    // Per statement: the versions its chain records (create = 1, each
    // amend its version, an import each of its version_sha256).
    let mut statement_chains: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    // Records whose chain failed a check: their texts are not judged.
    let mut failed_chains: BTreeSet<String> = BTreeSet::new();
    for (path, entry) in files
        .iter()
        .filter(|(p, _)| p.starts_with("data/custody/") && p.ends_with(".jsonl"))
    {
        let record = path
            .trim_start_matches("data/custody/")
            .trim_end_matches(".jsonl")
            .to_owned();
        let Some(bytes) = &entry.bytes else { continue };
        let Ok(body) = std::str::from_utf8(bytes) else {
            v.item("custody chain", &record, false, "not UTF-8");
            continue;
        };
        let chain = verify_chain(&record, body, |key_id| {
            text(files, &signer_path(key_id))
                .and_then(|t| PublicKey::parse(t).ok())
                .map(|k| k.key)
        });
        for event in &chain.events {
            note_recorded_content(event, &mut recorded_sha, &mut evidence_sha);
        }
        let amended_after_seal = amend_after_seal(&chain.events);
        if chain
            .events
            .first()
            .is_some_and(|e| e.record_kind == "statement")
        {
            statement_chains.insert(
                record.clone(),
                recorded_sha
                    .range((record.clone(), 0)..=(record.clone(), u64::MAX))
                    .map(|((_, n), _)| *n)
                    .collect(),
            );
        }
        // Each record's chain ends with this export, signed by the key that
        // signed the bundle: a bag re-signed by anyone else shows here even
        // without --signer.
        let problem = match (&chain.broken, chain.events.last()) {
            (Some((_, why)), _) => Some(why.clone()),
            (None, Some(last)) if last.action != Action::Export => Some(
                "it does not end with an export event: the bundle is not what its exporter made"
                    .to_owned(),
            ),
            (None, None) => Some("it is empty".to_owned()),
            (None, Some(_)) if amended_after_seal.is_some() => Some(format!(
                "event {} amends the statement after it was sealed",
                amended_after_seal.unwrap_or_default()
            )),
            (None, Some(_)) if rebuilt_at(&chain.events).is_some() => Some(format!(
                "event {} was written while its vault's log head was missing or damaged: \
                 events may have been cut before it",
                rebuilt_at(&chain.events).unwrap_or_default()
            )),
            // A record that came from another vault brought its history
            // there; the bundle must carry it (data/prior-custody/).
            (None, Some(_))
                if chain.events.first().is_some_and(brought_history)
                    && !files.contains_key(&prior_custody_path(&record, 1)) =>
            {
                Some(
                    "its first event imported it with an earlier history, which this bundle lacks"
                        .to_owned(),
                )
            }
            (None, Some(last)) if !v.signer_key_id.is_empty() && last.key_id != v.signer_key_id => {
                Some(format!(
                    "exported by key {} but the bundle is signed by key {}: re-signed by someone else",
                    last.key_id, v.signer_key_id
                ))
            }
            _ => None,
        };
        if problem.is_none() {
            export_events.extend(chain.events.last().cloned());
        } else {
            failed_chains.insert(record.clone());
        }
        match problem {
            Some(why) => v.item("custody chain", &record, false, why),
            None => v.item(
                "custody chain",
                &record,
                true,
                format!("{} signed events, chain intact", chain.events.len()),
            ),
        }
    }
    check_prior_custody(v, files);
    check_checkpoint_matches_export(v, &export_events);
    // Statements: every version a chain records is in the bag, with
    // matching id, version and version count, and nothing else.
    let export_details: BTreeMap<&str, &serde_json::Value> = export_events
        .iter()
        .map(|e| (e.record.as_str(), &e.details))
        .collect();
    let mut docs: BTreeMap<(String, u64), StatementDoc> = BTreeMap::new();
    for (path, entry) in files
        .iter()
        .filter(|(p, _)| p.starts_with("data/statements/") && p.ends_with(".json"))
    {
        let Some(doc) = entry
            .bytes
            .as_deref()
            .and_then(|b| serde_json::from_slice::<StatementDoc>(b).ok())
        else {
            v.item("statement", path, false, "metadata is malformed");
            continue;
        };
        if *path != statement_json_path(&doc.id, doc.version) {
            v.item(
                "statement",
                path,
                false,
                format!(
                    "its metadata names statement {} version {}, which belongs elsewhere",
                    doc.id, doc.version
                ),
            );
            continue;
        }
        docs.insert((doc.id.clone(), doc.version), doc);
    }
    for (record, recorded) in &statement_chains {
        let newest = recorded.iter().max().copied().unwrap_or(0);
        for n in 1..=newest {
            match docs.get(&(record.clone(), n)) {
                None => v.item(
                    "statement",
                    &format!("{record} v{n}"),
                    false,
                    format!(
                        "its custody chain records version {n} of {newest}, which is not in the bundle"
                    ),
                ),
                Some(doc) if doc.versions != newest => v.item(
                    "statement",
                    &format!("{record} v{n}"),
                    false,
                    format!(
                        "its metadata says {} version(s), its custody chain records {newest}",
                        doc.versions
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    for ((id, version), doc) in &docs {
        let name = format!("{id} v{version}");
        let newest = statement_chains
            .get(id)
            .and_then(|r| r.iter().max().copied())
            .unwrap_or(0);
        if failed_chains.contains(id) {
            v.item(
                "statement",
                &name,
                false,
                "its custody chain failed the checks above, so nothing vouches for this text",
            );
            continue;
        }
        if *version > newest {
            v.item(
                "statement",
                &name,
                false,
                format!("version {version} is not recorded by its custody chain"),
            );
            continue;
        }
        let text_path = statement_text_path(id, *version);
        let Some(text_entry) = files.get(&text_path) else {
            v.item("statement", &name, false, "its text file is missing");
            continue;
        };
        let sha = hex::encode(text_entry.sha256);
        let original = recorded_sha.get(&(id.clone(), *version));
        // A redacted copy is what its export event recorded for it.
        let redacted = export_details
            .get(id.as_str())
            .and_then(|d| d.get(REDACTED_SHA256))
            .and_then(|m| m.get(version.to_string()))
            .and_then(|s| s.as_str());
        let ok_text = sha == doc.text_sha256;
        let ok_origin = original.is_some_and(|o| *o == doc.original_sha256);
        let ok_copy = match redacted {
            Some(r) => r == sha && doc.redactions > 0,
            None => doc.redactions == 0 && doc.text_sha256 == doc.original_sha256,
        };
        let detail = if !ok_text {
            "the text does not match its metadata's SHA-256".to_owned()
        } else if !ok_origin {
            "the text's original SHA-256 is not the one its custody chain recorded".to_owned()
        } else if !ok_copy && redacted.is_none() {
            "the text differs from the original, and its export event records no redacted copy"
                .to_owned()
        } else if !ok_copy {
            "the text is not the redacted copy its export event recorded".to_owned()
        } else if redacted.is_some() {
            format!(
                "redacted copy of version {version} ({} replacement(s) of the protected \
                 witnesses' names and aliases the exporter listed; other spellings are not \
                 covered), SHA-256 {sha} as recorded by its export; original SHA-256 {}",
                doc.redactions, doc.original_sha256
            )
        } else {
            format!("SHA-256 {sha} as recorded in custody")
        };
        v.item("statement", &name, ok_text && ok_origin && ok_copy, detail);
    }
    // Exhibits.
    match text(files, EVIDENCE_JSON).map(serde_json::from_str::<Vec<EvidenceDoc>>) {
        Some(Ok(docs)) => {
            let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
            for doc in &docs {
                *listed.entry(doc.path.as_str()).or_default() += 1;
            }
            for (path, n) in &listed {
                if *n > 1 {
                    v.problem(format!("{EVIDENCE_JSON} lists {path} {n} times"));
                }
            }
            for path in files.keys().filter(|p| p.starts_with(EVIDENCE_DIR)) {
                if !listed.contains_key(path.as_str()) {
                    v.problem(format!(
                        "{path}: an exhibit file that {EVIDENCE_JSON} does not list"
                    ));
                }
            }
            for doc in docs {
                let present = files.get(&doc.path);
                let ok_file = present
                    .is_some_and(|e| hex::encode(e.sha256) == doc.sha256 && e.size == doc.size);
                let ok_custody = evidence_sha.get(&doc.id).is_some_and(|s| *s == doc.sha256);
                let detail = if present.is_none() {
                    format!("{} is missing", doc.path)
                } else if !ok_file {
                    "the file does not match its recorded SHA-256".to_owned()
                } else if !ok_custody {
                    "its SHA-256 is not the one recorded at intake in its custody chain".to_owned()
                } else {
                    format!("SHA-256 {} as recorded at intake", doc.sha256)
                };
                v.item("exhibit", &doc.original_name, ok_file && ok_custody, detail);
            }
        }
        Some(Err(e)) => v.problem(format!("{EVIDENCE_JSON} is malformed: {e}")),
        None => v.problem(format!("{EVIDENCE_JSON} is missing")),
    }
}

/// Verifies a bundle file, trusting `trusted` signer keys (none: the
/// verdict can at best be [`Status::Unauthenticated`]).
pub fn verify_bundle(path: &Path, unlock: &Unlock, trusted: &[TrustedKey]) -> Result<Verdict> {
    Ok(read_bundle(path, unlock, trusted)?.verdict)
}
