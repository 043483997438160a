//! Commands that make, check and import sealed court bundles.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use custodia::bundle::export::{Encryption, ExportOptions};
use custodia::bundle::import::ImportOptions;
use custodia::bundle::verify::{
    identities_from_file, verify_bundle, Status, TrustedKey, Unlock, Verdict,
};
use custodia::formats::minisign::PublicKey;
use custodia::Error;

use super::open::{advance, evidence_bytes, progress_bar, OpenVault};
use super::secrets::{prompt_or, read_secret_file};
use super::{Failure, Global, Output};

/// `custodia export`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("protection").args(["recipient", "passphrase", "no_encrypt"])))]
pub struct ExportArgs {
    /// The case to export (reference or id)
    #[arg(long)]
    case: String,
    /// Export only these statements (repeat); with no --statement and no
    /// --evidence, the whole case is exported
    #[arg(long = "statement", value_name = "ID")]
    statements: Vec<String>,
    /// Export only these evidence items (repeat)
    #[arg(long = "evidence", value_name = "ID")]
    evidence: Vec<String>,
    /// Encrypt to this age recipient (age1…; repeat for several)
    #[arg(long = "recipient", value_name = "AGE_PUBKEY")]
    recipient: Vec<String>,
    /// Encrypt with a passphrase (asked on the terminal, or read from
    /// --bundle-passphrase-file)
    #[arg(long)]
    passphrase: bool,
    /// Do not encrypt: write the signed tar
    #[arg(long)]
    no_encrypt: bool,
    /// With --passphrase: read the bundle's passphrase from this file
    #[arg(long, value_name = "FILE", env = "CUSTODIA_BUNDLE_PASSPHRASE_FILE")]
    bundle_passphrase_file: Option<PathBuf>,
    /// Show protected witnesses' names instead of their pseudonyms
    /// (everywhere, statement texts included)
    #[arg(long)]
    reveal_protected: bool,
    /// Keep protected witnesses' names inside statement texts. By default
    /// they are replaced there by the pseudonyms (a redacted copy, whose
    /// SHA-256 the export event records; the vault's originals are
    /// unchanged). This opt-out is recorded in the export event.
    #[arg(long, conflicts_with = "redact_names")]
    keep_names_in_text: bool,
    /// Export each exhibit's stripped copy (made by `custodia evidence
    /// strip`) in place of the original, where it has one; the export event
    /// records which copy stood in for which original
    #[arg(long)]
    stripped: bool,
    /// No longer needed: names in statement texts are redacted by default
    /// (kept as an alias; see --keep-names-in-text)
    #[arg(long, conflicts_with = "reveal_protected", hide = true)]
    redact_names: bool,
    /// The bundle file to write
    #[arg(long, value_name = "FILE", required_unless_present = "preview")]
    out: Option<PathBuf>,
    /// Show every replacement of a protected name the export would make, in
    /// context (the original name shown, for you to judge), and write
    /// nothing: no bundle, no export event (a view of each record shown is
    /// logged). Protection and --out may be given or not
    #[arg(long)]
    preview: bool,
}

/// `custodia bundle …`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Check a bundle: manifests, signature, custody chains, and who signed
    /// it; prints a verdict
    ///
    /// The signer is authenticated only by a key you trust: --signer (from
    /// the signer, e.g. their `custodia key public`), or, with --vault, a
    /// key pinned in that vault (`custodia signer add`). Compare key
    /// fingerprints (SHA-256 of the key), not the short minisign key id.
    ///
    /// Exit 0 valid and signed by a trusted key; 3 cannot decrypt; 4
    /// altered, missing, extra, unsigned or signed by another key than
    /// --signer; 5 intact but the signer is UNAUTHENTICATED (no --signer
    /// and no pinned key vouches for it).
    ///
    /// Without --vault, --passphrase-file is the bundle's passphrase and no
    /// vault is opened. With --vault (and no --signer), the vault is
    /// unlocked to read its pinned signers: then --passphrase-file unlocks
    /// the vault and a passphrase bundle needs --bundle-passphrase-file.
    Verify {
        /// The bundle (age-encrypted or a plain tar)
        file: PathBuf,
        /// age identity file for a bundle encrypted to recipients
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// A signer you trust: a minisign public key (a .pub file or the
        /// base64 line from `custodia key public`); repeat for several
        #[arg(long, value_name = "PUBKEY")]
        signer: Vec<String>,
        /// For a passphrase bundle: read its passphrase from this file
        /// (takes precedence over --passphrase-file)
        #[arg(long, value_name = "FILE", env = "CUSTODIA_BUNDLE_PASSPHRASE_FILE")]
        bundle_passphrase_file: Option<PathBuf>,
    },
    /// Verify a bundle and bring its records into this vault, all or nothing
    ///
    /// Refused (exit 5, nothing written) unless the bundle is signed by a
    /// key given with --signer or pinned in this vault. A bundle whose case
    /// reference is already a case here is refused unless --into-case names
    /// the case to add its records to.
    Import {
        /// The bundle
        file: PathBuf,
        /// age identity file for a bundle encrypted to recipients
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
        /// A signer you trust: a minisign public key (a .pub file or the
        /// base64 line from `custodia key public`); repeat for several
        #[arg(long, value_name = "PUBKEY")]
        signer: Vec<String>,
        /// Add the bundle's records to this existing case (reference or
        /// id); required when the vault has a case with the bundle's
        /// reference
        #[arg(long, value_name = "REF")]
        into_case: Option<String>,
        /// For a passphrase bundle: read its passphrase from this file
        #[arg(long, value_name = "FILE", env = "CUSTODIA_BUNDLE_PASSPHRASE_FILE")]
        bundle_passphrase_file: Option<PathBuf>,
    },
}

/// What to do when a bundle passphrase is needed and there is no terminal.
const NO_TERMINAL_FOR_BUNDLE: &str = "no bundle passphrase given and no terminal to ask on: \
     use --bundle-passphrase-file (or CUSTODIA_BUNDLE_PASSPHRASE_FILE)";

fn bundle_passphrase(file: Option<&Path>, confirm: bool) -> Result<SecretString, Failure> {
    let value = match file {
        Some(f) => read_secret_file(f, "bundle passphrase")?,
        None => {
            let first = prompt_or("Bundle passphrase: ", NO_TERMINAL_FOR_BUNDLE)?;
            if confirm {
                let again = prompt_or("Bundle passphrase (again): ", NO_TERMINAL_FOR_BUNDLE)?;
                if *first != *again {
                    return Err(Failure::invalid("the two passphrases differ"));
                }
            }
            first
        }
    };
    Ok(SecretString::from(value.to_string()))
}

/// `--signer`: a minisign public key file, or the key's base64 line.
pub(super) fn parse_signer(text: &str) -> Result<PublicKey, Failure> {
    let path = Path::new(text);
    if path.is_file() {
        let content = std::fs::read_to_string(path)
            .map_err(|e| Failure::io(format!("cannot read {text}"), e))?;
        return PublicKey::parse(&content).map_err(|e| {
            Failure::usage(format!(
                "--signer {text} does not hold a minisign public key: {e}"
            ))
        });
    }
    match PublicKey::parse(text) {
        Ok(key) => Ok(key),
        // Meant as a file: say what is wrong with the file, not the key.
        Err(_) if path.exists() => Err(Failure::invalid(format!("cannot read {text}: not a file"))),
        Err(_) if looks_like_path(text) => Err(Failure::invalid(format!(
            "cannot read {text}: no such file"
        ))),
        Err(e) => Err(Failure::usage(format!(
            "--signer is neither a file nor a minisign public key: no file {text} exists, \
             and as a key: {e}"
        ))),
    }
}

/// True unless `text` could be a minisign public key's base64 line (which
/// starts with `RW`, for "Ed", and uses only the base64 alphabet).
fn looks_like_path(text: &str) -> bool {
    let text = text.trim();
    !text.starts_with("RW")
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// `export --preview`: every replacement, in context; nothing written.
fn export_preview(g: &Global, out: &Output, args: ExportArgs) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    let opts = ExportOptions {
        case: args.case,
        statements: args.statements,
        evidence: args.evidence,
        encryption: Encryption::None,
        reveal_protected: args.reveal_protected,
        keep_names_in_text: args.keep_names_in_text,
        out: PathBuf::new(),
        force: false,
        stripped: args.stripped,
    };
    let preview = vault.preview_export(&opts)?;
    out.either(&preview, || {
        out.note(format!(
            "Preview of the export of case {}: nothing was written. Shown here with the real \
             names, for you only: [name → pseudonym].",
            preview.case
        ));
        for item in &preview.replacements {
            let at = match item.version {
                Some(v) => format!(
                    "{} {} v{v}",
                    item.kind,
                    item.id.get(..12).unwrap_or(&item.id)
                ),
                None => format!("{} {}", item.kind, item.id.get(..12).unwrap_or(&item.id)),
            };
            out.line(format!(
                "{at} {}{}: {}",
                item.field,
                if item.replaced {
                    ""
                } else {
                    " (kept: --keep-names-in-text)"
                },
                item.context.marked()
            ))?;
        }
        for id in &preview.names_unknown {
            out.warn(format!(
                "statement {}: its protected witness was imported with the identity withheld, \
                 so this vault does not know the real name and cannot look for it",
                id.get(..12).unwrap_or(id)
            ));
        }
        out.note(format!(
            "{} replacement(s). Only the protected witnesses' whole names and their {} listed \
             alias(es) are looked for: a spelling not listed (another script, a nickname, a \
             surname alone) stays in the text. Add one with `statement amend ID --reason … \
             --alias NAME` (the list replaces the old one).",
            preview.replacements.len(),
            preview.aliases
        ));
        Ok(())
    })
}

pub fn export(g: &Global, out: &Output, args: ExportArgs) -> Result<(), Failure> {
    if args.preview {
        return export_preview(g, out, args);
    }
    let Some(out_path) = args.out.clone() else {
        return Err(Failure::usage(
            "--out FILE is required (the bundle to write)",
        ));
    };
    if args.recipient.is_empty() && !args.passphrase && !args.no_encrypt {
        return Err(Failure::usage(
            "say how the bundle is protected: --recipient AGE_PUBKEY, --passphrase or \
             --no-encrypt",
        ));
    }
    if out_path.exists() && !g.force {
        return Err(Error::AlreadyExists(out_path).into());
    }
    // Recipients first: a mistake (or a pasted secret key) is said before
    // any passphrase is asked for, and never repeated.
    for r in &args.recipient {
        custodia::bundle::export::check_recipient(r)?;
    }
    let mut strength = None;
    let encryption = if !args.recipient.is_empty() {
        Encryption::Recipients(args.recipient.clone())
    } else if args.passphrase {
        let secret = bundle_passphrase(args.bundle_passphrase_file.as_deref(), true)?;
        // The same minimum as a vault passphrase, and a warning priced at
        // what an attacker pays per guess against age's scrypt.
        let estimate = custodia::crypto::strength::check_bundle_passphrase(secret.expose_secret())
            .map_err(|e| Failure::invalid(format!("the bundle passphrase: {e}")))?;
        if let Some(warning) = estimate.warning_text() {
            out.warn(warning);
        }
        strength = Some(estimate);
        Encryption::Passphrase(secret)
    } else {
        Encryption::None
    };
    if args.redact_names {
        out.note(
            "--redact-names is no longer needed: protected names in statement texts are \
             replaced by default (--keep-names-in-text keeps them)",
        );
    }
    let mut vault = OpenVault::unlock(g, out)?;
    // --statement alone selects no exhibit of its own accord: the case's
    // total is then only an upper estimate, corrected as the bar moves.
    let total = evidence_bytes(out, &mut vault, Some(&args.case), &args.evidence);
    let bar = progress_bar(out, total, "export");
    let opts = ExportOptions {
        case: args.case,
        statements: args.statements,
        evidence: args.evidence,
        encryption,
        reveal_protected: args.reveal_protected,
        keep_names_in_text: args.keep_names_in_text,
        out: out_path,
        force: g.force,
        stripped: args.stripped,
    };
    let summary = vault.export(&opts, &mut |n| advance(bar.as_ref(), n))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for w in &summary.name_warnings {
        out.warn(format!(
            "statement {} version {}: the protected witness's name occurs {} time(s) in the text{}",
            w.statement.get(..12).unwrap_or(&w.statement),
            w.version,
            w.occurrences,
            if w.redacted {
                "; replaced by the pseudonym in the bundle"
            } else {
                "; kept, as --keep-names-in-text asked"
            }
        ));
    }
    for id in &summary.names_unknown {
        out.warn(format!(
            "statement {}: its protected witness was imported with the identity withheld, so \
             this vault does not know the real name and cannot check the text for it",
            id.get(..12).unwrap_or(id)
        ));
    }
    if !args.reveal_protected {
        out.note(format!(
            "Redaction covers the protected witnesses' whole names and {} listed alias(es) \
             only; other spellings were not looked for (`export --preview` shows every \
             replacement).",
            summary.aliases
        ));
    }
    for w in &summary.metadata_warnings {
        out.warn(format!(
            "{} ({}) carries identifying metadata: {}",
            w.path,
            w.evidence.get(..12).unwrap_or(&w.evidence),
            custodia::formats::metadata::describe(&w.kinds)
        ));
    }
    if summary.metadata_redactions > 0 {
        out.note(format!(
            "Protected witnesses' names were replaced by their pseudonyms {} time(s) in the \
             bundle's metadata (titles, places, reasons, exhibit names…).",
            summary.metadata_redactions
        ));
    }
    let mut doc = serde_json::to_value(&summary)
        .map_err(|e| Failure::invalid(format!("cannot encode the summary: {e}")))?;
    if let Some(estimate) = &strength {
        doc["passphrase_strength"] = json!(estimate);
    }
    out.either(&doc, || {
        out.note(format!(
            "Wrote {}: case bag {}/, {} statement(s) ({} versions), {} exhibit(s), {} payload bytes, signed by key fingerprint {} (minisign key id {}).",
            summary.out.display(),
            summary.bag,
            summary.statements,
            summary.versions,
            summary.evidence,
            summary.payload_bytes,
            summary.signer_fingerprint,
            summary.signer_key_id
        ));
        Ok(())
    })
}

pub fn bundle(g: &Global, out: &Output, cmd: BundleCommand) -> Result<(), Failure> {
    match cmd {
        BundleCommand::Verify {
            file,
            identity,
            signer,
            bundle_passphrase_file,
        } => {
            let signers = signer
                .iter()
                .map(|s| parse_signer(s))
                .collect::<Result<Vec<_>, _>>()?;
            // A vault named with --vault is asked for its pinned signers
            // (not needed when --signer says whom to trust).
            let use_vault = signers.is_empty() && g.vault.as_ref().is_some_and(|p| p.is_file());
            let passphrase_file = if use_vault {
                bundle_passphrase_file.as_ref()
            } else {
                bundle_passphrase_file
                    .as_ref()
                    .or(g.passphrase_file.as_ref())
            };
            let unlock = match (&identity, passphrase_file) {
                (Some(id), _) => Unlock::Identities(identities_from_file(id)?),
                (None, Some(p)) => Unlock::Passphrase(SecretString::from(
                    read_secret_file(p, "bundle passphrase")?.to_string(),
                )),
                (None, None) => Unlock::None,
            };
            let verdict = if use_vault {
                let mut vault = OpenVault::unlock(g, out)?;
                vault.verify_bundle(&file, &unlock, &signers)?
            } else {
                let trusted: Vec<TrustedKey> = signers.into_iter().map(TrustedKey::given).collect();
                verify_bundle(&file, &unlock, &trusted)?
            };
            print_verdict(out, &file, &verdict)?;
            match verdict.status() {
                Status::Valid => Ok(()),
                Status::Unauthenticated => Err(Failure::Silent(5)),
                Status::Invalid => Err(Failure::Silent(4)),
            }
        }
        BundleCommand::Import {
            file,
            identity,
            signer,
            into_case,
            bundle_passphrase_file,
        } => {
            let signers = signer
                .iter()
                .map(|s| parse_signer(s))
                .collect::<Result<Vec<_>, _>>()?;
            let unlock = match (&identity, &bundle_passphrase_file) {
                (Some(id), _) => Unlock::Identities(identities_from_file(id)?),
                (None, Some(p)) => Unlock::Passphrase(bundle_passphrase(Some(p), false)?),
                (None, None) => Unlock::None,
            };
            let mut vault = OpenVault::unlock(g, out)?;
            let bar = progress_bar(out, 0, "import");
            let opts = ImportOptions { signers, into_case };
            let summary = vault.import_bundle(&file, &unlock, &opts, &mut |n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            out.either(&summary, || {
                out.note(format!(
                    "Imported case {} ({}): {} statement(s) ({} version(s)), {} exhibit(s), \
                     from vault {}; signed by key fingerprint {} ({}). The original custody \
                     history is kept and an import event was recorded.",
                    summary.case,
                    if summary.case_created {
                        "new"
                    } else {
                        "into the existing case, as --into-case asked"
                    },
                    summary.statements,
                    summary.versions,
                    summary.evidence,
                    summary.source_vault,
                    summary.signer_fingerprint,
                    summary
                        .trusted_as
                        .as_ref()
                        .map_or_else(|| "trusted".to_owned(), |t| t.describe()),
                ));
                Ok(())
            })
        }
    }
}

/// Prints a verdict, human or `--json`.
fn print_verdict(out: &Output, file: &Path, verdict: &Verdict) -> Result<(), Failure> {
    let shown = |v: &str| {
        if v.is_empty() {
            "(unknown)".to_owned()
        } else {
            v.to_owned()
        }
    };
    let status = verdict.status();
    let doc = json!({
        "valid": status == Status::Valid,
        "status": status,
        "intact": verdict.is_valid(),
        "signer_authenticated": verdict.signer_authenticated,
        "verdict": verdict,
    });
    out.either(&doc, || {
        out.line(format!("Bundle      {}", file.display()))?;
        out.line(format!(
            "Encrypted   {}",
            if verdict.encrypted { "yes (age)" } else { "no (plain tar)" }
        ))?;
        out.line(format!("Case        {}", shown(&verdict.case_reference)))?;
        out.line(format!("Exported by {}", shown(&verdict.exporter)))?;
        out.line(format!("From vault  {}", shown(&verdict.source_vault)))?;
        out.line(format!(
            "Signed by   key fingerprint {} (minisign key id {})",
            shown(&verdict.signer_fingerprint),
            shown(&verdict.signer_key_id)
        ))?;
        out.line(format!(
            "Signer      {}",
            match &verdict.trusted_as {
                Some(t) if verdict.signer_authenticated => format!("authenticated: {}", t.describe()),
                _ => "UNAUTHENTICATED: nobody vouched for this key (no --signer, no pinned key)"
                    .to_owned(),
            }
        ))?;
        for item in &verdict.items {
            out.line(format!(
                "  [{}] {} {}: {}",
                if item.ok { "ok" } else { "FAIL" },
                item.what,
                item.name,
                item.detail
            ))?;
        }
        for p in &verdict.problems {
            out.line(format!("  PROBLEM: {p}"))?;
        }
        out.line(match status {
            Status::Valid => "VERDICT: VALID. Every file matches the signed manifests, every custody chain is intact, and the signer's key is one you trust.".to_owned(),
            Status::Unauthenticated => format!(
                "VERDICT: UNAUTHENTICATED SIGNER. The bundle is intact, but nobody vouched for the key that signed it (fingerprint {}): compare that fingerprint with the signer's own (their `custodia key public`), then verify again with --signer PUBKEY, or pin the key with `custodia signer add`.",
                shown(&verdict.signer_fingerprint_short)
            ),
            Status::Invalid => "VERDICT: NOT VALID. This bundle was altered, is incomplete, or is not signed as claimed.".to_owned(),
        })
    })
}
