//! Shared helpers for the integration tests: a throw-away vault in a
//! temporary directory, and the real `custodia` binary run against it with
//! a clean environment.
//!
//! Every vault made here uses `--insecure-fast-kdf`, so a test costs
//! milliseconds, not seconds. Every run checks that the program did not
//! panic, whatever it was asked.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod bag;
pub mod desk;
pub mod webdriver;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use tempfile::TempDir;

/// A realistic vault name (sensitive: must never appear in the file).
pub const VAULT_NAME: &str = "Dossier KZ-2026-014 Astana";
/// The first user.
pub const OWNER: &str = "maître-dupont";
/// The first user's passphrase.
pub const OWNER_PASS: &str = "Réfugié « côté » à Almaty, été 2026";
/// A second user.
pub const SECOND: &str = "Amina Q.";
/// The second user's passphrase.
pub const SECOND_PASS: &str = "Témoignage d'Amina — clé n°7 éàü";

/// Environment variables the binary reads; removed from every run so the
/// developer's own settings cannot leak into a test.
pub const CUSTODIA_ENV: &[&str] = &[
    "CUSTODIA_VAULT",
    "CUSTODIA_USER",
    "CUSTODIA_PASSPHRASE_FILE",
];

/// Longest a single command may run before the test fails instead of
/// hanging (for example on a prompt that should never have been shown).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A vault in its own temporary directory, with passphrase files beside it.
pub struct TestVault {
    /// The temporary directory (deleted on drop).
    pub dir: TempDir,
    /// The vault file.
    pub path: PathBuf,
    /// The passphrase file given with `--passphrase-file` by default.
    pub pass_file: PathBuf,
    /// The recovery key printed at `init`, if the vault was initialised here.
    pub recovery_key: Option<String>,
    /// What `init` printed on standard output.
    pub init_stdout: String,
}

impl TestVault {
    /// A directory with a passphrase file for [`OWNER`] but no vault yet.
    pub fn empty() -> TestVault {
        let dir = tempfile::Builder::new()
            .prefix("custodia-test-")
            .tempdir()
            .expect("create a temporary directory");
        let path = dir.path().join("vault.custodia");
        let pass_file = dir.path().join("owner.pass");
        write_secret_file(&pass_file, OWNER_PASS);
        TestVault {
            dir,
            path,
            pass_file,
            recovery_key: None,
            init_stdout: String::new(),
        }
    }

    /// A new vault named [`VAULT_NAME`] whose first user is [`OWNER`].
    pub fn new() -> TestVault {
        let mut v = TestVault::empty();
        v.init(&[]);
        v
    }

    /// A new vault with [`OWNER`] and [`SECOND`] as users. Returns the vault
    /// and the second user's passphrase file.
    pub fn with_two_users() -> (TestVault, PathBuf) {
        let v = TestVault::new();
        let second = v.secret_file("second.pass", SECOND_PASS);
        v.ok(&["user", "add", SECOND, "--new-passphrase-file", arg(&second)]);
        (v, second)
    }

    /// Runs `init` (fast KDF, named vault, user [`OWNER`]) plus `extra`
    /// arguments, and remembers the recovery key it printed, if any.
    pub fn init(&mut self, extra: &[&str]) -> String {
        let mut args = vec![
            "init",
            "--name",
            VAULT_NAME,
            "--user",
            OWNER,
            "--insecure-fast-kdf",
        ];
        args.extend_from_slice(extra);
        // The recovery key goes to standard output only when asked for
        // (`-`): never silently into a pipe.
        if !extra
            .iter()
            .any(|a| *a == "--recovery-key-out" || *a == "--recovery-key-file")
        {
            args.extend_from_slice(&["--recovery-key-file", "-"]);
        }
        // Replacing a vault is confirmed with its file name.
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if extra.contains(&"--force") {
            args.extend_from_slice(&["--confirm", &file_name]);
        }
        let out = self.ok(&args);
        self.recovery_key = find_recovery_key(&out);
        self.init_stdout = out.clone();
        out
    }

    /// Writes `content` (plus a newline) to a file in the vault's directory.
    pub fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        write_secret_file(&path, content);
        path
    }

    /// A path inside the temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary as a `std::process::Command` (for `spawn`), with a clean
    /// environment and nothing else: no `--vault`, no `--passphrase-file`.
    pub fn std_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(binary());
        clean_env(&mut cmd, self.dir.path());
        cmd
    }

    /// [`TestVault::std_command`] as an `assert_cmd` command with a timeout.
    pub fn bare_command(&self) -> Command {
        let mut cmd = Command::from_std(self.std_command());
        cmd.timeout(COMMAND_TIMEOUT);
        cmd
    }

    /// The binary with `--vault` and `--passphrase-file pass_file`.
    pub fn command_with(&self, pass_file: &Path) -> Command {
        let mut cmd = self.bare_command();
        cmd.arg("--vault")
            .arg(&self.path)
            .arg("--passphrase-file")
            .arg(pass_file);
        cmd
    }

    /// The binary with `--vault` and the default passphrase file.
    pub fn command(&self) -> Command {
        self.command_with(&self.pass_file)
    }

    /// Runs with the default passphrase file.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_command(self.command().args(args))
    }

    /// Runs with another passphrase file (another user, a new passphrase…).
    pub fn run_as<S: AsRef<OsStr>>(&self, pass_file: &Path, args: &[S]) -> Output {
        run_command(self.command_with(pass_file).args(args))
    }

    /// Runs, demands success, returns standard output.
    pub fn ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        expect_success(&self.run(args), args)
    }

    /// [`TestVault::ok`] with another passphrase file.
    pub fn ok_as<S: AsRef<OsStr>>(&self, pass_file: &Path, args: &[S]) -> String {
        expect_success(&self.run_as(pass_file, args), args)
    }

    /// Runs, demands exit code `code`, returns standard error.
    pub fn fails_with<S: AsRef<OsStr>>(&self, args: &[S], code: i32) -> String {
        expect_code(&self.run(args), args, code)
    }

    /// [`TestVault::fails_with`] with another passphrase file.
    pub fn fails_with_as<S: AsRef<OsStr>>(
        &self,
        pass_file: &Path,
        args: &[S],
        code: i32,
    ) -> String {
        expect_code(&self.run_as(pass_file, args), args, code)
    }

    /// `info --json` (unlocked with the default passphrase file), parsed.
    pub fn info_json(&self) -> serde_json::Value {
        parse_json(&self.ok(&["info", "--json"]))
    }

    /// The vault id, from `info --json`.
    pub fn vault_id(&self) -> String {
        self.info_json()["file"]["vault_id"]
            .as_str()
            .expect("info --json has file.vault_id")
            .to_owned()
    }

    /// The names of the active users, from `user list --json`.
    pub fn active_users_as(&self, pass_file: &Path) -> Vec<String> {
        let list = parse_json(&self.ok_as(pass_file, &["user", "list", "--json"]));
        list.as_array()
            .expect("user list --json is an array")
            .iter()
            .filter(|u| u["active"].as_bool() == Some(true))
            .map(|u| u["name"].as_str().expect("a user has a name").to_owned())
            .collect()
    }

    /// The local custody state directory the binary is given
    /// (`CUSTODIA_STATE_DIR`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("custodia-state")
    }

    /// The binary with `--vault vault` (another vault file, e.g. a copy of
    /// this one) and the default passphrase file.
    pub fn command_on(&self, vault: &Path) -> Command {
        let mut cmd = self.bare_command();
        cmd.arg("--vault")
            .arg(vault)
            .arg("--passphrase-file")
            .arg(&self.pass_file);
        cmd
    }

    /// Runs on another vault file with the default passphrase file.
    pub fn run_on<S: AsRef<OsStr>>(&self, vault: &Path, args: &[S]) -> Output {
        run_command(self.command_on(vault).args(args))
    }

    /// [`TestVault::run_on`], demanding success; returns standard output.
    pub fn ok_on<S: AsRef<OsStr>>(&self, vault: &Path, args: &[S]) -> String {
        expect_success(&self.run_on(vault, args), args)
    }

    /// Copies the vault (and its rollback journal, if one is left: a hot
    /// journal belongs to the file) to `name` in the temporary directory,
    /// for tampering or as a rolled-back copy. No custodia process may be
    /// running.
    pub fn copy_vault(&self, name: &str) -> PathBuf {
        let target = self.file(name);
        let [db, journal, _wal] = self.sidecars();
        std::fs::copy(&db, &target).expect("copy the vault file");
        let mut target_journal = target.as_os_str().to_owned();
        target_journal.push("-journal");
        let target_journal = PathBuf::from(target_journal);
        if journal.exists() {
            std::fs::copy(&journal, &target_journal).expect("copy the vault's journal");
        } else {
            let _ = std::fs::remove_file(&target_journal);
        }
        target
    }

    /// The vault file followed by its `-journal` path (the rollback
    /// journal SQLite keeps beside it during a write) and a `-wal` path
    /// (which a vault must never have; scanned in case it appears).
    pub fn sidecars(&self) -> [PathBuf; 3] {
        let with = |suffix: &str| {
            let mut p = self.path.as_os_str().to_owned();
            p.push(suffix);
            PathBuf::from(p)
        };
        [self.path.clone(), with("-journal"), with("-wal")]
    }
}

/// The `custodia` binary cargo built for these tests (the path behind
/// `assert_cmd::Command::cargo_bin("custodia")`).
pub fn binary() -> PathBuf {
    assert_cmd::cargo::cargo_bin("custodia")
}

/// Removes every `CUSTODIA_*` variable from `cmd`'s environment and points
/// its home, data directory and local custody state (`CUSTODIA_STATE_DIR`,
/// where the CLI keeps the last checkpoint it saw of each vault) at `home`,
/// so that neither the developer's settings nor their real vault can be
/// reached; runs it in `home`.
pub fn clean_env(cmd: &mut std::process::Command, home: &Path) {
    for var in CUSTODIA_ENV {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CUSTODIA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join("xdg-data"))
        .env("XDG_STATE_HOME", home.join("xdg-state"))
        .env("CUSTODIA_STATE_DIR", home.join("custodia-state"))
        .env("NO_COLOR", "1")
        .current_dir(home);
}

/// Writes a secret file (content plus newline), mode 0600.
pub fn write_secret_file(path: &Path, content: &str) {
    std::fs::write(path, format!("{content}\n")).expect("write a secret file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .expect("restrict a secret file");
    }
}

/// Runs a prepared command and checks it did not panic.
pub fn run_command(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run custodia");
    assert_no_panic(&out);
    out
}

/// Fails the test if the program panicked (or was killed by a signal).
pub fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "custodia panicked:\n{stderr}");
    assert!(
        out.status.code().is_some(),
        "custodia was killed by a signal ({:?}); stderr:\n{stderr}",
        out.status
    );
}

fn describe<S: AsRef<OsStr>>(args: &[S], out: &Output) -> String {
    let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    format!(
        "custodia {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Demands success; returns standard output.
pub fn expect_success<S: AsRef<OsStr>>(out: &Output, args: &[S]) -> String {
    assert!(
        out.status.success(),
        "expected success:\n{}",
        describe(args, out)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// Demands exit code `code`; returns standard error.
pub fn expect_code<S: AsRef<OsStr>>(out: &Output, args: &[S], code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}:\n{}",
        describe(args, out)
    );
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

/// Parses one JSON document, with the text in the failure message.
pub fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The recovery-key alphabet (Crockford base32, upper case).
pub const RECOVERY_ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// True for `XXXX-XXXX-…` with nine groups of four recovery-key characters.
pub fn is_recovery_key(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 9
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.chars().all(|c| RECOVERY_ALPHABET.contains(c)))
}

/// The first recovery key in `text`, if any.
pub fn find_recovery_key(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| is_recovery_key(w))
        .map(str::to_owned)
}

/// A path as a command-line argument (temporary paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// True for a full record id: 32 lowercase hexadecimal digits.
pub fn is_record_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads a file, or nothing if it does not exist.
pub fn read_or_empty(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// The first of `needles` that occurs in `haystack`, as UTF-8 bytes.
pub fn find_any<'a>(haystack: &[u8], needles: &[&'a str]) -> Option<&'a str> {
    needles.iter().copied().find(|n| {
        let n = n.as_bytes();
        !n.is_empty() && haystack.windows(n.len()).any(|w| w == n)
    })
}

/// Whether a missing outside tool must fail a test instead of skipping
/// it: `.ci/run` exports `CUSTODIA_REQUIRE_TOOLS=1` (and CI services set
/// `CI`). On a developer's machine neither is set, and such tests print
/// `SKIPPED …` and pass.
pub fn tools_required() -> bool {
    std::env::var_os("CUSTODIA_REQUIRE_TOOLS").is_some_and(|v| !v.is_empty() && v != "0")
        || std::env::var_os("CI").is_some()
}

/// For a test that needs something this machine may lack (`what`): true
/// when `available`; otherwise fails the test where tools are required
/// ([`tools_required`]) with `remedy` in the message, and elsewhere prints
/// why the test is skipped and returns false (the test then returns).
pub fn needs(test: &str, available: bool, what: &str, remedy: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !tools_required(),
        "{test}: {what}, and CUSTODIA_REQUIRE_TOOLS (or CI) is set, so this test may not skip: {remedy}"
    );
    eprintln!(
        "SKIPPED {test}: {what} ({remedy}; set CUSTODIA_REQUIRE_TOOLS=1 to make this a failure)"
    );
    false
}

/// Runs headless Chromium on `page` for `v` (its own profile and `HOME`
/// inside the test's directory) with `action` (`--screenshot=…`,
/// `--print-to-pdf=…` and the like), waits at most two minutes, and fails
/// the test with Chromium's standard error if it does not succeed. Returns
/// that standard error.
pub fn headless_chromium(v: &TestVault, action: &[String], page: &Path) -> String {
    use std::io::Read;
    let profile = v.file("chromium-profile");
    let mut child = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(action)
        .arg(format!("file://{}", page.display()))
        .env("HOME", v.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    stderr
}
