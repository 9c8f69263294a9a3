//! THE rule for a test whose peer (mosquitto, python3 with c104, tshark, systemd-analyze, ...)
//! is missing, read from the environment variable `IEC104_INTEROP`:
//!
//! - unset, empty or `auto`: the test is skipped; [`require_peer`] writes a line
//!   `SKIPPED <test>: ...` straight to the process's stdout (past libtest's capture, so a plain
//!   `cargo test` shows it) and returns a [`Skip`]; the test returns early;
//! - `require` (CI): the test fails, saying what to install. Nothing skips;
//! - anything else (`REQUIRE`, `skip`, `yes`): an error that fails the test loudly.
//!
//! ```no_run
//! let Ok(mosquitto) = testkit::require_peer("mosquitto") else { return };
//! ```

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable holding the rule.
pub const VAR: &str = "IEC104_INTEROP";

/// What a missing peer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interop {
    /// Unset, empty or `auto`: skip the test, saying so.
    Auto,
    /// `require`: a missing peer fails the test.
    Require,
}

impl Interop {
    /// Reads [`VAR`]; an unknown value is an error naming it and what is allowed.
    pub fn from_env() -> Result<Interop, String> {
        match std::env::var(VAR) {
            Err(std::env::VarError::NotPresent) => Interop::parse(None),
            Ok(v) => Interop::parse(Some(&v)),
            Err(e) => Err(format!("{VAR} is not readable: {e}")),
        }
    }

    /// The rule for a value of [`VAR`] (`None`: unset).
    pub fn parse(value: Option<&str>) -> Result<Interop, String> {
        match value {
            None | Some("" | "auto") => Ok(Interop::Auto),
            Some("require") => Ok(Interop::Require),
            Some(v) => Err(format!(
                "{VAR}={v:?} is not understood: expected unset, \"auto\" or \"require\" (lower case)"
            )),
        }
    }

    /// [`Interop::from_env`], panicking on an unknown value.
    pub fn current() -> Interop {
        Interop::from_env().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A test skipped because a peer is missing (under [`Interop::Auto`] only).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a skipped test returns early"]
pub struct Skip {
    /// The peer's name.
    pub peer: String,
    /// Why it is unusable, and what to install.
    pub reason: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {} is missing: {}", self.peer, self.reason)
    }
}

/// A peer: how to find it and what to install when it is missing.
struct Known {
    name: &'static str,
    /// The program to look up in PATH (and /usr/sbin, /sbin).
    program: &'static str,
    /// Arguments of a probe that must succeed (empty: being found is enough).
    probe: &'static [&'static str],
    install: &'static str,
}

const KNOWN: &[Known] = &[
    Known {
        name: "mosquitto",
        program: "mosquitto",
        probe: &[],
        install: "apt-get install mosquitto",
    },
    Known {
        name: "mosquitto_passwd",
        program: "mosquitto_passwd",
        probe: &[],
        install: "apt-get install mosquitto",
    },
    Known {
        name: "mosquitto_sub",
        program: "mosquitto_sub",
        probe: &[],
        install: "apt-get install mosquitto-clients",
    },
    Known {
        name: "mosquitto_pub",
        program: "mosquitto_pub",
        probe: &[],
        install: "apt-get install mosquitto-clients",
    },
    Known {
        name: "c104",
        program: "python3",
        probe: &["-c", "import c104"],
        install: "apt-get install python3 python3-pip; pip install c104",
    },
    Known {
        name: "python3",
        program: "python3",
        probe: &["--version"],
        install: "apt-get install python3",
    },
    Known {
        name: "tshark",
        program: "tshark",
        probe: &["--version"],
        install: "apt-get install tshark",
    },
    Known {
        name: "systemd-analyze",
        program: "systemd-analyze",
        probe: &["--version"],
        install: "apt-get install systemd",
    },
    Known {
        name: "openssl",
        program: "openssl",
        probe: &["version"],
        install: "apt-get install openssl",
    },
    Known {
        name: "redis-server",
        program: "redis-server",
        probe: &["--version"],
        install: "apt-get install redis-server",
    },
    Known {
        name: "node",
        program: "node",
        probe: &["--version"],
        install: "apt-get install nodejs",
    },
    Known {
        name: "npm",
        program: "npm",
        probe: &["--version"],
        install: "apt-get install npm",
    },
    Known {
        name: "chromium",
        program: "chromium",
        probe: &[],
        install: "apt-get install chromium",
    },
    Known {
        name: "nft",
        program: "nft",
        probe: &[],
        install: "apt-get install nftables",
    },
];

/// The path of a program in PATH, /usr/sbin or /sbin.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why `known` is unusable, or its path.
fn find(known: &Known) -> Result<PathBuf, String> {
    let Some(path) = which(known.program) else {
        return Err(format!(
            "`{}` is not installed ({})",
            known.program, known.install
        ));
    };
    if known.probe.is_empty() {
        return Ok(path);
    }
    match Command::new(&path)
        .args(known.probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(path),
        Ok(s) => Err(format!(
            "`{} {}` exited with {s} ({})",
            known.program,
            known.probe.join(" "),
            known.install
        )),
        Err(e) => Err(format!(
            "cannot run `{}`: {e} ({})",
            known.program, known.install
        )),
    }
}

/// THE availability check: the path of the peer `name` (for `c104`: of python3 that imports
/// it). When it is missing: under `require` this panics saying what to install; otherwise it
/// prints `SKIPPED <test>: ...` on stdout and returns a [`Skip`]. Panics on an unknown
/// `IEC104_INTEROP` value and on a peer name this kit does not know.
pub fn require_peer(name: &str) -> Result<PathBuf, Skip> {
    let known = KNOWN
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("testkit does not know the peer {name:?}; add it to KNOWN"));
    let mode = Interop::current();
    match find(known) {
        Ok(path) => Ok(path),
        Err(reason) => missing(mode, name, reason),
    }
}

/// The same rule for something a test needs that is not a program in PATH (a built binary, a
/// script, a certificate made by openssl): `Err(reason)` is a skip or, under `require`, a
/// failure.
pub fn require(what: &str, found: Result<(), String>) -> Result<(), Skip> {
    let mode = Interop::current();
    match found {
        Ok(()) => Ok(()),
        Err(reason) => missing(mode, what, reason).map(|_| ()),
    }
}

fn missing(mode: Interop, peer: &str, reason: String) -> Result<PathBuf, Skip> {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    match mode {
        Interop::Require => {
            panic!("{test}: peer {peer} is missing ({reason}) and {VAR}=require")
        }
        Interop::Auto => {
            // Straight to the stdout handle: libtest captures `println!` of passing tests, and
            // a skip must be visible in a plain `cargo test`.
            let _ = writeln!(
                std::io::stdout(),
                "SKIPPED {test}: peer {peer} is missing ({reason}); \
                 set {VAR}=require to make this a failure"
            );
            Err(Skip {
                peer: peer.to_string(),
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unset_empty_auto_and_require_are_understood() {
        assert_eq!(Interop::parse(None), Ok(Interop::Auto));
        assert_eq!(Interop::parse(Some("")), Ok(Interop::Auto));
        assert_eq!(Interop::parse(Some("auto")), Ok(Interop::Auto));
        assert_eq!(Interop::parse(Some("require")), Ok(Interop::Require));
        for bad in ["REQUIRE", "Require", "skip", "yes", "1", " require"] {
            let err = Interop::parse(Some(bad)).unwrap_err();
            assert!(
                err.contains(&format!("{bad:?}")) && err.contains("\"require\""),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_peer_skips_under_auto_and_fails_under_require() {
        let skip = missing(Interop::Auto, "nothing", "not installed".into()).unwrap_err();
        assert_eq!(skip.peer, "nothing");
        let failed = std::panic::catch_unwind(|| {
            let _ = missing(
                Interop::Require,
                "nothing",
                "apt-get install nothing".into(),
            );
        });
        let msg = failed.unwrap_err();
        let msg = msg.downcast_ref::<String>().expect("a formatted panic");
        assert!(
            msg.contains("apt-get install nothing") && msg.contains("require"),
            "{msg}"
        );
    }

    #[test]
    fn which_finds_sh_and_not_a_made_up_program() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-iec104").is_none());
    }
}
