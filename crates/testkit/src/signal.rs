//! Signals to child processes (with kill(1): no unsafe code here).

use std::time::Duration;

/// A signal a test sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: shut down cleanly.
    Term,
    /// SIGINT: Ctrl-C.
    Int,
    /// SIGHUP.
    Hup,
    /// SIGKILL: no chance to say goodbye.
    Kill,
    /// SIGSTOP: freeze (sockets stay open).
    Stop,
    /// SIGCONT: thaw after [`Signal::Stop`].
    Cont,
}

impl Signal {
    /// The name kill(1) takes.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Int => "INT",
            Signal::Hup => "HUP",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// Sends `sig` to process `pid`; `Err` when kill(1) could not deliver it (no such process).
pub fn signal(pid: u32, sig: Signal) -> Result<(), String> {
    let status = std::process::Command::new("kill")
        .arg(format!("-{}", sig.name()))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{} {pid}: {status}", sig.name()))
    }
}

/// Sends `sig` to `child` and waits for it to exit, at most `within`: its exit status, or
/// `Err` when it did not exit in time (it is then killed).
pub async fn signal_and_wait(
    child: &mut tokio::process::Child,
    sig: Signal,
    within: Duration,
) -> Result<std::process::ExitStatus, String> {
    let pid = child.id().ok_or("the process has already been reaped")?;
    signal(pid, sig)?;
    match tokio::time::timeout(within, child.wait()).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => Err(format!("wait: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("still running {within:?} after SIG{}", sig.name()))
        }
    }
}
