//! A scripted IEC 104 station on 127.0.0.1 for running the real `iec104` binary against, and
//! helpers to run the binary with bounded time.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use iec104::apci::{Apci, Apdu, UFunction};
use iec104::codec::ApduCodec;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::codec::Framed;

/// Every wait in these tests ends within this.
pub const BOUND: Duration = Duration::from_secs(30);

/// Octets from hex written by hand ("64 01 06 00 ...").
pub fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).expect("hex in test"))
        .collect()
}

/// A station that accepted one connection; `received` resolves to the ASDUs it received
/// (as hex strings) once the client disconnects.
pub struct Station {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The ASDUs the client sent, in order.
    pub received: JoinHandle<Vec<String>>,
}

fn to_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Station {
    /// Runs `iec104 ARGS[0] ADDR ARGS[1..]` (the subcommand, this station, the rest), bounded.
    pub async fn run(&self, args: &[&str]) -> Output {
        let addr = self.addr.to_string();
        let mut with_addr = vec![args[0], addr.as_str()];
        with_addr.extend_from_slice(&args[1..]);
        run(&with_addr).await
    }

    /// The ASDUs the station received (hex), in order, once the client has hung up.
    pub async fn asdus(self) -> Vec<String> {
        tokio::time::timeout(BOUND, self.received)
            .await
            .expect("the client did not hang up in time")
            .expect("the station task")
    }
}

/// Starts a station: it answers STARTDT act and TESTFR act, and for every ASDU received
/// sends the ASDUs `script` returns (hex strings) as I frames.
pub async fn station<F>(script: F) -> Station
where
    F: FnMut(&str) -> Vec<&'static str> + Send + 'static,
{
    station_with_greeting(&[], false, script).await
}

/// Like [`station`], and sends `greeting` (hex ASDUs) right after STARTDT con; with `hang_up`
/// it then closes the connection.
pub async fn station_with_greeting<F>(
    greeting: &'static [&'static str],
    hang_up: bool,
    mut script: F,
) -> Station
where
    F: FnMut(&str) -> Vec<&'static str> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, ApduCodec::new());
        let (mut send_seq, mut recv_seq) = (0u16, 0u16);
        let mut log = Vec::new();
        while let Some(Ok(apdu)) = framed.next().await {
            match apdu.apci {
                Apci::U(UFunction::StartDtAct) => {
                    let _ = framed.send(Apdu::u(UFunction::StartDtCon)).await;
                    for asdu in greeting {
                        let frame = Apdu::i(send_seq, recv_seq, Bytes::from(hex(asdu)));
                        send_seq += 1;
                        let _ = framed.send(frame).await;
                    }
                    if hang_up {
                        break;
                    }
                }
                Apci::U(UFunction::TestFrAct) => {
                    let _ = framed.send(Apdu::u(UFunction::TestFrCon)).await;
                }
                Apci::I { .. } => {
                    recv_seq += 1;
                    let asdu = to_hex(&apdu.asdu);
                    for reply in script(&asdu) {
                        let frame = Apdu::i(send_seq, recv_seq, Bytes::from(hex(reply)));
                        send_seq += 1;
                        let _ = framed.send(frame).await;
                    }
                    log.push(asdu);
                }
                _ => {}
            }
        }
        log
    });
    Station { addr, received }
}

/// Runs the binary with `args` (bounded by [`BOUND`]).
pub async fn run(args: &[&str]) -> Output {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_iec104"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(BOUND, child)
        .await
        .expect("iec104 did not finish in time")
        .expect("iec104 could not be started")
}

/// stdout as lines.
pub fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
