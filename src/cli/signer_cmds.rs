//! `custodia signer …`: pin the public keys of people whose bundles this
//! vault trusts (`bundle verify` and `bundle import` then need no
//! `--signer`), and list them. Pinning is a signed custody event.

use clap::Subcommand;
use serde_json::json;

use super::bundle_cmds::parse_signer;
use super::open::OpenVault;
use super::{terminal_safe, Failure, Global, Output};

/// `custodia signer …`.
#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Pin a signer's public key under a name, after checking its
    /// fingerprint with its owner by another channel (phone, in person)
    ///
    /// Example: custodia signer add "Greffe CNDA" greffe.pub
    Add {
        /// A name for the signer ("Greffe CNDA", "Cabinet Dupont")
        name: String,
        /// Their minisign public key: a .pub file (`custodia key public`
        /// of their vault) or its base64 line
        public_key: String,
    },
    /// List the pinned signers with their fingerprints
    List,
}

pub fn signer(g: &Global, out: &Output, cmd: SignerCommand) -> Result<(), Failure> {
    match cmd {
        SignerCommand::Add { name, public_key } => {
            let key = parse_signer(&public_key)?;
            let mut vault = OpenVault::unlock(g, out)?;
            let pinned = vault.pin_signer(&name, &key)?;
            out.either(&json!({ "pinned": pinned }), || {
                out.line(format!(
                    "Pinned {} with fingerprint {}",
                    terminal_safe(&pinned.name),
                    key.fingerprint_short()
                ))
            })
        }
        SignerCommand::List => {
            let mut vault = OpenVault::unlock(g, out)?;
            let pinned = vault.pinned_signers()?;
            out.either(&json!({ "signers": pinned }), || {
                if pinned.is_empty() {
                    return out.line("No signer is pinned in this vault.");
                }
                for p in &pinned {
                    out.line(format!(
                        "{}  {}  pinned {} by {}",
                        custodia::formats::minisign::short_fingerprint(&p.fingerprint),
                        terminal_safe(&p.name),
                        p.pinned_at,
                        terminal_safe(&p.pinned_by)
                    ))?;
                }
                Ok(())
            })
        }
    }
}
