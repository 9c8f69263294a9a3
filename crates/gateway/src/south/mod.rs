//! One RTU: [`RtuSession`] keeps a connection to the station (backoff with jitter across its
//! addresses), runs the interrogation / counter interrogation / clock sync schedule, turns
//! every ASDU into messages for the data path (which releases the I-frame once the broker
//! acknowledged them or they are durable) and carries out commands.
//!
//! The session is told from outside whether to be [`Role::Active`] (STARTDT: data flows),
//! [`Role::Standby`] (connected, STOPDT: a hot standby for redundancy) or [`Role::Off`] (no
//! connection; a started one is stopped with STOPDT first). The single-node daemon makes every
//! session active; in a cluster ([`RtuSession::with_cluster`]) the cluster task decides and
//! the session reports back what happened, publishes its status on `{prefix}/{rtu}/status`
//! only while Active and on `{prefix}/{rtu}/standby/{node}` otherwise, and leaves commands to
//! the active node.

pub mod backoff;
mod command;
pub mod convert;
pub mod live;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{Datelike, SecondsFormat, Utc};
use iec104::asdu::{Asdu, AsduParams, AsduView, Element, InformationObject, Qcc, Qoi};
use iec104::client::{self, Client, ClientConfig, ClientEvent, ClientEvents, CloseReason};
use iec104::time::Cp56Time2a;
use iec104::{Cause, Cot};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::Rtu;
use crate::model::live::{CommandRow, LiveView, RtuLive};
use crate::model::{
    Batch, CommandJob, Direct, Message, Metrics, Release, Report, Role, StatusBoard,
};
use backoff::Backoff;
use command::Pending;
use convert::{Converter, Publish};

/// The link of a session to the cluster task: its index and where its reports go.
#[derive(Debug, Clone)]
pub struct ClusterLink {
    /// Index of the RTU in the cluster's list.
    pub index: usize,
    /// Session reports.
    pub reports: mpsc::Sender<(usize, Report)>,
}

/// Everything a session needs besides its RTU's settings.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Publication settings.
    pub publish: Publish,
    /// The data path (the publisher: from memory, or through the store writer).
    pub writer: mpsc::Sender<Batch>,
    /// Retained statuses.
    pub board: Arc<StatusBoard>,
    /// Command results.
    pub results: mpsc::Sender<Direct>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The status page's live view.
    pub live: Arc<LiveView>,
    /// Time a command waits for each confirmation.
    pub command_timeout: Duration,
}

/// The session of one RTU.
#[derive(Debug)]
pub struct RtuSession {
    rtu: Arc<Rtu>,
    shared: Shared,
    role: watch::Receiver<Role>,
    commands: mpsc::Receiver<CommandJob>,
    converter: Converter,
    /// This RTU in the status page's live view.
    live: Option<Arc<RtuLive>>,
    since: String,
    cluster: Option<ClusterLink>,
    /// Cluster mode: an established connection just ended. It may have been closed by the
    /// station because another node started (the fence): until the next attempt, statuses
    /// go to the standby topic so a fenced node never overwrites the new owner's.
    after_loss: bool,
}

/// How one connection ended.
struct Ended {
    reason: String,
    started: bool,
    shutdown: bool,
}

/// The reason of a connection closed because the role became Off.
const OFF: &str = "off: neither owner nor standby";

fn now_s() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl RtuSession {
    /// A session for `rtu`, its role given by `role`, its commands from `commands`.
    pub fn new(
        rtu: Arc<Rtu>,
        shared: Shared,
        role: watch::Receiver<Role>,
        commands: mpsc::Receiver<CommandJob>,
    ) -> RtuSession {
        let converter = Converter::new(rtu.clone(), shared.publish.clone());
        let live = shared.live.rtu(&rtu.name).cloned();
        RtuSession {
            rtu,
            shared,
            role,
            commands,
            converter,
            live,
            since: now_s(),
            cluster: None,
            after_loss: false,
        }
    }

    /// Cluster mode: reports go to the cluster task; statuses follow the role.
    pub fn with_cluster(mut self, link: ClusterLink) -> RtuSession {
        self.cluster = Some(link);
        self
    }

    async fn report(&self, r: Report) {
        if let Some(c) = &self.cluster {
            let _ = c.reports.send((c.index, r)).await;
        }
    }

    fn main_topic(&self) -> String {
        format!("{}/{}/status", self.shared.publish.prefix, self.rtu.name)
    }

    fn standby_topic(&self) -> String {
        let p = &self.shared.publish;
        format!("{}/{}/standby/{}", p.prefix, self.rtu.name, p.node)
    }

    /// Cluster mode: the role changed; the topic we do not speak on any more is cleared from
    /// the board (a node that no longer carries the RTU never republishes its old status).
    fn role_topics(&self, role: Role) {
        if self.cluster.is_none() {
            return;
        }
        if role == Role::Active {
            self.shared.board.set(Message {
                topic: self.standby_topic(),
                payload: Vec::new(),
                qos: 1,
                retain: true,
            });
        } else {
            self.shared.board.remove(&self.main_topic());
            if role == Role::Off {
                self.shared.board.set(Message {
                    topic: self.standby_topic(),
                    payload: Vec::new(),
                    qos: 1,
                    retain: true,
                });
            }
        }
    }

    fn status(&mut self, state: &'static str, reason: Option<&str>, address: Option<&str>) {
        self.since = now_s();
        self.shared.metrics.rtu(&self.rtu.name, |f| f.state = state);
        self.show_status(state, reason, address);
        let topic = match &self.cluster {
            None => self.main_topic(),
            Some(_) if self.after_loss => self.standby_topic(),
            Some(_) => match *self.role.borrow() {
                Role::Active => self.main_topic(),
                Role::Standby => self.standby_topic(),
                Role::Off => return,
            },
        };
        let p = &self.shared.publish;
        let payload = json!({
            "rtu": self.rtu.name,
            "node": p.node,
            "state": state,
            "reason": reason,
            "address": address,
            "since": self.since,
            "queue_dropped": self.shared.metrics.dropped(),
        });
        self.shared.board.set(Message {
            topic,
            payload: payload.to_string().into_bytes(),
            qos: 1,
            retain: true,
        });
    }

    /// The connection facts on the status page.
    fn show_status(&self, state: &'static str, reason: Option<&str>, address: Option<&str>) {
        let role = match (&self.cluster, *self.role.borrow()) {
            (None, _) => "",
            (Some(_), Role::Active) => "active",
            (Some(_), Role::Standby) => "standby",
            (Some(_), Role::Off) => "off",
        };
        self.shared.live.set_status(&self.rtu.name, |s| {
            s.state = state;
            s.reason = reason.unwrap_or_default().to_owned();
            if let Some(a) = address {
                s.address = a.to_owned();
            }
            s.role = role;
        });
    }

    /// The command log of the status page; the round-trip latency at the confirmation or
    /// the failure.
    fn log_command(
        &self,
        job: &CommandJob,
        status: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
    ) {
        if matches!(status, "confirmed" | "rejected" | "timeout" | "invalid") {
            self.shared.metrics.command_done(job.received.elapsed());
        }
        let point = self
            .rtu
            .points
            .get(&(job.ca, job.ioa))
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| format!("{}/{}", job.ca, job.ioa));
        let detail = ["error", "reason", "cause"]
            .iter()
            .find_map(|k| fields.get(*k))
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default();
        self.shared.live.command(CommandRow {
            seq: 0,
            at_ms: crate::model::live::now_ms(),
            rtu: self.rtu.name.clone(),
            point,
            command: job.request.type_name.clone(),
            id: job.request.id.clone().unwrap_or_default(),
            outcome: status.to_owned(),
            detail,
        });
    }

    fn result(
        &self,
        job: &CommandJob,
        status: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) {
        let mut f = serde_json::Map::new();
        f.insert("rtu".into(), json!(self.rtu.name));
        f.insert("ca".into(), json!(job.ca));
        f.insert("ioa".into(), json!(job.ioa));
        self.log_command(job, status, &fields);
        f.extend(fields);
        let m = crate::contract::command::result_message(
            &job.result_topic,
            job.request.id.as_deref(),
            status,
            f,
        );
        let direct = Direct {
            message: m,
            correlation: job.correlation.clone(),
        };
        if self.shared.results.try_send(direct).is_err() {
            tracing::warn!(rtu = %self.rtu.name, "result queue full: command result dropped");
        }
    }

    fn refuse(&self, job: &CommandJob, why: &str) {
        if self.cluster.is_some() && *self.role.borrow() != Role::Active {
            // Another node carries the RTU and answers.
            tracing::debug!(rtu = %self.rtu.name, "command left to the active node");
            return;
        }
        let mut f = serde_json::Map::new();
        f.insert("error".into(), json!(why));
        self.result(job, "rejected", f);
    }

    /// Waits while the role is Off (commands are left to the active node). False on shutdown.
    async fn wait_not_off(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut last = None;
        loop {
            let role = *self.role.borrow_and_update();
            if last != Some(role) {
                self.role_topics(role);
                last = Some(role);
            }
            if role != Role::Off {
                return true;
            }
            self.shared.metrics.rtu(&self.rtu.name, |f| f.state = "off");
            self.show_status("off", None, None);
            tokio::select! {
                changed = self.role.changed() => if changed.is_err() { return false },
                _ = shutdown.changed() => return false,
                job = self.commands.recv() => match job {
                    Some(job) => self.refuse(&job, "the RTU is not connected"),
                    None => return false,
                },
            }
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let addresses = self.rtu.addresses.clone();
        let mut index = 0usize;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !self.wait_not_off(&mut shutdown).await {
                return;
            }
            let Some(address) = addresses.get(index % addresses.len().max(1)).cloned() else {
                return;
            };
            index = index.wrapping_add(1);
            if std::mem::take(&mut self.after_loss) {
                // Still (or again) the carrying node: the standby topic is not ours to use.
                let role = *self.role.borrow();
                if role == Role::Active {
                    self.role_topics(role);
                }
            }
            self.status("connecting", None, Some(&address));
            let config = ClientConfig {
                link: self.rtu.link.clone(),
                ..ClientConfig::default()
            };
            // Commands that come while connecting (up to t0) are refused at once.
            let connecting = client::connect(address.as_str(), config);
            tokio::pin!(connecting);
            let connected = loop {
                tokio::select! {
                    r = &mut connecting => break Some(Some(r)),
                    _ = shutdown.changed() => break None,
                    changed = self.role.changed() => {
                        if changed.is_err() {
                            break None;
                        }
                        let role = *self.role.borrow_and_update();
                        self.role_topics(role);
                        if role == Role::Off {
                            break Some(None);
                        }
                    }
                    job = self.commands.recv() => match job {
                        Some(job) => self.refuse(&job, "the RTU is not connected (connecting)"),
                        None => break None,
                    },
                }
            };
            let Some(connected) = connected else {
                return;
            };
            let Some(connected) = connected else {
                // Off while connecting: abandoned.
                continue;
            };
            let since = Instant::now();
            let ended = match connected {
                Ok((client, events, connection)) => {
                    tracing::info!(rtu = %self.rtu.name, %address, "connected");
                    let task = tokio::spawn(connection);
                    self.report(Report::Connected).await;
                    let ended = self
                        .connected(&client, events, &address, &mut shutdown)
                        .await;
                    client.close();
                    let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
                    self.shared
                        .metrics
                        .rtu(&self.rtu.name, |f| f.reconnects += 1);
                    self.after_loss = true;
                    self.report(Report::Closed).await;
                    ended
                }
                Err(e) => Ended {
                    reason: format!("connect to {address}: {e}"),
                    started: false,
                    shutdown: false,
                },
            };
            if ended.reason == OFF {
                tracing::info!(rtu = %self.rtu.name, %address, "connection closed: neither owner nor standby");
                continue;
            }
            tracing::warn!(rtu = %self.rtu.name, %address, reason = %ended.reason, "disconnected");
            self.status("disconnected", Some(&ended.reason), Some(&address));
            if ended.shutdown {
                return;
            }
            // A connection that started and lasted resets the backoff; one that breaks at once
            // (e.g. an RTU sending malformed frames) keeps backing off.
            if ended.started && since.elapsed() >= Duration::from_secs(10) {
                backoff.reset();
            }
            // Try the other addresses of this round at once, then back off.
            let delay = if index % addresses.len().max(1) != 0 {
                Duration::from_millis(50)
            } else {
                backoff.next_delay(fastrand::f64())
            };
            let until = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    _ = shutdown.changed() => return,
                    changed = self.role.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let role = *self.role.borrow_and_update();
                        self.role_topics(role);
                        if role == Role::Off {
                            break;
                        }
                    }
                    job = self.commands.recv() => match job {
                        Some(job) => self.refuse(&job, "the RTU is not connected"),
                        None => return,
                    },
                }
            }
        }
    }

    async fn send(
        &self,
        client: &Client,
        asdu: Result<Asdu, iec104::asdu::AsduError>,
    ) -> Result<(), String> {
        let asdu = asdu.map_err(|e| format!("cannot build the ASDU: {e}"))?;
        client
            .send(asdu.into_bytes())
            .await
            .map_err(|e| e.to_string())
    }

    async fn system_commands(&self, client: &Client, gi: bool, ci: bool, cs: bool) {
        let act = Cot::new(Cause::Activation);
        for &ca in &self.rtu.common_addresses {
            if cs {
                // The RTU's clock runs in its configured time zone.
                let t = Utc::now() + chrono::Duration::seconds(i64::from(self.rtu.tz_offset_secs));
                if (2000..=2099).contains(&t.year()) {
                    let e = Element::C_CS_NA_1(Cp56Time2a::from_datetime(&t));
                    let r = self
                        .send(client, Asdu::single(act, ca, InformationObject::new(0, e)))
                        .await;
                    log_err(&self.rtu.name, "clock sync", r);
                }
            }
            if gi {
                let r = self
                    .send(client, Ok(Asdu::interrogation(ca, Qoi(20), act)))
                    .await;
                log_err(&self.rtu.name, "general interrogation", r);
            }
            if ci {
                let r = self
                    .send(
                        client,
                        Ok(Asdu::counter_interrogation(ca, Qcc::new(5, 0), act)),
                    )
                    .await;
                log_err(&self.rtu.name, "counter interrogation", r);
            }
        }
    }

    /// One connection, until it closes or shutdown.
    async fn connected(
        &mut self,
        client: &Client,
        mut events: ClientEvents,
        address: &str,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let mut started = false;
        let mut ever_started = false;
        let mut gi_next: Option<Instant> = None;
        let mut ci_next: Option<Instant> = None;
        let mut cs_next: Option<Instant> = None;
        let mut pending: Option<Pending> = None;
        let t1 = self.rtu.link.t1;
        let mut want_role = Some(*self.role.borrow());
        if want_role == Some(Role::Standby) {
            self.status("stopped", Some("standby"), Some(address));
        }
        // STOPDT in progress: events keep being processed (and released) meanwhile, since the
        // station confirms only once everything it sent is acknowledged.
        type Stopping = std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<
                            Result<(), client::ClientError>,
                            tokio::time::error::Elapsed,
                        >,
                    > + Send,
            >,
        >;
        let mut stopping: Option<Stopping> = None;
        let ended = |reason: String, started: bool, shutdown: bool| Ended {
            reason,
            started,
            shutdown,
        };
        loop {
            // Act on a role change: STARTDT or STOPDT, awaiting its confirmation.
            if let Some(role) = want_role.take() {
                match role {
                    Role::Off if !started && stopping.is_none() => {
                        return ended(OFF.into(), ever_started, false);
                    }
                    _ if stopping.is_some() => {
                        // Decided again once the STOPDT is confirmed.
                    }
                    Role::Active if !started => {
                        match tokio::time::timeout(t1 + Duration::from_secs(1), client.start_dt())
                            .await
                        {
                            Ok(Ok(())) => {
                                started = true;
                                ever_started = true;
                                self.report(Report::Started).await;
                                self.status("started", None, Some(address));
                                self.system_commands(
                                    client,
                                    true,
                                    self.rtu.counter_interrogation_period.is_some(),
                                    self.rtu.clock_sync_period.is_some(),
                                )
                                .await;
                                let now = Instant::now();
                                gi_next = self.rtu.interrogation_period.map(|p| now + p);
                                ci_next = self.rtu.counter_interrogation_period.map(|p| now + p);
                                cs_next = self.rtu.clock_sync_period.map(|p| now + p);
                            }
                            Ok(Err(e)) => {
                                return ended(format!("STARTDT: {e}"), ever_started, false)
                            }
                            Err(_) => return ended("no STARTDT con".into(), ever_started, false),
                        }
                    }
                    Role::Standby | Role::Off if started => {
                        let c = client.clone();
                        stopping = Some(Box::pin(async move {
                            tokio::time::timeout(t1 + Duration::from_secs(1), c.stop_dt()).await
                        }));
                        gi_next = None;
                        ci_next = None;
                        cs_next = None;
                    }
                    _ => {}
                }
            }
            let next_timer = [gi_next, ci_next, cs_next].into_iter().flatten().min();
            let cmd_deadline = pending.as_ref().map(|p| p.deadline);
            tokio::select! {
                r = async {
                    match stopping.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                }, if stopping.is_some() => {
                    stopping = None;
                    match r {
                        Ok(Ok(())) => {
                            started = false;
                            self.report(Report::Stopped).await;
                            self.status("stopped", Some("standby"), Some(address));
                            want_role = Some(*self.role.borrow());
                        }
                        Ok(Err(e)) => return ended(format!("STOPDT: {e}"), ever_started, false),
                        Err(_) => return ended("no STOPDT con".into(), ever_started, false),
                    }
                }
                ev = events.recv() => match ev {
                    Some(ClientEvent::Asdu { asdu, token }) => {
                        if let Err(reason) = self.asdu(client, asdu, token, &mut pending).await {
                            return ended(reason, ever_started, false);
                        }
                    }
                    Some(ClientEvent::Started) | Some(ClientEvent::Stopped) => {}
                    Some(ClientEvent::Closed { reason }) => {
                        let reason = match reason {
                            CloseReason::Error(e) => e.to_string(),
                            CloseReason::Requested => "closed".to_owned(),
                            CloseReason::Aborted => "aborted".to_owned(),
                        };
                        if let Some(p) = pending.take() {
                            self.result(&p.job, "timeout", command::error(&format!("connection lost before the answer: {reason}")));
                        }
                        return ended(reason, ever_started, false);
                    }
                    None => return ended("connection ended".to_owned(), ever_started, false),
                },
                _ = async { tokio::time::sleep_until(next_timer.unwrap_or_else(Instant::now)).await }, if next_timer.is_some() => {
                    let now = Instant::now();
                    let due = |t: &mut Option<Instant>, p: Option<Duration>| match (*t, p) {
                        (Some(at), Some(p)) if at <= now => { *t = Some(now + p); true }
                        _ => false,
                    };
                    let gi = due(&mut gi_next, self.rtu.interrogation_period);
                    let ci = due(&mut ci_next, self.rtu.counter_interrogation_period);
                    let cs = due(&mut cs_next, self.rtu.clock_sync_period);
                    self.system_commands(client, gi, ci, cs).await;
                }
                _ = async { tokio::time::sleep_until(cmd_deadline.unwrap_or_else(Instant::now)).await }, if cmd_deadline.is_some() => {
                    if let Some(p) = pending.take() {
                        if let Some((status, fields)) = p.timed_out() {
                            self.result(&p.job, status, fields);
                        }
                    }
                }
                job = self.commands.recv(), if pending.as_ref().map_or(true, |p| p.confirmed()) => match job {
                    Some(job) if !started => self.refuse(&job, "the RTU is connected but data transfer is stopped (standby)"),
                    Some(job) => {
                        match Pending::start(job, self.shared.command_timeout, self.rtu.tz_offset_secs) {
                            Ok((p, asdu)) => match client.send(asdu).await {
                                Ok(()) => pending = Some(p),
                                Err(e) => self.refuse(&p.job, &format!("cannot send: {e}")),
                            },
                            Err(failed) => {
                                let (job, e) = *failed;
                                self.result(&job, "invalid", command::error(&e));
                            }
                        }
                    }
                    None => return ended("shutdown".into(), ever_started, true),
                },
                changed = self.role.changed() => {
                    if changed.is_err() {
                        return ended("shutdown".into(), ever_started, true);
                    }
                    let role = *self.role.borrow_and_update();
                    self.role_topics(role);
                    want_role = Some(role);
                }
                _ = shutdown.changed() => return ended("gateway shutting down".into(), ever_started, true),
            }
        }
    }

    /// One ASDU from the RTU: command answers, then data to the data path (which releases
    /// the I-frame once acknowledged by the broker or durable). An undecodable ASDU closes the connection.
    async fn asdu(
        &mut self,
        client: &Client,
        bytes: Bytes,
        token: iec104::ReceiveToken,
        pending: &mut Option<Pending>,
    ) -> Result<(), String> {
        let received = Utc::now();
        let view = match AsduView::parse(&bytes, &AsduParams::IEC104) {
            Ok(v) => v,
            Err(e) => {
                self.shared
                    .metrics
                    .rtu(&self.rtu.name, |f| f.bad_asdus += 1);
                return Err(format!("undecodable ASDU: {e}"));
            }
        };
        let mut execute = None;
        if let Some(p) = pending.as_mut() {
            match p.answer(&view) {
                command::Step::Ignore => {}
                command::Step::Execute(asdu) => execute = Some(asdu),
                command::Step::Result {
                    status,
                    fields,
                    done,
                } => {
                    self.result(&p.job, status, fields);
                    if done {
                        *pending = None;
                    }
                }
            }
        }
        let messages = self.converter.convert(&view, received);
        if let Some(l) = &self.live {
            live::record(
                &self.shared.live,
                l,
                &self.rtu,
                &self.shared.metrics,
                &view,
                received,
            );
        }
        let count = view.objects().count() as u64;
        self.shared.metrics.rtu(&self.rtu.name, |f| {
            f.asdus += 1;
            f.objects += count;
        });
        if let Some(asdu) = execute {
            if let Err(e) = client.send(asdu).await {
                if let Some(p) = pending.take() {
                    self.refuse(&p.job, &format!("cannot send the execute: {e}"));
                }
                return Err(format!("sending execute: {e}"));
            }
        }
        self.shared
            .writer
            .send(Batch::new(messages, Some(release_of(client, token))))
            .await
            .map_err(|_| "store writer stopped".to_owned())
    }
}

fn log_err(rtu: &str, what: &str, r: Result<(), String>) {
    if let Err(e) = r {
        tracing::warn!(%rtu, error = %e, "cannot send {what}");
    }
}

#[cfg(test)]
mod tests;

/// The handle that acknowledges one I-frame on `client` (the north calls it; it never names
/// the IEC 104 client).
fn release_of(client: &iec104::client::Client, token: iec104::ReceiveToken) -> Release {
    let client = client.clone();
    Release::new(move || client.release(token))
}
