//! Scratch folders: one per test, removed when the test passes, kept (and its path printed)
//! when it fails.

use std::path::{Path, PathBuf};

/// A new empty scratch folder under the system temp dir, named after `name`, the process and a
/// random number.
pub fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!(
        "iec104-test-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("scratch dir {}: {e}", d.display()));
    Scratch(Some(d))
}

/// A scratch folder (see [`scratch`]); derefs to its path. Removed on drop unless the thread
/// panics (a failing test): then kept and named on stderr, which libtest shows for a failure.
#[derive(Debug)]
pub struct Scratch(Option<PathBuf>);

impl Scratch {
    /// The path, no longer removed on drop (the caller decides).
    pub fn into_kept(mut self) -> PathBuf {
        self.0.take().unwrap_or_default()
    }

    /// The path.
    pub fn path(&self) -> &Path {
        self
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            if std::thread::panicking() {
                eprintln!("kept the scratch directory {}", d.display());
            } else {
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_on_success_kept_on_failure() {
        let s = scratch("kit");
        let kept_path = s.to_path_buf();
        std::fs::write(s.join("f"), "x").unwrap();
        drop(s);
        assert!(!kept_path.exists());

        let (tx, rx) = std::sync::mpsc::channel();
        let failing = std::thread::spawn(move || {
            let s = scratch("kit-fail");
            tx.send(s.to_path_buf()).unwrap();
            panic!("the test fails");
        });
        assert!(failing.join().is_err());
        let p = rx.recv().unwrap();
        assert!(p.is_dir(), "kept after a failure");
        std::fs::remove_dir_all(p).unwrap();
    }
}
