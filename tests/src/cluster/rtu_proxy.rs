//! A fault-injecting TCP proxy on 127.0.0.1 in front of one RTU (a simulator station): every
//! node connects to the station through it (one shared configuration), and the proxy tells the
//! connections apart by what the gateway sent on them: the one with data transfer started
//! (STARTDT act, not followed by STOPDT act) is the owner's. Cutting the owner's path faults
//! that connection — reset (both sides closed at once, RST to the gateway) or blackholed
//! (nothing forwarded any more, nothing closed: only the link layer's TESTFR and t1 notice)
//! — and refuses new connections until healed, while the other (standby) connections pass.
//!
//! New connections are refused (accepted and reset) rather than blackholed: a proxy in user
//! space cannot drop a SYN, and a connection it accepted would look established to the node.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to the owner's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Both sides closed at once; the node sees a reset.
    Reset,
    /// Nothing forwarded in either direction, nothing closed.
    Blackhole,
}

/// One proxied connection.
struct Conn {
    started: Arc<std::sync::atomic::AtomicBool>,
    fault: watch::Sender<Option<Fault>>,
}

#[derive(Default)]
struct Shared {
    conns: Vec<Conn>,
    refuse: bool,
    refused: usize,
}

/// The running proxy.
pub struct RtuProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RtuProxy {
    /// Listens on 127.0.0.1:0 and forwards each connection to `target`.
    pub async fn start(target: SocketAddr) -> RtuProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind rtu proxy");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut g = lock(&s);
                if g.refuse {
                    g.refused += 1;
                    drop(g);
                    let _ = inbound.set_zero_linger();
                    drop(inbound);
                    continue;
                }
                let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (fault, rx) = watch::channel(None);
                g.conns.push(Conn {
                    started: started.clone(),
                    fault,
                });
                drop(g);
                tokio::spawn(serve(inbound, target, started, rx));
            }
        });
        RtuProxy { port, shared, task }
    }

    /// Cuts the owner's path: the started connections get `fault`, new connections are
    /// refused. Returns how many connections were faulted.
    pub fn cut_started(&self, fault: Fault) -> usize {
        let mut g = lock(&self.shared);
        g.refuse = true;
        let mut n = 0;
        for c in &g.conns {
            if c.started.load(std::sync::atomic::Ordering::SeqCst) && c.fault.borrow().is_none() {
                let _ = c.fault.send(Some(fault));
                n += 1;
            }
        }
        n
    }

    /// Cuts every node's path: all open connections get `fault`, new ones are refused.
    pub fn cut_all(&self, fault: Fault) -> usize {
        let mut g = lock(&self.shared);
        g.refuse = true;
        let mut n = 0;
        for c in &g.conns {
            if c.fault.borrow().is_none() {
                let _ = c.fault.send(Some(fault));
                n += 1;
            }
        }
        n
    }

    /// New connections pass again (faulted ones stay as they are).
    pub fn heal(&self) {
        lock(&self.shared).refuse = false;
    }

    /// Connections refused so far.
    pub fn refused(&self) -> usize {
        lock(&self.shared).refused
    }

    /// Connections with data transfer started now (by what passed through).
    pub fn started(&self) -> usize {
        lock(&self.shared)
            .conns
            .iter()
            .filter(|c| {
                c.started.load(std::sync::atomic::Ordering::SeqCst) && c.fault.borrow().is_none()
            })
            .count()
    }
}

impl Drop for RtuProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// U-frame control octets of STARTDT act and STOPDT act (IEC 60870-5-104, 5.3: octet 1 of
/// the control field is 0b0000_0111 for STARTDT act and 0b0001_0011 for STOPDT act).
const STARTDT_ACT: u8 = 0x07;
const STOPDT_ACT: u8 = 0x13;

/// Follows the APDUs the node sends (start 0x68, length, control field) and notes STARTDT and
/// STOPDT act in `started`. `buf` holds an incomplete APDU between reads.
fn note_frames(buf: &mut Vec<u8>, data: &[u8], started: &std::sync::atomic::AtomicBool) {
    buf.extend_from_slice(data);
    loop {
        if buf.len() < 2 {
            return;
        }
        if buf[0] != 0x68 {
            // Not APDU framing: stop following (forwarding goes on).
            buf.clear();
            return;
        }
        let len = usize::from(buf[1]) + 2;
        if buf.len() < len {
            return;
        }
        if len >= 3 {
            match buf[2] {
                STARTDT_ACT => started.store(true, std::sync::atomic::Ordering::SeqCst),
                STOPDT_ACT => started.store(false, std::sync::atomic::Ordering::SeqCst),
                _ => {}
            }
        }
        buf.drain(..len);
    }
}

async fn serve(
    inbound: TcpStream,
    target: SocketAddr,
    started: Arc<std::sync::atomic::AtomicBool>,
    mut fault: watch::Receiver<Option<Fault>>,
) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        let _ = inbound.set_zero_linger();
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (mut node_rd, mut node_wr) = inbound.into_split();
    let (mut rtu_rd, mut rtu_wr) = outbound.into_split();
    let mut up = [0u8; 4096];
    let mut down = [0u8; 4096];
    let mut frames = Vec::new();
    loop {
        tokio::select! {
            n = node_rd.read(&mut up) => match n {
                Ok(n) if n > 0 => {
                    note_frames(&mut frames, &up[..n], &started);
                    if rtu_wr.write_all(&up[..n]).await.is_err() { break; }
                }
                _ => break,
            },
            n = rtu_rd.read(&mut down) => match n {
                Ok(n) if n > 0 => {
                    if node_wr.write_all(&down[..n]).await.is_err() { break; }
                }
                _ => break,
            },
            _ = fault.changed() => break,
        }
    }
    let f = *fault.borrow();
    match f {
        Some(Fault::Blackhole) => {
            // Swallow whatever comes from either side; close nothing ourselves (a side that
            // gives up closes its own connection; the other stays open).
            let mut node_open = true;
            let mut rtu_open = true;
            while node_open || rtu_open {
                tokio::select! {
                    n = node_rd.read(&mut up), if node_open => node_open = matches!(n, Ok(n) if n > 0),
                    n = rtu_rd.read(&mut down), if rtu_open => rtu_open = matches!(n, Ok(n) if n > 0),
                }
            }
        }
        Some(Fault::Reset) => {
            if let Ok(s) = node_rd.reunite(node_wr) {
                let _ = s.set_zero_linger();
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn startdt_and_stopdt_are_followed_across_reads() {
        let started = AtomicBool::new(false);
        let mut buf = Vec::new();
        // TESTFR act (0x43), then STARTDT act split over two reads.
        note_frames(&mut buf, &[0x68, 0x04, 0x43, 0, 0, 0, 0x68, 0x04], &started);
        assert!(!started.load(Ordering::SeqCst));
        note_frames(&mut buf, &[0x07, 0, 0, 0], &started);
        assert!(started.load(Ordering::SeqCst));
        // An S-frame (0x01), then STOPDT act.
        note_frames(&mut buf, &[0x68, 0x04, 0x01, 0, 0x02, 0], &started);
        assert!(started.load(Ordering::SeqCst));
        note_frames(&mut buf, &[0x68, 0x04, 0x13, 0, 0, 0], &started);
        assert!(!started.load(Ordering::SeqCst));
        assert!(buf.is_empty());
    }
}
