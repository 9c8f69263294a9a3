//! Helpers for the end-to-end tests: the gateway binary as a process, a real MQTT broker
//! (mosquitto), a subscriber, and scripted IEC 104 stations built on the iec104 server.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aedes;
pub mod broker;
pub mod cluster;
pub mod gateway;
pub mod station;
pub mod subscriber;

use std::time::Duration;

/// A unique scratch directory under the system temp dir, removed when dropped — except while
/// the thread panics (a failing test), when it is kept and its path printed.
pub fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!(
        "iec104-e2e-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&d).expect("scratch dir");
    Scratch(Some(d))
}

/// A scratch directory (see [`scratch`]); derefs to its path.
#[derive(Debug)]
pub struct Scratch(Option<std::path::PathBuf>);

impl Scratch {
    /// The path, no longer removed on drop (the caller decides).
    pub fn into_kept(mut self) -> std::path::PathBuf {
        self.0.take().unwrap_or_default()
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        self.0.as_deref().unwrap_or(std::path::Path::new(""))
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
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

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts TCP connections on `port`, at most `within`.
pub async fn wait_listening(port: u16, within: Duration) -> bool {
    let end = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < end {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
