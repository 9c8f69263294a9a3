//! systemd notification (sd_notify protocol, hand-written: one datagram to `$NOTIFY_SOCKET`):
//! READY=1, STOPPING=1, STATUS= and watchdog pings every half `$WATCHDOG_USEC`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `state` to the service manager; false when not run by systemd or on error.
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        match std::os::unix::net::SocketAddr::from_abstract_name(name) {
            Ok(addr) => sock.send_to_addr(state.as_bytes(), &addr).is_ok(),
            Err(_) => false,
        }
    } else {
        sock.send_to(state.as_bytes(), path).is_ok()
    }
}

/// The watchdog ping interval (half of `$WATCHDOG_USEC`), when the watchdog is enabled.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
