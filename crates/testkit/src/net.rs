//! Free ports on 127.0.0.1, waiting for a listener, and a bounded HTTP GET.

use std::net::TcpListener;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port on 127.0.0.1 that was free a moment ago (bind port 0, read it, release it), for
/// programs that cannot be told to bind port 0 and report it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The first of `n` consecutive ports that were free a moment ago.
pub fn free_range(n: u16) -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base = first.local_addr().expect("local addr").port();
        if u32::from(base) + u32::from(n) > 65535 {
            continue;
        }
        let rest: Result<Vec<_>, _> = (1..n)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if rest.is_ok() {
            return base;
        }
    }
    panic!("no {n} consecutive free ports found");
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, at most `within`.
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

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The header lines (status line excluded).
    pub headers: Vec<String>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// The body's lines that hold Prometheus sample `name_and_labels` exactly, its value.
    pub fn metric(&self, name_and_labels: &str) -> Option<f64> {
        metric(&self.body, name_and_labels)
    }
}

/// The value of the Prometheus sample whose name and labels are exactly `name_and_labels`
/// (`objects_received_total{rtu="north"}`) in an exposition `text`; `None` when absent. A whole
/// line is matched, so `..._total 6` is not found in `..._total 60`.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name_and_labels).then(|| value.parse().ok())?
    })
}

/// `GET path` on 127.0.0.1:`port` (HTTP/1.1, `Connection: close`), at most `within`: the
/// response, or why there is none.
pub async fn http_get(port: u16, path: &str, within: Duration) -> Result<HttpResponse, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| format!("write: {e}"))?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)
            .await
            .map_err(|e| format!("read: {e}"))?;
        parse_response(&String::from_utf8_lossy(&out))
    };
    tokio::time::timeout(within, fetch)
        .await
        .unwrap_or_else(|_| Err(format!("no response to GET {path} within {within:?}")))
}

fn parse_response(text: &str) -> Result<HttpResponse, String> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<String> = lines.map(str::to_owned).collect();
    let chunked = headers.iter().any(|h| {
        let h = h.to_ascii_lowercase();
        h.starts_with("transfer-encoding:") && h.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").ok_or("truncated chunk size")?;
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|e| format!("chunk size {size:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = after.get(..size).ok_or("truncated chunk")?;
        out.push_str(chunk);
        rest = after
            .get(size..)
            .unwrap_or_default()
            .trim_start_matches("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_matched_by_the_whole_name_and_labels() {
        let text = "# TYPE x counter\nobjects_received_total{rtu=\"north\"} 60\nobjects_received_total{rtu=\"south\"} 6\n";
        assert_eq!(
            metric(text, "objects_received_total{rtu=\"north\"}"),
            Some(60.0)
        );
        assert_eq!(
            metric(text, "objects_received_total{rtu=\"south\"}"),
            Some(6.0)
        );
        assert_eq!(metric(text, "objects_received_total"), None);
        assert_eq!(metric(text, "received_total{rtu=\"north\"}"), None);
    }

    #[test]
    fn responses_plain_and_chunked() {
        let r = parse_response("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nno\n")
            .unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "no\n"));
        let r = parse_response(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abcde"));
        assert!(parse_response("garbage").is_err());
    }
}
