//! Interoperability with the stock `minisign` tool (Debian package
//! `minisign`): our signatures must verify with `minisign -V`, and stock
//! signatures must verify with our `verify`.
//!
//! Each test skips itself, with a message, only if `minisign` is not on PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use custodia::formats::minisign::{
    self, MinisignError, PublicKey, SignatureFile, MAX_TRUSTED_COMMENT_LEN,
    MAX_UNTRUSTED_COMMENT_LEN,
};
use ed25519_dalek::{Signer, SigningKey};
use tempfile::TempDir;

fn have_minisign(test: &str) -> bool {
    let found = Command::new("minisign")
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        // CI installs the stock tools: there, a missing tool is a failure, not a skip.
        assert!(
            !crate::common::tools_required(),
            "{test}: `minisign` is not on PATH in CI (apt-get install minisign)"
        );
        eprintln!("SKIPPED {test}: `minisign` is not on PATH (apt-get install minisign)");
    }
    found
}

fn run_minisign(args: &[&str]) -> Output {
    let out = Command::new("minisign")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run minisign");
    eprintln!(
        "$ minisign {}\n-> {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn random_key() -> SigningKey {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).expect("getrandom");
    SigningKey::from_bytes(&seed)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Data big enough to need many 64 KiB reads, with a non-aligned length.
fn bundle_bytes() -> Vec<u8> {
    (0..(3 * 1024 * 1024 + 12_345u32))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

struct Signed {
    dir: TempDir,
    data: PathBuf,
    sig: PathBuf,
    pubfile: PathBuf,
    pk: PublicKey,
}

/// Signs `data` with a fresh key using our implementation and writes the
/// data, `.minisig` and `.pub` files.
fn our_signed(data: &[u8], untrusted: &str, trusted: &str) -> Signed {
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = random_key();
    let pk = PublicKey::new(sk.verifying_key());
    let data_path = dir.path().join("bundle.custodia");
    fs::write(&data_path, data).unwrap();
    let file = fs::File::open(&data_path).unwrap();
    let text = minisign::sign(&sk, file, untrusted, trusted).expect("sign");
    let sig = dir.path().join("bundle.custodia.minisig");
    fs::write(&sig, &text).unwrap();
    let pubfile = dir.path().join("custodia.pub");
    fs::write(&pubfile, pk.to_file_string("Custodia vault sealing key")).unwrap();
    Signed {
        dir,
        data: data_path,
        sig,
        pubfile,
        pk,
    }
}

#[test]
fn our_signature_verifies_with_stock_minisign() {
    if !have_minisign("our_signature_verifies_with_stock_minisign") {
        return;
    }
    let tc = "timestamp:1700000000\tfile:bundle.custodia\tcase:Aktenzeichen 7 O 123/24 «封印» ✓  ";
    let t = our_signed(&bundle_bytes(), "Custodia sealed bundle", tc);
    let b64 = t.pk.base64();

    for args in [
        vec!["-Vm", s(&t.data), "-x", s(&t.sig), "-P", &b64],
        vec!["-Vm", s(&t.data), "-x", s(&t.sig), "-p", s(&t.pubfile)],
        // -H: refuse legacy signatures; ours are prehashed, so this passes.
        vec!["-V", "-H", "-m", s(&t.data), "-x", s(&t.sig), "-P", &b64],
    ] {
        let out = run_minisign(&args);
        assert!(
            out.status.success(),
            "stock minisign rejected our signature"
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("Signature and comment signature verified"),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("Trusted comment: {tc}\n")),
            "{stdout}"
        );
    }

    // -Q prints exactly the trusted comment, trailing spaces included.
    let out = run_minisign(&["-V", "-Q", "-m", s(&t.data), "-x", s(&t.sig), "-P", &b64]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{tc}\n"));

    // The default signature path <file>.minisig is used when -x is omitted.
    let out = run_minisign(&["-Vm", s(&t.data), "-p", s(&t.pubfile)]);
    assert!(out.status.success());
}

#[test]
fn tampering_is_detected_by_stock_minisign() {
    if !have_minisign("tampering_is_detected_by_stock_minisign") {
        return;
    }
    let mut data = bundle_bytes();
    let t = our_signed(&data, "u", "timestamp:1700000000");
    let b64 = t.pk.base64();

    // One flipped bit in the middle of the data.
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    fs::write(&t.data, &data).unwrap();
    let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&t.sig), "-P", &b64]);
    assert!(!out.status.success(), "tampered data accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Signature verification failed"));
    data[mid] ^= 0x01;
    fs::write(&t.data, &data).unwrap();

    // A forged trusted comment.
    let text = fs::read_to_string(&t.sig).unwrap();
    let forged = text.replace(
        "trusted comment: timestamp:1700000000",
        "trusted comment: timestamp:1800000000",
    );
    assert_ne!(forged, text);
    let forged_sig = t.dir.path().join("forged.minisig");
    fs::write(&forged_sig, forged).unwrap();
    let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&forged_sig), "-P", &b64]);
    assert!(!out.status.success(), "forged trusted comment accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Comment signature verification failed"));

    // Untouched files still verify.
    let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&t.sig), "-P", &b64]);
    assert!(out.status.success());
}

/// Extracts the hex number following `label` in minisign's output.
fn hex_after(text: &str, label: &str) -> u64 {
    let start = text
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {text:?}"));
    let hex: String = text[start + label.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u64::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("{hex:?}: {e}"))
}

#[test]
fn stock_minisign_prints_key_ids_like_key_id_hex() {
    if !have_minisign("stock_minisign_prints_key_ids_like_key_id_hex") {
        return;
    }
    let t = our_signed(b"data", "u", "t");
    // A key whose printed id has a leading zero digit (last stored byte
    // < 0x10), to see how minisign pads.
    let other = loop {
        let pk = PublicKey::new(random_key().verifying_key());
        if pk.key_id[7] < 0x10 {
            break pk;
        }
    };
    assert!(other.key_id_hex().starts_with('0'));
    let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&t.sig), "-P", &other.base64()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let sig_label = format!("Signature key id in {} is ", s(&t.sig));
    let pk_label = "but the key id in the public key is ";
    // Same number, bytes read little-endian (reversed when printed) ...
    assert_eq!(
        hex_after(&stderr, &sig_label),
        u64::from_le_bytes(t.pk.key_id)
    );
    assert_eq!(
        hex_after(&stderr, pk_label),
        u64::from_le_bytes(other.key_id)
    );
    // ... printed with (minisign >= 0.12) or without (0.11) zero padding.
    let padded = other.key_id_hex();
    let unpadded = padded.trim_start_matches('0');
    assert!(
        stderr.contains(&format!("{pk_label}{padded}\n"))
            || stderr.contains(&format!("{pk_label}{unpadded}\n")),
        "{stderr}"
    );
}

#[test]
fn crlf_and_limit_length_comments_verify_with_stock_minisign() {
    if !have_minisign("crlf_and_limit_length_comments_verify_with_stock_minisign") {
        return;
    }
    let uc = "u".repeat(MAX_UNTRUSTED_COMMENT_LEN);
    let tc = "t".repeat(MAX_TRUSTED_COMMENT_LEN);
    let t = our_signed(b"limits", &uc, &tc);
    let b64 = t.pk.base64();
    let out = run_minisign(&["-V", "-Q", "-m", s(&t.data), "-x", s(&t.sig), "-P", &b64]);
    assert!(out.status.success(), "stock rejected maximal comments");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{tc}\n"));

    // CRLF line endings (with shorter comments): stock accepts them, and so
    // do we.
    let t = our_signed(b"limits", &uc[1..], &tc[1..]);
    let text = fs::read_to_string(&t.sig).unwrap();
    let crlf = t.dir.path().join("crlf.minisig");
    fs::write(&crlf, text.replace('\n', "\r\n")).unwrap();
    let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&crlf), "-P", &t.pk.base64()]);
    assert!(out.status.success());
    minisign::verify(&t.pk, &b"limits"[..], &text.replace('\n', "\r\n")).unwrap();
}

#[test]
fn comments_one_byte_over_our_limits_break_stock_minisign() {
    if !have_minisign("comments_one_byte_over_our_limits_break_stock_minisign") {
        return;
    }
    // Build correctly signed files whose comments exceed our limits by one
    // byte (sign() refuses to), to show the limits are minisign's own.
    let dir = tempfile::tempdir().unwrap();
    let sk = random_key();
    let pk = PublicKey::new(sk.verifying_key());
    let data = dir.path().join("d");
    fs::write(&data, b"d").unwrap();
    let valid = SignatureFile::parse(&minisign::sign(&sk, &b"d"[..], "u", "t").unwrap()).unwrap();
    let b64 = pk.base64();

    let long_tc = "t".repeat(MAX_TRUSTED_COMMENT_LEN + 1);
    let mut global = valid.signature.to_vec();
    global.extend_from_slice(long_tc.as_bytes());
    let over_tc = SignatureFile {
        trusted_comment: long_tc,
        global_signature: sk.sign(&global).to_bytes(),
        ..valid.clone()
    };
    let over_uc = SignatureFile {
        untrusted_comment: "u".repeat(MAX_UNTRUSTED_COMMENT_LEN + 1),
        ..valid
    };
    for (name, file) in [("tc", over_tc), ("uc", over_uc)] {
        let path = dir.path().join(name);
        fs::write(&path, file.to_file_string()).unwrap();
        let out = run_minisign(&["-Vm", s(&data), "-x", s(&path), "-P", &b64]);
        assert!(
            !out.status.success(),
            "{name}: stock accepted an over-long comment"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("too long"),
            "{name}"
        );
        assert!(matches!(
            SignatureFile::parse(&file.to_file_string()),
            Err(MinisignError::MalformedSignature(_))
        ));
    }
}

/// Generates an unencrypted stock key pair in `dir`.
fn stock_keypair(dir: &Path) -> (PathBuf, PathBuf) {
    let pubfile = dir.join("stock.pub");
    let secfile = dir.join("stock.key");
    let out = run_minisign(&["-G", "-W", "-p", s(&pubfile), "-s", s(&secfile)]);
    assert!(out.status.success(), "minisign -G -W failed");
    (pubfile, secfile)
}

#[test]
fn stock_signature_verifies_with_our_verify() {
    if !have_minisign("stock_signature_verifies_with_our_verify") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pubfile, secfile) = stock_keypair(dir.path());
    let pub_text = fs::read_to_string(&pubfile).unwrap();
    let pk = PublicKey::parse_any_id(&pub_text).expect("parse stock .pub");
    // Stock writes "untrusted comment: minisign public key <ID>" with the id
    // as key_id_hex() prints it (minisign 0.11: without leading zeros).
    let comment = pub_text.lines().next().unwrap();
    assert_eq!(
        hex_after(comment, "untrusted comment: minisign public key "),
        u64::from_le_bytes(pk.key_id)
    );
    assert!(comment.ends_with(pk.key_id_hex().trim_start_matches('0')));
    // Re-encoding gives back the same line.
    assert_eq!(pub_text.lines().nth(1).unwrap(), pk.base64());

    let mut data = bundle_bytes();
    let data_path = dir.path().join("evidence.bin");
    fs::write(&data_path, &data).unwrap();
    let tc = "signed by stock minisign — Ünïcode ✓";
    let out = run_minisign(&[
        "-S",
        "-s",
        s(&secfile),
        "-m",
        s(&data_path),
        "-c",
        "stock untrusted",
        "-t",
        tc,
    ]);
    assert!(out.status.success(), "minisign -S failed");
    let sig_text = fs::read_to_string(dir.path().join("evidence.bin.minisig")).unwrap();

    let parsed = SignatureFile::parse(&sig_text).unwrap();
    assert_eq!(parsed.algorithm, *b"ED");
    assert_eq!(parsed.untrusted_comment, "stock untrusted");
    assert_eq!(parsed.key_id, pk.key_id);

    let v = minisign::verify(&pk, fs::File::open(&data_path).unwrap(), &sig_text)
        .expect("our verify of a stock signature");
    assert_eq!(v.trusted_comment, tc);
    assert_eq!(v.key_id, pk.key_id);
    assert!(v.prehashed);

    // The bare base64 line works too.
    let pk_line = PublicKey::parse_any_id(pub_text.lines().nth(1).unwrap()).unwrap();
    minisign::verify(&pk_line, &data[..], &sig_text).unwrap();

    // Tampering is detected.
    data[12_345] ^= 0x80;
    assert!(matches!(
        minisign::verify(&pk, &data[..], &sig_text),
        Err(MinisignError::BadSignature)
    ));
    data[12_345] ^= 0x80;
    let forged = sig_text.replace(tc, "signed by stock minisign — forged");
    assert!(matches!(
        minisign::verify(&pk, &data[..], &forged),
        Err(MinisignError::BadGlobalSignature)
    ));
    let ours = PublicKey::new(random_key().verifying_key());
    assert!(matches!(
        minisign::verify(&ours, &data[..], &sig_text),
        Err(MinisignError::KeyIdMismatch { .. })
    ));
}

#[test]
fn stock_legacy_signature_is_refused_by_our_verify() {
    if !have_minisign("stock_legacy_signature_is_refused_by_our_verify") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (pubfile, secfile) = stock_keypair(dir.path());
    let pk = PublicKey::parse_any_id(&fs::read_to_string(&pubfile).unwrap()).unwrap();
    let data_path = dir.path().join("legacy.txt");
    fs::write(&data_path, b"legacy, non-prehashed signature").unwrap();
    let sig_path = dir.path().join("legacy.sig");
    let out = run_minisign(&[
        "-S",
        "-l",
        "-s",
        s(&secfile),
        "-m",
        s(&data_path),
        "-x",
        s(&sig_path),
        "-t",
        "legacy tc",
    ]);
    assert!(out.status.success(), "minisign -S -l failed");
    let sig_text = fs::read_to_string(&sig_path).unwrap();
    // Custodia reads only prehashed "ED" signatures (docs/bundle.md).
    assert!(matches!(
        SignatureFile::parse(&sig_text),
        Err(MinisignError::LegacySignature)
    ));
    assert!(matches!(
        minisign::verify(&pk, fs::File::open(&data_path).unwrap(), &sig_text),
        Err(MinisignError::LegacySignature)
    ));
}

#[test]
fn crlf_with_limit_length_comment_is_rejected_by_both() {
    if !have_minisign("crlf_with_limit_length_comment_is_rejected_by_both") {
        return;
    }
    // With "\r\n" line endings the '\r' occupies one byte of minisign's line
    // buffer, so a maximal comment no longer fits: both sides must refuse.
    for (uc, tc) in [
        ("u".repeat(MAX_UNTRUSTED_COMMENT_LEN), "t".to_owned()),
        ("u".to_owned(), "t".repeat(MAX_TRUSTED_COMMENT_LEN)),
    ] {
        let t = our_signed(b"limits", &uc, &tc);
        let text = fs::read_to_string(&t.sig).unwrap();
        let crlf_text = text.replace('\n', "\r\n");
        let crlf = t.dir.path().join("crlf.minisig");
        fs::write(&crlf, &crlf_text).unwrap();
        let out = run_minisign(&["-Vm", s(&t.data), "-x", s(&crlf), "-P", &t.pk.base64()]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("too long"));
        assert!(matches!(
            minisign::verify(&t.pk, &b"limits"[..], &crlf_text),
            Err(MinisignError::MalformedSignature(_))
        ));
    }
}
