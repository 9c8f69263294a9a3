//! THE DEBIAN PACKAGE, INSTALLED ON THIS HOST. `debian_package_installs_checks_and_purges`
//! installs the `.deb` that `cargo deb -p iec104-gateway` built (the newest
//! `target/debian/iec104-gateway_*.deb`; `.ci/run` builds it first) with `dpkg -i`, checks what
//! it put on the machine, runs `iec104-gateway check` on the installed configuration (as the
//! service user too), `systemd-analyze verify` on the installed units, then removes it with
//! `dpkg --purge` and checks that its files, state directory and system user are gone.
//!
//! It changes the host, so it undoes itself: a guard purges the package when the test fails
//! half-way. It runs only as root and only when the package is not installed and no
//! `iec104-gateway` user exists beforehand (it would remove them); otherwise it skips and says
//! why. A missing `.deb`, `dpkg` or `systemd-analyze` skips it too, unless
//! `IEC104_INTEROP=require`, which makes them failures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACKAGE: &str = "iec104-gateway";
const CONFIG: &str = "/etc/iec104-gateway/gateway.toml";
const BINARIES: [&str; 3] = [
    "/usr/bin/iec104-gateway",
    "/usr/bin/iec104",
    "/usr/bin/iec104-sim",
];
const DOC: &str = "/usr/share/doc/iec104-gateway/README.md";
const UNITS: [&str; 2] = ["iec104-gateway.service", "iec104-gateway@.service"];

/// Skips (prints why) or, under `IEC104_INTEROP=require`, fails: the test kit's one rule.
fn missing(what: &str) {
    let _ = testkit::interop::require("the package test's preconditions", Err(what.to_owned()));
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn which(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The newest `iec104-gateway_*.deb` under the target directory's `debian/`.
fn built_package() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    std::fs::read_dir(target.join("debian"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("iec104-gateway_") && name.ends_with(".deb")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${db:Status-Status}", PACKAGE]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() != "not-installed"
}

fn getent(db: &str) -> bool {
    run("getent", &[db, PACKAGE]).status.success()
}

/// The directory the units were installed to (`/lib` or `/usr/lib`).
fn unit_dir() -> Option<&'static str> {
    ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join(UNITS[0]).exists())
}

/// Purges the package when dropped while it may still be installed (a failing test).
struct Installed {
    armed: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if self.armed {
            let out = run("dpkg", &["--purge", PACKAGE]);
            eprintln!("guard: dpkg --purge {PACKAGE}: {}", text(&out));
        }
    }
}

/// What the test needs, or `None` after a skip (message printed).
fn preconditions() -> Option<PathBuf> {
    let Some(deb) = built_package() else {
        missing("no target/debian/iec104-gateway_*.deb (cargo install cargo-deb; cargo build --release --workspace; cargo deb -p iec104-gateway --no-build)");
        return None;
    };
    for tool in ["dpkg", "dpkg-query", "systemd-analyze", "getent"] {
        if which(tool).is_none() {
            missing(&format!("{tool} is not installed"));
            return None;
        }
    }
    if !is_root() {
        eprintln!("SKIPPED: installing a package needs root (this test installs {} on the host and purges it again)", deb.display());
        return None;
    }
    if installed() || getent("passwd") || getent("group") {
        missing(
            "the iec104-gateway package or user is already on this host; the test would remove it",
        );
        return None;
    }
    Some(deb)
}

#[test]
fn debian_package_installs_checks_and_purges() {
    let Some(deb) = preconditions() else { return };
    let mut guard = Installed { armed: true };
    let out = run("dpkg", &["-i", &deb.display().to_string()]);
    assert!(out.status.success(), "dpkg -i: {}", text(&out));

    // What the package put on the machine.
    for path in BINARIES.iter().chain([&CONFIG, &DOC]) {
        assert!(Path::new(path).exists(), "{path} installed");
    }
    let units = unit_dir().expect("the units under /usr/lib or /lib/systemd/system");
    for unit in UNITS {
        assert!(Path::new(units).join(unit).exists(), "{units}/{unit}");
    }
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains(CONFIG),
        "{CONFIG} is a conffile: {}",
        text(&conffiles)
    );
    assert!(getent("passwd") && getent("group"), "system user and group");
    let user = String::from_utf8_lossy(&run("getent", &["passwd", PACKAGE]).stdout).into_owned();
    assert!(user.trim_end().ends_with("/usr/sbin/nologin"), "{user}");
    let stat = run("stat", &["-c", "%a %U %G", CONFIG]);
    assert_eq!(
        String::from_utf8_lossy(&stat.stdout).trim(),
        "640 root iec104-gateway",
        "the configuration may hold broker credentials"
    );

    // The installed configuration is valid, for root and for the service user.
    let out = run(BINARIES[0], &["check", "--config", CONFIG]);
    assert!(out.status.success(), "check: {}", text(&out));
    if let Some(runuser) = which("runuser") {
        let runuser = runuser.display().to_string();
        let out = run(
            &runuser,
            &[
                "-u",
                PACKAGE,
                "--",
                BINARIES[0],
                "check",
                "--config",
                CONFIG,
            ],
        );
        assert!(out.status.success(), "check as {PACKAGE}: {}", text(&out));
    }
    for bin in &BINARIES[1..] {
        let out = run(bin, &["--version"]);
        assert!(out.status.success(), "{bin} --version: {}", text(&out));
    }

    // The installed units verify (the template through an instance).
    let scratch = iec104_e2e::scratch("package-units");
    let instance = scratch.join("iec104-gateway@gw-a.service");
    std::os::unix::fs::symlink(Path::new(units).join(UNITS[1]), &instance).expect("symlink");
    for unit in [Path::new(units).join(UNITS[0]), instance] {
        let out = run("systemd-analyze", &["verify", &unit.display().to_string()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("iec104-gateway"),
            "systemd-analyze verify {}: {}",
            unit.display(),
            text(&out)
        );
    }

    // Purged: nothing of it is left.
    let out = run("dpkg", &["--purge", PACKAGE]);
    assert!(out.status.success(), "dpkg --purge: {}", text(&out));
    guard.armed = false;
    assert!(!installed(), "package gone");
    for path in BINARIES.iter().chain([
        &CONFIG,
        &DOC,
        &"/etc/iec104-gateway",
        &"/var/lib/iec104-gateway",
    ]) {
        assert!(!Path::new(path).exists(), "{path} removed");
    }
    for unit in UNITS {
        for dir in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
            assert!(!Path::new(dir).join(unit).exists(), "{dir}/{unit} removed");
        }
    }
    assert!(
        !getent("passwd") && !getent("group"),
        "system user and group removed"
    );
}
