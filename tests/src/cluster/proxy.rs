//! A fault-injecting TCP proxy on 127.0.0.1 in front of the broker: every node connects
//! through it (one shared configuration), and the proxy tells the nodes apart by the client id
//! of their MQTT CONNECT packet. A node's connections can be cut (both sides closed, new
//! connections refused while cut) or frozen (nothing forwarded, nothing closed) — a network
//! cut without root.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to a node's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwarded.
    Pass,
    /// Held: nothing forwarded, connections stay open.
    Freeze,
    /// Connections closed, new ones refused.
    Cut,
}

/// Tag (a substring of the client id, e.g. the node id) → mode.
type Rules = BTreeMap<String, Mode>;

/// The running proxy.
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    rules: watch::Sender<Rules>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (rules, rx) = watch::channel(Rules::new());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, target, rx.clone()));
            }
        });
        Proxy { port, rules, task }
    }

    /// Sets the mode of the connections whose client id contains `tag`.
    pub fn set(&self, tag: &str, mode: Mode) {
        self.rules.send_modify(|r| {
            if mode == Mode::Pass {
                r.remove(tag);
            } else {
                r.insert(tag.to_owned(), mode);
            }
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mode_of(rules: &Rules, client_id: &str) -> Mode {
    rules
        .iter()
        .find(|(tag, _)| client_id.contains(tag.as_str()))
        .map(|(_, m)| *m)
        .unwrap_or(Mode::Pass)
}

async fn serve(inbound: TcpStream, target: SocketAddr, mut rules: watch::Receiver<Rules>) {
    let mut inbound = inbound;
    let Some((first, client_id)) = read_connect(&mut inbound).await else {
        return;
    };
    // A frozen node's new connection waits (its CONNECT held) until the rule changes.
    loop {
        let mode = mode_of(&rules.borrow_and_update(), &client_id);
        match mode {
            Mode::Cut => return,
            Mode::Freeze => {
                if rules.changed().await.is_err() {
                    return;
                }
            }
            Mode::Pass => break,
        }
    }
    let Ok(out) = TcpStream::connect(target).await else {
        return;
    };
    let (mut ir, mut iw) = inbound.into_split();
    let (mut or, mut ow) = out.into_split();
    if ow.write_all(&first).await.is_err() {
        return;
    }
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    loop {
        let mode = mode_of(&rules.borrow_and_update(), &client_id);
        match mode {
            Mode::Cut => return,
            Mode::Freeze => {
                if rules.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Pass => {}
        }
        tokio::select! {
            r = ir.read(&mut up) => match r {
                Ok(n) if n > 0 => if ow.write_all(&up[..n]).await.is_err() { return },
                _ => return,
            },
            r = or.read(&mut down) => match r {
                Ok(n) if n > 0 => if iw.write_all(&down[..n]).await.is_err() { return },
                _ => return,
            },
            c = rules.changed() => if c.is_err() { return },
        }
    }
}

/// Reads the first MQTT packet (CONNECT) whole: its bytes and its client id ("" when it is
/// not a CONNECT that parses). At most 64 KiB.
async fn read_connect<R: AsyncRead + Unpin>(r: &mut R) -> Option<(Vec<u8>, String)> {
    let mut head = vec![r.read_u8().await.ok()?];
    let mut len: usize = 0;
    for i in 0..4 {
        let b = r.read_u8().await.ok()?;
        head.push(b);
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > 64 * 1024 {
        return None;
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await.ok()?;
    let id = if head.first() == Some(&0x10) {
        client_id(&body).unwrap_or_default()
    } else {
        String::new()
    };
    head.extend_from_slice(&body);
    Some((head, id))
}

/// The client id of a CONNECT packet's variable header and payload (MQTT 3.1.1 §3.1.2-3,
/// MQTT 5 §3.1.2.11 properties before the payload).
fn client_id(body: &[u8]) -> Option<String> {
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut p = 2 + name_len;
    let level = *body.get(p)?;
    p += 1 + 1 + 2; // level, flags, keep-alive
    if level == 5 {
        let mut props: usize = 0;
        for i in 0..4 {
            let b = *body.get(p)?;
            p += 1;
            props |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        p += props;
    }
    let id_len = usize::from(u16::from_be_bytes([*body.get(p)?, *body.get(p + 1)?]));
    let id = body.get(p + 2..p + 2 + id_len)?;
    Some(String::from_utf8_lossy(id).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_of_mqtt5_and_311_connects() {
        // MQTT 5 CONNECT body (after the fixed header): protocol name "MQTT" (00 04 4D 51 54 54),
        // level 5, flags 0x02 (clean start), keep-alive 1 s (00 01), properties: length 5,
        // session expiry interval (0x11) 00 00 00 00; payload: client id "gw-a" (00 04 ...).
        let v5 = [
            0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 1, 5, 0x11, 0, 0, 0, 0, 0, 4, b'g', b'w',
            b'-', b'a',
        ];
        assert_eq!(client_id(&v5).as_deref(), Some("gw-a"));
        // MQTT 3.1.1: no properties.
        let v4 = [
            0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'x', b'y',
        ];
        assert_eq!(client_id(&v4).as_deref(), Some("xy"));
        assert_eq!(client_id(&v4[..12]), None);
    }
}
