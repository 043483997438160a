//! Helpers for tests that open a bag and change it as a forger would:
//! list its files, rewrite its manifests, read a command's whole output.

use std::fs;
use std::path::Path;
use std::process::Output;

use super::sha256_hex;

/// Every regular file under `root`, as `/`-separated paths relative to `base`.
pub fn files_under(base: &Path, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(base).unwrap();
                let parts: Vec<_> = rel.iter().map(|c| c.to_str().unwrap()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    out.sort();
    out
}

/// Rewrites the bag's manifests as a forger would after changing payload:
/// `manifest-sha256.txt`, the Payload-Oxum in `bag-info.txt`, then
/// `tagmanifest-sha256.txt`. The signature is left as it was.
pub fn rebag(bag: &Path) {
    let payload = files_under(bag, &bag.join("data"));
    let mut manifest = String::new();
    let mut total = 0u64;
    for rel in &payload {
        let bytes = fs::read(bag.join(rel)).unwrap();
        total += bytes.len() as u64;
        manifest.push_str(&format!("{}  {rel}\n", sha256_hex(&bytes)));
    }
    fs::write(bag.join("manifest-sha256.txt"), &manifest).unwrap();
    let info = fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Payload-Oxum:") {
                format!("Payload-Oxum: {total}.{}\n", payload.len())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bag.join("bag-info.txt"), info).unwrap();
    retag(bag);
}

/// Rewrites the tag manifest only.
pub fn retag(bag: &Path) {
    let mut tagmanifest = String::new();
    for name in ["bag-info.txt", "bagit.txt", "manifest-sha256.txt"] {
        let bytes = fs::read(bag.join(name)).unwrap();
        tagmanifest.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
    }
    fs::write(bag.join("tagmanifest-sha256.txt"), tagmanifest).unwrap();
}

/// A run's standard output followed by its standard error.
pub fn all_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Demands exit code `code` from a custodia run; returns stdout + stderr.
pub fn expect_exit(out: &Output, code: i32, what: &str) -> String {
    let text = all_text(out);
    eprintln!("{what} -> {:?}\n{text}", out.status.code());
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {:?}:\n{text}",
        out.status.code()
    );
    text
}
