//! A recording TCP proxy for one connection: what each side wrote, chunk by chunk as the proxy
//! read it, so a real session can be written to a pcap file without live capture.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::pcap::Side;

/// Accepts one connection on `listener`, connects to `upstream` and relays both ways until
/// both directions are closed. Returns every chunk read, in the order read, tagged with the
/// side that wrote it (the accepted peer is the client).
pub async fn relay_one(
    listener: TcpListener,
    upstream: SocketAddr,
) -> std::io::Result<Vec<(Side, Vec<u8>)>> {
    let (client, _) = listener.accept().await?;
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut log = Vec::new();
    let (mut cbuf, mut sbuf) = ([0u8; 4096], [0u8; 4096]);
    let (mut c_open, mut s_open) = (true, true);
    while c_open || s_open {
        tokio::select! {
            n = cr.read(&mut cbuf), if c_open => {
                let n = n?;
                if n == 0 {
                    c_open = false;
                    sw.shutdown().await?;
                } else {
                    log.push((Side::Client, cbuf[..n].to_vec()));
                    sw.write_all(&cbuf[..n]).await?;
                }
            }
            n = sr.read(&mut sbuf), if s_open => {
                let n = n?;
                if n == 0 {
                    s_open = false;
                    // The client may already be gone; a failed shutdown ends nothing here.
                    let _ = cw.shutdown().await;
                } else {
                    log.push((Side::Server, sbuf[..n].to_vec()));
                    // Same: the client may have closed first.
                    let _ = cw.write_all(&sbuf[..n]).await;
                }
            }
        }
    }
    Ok(log)
}
