//! Hardening of a long-lived process that holds an unlocked vault
//! (`custodia shell`, `custodia desk`): no core dumps and no `ptrace` by
//! other processes of the same user, and the memory it holds locked
//! against swapping where the memory-lock limit allows.
//!
//! Only safe calls (rustix): `mlock` of one buffer takes a raw pointer and
//! is unsafe in every Rust binding, so memory is locked process-wide with
//! `mlockall(MCL_CURRENT | MCL_ONFAULT)`, called again after work that kept new memory
//! (the vault state and search index a session keeps between commands).
//! `MCL_FUTURE` is not used: at the limit it would make later allocations
//! fail. This module knows nothing of vaults.

use std::io;

/// Turns off core dumps, and `ptrace` and `/proc/PID/mem` reads by other
/// processes of this user (`PR_SET_DUMPABLE` 0, Linux; elsewhere nothing).
pub fn forbid_core_dumps() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(())
    }
}

/// Locks the pages the process holds now against swapping, and those its
/// present mappings gain later (`mlockall(MCL_CURRENT | MCL_ONFAULT)`;
/// Linux and Android, elsewhere nothing). `MCL_ONFAULT` locks pages as
/// they are touched instead of reading every mapped page in: thread
/// stacks and reserved heap are not made resident for nothing (plain
/// `MCL_CURRENT` is the fallback on kernels before 4.4). Most systems
/// allow only a few MiB (`ulimit -l`): then it is refused, and nothing
/// more is locked.
pub fn lock_held_memory() -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::mm::{mlockall, MlockAllFlags};
        match mlockall(MlockAllFlags::CURRENT | MlockAllFlags::ONFAULT) {
            Err(rustix::io::Errno::INVAL) => mlockall(MlockAllFlags::CURRENT),
            other => other,
        }
        .map_err(io::Error::from)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_memory_shows_in_the_process_status_or_the_refusal_is_the_limit() {
        // As root, or with the limit raised, the pages are locked: the
        // kernel counts them (VmLck). As a user with the usual 8 MiB
        // limit the test process holds more, and the call is refused.
        match lock_held_memory() {
            Ok(()) => {
                if cfg!(target_os = "linux") {
                    let status = std::fs::read_to_string("/proc/self/status").unwrap();
                    let locked_kib: u64 = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmLck:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                        .expect("a VmLck line");
                    assert!(locked_kib > 0, "{status}");
                }
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::OutOfMemory | io::ErrorKind::PermissionDenied
                ) || e.raw_os_error() == Some(12),
                "{e:?}"
            ),
        }
    }
}
