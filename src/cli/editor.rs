//! `--editor`: the statement is written in $EDITOR on a file in RAM-backed
//! storage (/dev/shm), private to the user (0700 directory, 0600 file),
//! overwritten with zeros and removed afterwards. Where no RAM-backed
//! storage exists the command refuses rather than touch the disk.

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

/// Runs the editor and returns what was written.
pub fn edit_in_ram() -> Result<Vec<u8>, Failure> {
    let ram = Path::new(RAM_DIR);
    if !ram.is_dir() {
        return Err(Failure::invalid(
            "--editor needs RAM-backed storage (/dev/shm) so that the text never touches the \
             disk, and this system has none; use --stdin or --file instead",
        ));
    }
    let tag = hex::encode(custodia::crypto::random_bytes::<8>().map_err(custodia::Error::from)?);
    let dir = ram.join(format!("custodia-{tag}"));
    create_private_dir(&dir)?;
    let file = dir.join("statement.txt");
    // Removed (it is in RAM) if we are interrupted while the editor runs.
    custodia::files::register(&file);
    RUNNING.store(true, Ordering::SeqCst);
    let result = run_editor(&file);
    RUNNING.store(false, Ordering::SeqCst);
    wipe(&file);
    custodia::files::unregister(&file);
    let _ = std::fs::remove_dir(&dir);
    result
}

fn run_editor(file: &Path) -> Result<Vec<u8>, Failure> {
    {
        let mut f = custodia::files::create_private(file)
            .map_err(|e| Failure::io(format!("cannot create {}", file.display()), e))?;
        f.flush()
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
