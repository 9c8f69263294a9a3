//! A scripted controlled station on the iec104 server: answers interrogation, clock sync and
//! counter interrogation; commands by IOA: 100 confirms (ActCon, then ActTerm for the
//! execute), 101 refuses (ActCon with P/N = 1), 102 never answers, others: unknown IOA (47).
//! Spontaneous events are enqueued by the test and recorded as the ground truth.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use iec104::asdu::{
    Asdu, AsduParams, AsduView, Element, InformationObject, Qds, Quality, SinglePoint,
};
use iec104::cot::{Cause, Cot};
use iec104::server::{Server, ServerConfig, ServerEvent, ServerHandle};
use iec104::time::Cp56Time2a;
use tokio::sync::mpsc;

/// IOA that confirms commands.
pub const CONFIRM: u32 = 100;
/// IOA that refuses commands.
pub const REFUSE: u32 = 101;
/// IOA that never answers.
pub const SILENT: u32 = 102;

/// A running station.
pub struct Station {
    /// Its address.
    pub addr: SocketAddr,
    /// Its common address.
    pub ca: u16,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
    /// Commands received (type id, ioa, select).
    pub commands: mpsc::UnboundedReceiver<(u8, u32, u8)>,
    /// System commands received: type id (100 interrogation, 101 counter interrogation,
    /// 103 clock sync).
    pub system: mpsc::UnboundedReceiver<u8>,
}

impl Station {
    /// Binds a station with common address `ca` on 127.0.0.1, port 0.
    pub async fn start(ca: u16) -> Station {
        Station::start_with_queue(ca, ServerConfig::default().queue_size, 12).await
    }

    /// Binds a station whose event queue holds `queue_size` events (the default holds 1000)
    /// and that sends up to `k` I-frames unacknowledged (the default is 12).
    pub async fn start_with_queue(ca: u16, queue_size: usize, k: u16) -> Station {
        let d = ServerConfig::default();
        let (handle, mut events, run) = Server::bind(
            "127.0.0.1:0".parse().expect("addr"),
            ServerConfig {
                queue_size,
                link: iec104::link::LinkConfig { k, ..d.link },
                ..d
            },
        )
        .await
        .expect("bind station");
        let addr = handle.local_addr();
        let h = handle.clone();
        let (cmd_tx, commands) = mpsc::unbounded_channel();
        let (sys_tx, system) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            tokio::pin!(run);
            loop {
                let ev = tokio::select! {
                    _ = &mut run => return,
                    ev = events.recv() => match ev { Some(ev) => ev, None => return },
                };
                let ServerEvent::Asdu { conn, asdu } = ev else {
                    continue;
                };
                let Ok(view) = AsduView::parse(&asdu, &AsduParams::IEC104) else {
                    continue;
                };
                let t = view.header().type_id;
                let ioa = view.objects().next().map(|o| o.ioa).unwrap_or(0);
                let select = asdu.last().copied().unwrap_or(0) & 0x80;
                let mut replies = Vec::new();
                if matches!(t, 100 | 101 | 103) {
                    let _ = sys_tx.send(t);
                }
                match t {
                    100 => {
                        replies.push(view.reply(Cause::ActivationCon, false).into_bytes());
                        let sp = Element::M_SP_NA_1(SinglePoint::new(true, Quality::GOOD));
                        if let Ok(a) = Asdu::single(
                            Cot::new(Cause::InterrogatedByStation),
                            ca,
                            InformationObject::new(1, sp),
                        ) {
                            replies.push(a.into_bytes());
                        }
                        replies.push(view.reply(Cause::ActivationTerm, false).into_bytes());
                    }
                    101 | 103 => replies.push(view.reply(Cause::ActivationCon, false).into_bytes()),
                    45..=64 => {
                        let _ = cmd_tx.send((t, ioa, select));
                        match ioa {
                            CONFIRM => {
                                replies.push(view.reply(Cause::ActivationCon, false).into_bytes());
                                if select == 0 || t == 51 || t == 64 {
                                    replies.push(
                                        view.reply(Cause::ActivationTerm, false).into_bytes(),
                                    );
                                }
                            }
                            REFUSE => {
                                replies.push(view.reply(Cause::ActivationCon, true).into_bytes())
                            }
                            SILENT => {}
                            _ => replies
                                .push(view.reply(Cause::UnknownObjectAddress, true).into_bytes()),
                        }
                    }
                    _ => {}
                }
                for r in replies {
                    let _ = h.send_to(conn, r).await;
                }
            }
        });
        Station {
            addr,
            ca,
            handle,
            task,
            commands,
            system,
        }
    }

    /// Enqueues a spontaneous M_ME_TF_1 (short float with CP56Time2a); returns the ground
    /// truth as the JSON fields the gateway must reproduce.
    pub fn float(
        &self,
        ioa: u32,
        value: f32,
        quality: Quality,
        time: DateTime<Utc>,
    ) -> serde_json::Value {
        let e = Element::M_ME_TF_1(value, Qds::new(quality), Cp56Time2a::from_datetime(&time));
        let a = Asdu::single(
            Cot::new(Cause::Spontaneous),
            self.ca,
            InformationObject::new(ioa, e),
        )
        .expect("asdu");
        self.handle.enqueue(a.into_bytes()).expect("enqueue");
        serde_json::json!({
            "ca": self.ca, "ioa": ioa, "type": "M_ME_TF_1", "cot": "spont", "value": value,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    }

    /// Events sent and not yet acknowledged, plus events waiting, over every group.
    pub fn unacknowledged(&self) -> usize {
        self.handle
            .groups()
            .iter()
            .map(|g| g.in_flight + g.waiting)
            .sum()
    }

    /// Number of connections currently open.
    pub fn connections(&self) -> usize {
        self.handle.connections().len()
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        self.handle.shutdown();
        self.task.abort();
    }
}
