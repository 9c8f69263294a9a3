//! A headless chromium driven over the DevTools protocol (a websocket): navigate, evaluate
//! JavaScript, take screenshots.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A running headless chromium and a websocket to its one page.
pub struct Browser {
    _child: Child,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

/// GET `path` from chromium's DevTools HTTP server (which keeps the connection open: the body
/// is read by its Content-Length).
async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return body.to_owned();
            }
        }
        let n = s.read(&mut chunk).await.unwrap();
        if n == 0 {
            return String::new();
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Browser {
    /// Starts `chromium` headless with its profile in `dir` and a `width`×`height` window.
    pub async fn start(dir: &Path, width: u32, height: u32) -> Browser {
        let profile = dir.join("chromium-profile");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Chromium writes its port to DevToolsActivePort once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let list: Value = loop {
            let body = http_get(port, "/json/list").await;
            if let Ok(v @ Value::Array(_)) = serde_json::from_str::<Value>(&body) {
                if v.as_array()
                    .is_some_and(|a| a.iter().any(|t| t["type"] == "page"))
                {
                    break v;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let url = list
            .as_array()
            .and_then(|a| a.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap()
            .to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        Browser {
            _child: child,
            ws,
            next_id: 1,
        }
    }

    /// Calls `method` and returns its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).await.unwrap();
        loop {
            let m = self.ws.next().await.expect("chromium closed").unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Opens `url`.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of the JavaScript expression `expr`.
    pub async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy (checked every 100 ms; the caller bounds the wait).
    pub async fn wait_for(&mut self, expr: &str) -> Value {
        loop {
            let v = self.eval(expr).await;
            if !(v.is_null() || v == false || v == 0 || v == "") {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> PathBuf {
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
        path.to_owned()
    }
}
