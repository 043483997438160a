//! Search folding is a stored format (issue 17): the vault keeps folded
//! texts, sealed, so what `fold` produces must not change without
//! `custodia::formats::search::FOLD_VERSION` moving (which makes vaults re-fold their
//! texts at the next unlock). `tests/vectors/fold.tsv` pins the output for
//! French, Cyrillic, Arabic, Devanagari, CJK and the awkward invisibles:
//! each line is the fold version, the input and the expected fold, as JSON
//! strings separated by tabs.
//!
//! `FOLD_VECTORS_WRITE=1 cargo test --test it fold_vectors::` rewrites the file
//! from `tests/vectors/fold-inputs.txt` (after a deliberate change of
//! folding, together with a new `FOLD_VERSION`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use custodia::formats::search::{fold, FOLD_VERSION};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

#[test]
fn fold_output_matches_the_stored_vectors_of_this_fold_version() {
    let path = vectors_dir().join("fold.tsv");
    if std::env::var_os("FOLD_VECTORS_WRITE").is_some() {
        let inputs = std::fs::read_to_string(vectors_dir().join("fold-inputs.txt")).unwrap();
        let mut out = String::new();
        for input in inputs.lines() {
            out.push_str(&format!(
                "{FOLD_VERSION}\t{}\t{}\n",
                serde_json::to_string(input).unwrap(),
                serde_json::to_string(&fold(input)).unwrap()
            ));
        }
        std::fs::write(&path, out).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut checked = 0;
    for (n, line) in text.lines().enumerate() {
        let mut parts = line.split('\t');
        let version: u32 = parts.next().unwrap().parse().unwrap();
        let input: String = serde_json::from_str(parts.next().unwrap()).unwrap();
        let expected: String = serde_json::from_str(parts.next().unwrap()).unwrap();
        assert_eq!(
            version, FOLD_VERSION,
            "line {}: the vectors are of fold version {version} but this build folds as {FOLD_VERSION}: \
             regenerate them (FOLD_VECTORS_WRITE=1) when raising FOLD_VERSION",
            n + 1
        );
        assert_eq!(
            fold(&input),
            expected,
            "line {}: fold changed for {input:?} without FOLD_VERSION moving",
            n + 1
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} vectors");
}
