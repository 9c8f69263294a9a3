//! Connecting a client over TLS (IEC 62351-3).

use tokio::net::TcpStream;

use super::{Client, ClientConfig, ClientError, ClientEvents, Connection};
use crate::tls::{TlsConnector, IEC62351_PORT};
use crate::transport::Transport;

/// `addr` as HOST:PORT (HOST alone: port 19998, the IEC 62351-3 port) and its host part.
fn host_and_addr(addr: &str) -> (String, String) {
    let with_port = if addr.parse::<std::net::SocketAddr>().is_ok() {
        addr.to_owned()
    } else if let Ok(ip) = addr.parse::<std::net::IpAddr>() {
        std::net::SocketAddr::new(ip, IEC62351_PORT).to_string()
    } else {
        match addr.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => addr.to_owned(),
            _ => format!("{addr}:{IEC62351_PORT}"),
        }
    };
    let host = match with_port.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => &with_port,
    }
    .to_owned();
    (host, with_port)
}

/// Connects over TCP and runs the TLS handshake, both within t0, then sets up a client on the
/// TLS session (see [`Client::from_stream`]). `addr` is HOST:PORT, or HOST alone for the
/// IEC 62351-3 port 19998. A refused handshake is [`ClientError::Tls`]; with TLS 1.3 a server
/// refusing our certificate is seen at the first read, also as [`ClientError::Tls`].
pub async fn connect_tls(
    addr: &str,
    config: ClientConfig,
    tls: &TlsConnector,
) -> Result<(Client, ClientEvents, Connection), ClientError> {
    config.validate()?;
    let t0 = config.link.t0;
    let (host, addr) = host_and_addr(addr);
    let deadline = tokio::time::Instant::now() + t0;
    let tcp = tokio::time::timeout_at(deadline, TcpStream::connect(&addr))
        .await
        .map_err(|_| ClientError::ConnectTimeout(t0))??;
    tcp.set_nodelay(true)?;
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let stream = tls
        .connect(&host, tcp, left)
        .await
        .map_err(ClientError::Tls)?;
    tracing::debug!(%addr, version = ?stream.protocol_version(), suite = ?stream.cipher_suite(), "TLS session established");
    Client::from_stream(Transport::from(stream), config)
}

#[cfg(test)]
mod tests {
    use super::host_and_addr;

    #[test]
    fn default_port_is_19998() {
        let cases = [
            ("10.0.0.1", "10.0.0.1", "10.0.0.1:19998"),
            ("10.0.0.1:2405", "10.0.0.1", "10.0.0.1:2405"),
            ("rtu.example", "rtu.example", "rtu.example:19998"),
            ("::1", "::1", "[::1]:19998"),
            ("[::1]:2405", "::1", "[::1]:2405"),
        ];
        for (input, host, addr) in cases {
            assert_eq!(
                host_and_addr(input),
                (host.to_owned(), addr.to_owned()),
                "{input}"
            );
        }
    }
}
