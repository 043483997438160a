//! The library's layers are one-way (issue 11): each top-level module of
//! `src/` may name only the modules below it, never one beside or above
//! it. This reads the sources (comments left out) and fails naming the
//! file and the upward path, so a cycle cannot come back unnoticed. The
//! order is the one `src/lib.rs` draws.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Lowest first; modules on one line are independent of each other.
const LAYERS: &[&[&str]] = &[
    &["format", "formats", "stream", "process"],
    &["crypto"],
    &["error"],
    &["files"],
    &["store"],
    &["custody"],
    &["vault"],
    &["records"],
    &["audit"],
    &["bundle"],
    &["desk"],
];

fn level(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source names through `crate::`, with the line.
fn named_modules(source: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in source.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                !after.starts_with('{'),
                "line {}: `crate::{{…}}` hides which layers it names; write one path per module",
                n + 1
            );
            out.push((name, n + 1));
            rest = after;
        }
    }
    out
}

#[test]
fn every_module_names_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        // The binary (main.rs, cli/) is above every layer; lib.rs only
        // declares them.
        if matches!(top.as_str(), "main" | "cli" | "lib") {
            continue;
        }
        let Some(mine) = level(&top) else {
            problems.push(format!(
                "{}: module {top:?} is in no layer of LAYERS",
                relative.display()
            ));
            continue;
        };
        *seen.entry(top.clone()).or_default() += 1;
        for (named, line) in named_modules(&fs::read_to_string(&file).unwrap()) {
            if named == top {
                continue;
            }
            match level(&named) {
                Some(theirs) if theirs < mine => {}
                Some(_) => problems.push(format!(
                    "{}:{line}: {top} names crate::{named}, which is not below it",
                    relative.display()
                )),
                None => problems.push(format!(
                    "{}:{line}: crate::{named} is in no layer of LAYERS",
                    relative.display()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "upward or sideways paths:\n{}",
        problems.join("\n")
    );
    // The check looked at every layer (a renamed module cannot slip out).
    for layer in LAYERS {
        for module in *layer {
            assert!(
                seen.contains_key(*module),
                "no source found for layer {module}"
            );
        }
    }
}

#[test]
fn the_checker_sees_an_upward_path() {
    let found = named_modules("use crate::vault::Session;\n// crate::bundle in a comment\nlet x = crate::records::exists(); // crate::audit\n");
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["vault", "records"]);
}
