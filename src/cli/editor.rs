//! `--editor`: the statement is written in $EDITOR on a file in RAM-backed
//! storage (/dev/shm), private to the user (0700 directory, 0600 file),
//! overwritten with zeros and removed afterwards. Where /dev/shm is missing
//! or is not a RAM file system (tmpfs, ramfs) the command refuses rather
//! than touch the disk. Callers unlock the vault and check the target
//! first, so that nothing typed is lost to a wrong passphrase.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use super::Failure;

const RAM_DIR: &str = "/dev/shm";

/// True while the editor runs (it handles Ctrl-C itself).
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Whether the editor is running now.
pub fn is_running() -> bool {
    RUNNING.load(Ordering::SeqCst)
}

/// Runs the editor on a file holding `initial` and returns what was
/// written.
pub fn edit_in_ram(initial: &str) -> Result<Vec<u8>, Failure> {
    let ram = Path::new(RAM_DIR);
    if !ram.is_dir() || !is_ram_backed(ram) {
        return Err(Failure::invalid(
            "--editor needs RAM-backed storage (/dev/shm on tmpfs or ramfs) so that the text \
             never touches the disk, and this system has none; use --stdin or --file instead",
        ));
    }
    let tag = hex::encode(custodia::crypto::random_bytes::<8>().map_err(custodia::Error::from)?);
    let dir = ram.join(format!("custodia-{tag}"));
    create_private_dir(&dir)?;
    let file = dir.join("statement.txt");
    // Removed (it is in RAM) if we are interrupted while the editor runs.
    custodia::files::register(&file);
    RUNNING.store(true, Ordering::SeqCst);
    let result = run_editor(&file, initial);
    RUNNING.store(false, Ordering::SeqCst);
    wipe(&file);
    custodia::files::unregister(&file);
    let _ = std::fs::remove_dir(&dir);
    result
}

fn run_editor(file: &Path, initial: &str) -> Result<Vec<u8>, Failure> {
    {
        let mut f = custodia::files::create_private(file)
            .map_err(|e| Failure::io(format!("cannot create {}", file.display()), e))?;
        f.write_all(initial.as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| Failure::io("cannot prepare the editor file", e))?;
    }
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let mut parts = editor.split_whitespace();
    let program = parts
        .next()
        .ok_or_else(|| Failure::invalid("$EDITOR is empty"))?;
    let status = Command::new(program)
        .args(parts)
        .arg(file)
        .status()
        .map_err(|e| Failure::io(format!("cannot start the editor {program:?}"), e))?;
    if !status.success() {
        return Err(Failure::invalid(
            "the editor exited with an error; nothing was saved",
        ));
    }
    let bytes = Zeroizing::new(
        std::fs::read(file).map_err(|e| Failure::io("cannot read the edited text", e))?,
    );
    Ok(bytes.to_vec())
}

/// Whether `path` lies on a RAM file system, from the mount table: the
/// longest mount point containing it must be tmpfs or ramfs. Unknown (no
/// /proc/self/mounts) counts as no.
fn is_ram_backed(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(table) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    ram_backed_in(&table, &real)
}

/// [`is_ram_backed`] over a given mount table (`/proc/self/mounts` format).
fn ram_backed_in(table: &str, real: &Path) -> bool {
    let mut best: Option<(usize, bool)> = None;
    for line in table.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_), Some(point), Some(fstype)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        // The kernel writes spaces, tabs, newlines and backslashes as octal.
        let point = point
            .replace("\\040", " ")
            .replace("\\011", "\t")
            .replace("\\012", "\n")
            .replace("\\134", "\\");
        if real.starts_with(&point) {
            let depth = Path::new(&point).components().count();
            // Later lines win at equal depth: the last mount hides earlier ones.
            if best.is_none_or(|(d, _)| depth >= d) {
                best = Some((depth, matches!(fstype, "tmpfs" | "ramfs")));
            }
        }
    }
    best.is_some_and(|(_, ram)| ram)
}

fn create_private_dir(dir: &PathBuf) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))
}

/// Overwrites a file with zeros, then removes it.
fn wipe(file: &Path) {
    if let Ok(meta) = std::fs::metadata(file) {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(file) {
            let zeros = vec![0u8; meta.len() as usize];
            let _ = f.write_all(&zeros);
            let _ = f.sync_all();
        }
    }
    let _ = std::fs::remove_file(file);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ram_file_system_counts() {
        let tmpfs =
            "sysfs /sys sysfs rw 0 0\n/dev/vda / ext4 rw 0 0\ntmpfs /dev/shm tmpfs rw 0 0\n";
        assert!(ram_backed_in(tmpfs, Path::new("/dev/shm")));
        assert!(ram_backed_in(tmpfs, Path::new("/dev/shm/custodia-1")));
        let disk = "/dev/vda / ext4 rw 0 0\n";
        assert!(!ram_backed_in(disk, Path::new("/dev/shm")));
        // A disk directory bind-mounted over a tmpfs hides it.
        let bound = format!("{tmpfs}/dev/vda /dev/shm ext4 rw 0 0\n");
        assert!(!ram_backed_in(&bound, Path::new("/dev/shm")));
        assert!(!ram_backed_in("", Path::new("/dev/shm")));
    }
}
