//! Checking a bundle without trusting its sender: decrypt (age) if needed,
//! read the tar with hostile-input limits, then check the BagIt manifests
//! and Payload-Oxum, the minisign signature of the tag manifest (against a
//! given signer, or the key inside, which proves nothing on its own), every
//! custody chain and event signature, and that each statement text and
//! exhibit matches the fingerprints its custody events recorded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::bagit::{
    parse_bag_info, parse_bagit_txt, parse_manifest, parse_payload_oxum, parse_tag_manifest,
    MANIFEST_NAME, TAG_MANIFEST_NAME,
};
use super::layout::*;
use super::tarball::{for_each_entry, ReadLimits, TarError};
use crate::crypto::minisign::{self, PublicKey, SignatureFile};
use crate::custody::chain::{brought_history, check_handover, readable_events, verify_chain};
use crate::custody::{Action, Event};
use crate::error::{Error, Result};

/// Largest non-evidence file kept in memory while verifying.
const MAX_SMALL_FILE: u64 = 64 * 1024 * 1024;

/// How to open an encrypted bundle.
pub enum Unlock {
    /// Not encrypted (or no key given).
    None,
    /// age identities (from `--identity FILE`).
    Identities(Vec<Box<dyn age::Identity>>),
    /// An age passphrase.
    Passphrase(SecretString),
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
    /// Signer key id.
    pub signer_key_id: String,
    /// How the signer key was established.
    pub signer_source: String,
    /// Checkpoint receipt (bag-info).
    pub checkpoint: String,
    /// Each item checked.
    pub items: Vec<Item>,
    /// Problems (empty = valid).
    pub problems: Vec<String>,
}

impl Verdict {
    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
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
        E::ExcessiveWork { .. } => Error::Invalid(format!(
            "the bundle asks for too much work to decrypt ({e})"
        )),
        E::InvalidHeader | E::InvalidMac | E::UnknownFormat => Error::Integrity(format!(
            "the bundle's encryption does not authenticate: it was altered or damaged ({e})"
        )),
        other => Error::Integrity(format!("the bundle cannot be decrypted: {other}")),
    }
}

/// Opens a bundle file for reading its tar: decrypts age if needed.
pub fn open_tar(path: &Path, unlock: &Unlock) -> Result<(Box<dyn Read>, bool)> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    let mut reader = BufReader::with_capacity(1024 * 1024, file);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .to_vec();
    if head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        return Err(Error::Invalid(
            "this bundle is ASCII-armored; run `age -d` on it first, then verify the tar".into(),
        ));
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

/// Reads every entry of a bundle into a map (exhibits hashed, not kept).
/// A hostile archive (traversal, links, devices, absurd sizes…) is a
/// problem in the verdict, not a crash.
pub fn read_bundle(path: &Path, unlock: &Unlock, signer: Option<&PublicKey>) -> Result<ReadBundle> {
    let (reader, encrypted) = open_tar(path, unlock)?;
    let mut verdict = Verdict {
        encrypted,
        ..Verdict::default()
    };
    let mut files: BTreeMap<String, Entry> = BTreeMap::new();
    let mut bag: Option<String> = None;
    let limits = ReadLimits::default();
    let read = for_each_entry(reader, &limits, |full, size, r| {
        let (top, rel) = full.split_once('/').unwrap_or((full, ""));
        match &bag {
            None => bag = Some(top.to_owned()),
            Some(b) if b != top => {
                return Err(TarError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{full}: outside the bag directory {b}/"),
                )))
            }
            Some(_) => {}
        }
        if rel.is_empty() {
            return Err(TarError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{full}: a file beside the bag directory"),
            )));
        }
        let keep = !rel.starts_with("data/evidence/");
        if keep && size > MAX_SMALL_FILE {
            return Err(TarError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{rel}: {size} bytes is too large for a bundle metadata file"),
            )));
        }
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        files.insert(
            rel.to_owned(),
            Entry {
                size,
                sha256: hasher.finalize().into(),
                bytes: keep.then_some(kept),
            },
        );
        Ok(())
    });
    if let Err(e) = read {
        verdict.problem(format!("the bundle's archive is unsafe or malformed: {e}"));
        return Ok(ReadBundle { verdict, files });
    }
    verdict.bag = bag.unwrap_or_default();
    check_bag(&mut verdict, &files, signer);
    Ok(ReadBundle { verdict, files })
}

fn text<'a>(files: &'a BTreeMap<String, Entry>, name: &str) -> Option<&'a str> {
    files
        .get(name)
        .and_then(|e| e.bytes.as_deref())
        .and_then(|b| std::str::from_utf8(b).ok())
}

fn check_bag(v: &mut Verdict, files: &BTreeMap<String, Entry>, signer: Option<&PublicKey>) {
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
    check_signature(v, files, tagman_text, signer);
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

fn check_signature(
    v: &mut Verdict,
    files: &BTreeMap<String, Entry>,
    tagman: Option<&str>,
    signer: Option<&PublicKey>,
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
    let (key, source) = match signer {
        Some(k) => {
            if k.key_id_hex() != key_id {
                v.item("signature", &key_id, false, format!(
                    "signed by key {key_id}, not by the expected signer {}",
                    k.key_id_hex()
                ));
                return;
            }
            (k.clone(), "the signer key given with --signer".to_owned())
        }
        None => match text(files, &signer_path(&key_id)).map(PublicKey::parse) {
            Some(Ok(k)) => (
                k,
                "the key inside the bundle (this proves nothing on its own: compare the key id with one you obtained from the signer)".to_owned(),
            ),
            _ => {
                v.item("signature", &key_id, false, "no --signer given and the signer's key is not in the bundle");
                return;
            }
        },
    };
    v.signer_source = source.clone();
    match minisign::verify(&key, tagman.as_bytes(), sig_text) {
        Ok(_) => v.item(
            "signature",
            &key_id,
            true,
            format!("valid, checked with {source}"),
        ),
        Err(e) => v.item("signature", &key_id, false, format!("does not verify: {e}")),
    }
}

/// Each `data/signers/<key id>.pub` must hold the key its name says.
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
            _ => v.problem(format!("{path} is not a minisign public key")),
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
    let receipt = match crate::custody::checkpoint::Checkpoint::parse(&v.checkpoint) {
        Ok(r) => r,
        Err(e) => {
            v.problem(format!(
                "the vault checkpoint in bag-info.txt is malformed: {e}"
            ));
            return;
        }
    };
    let key = text(files, &signer_path(&receipt.key_id)).and_then(|t| PublicKey::parse(t).ok());
    let mut directory = crate::custody::KeyDirectory::new();
    if let Some(k) = key {
        directory.insert(receipt.key_id.clone(), (String::new(), k.key));
    }
    let ok = receipt.verify_signature(&directory);
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
    let Ok(receipt) = crate::custody::checkpoint::Checkpoint::parse(&v.checkpoint) else {
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
    // Statements.
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
        let name = format!("{} v{}", &doc.id, doc.version);
        let text_path = statement_text_path(&doc.id, doc.version);
        let Some(text_entry) = files.get(&text_path) else {
            v.item("statement", &name, false, "its text file is missing");
            continue;
        };
        let sha = hex::encode(text_entry.sha256);
        let original = recorded_sha.get(&(doc.id.clone(), doc.version));
        let ok_text = sha == doc.text_sha256;
        let ok_origin = original.is_some_and(|o| *o == doc.original_sha256);
        let ok_redaction = doc.redactions > 0 || doc.text_sha256 == doc.original_sha256;
        let detail = if !ok_text {
            "the text does not match its metadata's SHA-256".to_owned()
        } else if !ok_origin {
            "the text's original SHA-256 is not the one its custody chain recorded".to_owned()
        } else if !ok_redaction {
            "the text differs from the original without a recorded redaction".to_owned()
        } else if doc.redactions > 0 {
            format!(
                "redacted copy ({} replacements) of original {}",
                doc.redactions, doc.original_sha256
            )
        } else {
            format!("SHA-256 {sha} as recorded in custody")
        };
        v.item(
            "statement",
            &name,
            ok_text && ok_origin && ok_redaction,
            detail,
        );
    }
    // Exhibits.
    match text(files, EVIDENCE_JSON).map(serde_json::from_str::<Vec<EvidenceDoc>>) {
        Some(Ok(docs)) => {
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

/// Verifies a bundle file.
pub fn verify_bundle(path: &Path, unlock: &Unlock, signer: Option<&PublicKey>) -> Result<Verdict> {
    Ok(read_bundle(path, unlock, signer)?.verdict)
}
