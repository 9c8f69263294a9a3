//! One MQTT port for every client of the demo: reads the protocol level of the CONNECT packet
//! and relays the connection to the broker's MQTT 3.1.1 or MQTT 5 listener (the embedded
//! broker binds one protocol per listener; clients expect both on 1883).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Most octets read before the protocol level: fixed header (1), remaining length (≤ 4),
/// protocol name length (2) and name (≤ 6, "MQIsdp" of 3.1), level (1).
const MAX_PREFIX: usize = 14;

/// Why a connection was not relayed.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// The client closed or the socket failed.
    #[error("reading the CONNECT packet: {0}")]
    Io(#[from] std::io::Error),
    /// Not a CONNECT packet.
    #[error("the first packet is not CONNECT (first octet 0x{0:02X})")]
    NotConnect(u8),
    /// Nothing arrived in time.
    #[error("no CONNECT packet within {0:?}")]
    Timeout(Duration),
    /// A malformed length or protocol name.
    #[error("malformed CONNECT packet")]
    Malformed,
}

/// The protocol level of the CONNECT packet starting `prefix`, or `None` while more octets
/// are needed.
pub fn protocol_level(prefix: &[u8]) -> Result<Option<u8>, FrontError> {
    let Some(&first) = prefix.first() else {
        return Ok(None);
    };
    if first & 0xF0 != 0x10 {
        return Err(FrontError::NotConnect(first));
    }
    // Remaining length: 1 to 4 octets, continuation bit 0x80.
    let mut at = 1;
    loop {
        let Some(&b) = prefix.get(at) else {
            return Ok(None);
        };
        at += 1;
        if b & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Err(FrontError::Malformed);
        }
    }
    let (Some(&hi), Some(&lo)) = (prefix.get(at), prefix.get(at + 1)) else {
        return Ok(None);
    };
    let name_len = usize::from(u16::from_be_bytes([hi, lo]));
    if name_len > 6 {
        return Err(FrontError::Malformed);
    }
    Ok(prefix.get(at + 2 + name_len).copied())
}

async fn relay(mut client: TcpStream, v4: SocketAddr, v5: SocketAddr) -> Result<(), FrontError> {
    let limit = Duration::from_secs(10);
    let mut prefix = Vec::with_capacity(MAX_PREFIX);
    let level = tokio::time::timeout(limit, async {
        loop {
            if let Some(level) = protocol_level(&prefix)? {
                return Ok::<u8, FrontError>(level);
            }
            if prefix.len() >= MAX_PREFIX {
                return Err(FrontError::Malformed);
            }
            let mut b = [0u8; 1];
            if client.read(&mut b).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            prefix.push(b[0]);
        }
    })
    .await
    .map_err(|_| FrontError::Timeout(limit))??;
    let mut broker = TcpStream::connect(if level == 5 { v5 } else { v4 }).await?;
    tokio::io::AsyncWriteExt::write_all(&mut broker, &prefix).await?;
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
    Ok(())
}

/// Accepts MQTT clients on `listener` and relays each to `v4` or `v5` (runs until dropped).
pub async fn run(listener: TcpListener, v4: SocketAddr, v5: SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    conns.spawn(async move {
                        if let Err(e) = relay(sock, v4, v5).await {
                            tracing::debug!(%peer, error = %e, "MQTT client not relayed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "demo MQTT port: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_read_from_3_1_1_5_and_3_1_connect_packets() {
        // MQTT 3.1.1 §3.1.2.1/2: 0x10, remaining length, 0x00 0x04 "MQTT", level 4.
        let v4 = [0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02];
        assert_eq!(protocol_level(&v4).unwrap(), Some(4));
        // MQTT 5 §3.1.2.2: level 5; a two-octet remaining length (0x80 0x01 = 128).
        let v5 = [0x10, 0x80, 0x01, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05];
        assert_eq!(protocol_level(&v5).unwrap(), Some(5));
        // MQTT 3.1: "MQIsdp", level 3.
        let v3 = [
            0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03,
        ];
        assert_eq!(protocol_level(&v3).unwrap(), Some(3));
        assert_eq!(protocol_level(&v4[..5]).unwrap(), None);
    }

    #[test]
    fn other_first_packets_are_refused() {
        assert!(matches!(
            protocol_level(&[0x30, 0x00]),
            Err(FrontError::NotConnect(0x30))
        ));
        assert!(matches!(
            protocol_level(&[0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(FrontError::Malformed)
        ));
        assert!(matches!(
            protocol_level(&[0x10, 0x10, 0x00, 0x40]),
            Err(FrontError::Malformed)
        ));
    }
}
