//! Passphrase strength, estimated offline, and what it means against the
//! key derivation that actually protects it.
//!
//! The estimate is zxcvbn's (the `zxcvbn` crate: dictionaries, keyboard
//! patterns, dates, repeats; nothing leaves the machine). It gives a number
//! of guesses; the time is that number divided by what one high-end GPU
//! achieves against the real cost of one guess: the vault's own Argon2id
//! parameters, or the scrypt of an age passphrase bundle. The cost model
//! and its arithmetic are in SECURITY.md ("Keys, passphrases and padding").
//!
//! Nothing here prints or stores the passphrase: an estimate holds numbers
//! only.

use serde::Serialize;

use super::kdf::KdfParams;

/// Below this many bits (log2 of the estimated guesses) a new passphrase
/// gets a warning.
pub const WARN_BELOW_BITS: f64 = 50.0;

/// Shortest passphrase accepted for a new key slot or a passphrase bundle,
/// in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Memory bandwidth of the attacker's GPU, bytes per second: a high-end
/// consumer card (an RTX 4090 has 1 008 GB/s).
pub const GPU_BANDWIDTH: f64 = 1.0e12;

/// Bytes of memory traffic per Argon2 block computed on a GPU: one 1 KiB
/// reference block read and one 1 KiB block written (the previous block is
/// assumed cached, in the attacker's favour).
pub const ARGON2_BYTES_PER_BLOCK: f64 = 2048.0;

/// The work factor assumed for an age passphrase bundle: `N = 2^18`, r = 8
/// (age calibrates to about one second and starts from less; a faster
/// machine picks more, so this errs in the attacker's favour).
pub const AGE_SCRYPT_LOG_N: u8 = 18;

/// What an attacker has to compute for each guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackedKdf {
    /// A key slot: Argon2id with the vault's parameters.
    Argon2id(KdfParams),
    /// An age passphrase bundle: scrypt with `N = 2^log_n`, r = 8, p = 1.
    AgeScrypt {
        /// log2 of scrypt's N.
        log_n: u8,
    },
}

impl AttackedKdf {
    /// Guesses per second of one high-end GPU, memory-bandwidth bound.
    ///
    /// Argon2id: `m × t` blocks of 1 KiB per guess, 2 KiB of traffic each.
    /// scrypt: `N` blocks of `128 × r` bytes written, then `N` read back.
    pub(crate) fn gpu_guesses_per_second(&self) -> f64 {
        let bytes_per_guess = match self {
            AttackedKdf::Argon2id(p) => {
                f64::from(p.memory_kib) * f64::from(p.time_cost) * ARGON2_BYTES_PER_BLOCK
            }
            AttackedKdf::AgeScrypt { log_n } => 2.0 * 128.0 * 8.0 * 2f64.powi(i32::from(*log_n)),
        };
        GPU_BANDWIDTH / bytes_per_guess.max(1.0)
    }

    /// True for the deliberately weak test parameters (`--insecure-fast-kdf`)
    /// or anything else below RFC 9106's recommendation.
    pub fn is_weak(&self) -> bool {
        match self {
            AttackedKdf::Argon2id(p) => p.is_weak(),
            AttackedKdf::AgeScrypt { .. } => false,
        }
    }

    /// A short description, e.g. "Argon2id m=256 MiB t=6 p=1".
    pub fn describe(&self) -> String {
        match self {
            AttackedKdf::Argon2id(p) => {
                let memory = if p.memory_kib >= 1024 {
                    format!("{} MiB", p.memory_kib / 1024)
                } else {
                    format!("{} KiB", p.memory_kib)
                };
                format!("Argon2id m={memory} t={} p={}", p.time_cost, p.parallelism)
            }
            AttackedKdf::AgeScrypt { log_n } => format!("age scrypt N=2^{log_n} r=8"),
        }
    }
}

/// A strength estimate: numbers only, never the passphrase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrengthEstimate {
    /// log2 of zxcvbn's estimated guesses, one decimal.
    pub bits: f64,
    /// Seconds one high-end GPU needs to make that many guesses against
    /// [`StrengthEstimate::kdf`].
    pub guess_time_seconds: f64,
    /// The GPU guess rate assumed.
    pub gpu_guesses_per_second: f64,
    /// The key derivation attacked, described.
    pub kdf: String,
    /// The key derivation is the weak test setting.
    pub weak_kdf: bool,
    /// Below [`WARN_BELOW_BITS`]: a warning is shown.
    pub warning: bool,
}

impl StrengthEstimate {
    /// The warning to show on standard error, if any. It names the figures
    /// and the key derivation, never the passphrase.
    pub fn warning_text(&self) -> Option<String> {
        if !self.warning {
            return None;
        }
        let mut text = format!(
            "this passphrase is weak: about {:.0} bits by an offline estimate (zxcvbn). One \
             high-end GPU trying {} at about {} guesses per second would find it {}. \
             A few more random words make it much stronger.",
            self.bits,
            self.kdf,
            human_count(self.gpu_guesses_per_second),
            within(self.guess_time_seconds)
        );
        if self.weak_kdf {
            text.push_str(
                " This vault uses the weak TEST key derivation (--insecure-fast-kdf), which \
                 makes every guess cheap: never use it for real testimony.",
            );
        }
        Some(text)
    }
}

/// Estimates a passphrase's strength against `kdf`. `user_inputs` are words
/// an attacker would try first (the user's name, the vault's name).
pub fn estimate(passphrase: &str, user_inputs: &[&str], kdf: &AttackedKdf) -> StrengthEstimate {
    let entropy = zxcvbn::zxcvbn(passphrase, user_inputs);
    let log10 = entropy.guesses_log10();
    let bits = if log10.is_finite() {
        (log10 * std::f64::consts::LOG2_10 * 10.0).round() / 10.0
    } else {
        0.0
    };
    let rate = kdf.gpu_guesses_per_second();
    let guess_time_seconds = 10f64.powf(log10.max(0.0)) / rate;
    StrengthEstimate {
        bits,
        guess_time_seconds,
        gpu_guesses_per_second: rate,
        kdf: kdf.describe(),
        weak_kdf: kdf.is_weak(),
        warning: bits < WARN_BELOW_BITS,
    }
}

/// A passphrase was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrengthError {
    /// Shorter than [`MIN_PASSPHRASE_CHARS`].
    #[error(
        "a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters; a few random words \
         are best"
    )]
    TooShort,
}

/// Refuses a new passphrase shorter than [`MIN_PASSPHRASE_CHARS`]
/// characters (the rule for key slots and passphrase bundles alike).
pub fn check_min_length(passphrase: &str) -> Result<(), StrengthError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(StrengthError::TooShort);
    }
    Ok(())
}

/// The check for `export --passphrase`: the vault's minimum length, then
/// the estimate against age's scrypt. Call it on the bundle passphrase
/// before anything is exported; show [`StrengthEstimate::warning_text`] on
/// standard error and put the estimate in the JSON output.
pub fn check_bundle_passphrase(passphrase: &str) -> Result<StrengthEstimate, StrengthError> {
    check_min_length(passphrase)?;
    Ok(estimate(
        passphrase,
        &[],
        &AttackedKdf::AgeScrypt {
            log_n: AGE_SCRYPT_LOG_N,
        },
    ))
}

/// "in about 3 hours", "in less than a second", "in more than a million
/// years": [`human_duration`] as the end of a sentence.
fn within(seconds: f64) -> String {
    let duration = human_duration(seconds);
    if duration.starts_with("less") || duration.starts_with("more") {
        format!("in {duration}")
    } else {
        format!("in about {duration}")
    }
}

/// "3 hours", "12 days", "about 4 000 years"… for a number of seconds.
pub(crate) fn human_duration(seconds: f64) -> String {
    const MINUTE: f64 = 60.0;
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 86_400.0;
    const YEAR: f64 = 365.25 * DAY;
    let (value, unit) = if !seconds.is_finite() || seconds >= 1.0e6 * YEAR {
        return "more than a million years".into();
    } else if seconds < 1.0 {
        return "less than a second".into();
    } else if seconds < MINUTE {
        (seconds, "second")
    } else if seconds < HOUR {
        (seconds / MINUTE, "minute")
    } else if seconds < DAY {
        (seconds / HOUR, "hour")
    } else if seconds < YEAR {
        (seconds / DAY, "day")
    } else {
        (seconds / YEAR, "year")
    };
    let n = value.round().max(1.0);
    format!("{n:.0} {unit}{}", if n == 1.0 { "" } else { "s" })
}

/// "7.6 million", "2 480", "310" for a rate.
fn human_count(n: f64) -> String {
    if n >= 1.0e9 {
        format!("{:.1} billion", n / 1.0e9)
    } else if n >= 1.0e6 {
        format!("{:.1} million", n / 1.0e6)
    } else {
        format!("{:.0}", n.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kdf::{INSECURE_FAST, RECOMMENDED};

    #[test]
    fn weak_passphrases_warn_and_strong_ones_do_not() {
        let kdf = AttackedKdf::Argon2id(RECOMMENDED);
        for weak in ["password1", "Summer2026!", "aaaaaaaaaaaa", "maitre-dupont"] {
            let e = estimate(weak, &["maitre-dupont"], &kdf);
            assert!(e.warning, "{weak}: {e:?}");
            let text = e.warning_text().unwrap();
            assert!(!text.contains(weak), "{text}");
            assert!(text.contains("Argon2id m=64 MiB t=3 p=4"), "{text}");
        }
        let strong = estimate("Réfugié « côté » à Almaty, été 2026", &[], &kdf);
        assert!(!strong.warning, "{strong:?}");
        assert!(strong.bits >= WARN_BELOW_BITS);
        assert!(strong.warning_text().is_none());
    }

    #[test]
    fn guess_time_follows_the_kdf_cost() {
        // 64 MiB × 3 passes × 2 KiB per block: 2 484 guesses/s.
        let rfc = AttackedKdf::Argon2id(RECOMMENDED);
        assert_eq!(rfc.gpu_guesses_per_second().round(), 2484.0);
        let calibrated = AttackedKdf::Argon2id(KdfParams {
            memory_kib: 256 * 1024,
            time_cost: 6,
            parallelism: 1,
        });
        assert_eq!(calibrated.gpu_guesses_per_second().round(), 310.0);
        let test = AttackedKdf::Argon2id(INSECURE_FAST);
        assert!(test.is_weak() && !rfc.is_weak());
        let a = estimate("password1", &[], &rfc);
        let b = estimate("password1", &[], &test);
        assert_eq!(a.bits, b.bits);
        assert!(b.guess_time_seconds < a.guess_time_seconds / 1000.0);
        assert!(b.warning_text().unwrap().contains("--insecure-fast-kdf"));
        // scrypt N = 2^18, r = 8: 512 MiB of traffic per guess.
        let age = AttackedKdf::AgeScrypt { log_n: 18 };
        assert_eq!(age.gpu_guesses_per_second().round(), 1863.0);
    }

    #[test]
    fn bundle_passphrases_get_the_vault_minimum() {
        assert_eq!(check_bundle_passphrase("a"), Err(StrengthError::TooShort));
        assert_eq!(
            check_bundle_passphrase("1234567"),
            Err(StrengthError::TooShort)
        );
        // Characters, not bytes.
        assert_eq!(check_min_length("éééééé"), Err(StrengthError::TooShort));
        let e = check_bundle_passphrase("12345678").unwrap();
        assert!(e.warning);
        assert!(e.kdf.contains("scrypt"));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(0.2), "less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(90.0), "2 minutes");
        assert_eq!(human_duration(7200.0), "2 hours");
        assert_eq!(human_duration(3.0 * 86_400.0), "3 days");
        assert_eq!(human_duration(1.0e10), "317 years");
        assert_eq!(human_duration(1.0e20), "more than a million years");
        assert_eq!(human_duration(f64::INFINITY), "more than a million years");
    }
}
