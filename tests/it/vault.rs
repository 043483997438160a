//! The vault itself, end to end through the real binary: creating it,
//! unlocking it, users, passphrases, recovery, what the file reveals, and
//! how files that are not (or not yet) vaults are handled (issue 2).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    arg, assert_no_panic, find_any, find_recovery_key, is_recovery_key, parse_json, read_or_empty,
    run_command, TestVault, OWNER, OWNER_PASS, RECOVERY_ALPHABET, SECOND, SECOND_PASS, VAULT_NAME,
};

/// A new passphrase used by the change and recovery tests.
const NEW_PASS: &str = "Nouvelle clé — «déserteur» à Astana";

/// `key public` for the default user, with `pass_file`.
fn public_key(v: &TestVault, pass_file: &Path) -> String {
    v.ok_as(pass_file, &["key", "public"])
}

/// The "Unlocked as" value printed by `info`.
fn unlocked_as(info: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix("Unlocked as"))
        .unwrap_or_else(|| panic!("info shows no 'Unlocked as' line:\n{info}"))
        .trim()
        .to_owned()
}

/// The recovery key with one character replaced by another valid one.
fn mistype(key: &str, index: usize) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    assert_ne!(chars[index], '-', "index {index} is a dash");
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------- init

#[test]
fn init_creates_a_vault_and_prints_a_recovery_key_of_nine_groups_of_four() {
    let v = TestVault::new();
    assert!(v.path.is_file(), "init made no vault file");
    let key = v
        .recovery_key
        .as_deref()
        .unwrap_or_else(|| panic!("no recovery key printed:\n{}", v.init_stdout));
    assert!(is_recovery_key(key), "{key:?}");
    assert_eq!(key.len(), 9 * 4 + 8);
    assert_eq!(
        v.init_stdout.matches(key).count(),
        1,
        "the key is shown exactly once"
    );
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
}

#[test]
fn init_with_insecure_fast_kdf_warns_loudly() {
    let mut v = TestVault::empty();
    let out = v.run(&[
        "init",
        "--name",
        VAULT_NAME,
        "--user",
        OWNER,
        "--insecure-fast-kdf",
        "--recovery-key-file",
        "-",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && stderr.contains("WEAK") && stderr.contains("tests only"),
        "{stderr}"
    );
    v.recovery_key = find_recovery_key(&String::from_utf8_lossy(&out.stdout));
    assert!(v.recovery_key.is_some());
    let info = v.info_json();
    assert_eq!(info["weak_kdf"], serde_json::json!(true), "{info}");
}

#[test]
fn init_refuses_to_overwrite_an_existing_vault() {
    let v = TestVault::new();
    let id = v.vault_id();
    let before = std::fs::read(&v.path).unwrap();
    let other_pass = v.secret_file("other.pass", "un tout autre passphrase");
    let out = v.run_as(
        &other_pass,
        &["init", "--user", "intrus", "--insecure-fast-kdf"],
    );
    let stderr = common::expect_code(&out, &["init"], 1);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        find_recovery_key(&String::from_utf8_lossy(&out.stdout)).is_none(),
        "a refused init printed a recovery key"
    );
    assert_eq!(
        std::fs::read(&v.path).unwrap(),
        before,
        "the vault was modified"
    );
    assert_eq!(v.vault_id(), id, "the old vault no longer opens as itself");
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
    // Still refused through the helper's own init.
    let out = v.run(&["init", "--insecure-fast-kdf"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn init_with_force_replaces_an_existing_vault() {
    let mut v = TestVault::new();
    let old_id = v.vault_id();
    let old_key = v.recovery_key.clone().unwrap();
    v.init(&["--force"]);
    let new_id = v.vault_id();
    assert_ne!(new_id, old_id, "--force did not make a new vault");
    assert_ne!(v.recovery_key.as_deref(), Some(old_key.as_str()));
    // The old vault's recovery key does not open the new one.
    let key_file = v.secret_file("old-recovery.key", &old_key);
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    let stderr = v.fails_with(
        &[
            "recover",
            "--recovery-key-file",
            arg(&key_file),
            "--new-passphrase-file",
            arg(&new_pass),
        ],
        3,
    );
    assert!(stderr.contains("does not open this vault"), "{stderr}");
}

#[test]
fn a_recovery_key_out_that_cannot_be_written_leaves_no_vault() {
    let v = TestVault::empty();
    let out = v.run(&[
        "init",
        "--user",
        OWNER,
        "--insecure-fast-kdf",
        "--recovery-key-out",
        "/nonexistent-dir/recovery.key",
    ]);
    let stderr = common::expect_code(&out, &["init", "--recovery-key-out <bad path>"], 1);
    assert!(stderr.contains("/nonexistent-dir"), "{stderr}");
    assert!(
        !v.path.exists(),
        "a vault was created whose recovery key nobody saw"
    );
}

#[test]
fn recovery_key_out_writes_the_key_to_a_0600_file_and_does_not_print_it() {
    let mut v = TestVault::empty();
    let key_file = v.file("recovery.key");
    let out = v.run(&[
        "init",
        "--name",
        VAULT_NAME,
        "--user",
        OWNER,
        "--insecure-fast-kdf",
        "--recovery-key-out",
        arg(&key_file),
    ]);
    let stdout = common::expect_success(&out, &["init"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&key_file).unwrap();
    let key = text.trim_end();
    assert!(is_recovery_key(key), "{text:?}");
    assert_eq!(text, format!("{key}\n"));
    assert!(
        find_recovery_key(&stdout).is_none(),
        "key printed:\n{stdout}"
    );
    assert!(!stdout.contains(key) && !stderr.contains(key));
    assert!(stderr.contains(arg(&key_file)), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    // The key in the file is the vault's recovery key.
    v.recovery_key = Some(key.to_owned());
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    v.ok_as(&new_pass, &["user", "list"]);
}

#[test]
fn recovery_key_out_refuses_to_overwrite_an_existing_file() {
    let v = TestVault::empty();
    let key_file = v.file("recovery.key");
    std::fs::write(&key_file, "précieux\n").unwrap();
    let stderr = v.fails_with(
        &[
            "init",
            "--user",
            OWNER,
            "--insecure-fast-kdf",
            "--recovery-key-out",
            arg(&key_file),
        ],
        1,
    );
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), "précieux\n");
    assert!(!v.path.exists(), "a vault was created anyway");
}

// ---------------------------------------------------------------- unlock

#[test]
fn the_right_passphrase_unlocks_the_vault() {
    let v = TestVault::new();
    let list = v.ok(&["user", "list"]);
    assert!(list.contains(OWNER), "{list}");
    let info = v.ok(&["info"]);
    assert!(info.contains(VAULT_NAME), "{info}");
    assert_eq!(unlocked_as(&info), OWNER);
}

#[test]
fn a_wrong_passphrase_exits_3_quickly() {
    let v = TestVault::new();
    let wrong = v.secret_file("wrong.pass", "Réfugié « côté » à Almaty, été 2025");
    for args in [&["user", "list"][..], &["info"], &["key", "public"]] {
        let started = Instant::now();
        let stderr = v.fails_with_as(&wrong, args, 3);
        let took = started.elapsed();
        assert!(stderr.contains("wrong passphrase"), "{stderr}");
        assert!(
            !stderr.contains("2025"),
            "the passphrase was echoed: {stderr}"
        );
        assert!(
            took < Duration::from_secs(5),
            "a wrong passphrase took {took:?} with the fast KDF"
        );
    }
}

#[test]
fn nfc_and_nfd_spellings_of_a_passphrase_both_unlock() {
    let composed = "r\u{e9}fugi\u{e9} \u{ab}c\u{f4}t\u{e9}\u{bb} \u{e0} Almaty";
    let decomposed = "re\u{301}fugie\u{301} \u{ab}co\u{302}te\u{301}\u{bb} a\u{300} Almaty";
    assert_ne!(composed, decomposed);
    for (create_with, open_with) in [(composed, decomposed), (decomposed, composed)] {
        let mut v = TestVault::empty();
        common::write_secret_file(&v.pass_file, create_with);
        v.init(&[]);
        let other = v.secret_file("other-form.pass", open_with);
        assert_eq!(v.active_users_as(&other), vec![OWNER.to_owned()]);
        assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
    }
}

#[test]
fn passphrase_file_dash_reads_the_passphrase_from_stdin() {
    let v = TestVault::new();
    let out = run_command(
        v.bare_command()
            .args(["--vault", arg(&v.path), "--passphrase-file", "-"])
            .args(["user", "list"])
            .write_stdin(format!("{OWNER_PASS}\n")),
    );
    let stdout = common::expect_success(&out, &["user", "list"]);
    assert!(stdout.contains(OWNER), "{stdout}");
    // A wrong one on stdin is a wrong passphrase, not some other error.
    let out = run_command(
        v.bare_command()
            .args(["--vault", arg(&v.path), "--passphrase-file", "-"])
            .args(["user", "list"])
            .write_stdin("pas la bonne phrase\n"),
    );
    common::expect_code(&out, &["user", "list"], 3);
}

#[test]
fn custodia_vault_and_passphrase_file_env_vars_are_used() {
    let (v, second) = TestVault::with_two_users();
    let out = run_command(
        v.bare_command()
            .env("CUSTODIA_VAULT", &v.path)
            .env("CUSTODIA_PASSPHRASE_FILE", &v.pass_file)
            .args(["info"]),
    );
    let info = common::expect_success(&out, &["info"]);
    assert!(info.contains(VAULT_NAME), "{info}");
    assert_eq!(unlocked_as(&info), OWNER);
    // CUSTODIA_USER too.
    let out = run_command(
        v.bare_command()
            .env("CUSTODIA_VAULT", &v.path)
            .env("CUSTODIA_PASSPHRASE_FILE", &second)
            .env("CUSTODIA_USER", SECOND)
            .args(["info"]),
    );
    assert_eq!(
        unlocked_as(&common::expect_success(&out, &["info"])),
        SECOND
    );
    // The command line wins over the environment.
    let out = run_command(
        v.bare_command()
            .env("CUSTODIA_VAULT", v.file("missing.custodia"))
            .env("CUSTODIA_PASSPHRASE_FILE", v.file("missing.pass"))
            .args([
                "--vault",
                arg(&v.path),
                "--passphrase-file",
                arg(&v.pass_file),
            ])
            .args(["user", "list"]),
    );
    common::expect_success(&out, &["user", "list"]);
}

// ---------------------------------------------------------------- passphrases

#[test]
fn passphrase_change_replaces_the_old_passphrase_and_keeps_the_data() {
    let (v, second) = TestVault::with_two_users();
    let id = v.vault_id();
    let users_before = v.ok(&["user", "list", "--json"]);
    let key_before = public_key(&v, &v.pass_file);
    let new_pass = v.secret_file("new.pass", NEW_PASS);

    v.ok(&[
        "passphrase",
        "change",
        "--new-passphrase-file",
        arg(&new_pass),
    ]);

    let stderr = v.fails_with(&["user", "list"], 3);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    // Same users, ids and states; only the acting user's key changed.
    let without_keys = |text: &str| {
        let mut users = parse_json(text);
        for u in users.as_array_mut().unwrap() {
            u.as_object_mut().unwrap().remove("public_key");
        }
        users
    };
    assert_eq!(
        without_keys(&v.ok_as(&new_pass, &["user", "list", "--json"])),
        without_keys(&users_before)
    );
    let info = parse_json(&v.ok_as(&new_pass, &["info", "--json"]));
    assert_eq!(info["file"]["vault_id"].as_str(), Some(id.as_str()));
    assert_eq!(info["name"].as_str(), Some(VAULT_NAME));
    // Issue 13.7: a passphrase change rotates the signing key, so an old
    // passphrase with an old copy of the vault cannot sign for the user.
    assert_ne!(
        public_key(&v, &new_pass),
        key_before,
        "a passphrase change must replace the signing key"
    );
    // The other user is untouched.
    let info = v.ok_as(&second, &["--user", SECOND, "info"]);
    assert_eq!(unlocked_as(&info), SECOND);
}

// ---------------------------------------------------------------- recovery

#[test]
fn recover_sets_a_new_passphrase_and_the_old_one_stops_working() {
    let (v, second) = TestVault::with_two_users();
    let id = v.vault_id();
    let key_file = v.secret_file("recovery.key", v.recovery_key.as_deref().unwrap());
    let new_pass = v.secret_file("new.pass", NEW_PASS);

    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);

    let stderr = v.fails_with(&["user", "list"], 3);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    assert_eq!(
        v.active_users_as(&new_pass),
        vec![OWNER.to_owned(), SECOND.to_owned()]
    );
    let info = parse_json(&v.ok_as(&new_pass, &["info", "--json"]));
    assert_eq!(info["file"]["vault_id"].as_str(), Some(id.as_str()));
    assert_eq!(info["acting_user"].as_str(), Some(OWNER));
    assert_eq!(info["name"].as_str(), Some(VAULT_NAME));
    // The other user is untouched.
    v.ok_as(&second, &["--user", SECOND, "user", "list"]);
}

#[test]
fn a_mistyped_recovery_key_exits_3_and_names_the_checksum() {
    let v = TestVault::new();
    let key = v.recovery_key.clone().unwrap();
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    // One character changed in the secret part, and one in the checksum.
    for index in [0, key.len() - 1] {
        let typo = mistype(&key, index);
        let key_file = v.secret_file("typo.key", &typo);
        let stderr = v.fails_with(
            &[
                "recover",
                "--recovery-key-file",
                arg(&key_file),
                "--new-passphrase-file",
                arg(&new_pass),
            ],
            3,
        );
        assert!(stderr.contains("checksum"), "{stderr}");
        assert!(!stderr.contains(&typo), "the key was echoed: {stderr}");
    }
    // Nothing changed.
    v.ok(&["user", "list"]);
    v.fails_with_as(&new_pass, &["user", "list"], 3);
}

#[test]
fn the_recovery_key_of_another_vault_exits_3() {
    let v = TestVault::new();
    let other = TestVault::new();
    let foreign = other.recovery_key.clone().unwrap();
    assert_ne!(v.recovery_key.as_deref(), Some(foreign.as_str()));
    let key_file = v.secret_file("foreign.key", &foreign);
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    let stderr = v.fails_with(
        &[
            "recover",
            "--recovery-key-file",
            arg(&key_file),
            "--new-passphrase-file",
            arg(&new_pass),
        ],
        3,
    );
    assert!(stderr.contains("does not open this vault"), "{stderr}");
    v.ok(&["user", "list"]);
    v.fails_with_as(&new_pass, &["user", "list"], 3);
}

#[test]
fn recover_replaces_the_users_signing_key() {
    let v = TestVault::new();
    let before = public_key(&v, &v.pass_file);
    let key_file = v.secret_file("recovery.key", v.recovery_key.as_deref().unwrap());
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    let after = public_key(&v, &new_pass);
    assert!(!after.trim().is_empty());
    assert_ne!(after, before, "the signing key did not change");
}

// ---------------------------------------------------------------- users

#[test]
fn a_removed_user_is_locked_out() {
    let (v, second) = TestVault::with_two_users();
    v.ok_as(&second, &["--user", SECOND, "user", "list"]);

    v.ok(&["user", "remove", SECOND]);

    let stderr = v.fails_with_as(&second, &["--user", SECOND, "user", "list"], 3);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");
    v.fails_with_as(&second, &["user", "list"], 3);
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
    let list = parse_json(&v.ok(&["user", "list", "--json"]));
    let removed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == SECOND)
        .expect("a removed user stays listed");
    assert_eq!(removed["active"], false);
}

#[test]
fn removing_the_last_user_is_refused() {
    let (v, _) = TestVault::with_two_users();
    v.ok(&["user", "remove", SECOND]);
    let stderr = v.fails_with(&["user", "remove", OWNER], 1);
    assert!(stderr.contains("only user"), "{stderr}");
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);

    let single = TestVault::new();
    single.fails_with(&["user", "remove", OWNER], 1);
    single.ok(&["user", "list"]);
}

#[test]
fn adding_a_user_whose_name_exists_fails() {
    let (v, _) = TestVault::with_two_users();
    let pass = v.secret_file("dup.pass", "encore une phrase secrète");
    for name in [SECOND, OWNER] {
        let stderr = v.fails_with(
            &["user", "add", name, "--new-passphrase-file", arg(&pass)],
            1,
        );
        assert!(stderr.contains("already exists"), "{stderr}");
    }
    assert_eq!(
        v.active_users_as(&v.pass_file),
        vec![OWNER.to_owned(), SECOND.to_owned()]
    );
    v.fails_with_as(&pass, &["--user", SECOND, "user", "list"], 3);
}

/// "maître-dupont" with the accent as a separate combining character (NFD).
const OWNER_NFD: &str = "mai\u{302}tre-dupont";

#[test]
fn adding_a_user_whose_name_exists_in_another_unicode_form_fails() {
    let v = TestVault::new();
    assert_ne!(OWNER, OWNER_NFD);
    let pass = v.secret_file("nfd.pass", "encore une phrase secrète");
    let stderr = v.fails_with(
        &[
            "user",
            "add",
            OWNER_NFD,
            "--new-passphrase-file",
            arg(&pass),
        ],
        1,
    );
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
}

#[test]
fn the_user_option_matches_a_name_typed_in_either_unicode_form() {
    let v = TestVault::new();
    let info = v.ok(&["--user", OWNER_NFD, "info"]);
    assert_eq!(unlocked_as(&info), OWNER);
}

#[test]
fn the_user_option_selects_that_users_slot() {
    let (v, second) = TestVault::with_two_users();
    let owner_key = public_key(&v, &v.pass_file);
    let second_key = v.ok_as(&second, &["--user", SECOND, "key", "public"]);
    assert_ne!(owner_key, second_key);

    let info = v.ok_as(&second, &["--user", SECOND, "info"]);
    assert_eq!(unlocked_as(&info), SECOND);
    assert_eq!(unlocked_as(&v.ok(&["info"])), OWNER);
    assert_eq!(unlocked_as(&v.ok(&["--user", OWNER, "info"])), OWNER);

    // A passphrase opens only its own user's slot.
    v.fails_with(&["--user", SECOND, "info"], 3);
    v.fails_with_as(&second, &["--user", OWNER, "info"], 3);
    v.fails_with_as(&second, &["--user", "personne", "info"], 3);
}

// ---------------------------------------------------------------- what the file shows

#[cfg(unix)]
#[test]
fn the_vault_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut v = TestVault::new();
    let mode = std::fs::metadata(&v.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "vault mode {mode:o}");
    v.init(&["--force"]);
    let mode = std::fs::metadata(&v.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "vault mode after --force {mode:o}");
}

/// Everything that must never appear in the vault file or its WAL.
fn secrets_of(v: &TestVault) -> Vec<String> {
    let mut s: Vec<String> = [
        VAULT_NAME,
        "KZ-2026-014",
        "Astana",
        OWNER,
        "maître",
        "dupont",
        SECOND,
        "Amina",
        OWNER_PASS,
        SECOND_PASS,
        NEW_PASS,
        "Réfugié",
        "Témoignage",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(key) = &v.recovery_key {
        s.push(key.clone());
        s.push(key.replace('-', ""));
    }
    s
}

/// Files in the vault's directory that may hold secrets (the vault, its
/// WAL and shared memory, temporaries), not the test's own secret files.
fn vault_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !(name.ends_with(".pass") || name.ends_with(".key"))
        })
        .collect()
}

/// Starts `user list` with the passphrase on standard input and returns once
/// it has opened the vault: it then holds its connection open, waiting.
fn hold_vault_open(v: &TestVault) -> std::process::Child {
    let child = v
        .std_command()
        .args([
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            "-",
            "user",
            "list",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the process holds the vault file open (Linux: its open
    // files are links under /proc/PID/fd).
    let vault = std::fs::canonicalize(&v.path).unwrap();
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let holds_vault = || {
        std::fs::read_dir(&fds)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .any(|e| std::fs::read_link(e.path()).is_ok_and(|target| target == vault))
            })
            .unwrap_or(false)
    };
    while !holds_vault() {
        assert!(Instant::now() < deadline, "custodia never opened the vault");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let it finish opening (it then reads standard input).
    std::thread::sleep(Duration::from_millis(100));
    child
}

/// Gives a [`hold_vault_open`] process its passphrase and waits for it.
fn finish_holding(mut child: std::process::Child, passphrase: &str) -> std::process::Output {
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{passphrase}\n").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    common::expect_success(&out, &["user", "list (held open)"]);
    out
}

#[test]
fn the_vault_file_and_its_journal_contain_no_names_or_passphrases() {
    let mut v = TestVault::empty();
    let second = v.secret_file("second.pass", SECOND_PASS);
    let new_pass = v.secret_file("new.pass", NEW_PASS);
    let key_file = v.file("recovery.key");
    let snapshots = v.file("snapshots");
    std::fs::create_dir(&snapshots).unwrap();

    // Read every file beside the vault continuously while commands run.
    let needles = secrets_of(&v);
    let stop = Arc::new(AtomicBool::new(false));
    let leaks = Arc::new(Mutex::new(BTreeSet::new()));
    let reads = Arc::new(Mutex::new(0usize));
    let poller = {
        let (dir, stop, leaks, reads) = (
            v.dir.path().to_owned(),
            stop.clone(),
            leaks.clone(),
            reads.clone(),
        );
        let needles = needles.clone();
        std::thread::spawn(move || {
            let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
            while !stop.load(Ordering::Relaxed) {
                for file in vault_files(&dir) {
                    let bytes = read_or_empty(&file);
                    *reads.lock().unwrap() += 1;
                    if let Some(n) = find_any(&bytes, &needles) {
                        leaks
                            .lock()
                            .unwrap()
                            .insert(format!("{}: {n:?}", file.display()));
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let mut step = 0;
    let mut after = |v: &TestVault, what: &str| {
        // Copy the files right after the command, then scan the copies.
        step += 1;
        let [db, journal, wal] = v.sidecars();
        let copy_db = snapshots.join(format!("{step}.db"));
        let copy_journal = snapshots.join(format!("{step}.db-journal"));
        let copy_wal = snapshots.join(format!("{step}.db-wal"));
        std::fs::write(&copy_db, read_or_empty(&db)).unwrap();
        std::fs::write(&copy_journal, read_or_empty(&journal)).unwrap();
        std::fs::write(&copy_wal, read_or_empty(&wal)).unwrap();
        let needles = secrets_of(v);
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        for copy in [&copy_db, &copy_journal, &copy_wal] {
            let bytes = std::fs::read(copy).unwrap();
            assert_eq!(
                find_any(&bytes, &needles),
                None,
                "after {what}: {} holds a secret",
                copy.display()
            );
        }
    };

    v.init(&["--recovery-key-out", arg(&key_file)]);
    v.recovery_key = Some(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .trim()
            .to_owned(),
    );
    after(&v, "init");

    // Another process holds the vault open throughout, as a second user's
    // session would. (It must be another process: SQLite's POSIX locks are
    // per process, and the poller's reads in this one would release them.)
    let keeper = hold_vault_open(&v);
    v.ok(&["user", "add", SECOND, "--new-passphrase-file", arg(&second)]);
    after(&v, "user add");
    v.ok(&["info"]);
    after(&v, "info");
    v.ok_as(&second, &["--user", SECOND, "key", "public"]);
    after(&v, "key public");
    v.ok(&[
        "passphrase",
        "change",
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    after(&v, "passphrase change");
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&v.pass_file),
    ]);
    after(&v, "recover");
    v.ok(&["user", "remove", SECOND]);
    after(&v, "user remove");
    let out = finish_holding(keeper, OWNER_PASS);
    assert!(String::from_utf8_lossy(&out.stdout).contains(OWNER));
    after(&v, "the held-open user list");
    v.ok(&["user", "list"]);
    after(&v, "user list");

    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    assert!(*reads.lock().unwrap() > 0, "the poller read nothing");
    let leaks = leaks.lock().unwrap();
    assert!(
        leaks.is_empty(),
        "secrets seen while commands ran: {leaks:?}"
    );
    // (A vault keeps a rollback journal only during a write, so the poller
    // above is what sees it; tests/it/records.rs inspects a hot journal left
    // by a killed intake.)
}

// ---------------------------------------------------------------- files that are not vaults

/// Runs commands on `path` (not a vault) and checks each is refused with
/// exit 1 and "not a Custodia vault", touching nothing.
fn assert_refused_as_not_a_vault(v: &TestVault, path: &Path) {
    let before = if path.is_file() {
        Some(std::fs::read(path).unwrap())
    } else {
        None
    };
    let entries_before = dir_listing(v.dir.path());
    for args in [&["info"][..], &["user", "list"], &["key", "public"]] {
        let out = run_command(
            v.bare_command()
                .args(["--vault", arg(path), "--passphrase-file", arg(&v.pass_file)])
                .args(args),
        );
        let stderr = common::expect_code(&out, args, 1);
        assert!(stderr.contains("not a Custodia vault"), "{stderr}");
        if let Some(before) = &before {
            assert_eq!(
                &std::fs::read(path).unwrap(),
                before,
                "{args:?} changed the file"
            );
        }
        assert_eq!(
            dir_listing(v.dir.path()),
            entries_before,
            "{args:?} left files beside it"
        );
    }
}

fn dir_listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_text_file_is_not_a_vault_and_is_left_unchanged() {
    let v = TestVault::empty();
    let path = v.file("notes.txt");
    std::fs::write(&path, "Témoignage recueilli à Astana, café « Le Nord ».\n").unwrap();
    assert_refused_as_not_a_vault(&v, &path);
}

#[test]
fn an_empty_file_is_not_a_vault_and_is_left_unchanged() {
    let v = TestVault::empty();
    let path = v.file("empty.custodia");
    std::fs::write(&path, b"").unwrap();
    assert_refused_as_not_a_vault(&v, &path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

#[test]
fn a_random_file_is_not_a_vault_and_is_left_unchanged() {
    let v = TestVault::empty();
    let path = v.file("random.bin");
    // 4 KiB of pseudo-random bytes (xorshift; no extra dev-dependency).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_refused_as_not_a_vault(&v, &path);
}

#[test]
fn a_directory_is_not_a_vault() {
    let v = TestVault::empty();
    let path = v.file("a-directory");
    std::fs::create_dir(&path).unwrap();
    assert_refused_as_not_a_vault(&v, &path);
    assert_eq!(std::fs::read_dir(&path).unwrap().count(), 0);
}

#[test]
fn another_programs_sqlite_database_is_not_a_vault_and_is_left_unchanged() {
    let v = TestVault::empty();
    let path = v.file("other-app.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');")
            .unwrap();
    }
    assert_refused_as_not_a_vault(&v, &path);
}

#[test]
fn a_missing_vault_exits_1_with_a_hint_to_run_init() {
    let v = TestVault::empty();
    for args in [&["info"][..], &["user", "list"], &["key", "public"]] {
        let stderr = v.fails_with(args, 1);
        assert!(
            stderr.contains("no vault at") && stderr.contains("custodia init"),
            "{stderr}"
        );
    }
    assert!(!v.path.exists(), "opening a missing vault created it");
}

#[test]
fn a_vault_from_a_newer_format_version_is_refused() {
    let v = TestVault::new();
    let [db, wal, _] = v.sidecars();
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
    let mut bytes = std::fs::read(&db).unwrap();
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    let current = u32::from_be_bytes(bytes[60..64].try_into().unwrap());
    assert!(current >= 1, "user_version {current}");
    // SQLite keeps `PRAGMA user_version` big-endian at offset 60.
    bytes[60..64].copy_from_slice(&(current + 98).to_be_bytes());
    std::fs::write(&db, &bytes).unwrap();

    for args in [&["info"][..], &["user", "list"]] {
        let stderr = v.fails_with(args, 1);
        assert!(stderr.contains("newer"), "{stderr}");
        assert!(stderr.contains(&(current + 98).to_string()), "{stderr}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "the vault was modified");
}

// ---------------------------------------------------------------- hostile KDF parameters

/// Sets a column of the passphrase slots with a direct SQLite write.
fn set_slot_column(v: &TestVault, column: &str, value: i64) {
    let conn = rusqlite::Connection::open(&v.path).unwrap();
    let n = conn
        .execute(
            &format!("UPDATE key_slots SET {column} = ?1 WHERE kind = 'passphrase'"),
            [value],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Runs `user list` under a 2 GiB address-space limit, so a program that
/// tried to allocate what the slot asks for would fail instead of
/// succeeding slowly.
fn run_with_memory_limit(v: &TestVault) -> std::process::Output {
    let mut sh = std::process::Command::new("sh");
    common::clean_env(&mut sh, v.dir.path());
    sh.arg("-c")
        .arg("ulimit -v 2097152 && exec \"$@\"")
        .arg("sh")
        .arg(common::binary())
        .args([
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
        ])
        .args(["user", "list"]);
    run_command(assert_cmd::Command::from_std(sh).timeout(common::COMMAND_TIMEOUT))
}

fn assert_absurd_kdf_memory_is_refused(memory_kib: i64) {
    let v = TestVault::new();
    let control = run_with_memory_limit(&v);
    common::expect_success(&control, &["user", "list (control, under the limit)"]);

    set_slot_column(&v, "kdf_memory_kib", memory_kib);
    let started = Instant::now();
    let out = run_with_memory_limit(&v);
    let stderr = common::expect_code(&out, &["user", "list"], 4);
    assert!(
        stderr.contains("memory") && stderr.contains("out of bounds"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_key_slot_asking_for_4_tib_of_kdf_memory_is_refused_with_exit_4() {
    assert_absurd_kdf_memory_is_refused(4 * 1024 * 1024 * 1024);
}

#[test]
fn a_key_slot_asking_for_just_under_4_tib_of_kdf_memory_is_refused_with_exit_4() {
    assert_absurd_kdf_memory_is_refused(i64::from(u32::MAX));
}

#[test]
fn a_key_slot_with_absurd_kdf_passes_or_lanes_is_refused_with_exit_4() {
    for (column, value, says) in [
        ("kdf_time_cost", 1_000_000, "time cost"),
        ("kdf_parallelism", 0, "parallelism"),
        ("kdf_parallelism", 100_000, "parallelism"),
    ] {
        let v = TestVault::new();
        set_slot_column(&v, column, value);
        let stderr = v.fails_with(&["user", "list"], 4);
        assert!(stderr.contains(says), "{column}={value}: {stderr}");
    }
}

#[test]
fn weakened_plaintext_kdf_defaults_are_refused_not_used_for_new_slots() {
    // The parameters new slots get are authenticated (sealed settings); an
    // attacker who lowers the plaintext copy must not weaken the next slot.
    let v = TestVault::new();
    let conn = rusqlite::Connection::open(&v.path).unwrap();
    conn.execute("UPDATE vault SET kdf_memory_kib = 8, kdf_time_cost = 1", [])
        .unwrap();
    drop(conn);
    let pass = v.secret_file("amina.pass", "phrase de passe d'Amina");
    let stderr = v.fails_with(
        &[
            "user",
            "add",
            "Amina Q.",
            "--new-passphrase-file",
            arg(&pass),
        ],
        4,
    );
    assert!(stderr.contains("tampered"), "{stderr}");
    let conn = rusqlite::Connection::open(&v.path).unwrap();
    let slots: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM key_slots WHERE kind = 'passphrase'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(slots, 1, "no weak slot may have been written");
}

// ---------------------------------------------------------------- output

#[test]
fn json_outputs_parse_as_json() {
    let mut v = TestVault::empty();
    let init = parse_json(&v.ok(&[
        "init",
        "--json",
        "--name",
        VAULT_NAME,
        "--user",
        OWNER,
        "--insecure-fast-kdf",
        "--recovery-key-file",
        "-",
    ]));
    let key = init["recovery_key"]
        .as_str()
        .expect("init --json has the key");
    assert!(is_recovery_key(key), "{init}");
    v.recovery_key = Some(key.to_owned());
    let id = init["vault_id"].as_str().unwrap().to_owned();

    let info = v.info_json();
    assert_eq!(info["file"]["vault_id"].as_str(), Some(id.as_str()));
    assert_eq!(info["name"].as_str(), Some(VAULT_NAME));
    assert_eq!(info["acting_user"].as_str(), Some(OWNER));
    // Locked (no passphrase given), info shows only what the file shows.
    let out = run_command(
        v.bare_command()
            .args(["--vault", arg(&v.path), "info", "--json"]),
    );
    let locked = parse_json(&common::expect_success(&out, &["info", "--json"]));
    assert_eq!(locked["file"]["vault_id"].as_str(), Some(id.as_str()));
    assert!(locked.get("name").is_none(), "{locked}");

    let second = v.secret_file("second.pass", SECOND_PASS);
    let added = parse_json(&v.ok(&[
        "user",
        "add",
        SECOND,
        "--json",
        "--new-passphrase-file",
        arg(&second),
    ]));
    assert_eq!(added["name"].as_str(), Some(SECOND));
    assert!(parse_json(&v.ok(&["user", "list", "--json"])).is_array());
    let key_json = parse_json(&v.ok(&["key", "public", "--json"]));
    assert!(key_json["minisign"].is_string(), "{key_json}");

    let new_pass = v.secret_file("new.pass", NEW_PASS);
    parse_json(&v.ok(&[
        "passphrase",
        "change",
        "--json",
        "--new-passphrase-file",
        arg(&new_pass),
    ]));
    let key_file = v.secret_file("recovery.key", key);
    let recovered = parse_json(&v.ok(&[
        "recover",
        "--json",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&v.pass_file),
    ]));
    assert_eq!(recovered["recovered"], true);
    let removed = parse_json(&v.ok(&["user", "remove", SECOND, "--json"]));
    assert_eq!(removed["removed"].as_str(), Some(SECOND));
}

#[test]
fn completions_bash_prints_a_script() {
    let v = TestVault::empty();
    let out = run_command(v.bare_command().args(["completions", "bash"]));
    let script = common::expect_success(&out, &["completions", "bash"]);
    assert!(script.contains("_custodia()"), "{script}");
    assert!(script.contains("complete -F _custodia"), "{script}");
    for sub in ["init", "recover", "passphrase"] {
        assert!(script.contains(sub), "no {sub} in the script");
    }
}

// ---------------------------------------------------------------- robustness

#[test]
fn odd_inputs_never_panic_and_exit_with_an_error_code() {
    let v = TestVault::new();
    let dir_as_file = v.file("a-directory");
    std::fs::create_dir(&dir_as_file).unwrap();
    let empty = v.file("empty.pass");
    std::fs::write(&empty, "").unwrap();
    let not_utf8 = v.file("latin1.pass");
    std::fs::write(&not_utf8, b"r\xe9fugi\xe9\n").unwrap();
    let huge = v.file("huge.pass");
    // Longer than the 64 KiB read limit, which then falls inside a character.
    std::fs::write(&huge, format!("x{}", "é".repeat(200_000))).unwrap();
    let short = v.secret_file("short.pass", "court");
    let garbage_key = v.secret_file("garbage.key", "🔑 not a key at all");
    let alphabet_key = v.secret_file("alphabet.key", &RECOVERY_ALPHABET.repeat(2));
    let missing = v.file("missing.pass");
    let long_name = "é".repeat(1000);

    let as_pass: Vec<(&Path, Vec<&str>)> = vec![
        (&missing, vec!["user", "list"]),
        (&dir_as_file, vec!["user", "list"]),
        (&empty, vec!["user", "list"]),
        (&not_utf8, vec!["user", "list"]),
        (&huge, vec!["user", "list"]),
        (&huge, vec!["info"]),
        (&v.pass_file, vec!["--user", "", "info"]),
        (
            &v.pass_file,
            vec![
                "user",
                "add",
                "",
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "user",
                "add",
                "a\nb",
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "user",
                "add",
                " x",
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "user",
                "add",
                &long_name,
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec!["user", "add", "bob", "--new-passphrase-file", arg(&short)],
        ),
        (
            &v.pass_file,
            vec!["user", "add", "bob", "--new-passphrase-file", arg(&missing)],
        ),
        (&v.pass_file, vec!["user", "remove", "personne"]),
        (
            &v.pass_file,
            vec!["passphrase", "change", "--new-passphrase-file", arg(&empty)],
        ),
        (
            &v.pass_file,
            vec![
                "recover",
                "--recovery-key-file",
                arg(&garbage_key),
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "recover",
                "--recovery-key-file",
                arg(&alphabet_key),
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "recover",
                "--recovery-key-file",
                arg(&empty),
                "--new-passphrase-file",
                arg(&v.pass_file),
            ],
        ),
        (
            &v.pass_file,
            vec![
                "recover",
                "--recovery-key-file",
                "-",
                "--new-passphrase-file",
                "-",
            ],
        ),
        (&v.pass_file, vec!["--user", "personne", "key", "public"]),
        (&v.pass_file, vec!["completions", "klingon"]),
        (&v.pass_file, vec![]),
        (&v.pass_file, vec!["init", "--insecure-fast-kdf"]),
    ];
    for (pass, args) in as_pass {
        let out = v.run_as(pass, &args);
        let code = out.status.code();
        assert!(
            matches!(code, Some(1..=4)),
            "{args:?} exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let new_vault = v.file("new.custodia");
    for args in [
        vec![
            "--vault",
            arg(&new_vault),
            "--passphrase-file",
            arg(&short),
            "init",
        ],
        vec![
            "--vault",
            arg(&new_vault),
            "--passphrase-file",
            arg(&missing),
            "init",
        ],
        vec!["--vault", "", "info"],
    ] {
        let out = run_command(v.bare_command().args(&args));
        let code = out.status.code();
        assert!(
            matches!(code, Some(1..=4)),
            "{args:?} exited {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!new_vault.exists());
    // The vault is still fine.
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
}

// ---------------------------------------------------------------- default KDF

/// Slow (calibrates Argon2id to about a second per unlock, with at least
/// 64 MiB): run with `cargo test --test it vault:: -- --ignored`.
#[test]
#[ignore = "slow: uses the default calibrated KDF"]
fn the_default_kdf_is_at_least_rfc_9106_second_recommendation() {
    let v = TestVault::empty();
    let out = v.ok(&[
        "init",
        "--json",
        "--name",
        VAULT_NAME,
        "--user",
        OWNER,
        "--recovery-key-file",
        "-",
    ]);
    let init = parse_json(&out);
    assert_eq!(init["insecure_fast_kdf"], false);
    let info = v.info_json();
    assert_eq!(info["weak_kdf"], false, "{info}");
    let slots = info["file"]["passphrase_slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{info}");
    let slot = &slots[0];
    assert!(slot["memory_kib"].as_u64().unwrap() >= 65536, "{slot}");
    assert!(slot["time_cost"].as_u64().unwrap() >= 3, "{slot}");
    // One lane: the argon2 crate computes lanes one after another, so more
    // lanes would only shorten an attacker's guesses (SECURITY.md, "Keys,
    // passphrases and padding").
    assert_eq!(slot["parallelism"].as_u64(), Some(1), "{slot}");
    // The strength estimate is priced at these real parameters.
    let kdf = init["passphrase_strength"]["kdf"].as_str().unwrap();
    assert!(kdf.starts_with("Argon2id m="), "{init}");
    assert!(kdf.ends_with("p=1"), "{init}");
    assert_eq!(init["passphrase_strength"]["weak_kdf"], false, "{init}");
}

#[test]
fn concurrent_adds_of_one_name_let_exactly_one_through() {
    // The name is checked again inside the write transaction: two clerks
    // adding the same colleague at once cannot create two of them.
    let v = TestVault::new();
    let pass = v.secret_file("colleague.pass", "une phrase de passe partagée");
    for round in 0..6 {
        let name = format!("greffier-{round}");
        let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let (v, name, pass) = (&v, &name, &pass);
                    scope.spawn(move || {
                        v.run(&["user", "add", name, "--new-passphrase-file", arg(pass)])
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let succeeded = outputs.iter().filter(|o| o.status.success()).count();
        assert_eq!(succeeded, 1, "round {round}: {outputs:?}");
        for out in outputs.iter().filter(|o| !o.status.success()) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("already exists") || stderr.contains("busy"),
                "{stderr}"
            );
        }
    }
    let users = v.active_users_as(&v.pass_file);
    assert_eq!(users.len(), 7, "{users:?}");
}

#[test]
fn concurrent_removals_never_leave_a_vault_without_users() {
    for _ in 0..4 {
        let (v, second_pass) = TestVault::with_two_users();
        let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
            let workers: Vec<_> = [OWNER, SECOND]
                .into_iter()
                .map(|name| {
                    let v = &v;
                    scope.spawn(move || v.run(&["user", "remove", name]))
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let removed = outputs.iter().filter(|o| o.status.success()).count();
        assert!(removed <= 1, "both users were removed: {outputs:?}");
        // Someone can still open the vault.
        let opened = [(OWNER, &v.pass_file), (SECOND, &second_pass)]
            .iter()
            .any(|(name, p)| {
                v.run_as(p, &["--user", name, "user", "list"])
                    .status
                    .success()
            });
        assert!(opened, "nobody can open the vault any more");
    }
}

#[test]
fn a_truncated_or_unknown_version_key_slot_envelope_exits_4() {
    for (label, edit) in [
        ("truncated", "substr(wrapped_master, 1, 10)"),
        (
            "unknown version",
            "CAST(X'ff' || substr(wrapped_master, 2) AS BLOB)",
        ),
        ("a text value", "'not a blob'"),
    ] {
        let v = TestVault::new();
        let conn = rusqlite::Connection::open(&v.path).unwrap();
        let n = conn
            .execute(
                &format!("UPDATE key_slots SET wrapped_master = {edit} WHERE kind = 'passphrase'"),
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
        drop(conn);
        let out = v.run(&["user", "list"]);
        let stderr = common::expect_code(&out, &["user", "list", label], 4);
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn user_names_that_break_or_disguise_log_lines_are_refused() {
    let v = TestVault::new();
    let pass = v.secret_file("new.pass", "une phrase de passe assez longue");
    for name in [
        "Ann\u{2028}Lee",
        "Ann\u{2029}Lee",
        "admin\u{202E}nimda",
        "x\u{2066}y\u{2069}",
        "tab\there",
    ] {
        let stderr = v.fails_with(
            &["user", "add", name, "--new-passphrase-file", arg(&pass)],
            1,
        );
        assert!(stderr.contains("user name"), "{name:?}: {stderr}");
    }
    assert_eq!(v.active_users_as(&v.pass_file), vec![OWNER.to_owned()]);
}

#[test]
fn a_truncated_copy_of_a_vault_is_reported_as_damaged_not_as_a_stranger() {
    let v = TestVault::new();
    v.ok(&["case", "new", "KZ-2026-014", "--title", "Déserteur"]);
    let bytes = std::fs::read(&v.path).unwrap();
    for keep in [4096 + 100, bytes.len() / 2] {
        let copy = v.file(&format!("half-{keep}.custodia"));
        std::fs::write(&copy, &bytes[..keep.min(bytes.len() - 1)]).unwrap();
        let out = v.run_on(&copy, &["case", "list"]);
        let stderr = common::expect_code(&out, &["case list (truncated copy)"], 4);
        assert!(stderr.contains("damaged or incomplete"), "{stderr}");
    }
    // A file that is not a vault at all is still exit 1.
    let stranger = v.file("notes.txt");
    std::fs::write(&stranger, "des notes, pas un coffre\n".repeat(100)).unwrap();
    let stderr = common::expect_code(
        &v.run_on(&stranger, &["case", "list"]),
        &["case list (text file)"],
        1,
    );
    assert!(stderr.contains("not a Custodia vault"), "{stderr}");
}

#[test]
fn removing_a_removed_user_says_they_were_already_removed() {
    let (v, _) = TestVault::with_two_users();
    v.ok(&["user", "remove", SECOND]);
    let stderr = v.fails_with(&["user", "remove", SECOND], 1);
    assert!(stderr.contains("already removed"), "{stderr}");
}
