//! Argon2id passphrase stretching: parameters, their bounds, calibration.
//!
//! Parameters read from a vault are checked against [`KdfParams::validate`]
//! *before* any memory is allocated, so a hostile slot cannot make us
//! allocate terabytes. Passphrases are NFC-normalised first, so the same
//! passphrase typed on two keyboards (composed or decomposed accents) unlocks.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::CryptoError;

/// Upper bound on memory a slot may ask for: 4 GiB (in KiB).
pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Upper bound on passes.
pub const MAX_TIME_COST: u32 = 64;
/// Upper bound on lanes.
pub const MAX_PARALLELISM: u32 = 64;
/// Length of a slot salt.
pub const SALT_LEN: usize = 16;

/// RFC 9106 second recommended option: 64 MiB, t=3, p=4. The floor below
/// which `check` warns.
pub const RECOMMENDED: KdfParams = KdfParams {
    memory_kib: 64 * 1024,
    time_cost: 3,
    parallelism: 4,
};

/// Deliberately weak parameters for tests (`--insecure-fast-kdf`).
pub const INSECURE_FAST: KdfParams = KdfParams {
    memory_kib: 64,
    time_cost: 1,
    parallelism: 1,
};

/// Calibration target: unlocking takes about this long on the creating machine.
pub const TARGET_UNLOCK: Duration = Duration::from_secs(1);

/// Most memory calibration will choose before it raises passes instead.
const CALIBRATION_MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Argon2id cost parameters, stored in each slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Number of passes (`t`).
    pub time_cost: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl KdfParams {
    /// Rejects parameters that are malformed or would cost absurd resources.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let bad = |what: String| Err(CryptoError::KdfParamsOutOfBounds(what));
        if self.parallelism == 0 || self.parallelism > MAX_PARALLELISM {
            return bad(format!(
                "parallelism {} (allowed 1 to {MAX_PARALLELISM})",
                self.parallelism
            ));
        }
        if self.time_cost == 0 || self.time_cost > MAX_TIME_COST {
            return bad(format!(
                "time cost {} (allowed 1 to {MAX_TIME_COST})",
                self.time_cost
            ));
        }
        if self.memory_kib > MAX_MEMORY_KIB {
            return bad(format!(
                "memory {} KiB (at most {MAX_MEMORY_KIB} KiB)",
                self.memory_kib
            ));
        }
        if self.memory_kib < 8 * self.parallelism {
            return bad(format!(
                "memory {} KiB is below 8 KiB per lane",
                self.memory_kib
            ));
        }
        Ok(())
    }

    /// True when these parameters are weaker than [`RECOMMENDED`].
    pub fn is_weak(&self) -> bool {
        self.memory_kib < RECOMMENDED.memory_kib || self.time_cost < RECOMMENDED.time_cost
    }
}

/// Normalises a passphrase to NFC, in a buffer that is wiped on drop.
pub fn normalize_passphrase(passphrase: &str) -> Zeroizing<String> {
    Zeroizing::new(passphrase.nfc().collect())
}

/// Derives a 32-byte key from a passphrase with Argon2id.
pub fn derive(
    passphrase: &str,
    salt: &[u8; SALT_LEN],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    params.validate()?;
    let p = Params::new(
        params.memory_kib,
        params.time_cost,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let normalized = normalize_passphrase(passphrase);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(normalized.as_bytes(), salt, out.as_mut())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(out)
}

/// Finds parameters at least as strong as [`RECOMMENDED`] that take about
/// [`TARGET_UNLOCK`] on this machine: memory is raised first (up to
/// 256 MiB), then passes.
pub fn calibrate() -> Result<KdfParams, CryptoError> {
    let salt = [0u8; SALT_LEN];
    let start = Instant::now();
    derive("calibration", &salt, &RECOMMENDED)?;
    let base = start.elapsed().as_secs_f64().max(0.001);
    let factor = TARGET_UNLOCK.as_secs_f64() / base;
    if factor <= 1.0 {
        return Ok(RECOMMENDED);
    }
    let memory_factor = factor.min(f64::from(
        CALIBRATION_MAX_MEMORY_KIB / RECOMMENDED.memory_kib,
    ));
    let memory_kib = ((f64::from(RECOMMENDED.memory_kib) * memory_factor) as u32)
        .clamp(RECOMMENDED.memory_kib, CALIBRATION_MAX_MEMORY_KIB)
        / 1024
        * 1024;
    let remaining = factor * f64::from(RECOMMENDED.memory_kib) / f64::from(memory_kib);
    let time_cost = ((f64::from(RECOMMENDED.time_cost) * remaining).round() as u32)
        .clamp(RECOMMENDED.time_cost, MAX_TIME_COST);
    let params = KdfParams {
        memory_kib,
        time_cost,
        parallelism: RECOMMENDED.parallelism,
    };
    params.validate()?;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_memory_is_refused_before_allocation() {
        let four_tib = KdfParams {
            memory_kib: u32::MAX,
            time_cost: 3,
            parallelism: 4,
        };
        assert!(matches!(
            derive("x", &[0; 16], &four_tib),
            Err(CryptoError::KdfParamsOutOfBounds(_))
        ));
        for bad in [
            KdfParams {
                parallelism: 0,
                ..RECOMMENDED
            },
            KdfParams {
                time_cost: 0,
                ..RECOMMENDED
            },
            KdfParams {
                time_cost: 1000,
                ..RECOMMENDED
            },
            KdfParams {
                memory_kib: 4,
                ..RECOMMENDED
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nfc_and_nfd_passphrases_derive_the_same_key() {
        let salt = [7u8; SALT_LEN];
        let composed = "r\u{e9}fugi\u{e9} \u{ab}m\u{f4}t\u{bb}";
        let decomposed = "re\u{301}fugie\u{301} \u{ab}mo\u{302}t\u{bb}";
        assert_ne!(composed, decomposed);
        let a = derive(composed, &salt, &INSECURE_FAST).unwrap();
        let b = derive(decomposed, &salt, &INSECURE_FAST).unwrap();
        assert_eq!(*a, *b);
        let c = derive("other", &salt, &INSECURE_FAST).unwrap();
        assert_ne!(*a, *c);
    }

    /// `docs/format.md` §20, "Argon2id": the insecure-fast parameters.
    #[test]
    fn argon2id_matches_format_vector() {
        assert_eq!(
            INSECURE_FAST,
            KdfParams {
                memory_kib: 64,
                time_cost: 1,
                parallelism: 1,
            }
        );
        let out = derive("correct horse", &[0x44; SALT_LEN], &INSECURE_FAST).unwrap();
        assert_eq!(
            hex::encode(*out),
            "e72425ec59b75734d4ee1a892a2daac7a57446cda7be3e3d0a0853511f3f4615"
        );
    }

    #[test]
    fn weak_parameters_are_flagged() {
        assert!(INSECURE_FAST.is_weak());
        assert!(!RECOMMENDED.is_weak());
    }
}
