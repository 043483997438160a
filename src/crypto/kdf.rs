//! Argon2id passphrase stretching: parameters, their bounds, calibration.
//!
//! Parameters read from a vault are checked against [`KdfParams::validate`]
//! *before* any memory is allocated, so a hostile slot cannot make us
//! allocate terabytes. Passphrases are NFC-normalised first, so the same
//! passphrase typed on two keyboards (composed or decomposed accents) unlocks.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
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
///
/// The buffer is sized exactly before anything is written (a first pass
/// counts the NFC form's bytes), so it never grows: a growing `String`
/// would leave freed, unwiped copies of the passphrase on the heap.
pub(crate) fn normalize_passphrase(passphrase: &str) -> Zeroizing<String> {
    let len: usize = passphrase.nfc().map(char::len_utf8).sum();
    let mut out = Zeroizing::new(String::with_capacity(len));
    for c in passphrase.nfc() {
        out.push(c);
    }
    out
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
    // Our own memory blocks, wiped when dropped: `hash_password_into`
    // allocates them itself and frees them unwiped, and the last block of
    // each lane is enough to recompute the derived key.
    let mut blocks = Zeroizing::new(vec![Block::default(); p.block_count()]);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let normalized = normalize_passphrase(passphrase);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into_with_memory(
            normalized.as_bytes(),
            salt,
            out.as_mut(),
            blocks.as_mut_slice(),
        )
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(out)
}

/// The least calibration chooses: RFC 9106's second recommended memory and
/// passes (64 MiB, t = 3), with **one lane**. The `argon2` crate (0.5) has
/// no threaded mode: it computes the lanes one after the other, so p = 4
/// costs the one who unlocks as much time as p = 1, while an attacker with
/// parallel hardware runs the 4 lanes at once and holds the memory a quarter
/// as long per guess. With p = 1 the attacker pays the same latency as the
/// defender (SECURITY.md, "Keys, passphrases and padding").
pub const CALIBRATION_FLOOR: KdfParams = KdfParams {
    memory_kib: 64 * 1024,
    time_cost: 3,
    parallelism: 1,
};

/// Finds parameters at least as strong as [`CALIBRATION_FLOOR`] that take
/// about [`TARGET_UNLOCK`] on this machine: memory is raised first (up to
/// 256 MiB), then passes, one lane.
///
/// Two measurements: one derive at the floor picks the memory; one derive
/// at that memory (with the floor's passes) picks the passes, because a
/// larger memory costs more per pass than the floor suggests (fresh pages
/// are faulted in during the first pass).
pub(crate) fn calibrate() -> Result<KdfParams, CryptoError> {
    let base = time_derive(&CALIBRATION_FLOOR)?;
    let factor = TARGET_UNLOCK.as_secs_f64() / base;
    if factor <= 1.0 {
        return Ok(CALIBRATION_FLOOR);
    }
    let memory_factor = factor.min(f64::from(
        CALIBRATION_MAX_MEMORY_KIB / CALIBRATION_FLOOR.memory_kib,
    ));
    let memory_kib = ((f64::from(CALIBRATION_FLOOR.memory_kib) * memory_factor) as u32)
        .clamp(CALIBRATION_FLOOR.memory_kib, CALIBRATION_MAX_MEMORY_KIB)
        / 1024
        * 1024;
    let at_memory = KdfParams {
        memory_kib,
        ..CALIBRATION_FLOOR
    };
    let measured = if memory_kib == CALIBRATION_FLOOR.memory_kib {
        base
    } else {
        time_derive(&at_memory)?
    };
    let remaining = TARGET_UNLOCK.as_secs_f64() / measured;
    let time_cost = ((f64::from(CALIBRATION_FLOOR.time_cost) * remaining).round() as u32)
        .clamp(CALIBRATION_FLOOR.time_cost, MAX_TIME_COST);
    let params = KdfParams {
        time_cost,
        ..at_memory
    };
    params.validate()?;
    Ok(params)
}

/// Seconds one derive with `params` takes here (at least 1 ms).
fn time_derive(params: &KdfParams) -> Result<f64, CryptoError> {
    let start = Instant::now();
    derive("calibration", &[0u8; SALT_LEN], params)?;
    Ok(start.elapsed().as_secs_f64().max(0.001))
}

/// Most memory a key slot may ask for, whatever the vault's default: 1 GiB.
pub const MAX_SLOT_MEMORY_KIB: u32 = 1024 * 1024;

/// How far above the vault's sealed default a slot's parameters may go.
pub const MAX_SLOT_FACTOR: u32 = 4;

/// One Argon2 parameter, as named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfParameter {
    /// `m`, memory in KiB.
    Memory,
    /// `t`, passes.
    TimeCost,
    /// `p`, lanes.
    Parallelism,
}

impl std::fmt::Display for KdfParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KdfParameter::Memory => "memory (KiB)",
            KdfParameter::TimeCost => "time cost",
            KdfParameter::Parallelism => "parallelism",
        })
    }
}

/// Checks a key slot's parameters, read from the file, against the vault's
/// sealed default before anything is derived with them: first the absolute
/// bounds of [`KdfParams::validate`], then at most [`MAX_SLOT_FACTOR`] × the
/// default for memory, passes and lanes, and at most
/// [`MAX_SLOT_MEMORY_KIB`] of memory. A slot edited to cost gigabytes and
/// minutes is refused with [`CryptoError::SlotKdfAboveDefault`] naming the
/// parameter; nothing is allocated.
pub fn check_slot_params(slot: &KdfParams, default: &KdfParams) -> Result<(), CryptoError> {
    slot.validate()?;
    let factor = u64::from(MAX_SLOT_FACTOR);
    let checks = [
        (
            KdfParameter::Memory,
            slot.memory_kib,
            (u64::from(default.memory_kib) * factor).min(u64::from(MAX_SLOT_MEMORY_KIB)),
        ),
        (
            KdfParameter::TimeCost,
            slot.time_cost,
            u64::from(default.time_cost) * factor,
        ),
        (
            KdfParameter::Parallelism,
            slot.parallelism,
            u64::from(default.parallelism) * factor,
        ),
    ];
    for (parameter, value, limit) in checks {
        if u64::from(value) > limit {
            return Err(CryptoError::SlotKdfAboveDefault {
                parameter,
                value: u64::from(value),
                limit,
            });
        }
    }
    Ok(())
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
    fn normalized_passphrase_is_built_in_place_without_growing() {
        for pass in [
            "",
            "correct horse",
            "re\u{301}fugie\u{301}",
            "\u{1d160}\u{958}x",
        ] {
            let n = normalize_passphrase(pass);
            assert_eq!(n.capacity(), n.len(), "{pass:?}: the buffer grew");
            assert_eq!(*n, pass.nfc().collect::<String>());
        }
        // NFC can be longer than its input (composition exclusions).
        let grows = normalize_passphrase("\u{958}");
        assert_eq!(grows.len(), 6);
        assert_eq!(grows.capacity(), 6);
    }

    #[test]
    fn slot_params_are_bounded_by_the_sealed_default() {
        let default = KdfParams {
            memory_kib: 256 * 1024,
            time_cost: 6,
            parallelism: 1,
        };
        assert!(check_slot_params(&default, &default).is_ok());
        let at_limit = KdfParams {
            memory_kib: 1024 * 1024,
            time_cost: 24,
            parallelism: 4,
        };
        assert!(check_slot_params(&at_limit, &default).is_ok());
        let refused = |slot: KdfParams| check_slot_params(&slot, &default).unwrap_err();
        // Issue 13.8: m = 4 GiB, t = 64, p = 64 passes validate() alone.
        let hostile = KdfParams {
            memory_kib: 4 * 1024 * 1024,
            time_cost: 64,
            parallelism: 64,
        };
        assert!(hostile.validate().is_ok());
        assert!(matches!(
            refused(hostile),
            CryptoError::SlotKdfAboveDefault {
                parameter: KdfParameter::Memory,
                ..
            }
        ));
        let cases = [
            (
                KdfParams {
                    memory_kib: 1024 * 1024 + 1024,
                    ..default
                },
                KdfParameter::Memory,
                1024 * 1024,
            ),
            (
                KdfParams {
                    time_cost: 25,
                    ..default
                },
                KdfParameter::TimeCost,
                24,
            ),
            (
                KdfParams {
                    parallelism: 5,
                    ..default
                },
                KdfParameter::Parallelism,
                4,
            ),
        ];
        for (slot, parameter, limit) in cases {
            match refused(slot) {
                CryptoError::SlotKdfAboveDefault {
                    parameter: p,
                    limit: l,
                    ..
                } => assert_eq!((p, l), (parameter, limit), "{slot:?}"),
                other => panic!("{slot:?}: {other}"),
            }
        }
        // 4 × a small default, below the 1 GiB cap.
        let small = RECOMMENDED;
        let e = check_slot_params(
            &KdfParams {
                memory_kib: 4 * 64 * 1024 + 1024,
                ..small
            },
            &small,
        )
        .unwrap_err();
        assert!(e.to_string().contains("memory"), "{e}");
        assert!(e.to_string().contains("262144"), "{e}");
        // The absolute bounds still apply first.
        assert!(matches!(
            check_slot_params(
                &KdfParams {
                    parallelism: 0,
                    ..default
                },
                &default
            ),
            Err(CryptoError::KdfParamsOutOfBounds(_))
        ));
    }

    /// Issue 16.6: calibration buys memory and passes, not sequential lanes.
    #[test]
    fn calibration_chooses_one_lane_and_at_least_the_floor() {
        let chosen = calibrate().unwrap();
        assert_eq!(chosen.parallelism, 1, "{chosen:?}");
        assert!(
            chosen.memory_kib >= CALIBRATION_FLOOR.memory_kib,
            "{chosen:?}"
        );
        assert!(
            chosen.memory_kib <= CALIBRATION_MAX_MEMORY_KIB,
            "{chosen:?}"
        );
        assert!(
            chosen.time_cost >= CALIBRATION_FLOOR.time_cost,
            "{chosen:?}"
        );
        assert!(!chosen.is_weak());
    }

    #[test]
    fn calibration_floor_keeps_rfc_9106_memory_and_passes_with_one_lane() {
        assert_eq!(CALIBRATION_FLOOR.memory_kib, RECOMMENDED.memory_kib);
        assert_eq!(CALIBRATION_FLOOR.time_cost, RECOMMENDED.time_cost);
        assert_eq!(CALIBRATION_FLOOR.parallelism, 1);
        assert!(!CALIBRATION_FLOOR.is_weak());
    }

    #[test]
    fn weak_parameters_are_flagged() {
        assert!(INSECURE_FAST.is_weak());
        assert!(!RECOMMENDED.is_weak());
    }
}

/// Measures what one second of unlock buys with sequential lanes (the
/// `argon2` crate 0.5 computes the p lanes one after the other). Run with
/// `cargo test --lib argon2_lanes_bench -- --ignored --nocapture` (the
/// `argon2` and `blake2` crates are built with `opt-level = 2` in every
/// profile); the figures are in SECURITY.md.
#[cfg(test)]
mod bench {
    use super::*;

    fn time(params: &KdfParams) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            derive("bench", &[1; SALT_LEN], params).unwrap();
            best = best.min(start.elapsed().as_secs_f64());
        }
        best
    }

    #[test]
    #[ignore = "benchmark: prints timings, asserts nothing"]
    fn argon2_lanes_bench() {
        let mib = 1024;
        for (m, t, p) in [
            (64, 3, 4),
            (64, 3, 1),
            (256, 3, 4),
            (256, 3, 2),
            (256, 3, 1),
            (256, 6, 4),
            (256, 6, 1),
            (256, 5, 1),
            (256, 1, 1),
            (512, 2, 1),
            (1024, 1, 1),
        ] {
            let params = KdfParams {
                memory_kib: m * mib,
                time_cost: t,
                parallelism: p,
            };
            let s = time(&params);
            println!(
                "m={m:>4} MiB t={t} p={p}: {s:.3} s, {:.0} MiB·passes per second",
                f64::from(m * t) / s
            );
        }
        let start = Instant::now();
        let chosen = calibrate().unwrap();
        println!(
            "calibrate() -> {chosen:?} in {:.2} s; one derive takes {:.3} s",
            start.elapsed().as_secs_f64(),
            time(&chosen)
        );
    }
}
