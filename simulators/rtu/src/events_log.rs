//! The events log (`--events-log FILE`): one JSON line per information object a station sends
//! spontaneously or periodically, and per command it receives with its outcome. The shape is
//! `iec104::json` plus `"station"` and, for commands, `"outcome"`.
//!
//! Lines go through a bounded channel to one writer task with a buffered file; the writer
//! flushes at least every 100 ms and when every sender is gone.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use iec104::asdu::{AsduParams, AsduView};
use iec104::json::JsonObject;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Lines waiting for the writer, at most; senders wait beyond (nothing is lost).
pub const LOG_QUEUE: usize = 8192;

/// How often the writer flushes at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    object: JsonObject<'a>,
    station: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
}

/// A cloneable sender of log lines; a disabled log drops nothing and costs nothing.
#[derive(Debug, Clone, Default)]
pub struct EventsLog {
    tx: Option<mpsc::Sender<String>>,
}

impl EventsLog {
    /// A log that writes nothing.
    pub fn disabled() -> EventsLog {
        EventsLog { tx: None }
    }

    /// Opens `path` for appending and returns the log and the writer future (spawn it; it
    /// ends, flushed, once every clone of the log is dropped).
    pub async fn open(
        path: &Path,
    ) -> std::io::Result<(
        EventsLog,
        impl std::future::Future<Output = std::io::Result<()>>,
    )> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (tx, rx) = mpsc::channel(LOG_QUEUE);
        Ok((EventsLog { tx: Some(tx) }, write_lines(file, rx)))
    }

    /// Logs every object of `asdu` (sent by `station`); `outcome` for commands.
    pub async fn asdu(
        &self,
        station: &str,
        asdu: &[u8],
        outcome: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let Some(tx) = &self.tx else { return };
        let Ok(view) = AsduView::parse(asdu, &AsduParams::IEC104) else {
            return;
        };
        for object in JsonObject::from_view(&view, now) {
            let line = Line {
                object,
                station,
                outcome,
            };
            if let Ok(text) = serde_json::to_string(&line) {
                // A closed writer (shutting down) loses the line; nothing to do about it.
                let _ = tx.send(text).await;
            }
        }
    }
}

async fn write_lines(file: tokio::fs::File, mut rx: mpsc::Receiver<String>) -> std::io::Result<()> {
    let mut out = tokio::io::BufWriter::with_capacity(64 * 1024, file);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(line) => {
                    out.write_all(line.as_bytes()).await?;
                    out.write_all(b"\n").await?;
                    dirty = true;
                }
                None => break,
            },
            _ = tick.tick() => {
                if dirty {
                    out.flush().await?;
                    dirty = false;
                }
            }
        }
    }
    out.flush().await?;
    out.into_inner().sync_all().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_have_the_json_shape_plus_station_and_outcome() {
        let dir = std::env::temp_dir().join(format!("iec104-sim-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let (log, writer) = EventsLog::open(&dir).await.unwrap();
        let writer = tokio::spawn(writer);
        let now = Utc::now();
        // M_SP_NA_1 (1), one object, COT 3 spont, CA 7, IOA 10, SIQ 0x01: hand-written from
        // IEC 60870-5-101 §7.3.1.1 with the 104 sizes (COT 2, CA 2, IOA 3 octets).
        log.asdu("north", &[1, 1, 3, 0, 7, 0, 10, 0, 0, 1], None, now)
            .await;
        // C_DC_NA_1 (46), COT 6 act, CA 7, IOA 20, DCO 0x02 (on, execute).
        log.asdu(
            "north",
            &[46, 1, 6, 0, 7, 0, 20, 0, 0, 2],
            Some("executed"),
            now,
        )
        .await;
        drop(log);
        writer.await.unwrap().unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"ca":7,"ioa":10,"type":"M_SP_NA_1","cot":"spont","value":true,"quality":[],"station":"north"}"#,
                r#"{"ca":7,"ioa":20,"type":"C_DC_NA_1","cot":"act","value":"on","station":"north","outcome":"executed"}"#,
            ]
        );
    }
}
