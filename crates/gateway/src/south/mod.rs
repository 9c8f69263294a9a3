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
use chrono::{Datelike, Utc};
use iec104::asdu::{Asdu, AsduParams, AsduView, Element, InformationObject, Qcc, Qoi};
use iec104::client::{self, Client, ClientConfig, ClientEvent, ClientEvents, CloseReason};
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::Rtu;
use crate::contract::{
    self, CommandResult, CommandStatus, LinkState, ResultDetail, ResultPoint, RtuStatus,
};
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
    /// The audit trail of commands.
    pub audit: crate::contract::audit::Audit,
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
    /// Sparkplug B tap: values and link events for this RTU's edge node (`[sparkplug]`).
    sparkplug: Option<mpsc::Sender<iec104_sparkplug::session::Input>>,
}

/// How one connection ended.
struct Ended {
    reason: EndReason,
    started: bool,
    shutdown: bool,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EndReason {
    /// Cluster: the role became Off (neither owner nor standby); no status is published.
    RoleOff,
    /// Lost or closed; the text goes into the status.
    Lost(String),
}

impl Ended {
    /// Closed because the role became Off.
    fn role_off(started: bool) -> Ended {
        Ended {
            reason: EndReason::RoleOff,
            started,
            shutdown: false,
        }
    }
}

fn now_s() -> String {
    contract::now_rfc3339()
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
            sparkplug: None,
        }
    }

    /// Cluster mode: reports go to the cluster task; statuses follow the role.
    pub fn with_cluster(mut self, link: ClusterLink) -> RtuSession {
        self.cluster = Some(link);
        self
    }

    /// Sparkplug mode: values and link events also go to this RTU's edge node.
    pub fn with_sparkplug(
        mut self,
        tap: mpsc::Sender<iec104_sparkplug::session::Input>,
    ) -> RtuSession {
        self.sparkplug = Some(tap);
        self
    }

    /// Hands an event to the Sparkplug edge node; dropped (and counted by the edge node's
    /// history only once it arrives) when its queue is full, never waited for.
    fn tap(&self, input: iec104_sparkplug::session::Input) {
        if let Some(tap) = &self.sparkplug {
            if tap.try_send(input).is_err() {
                tracing::debug!(rtu = %self.rtu.name, "sparkplug tap full: event dropped");
            }
        }
    }

    async fn report(&self, r: Report) {
        if let Some(c) = &self.cluster {
            let _ = c.reports.send((c.index, r)).await;
        }
    }

    fn main_topic(&self) -> String {
        self.shared.publish.topics.status(&self.rtu.name)
    }

    fn standby_topic(&self) -> String {
        let p = &self.shared.publish;
        p.topics.standby(&self.rtu.name, &p.node)
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

    fn status(&mut self, state: LinkState, reason: Option<&str>, address: Option<&str>) {
        self.since = now_s();
        self.shared
            .metrics
            .rtu(&self.rtu.name, |f| f.state = state.as_str());
        self.show_status(state.as_str(), reason, address);
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
        let payload = RtuStatus {
            rtu: &self.rtu.name,
            node: &p.node,
            state,
            reason,
            address,
            since: &self.since,
            queue_dropped: self.shared.metrics.dropped(),
        };
        self.shared.board.set(Message {
            topic,
            payload: payload.to_json(),
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
    fn log_command(&self, job: &CommandJob, status: CommandStatus, detail: &ResultDetail) {
        if status != CommandStatus::Terminated {
            self.shared.metrics.command_done(job.received.elapsed());
        }
        let point = self
            .rtu
            .points
            .get(&(job.ca, job.ioa))
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| format!("{}/{}", job.ca, job.ioa));
        let detail = detail
            .error
            .clone()
            .or_else(|| detail.cause.as_ref().map(|c| c.to_string()))
            .unwrap_or_default();
        self.shared.live.command(CommandRow {
            seq: 0,
            at_ms: crate::model::live::now_ms(),
            rtu: self.rtu.name.clone(),
            point,
            command: job.request.type_name.clone(),
            id: job.request.id.clone().unwrap_or_default(),
            outcome: status.as_str().to_owned(),
            detail,
        });
    }

    /// Publishes a command result (waiting for room: results are never dropped) and
    /// audits it.
    async fn result(&self, job: &CommandJob, status: CommandStatus, mut detail: ResultDetail) {
        self.log_command(job, status, &detail);
        if detail.response_topic_refused.is_none() {
            detail.response_topic_refused = job.response_topic_refused.clone();
        }
        let record = crate::contract::audit::Record {
            event: "result",
            topic: &job.result_topic,
            rtu: Some(&self.rtu.name),
            point: Some((job.ca, job.ioa)),
            kind: Some(&job.request.type_name),
            value: Some(&job.request.value),
            select: Some(job.request.select),
            id: job.request.id.as_deref(),
            sender: job.sender.as_deref(),
            status: Some(status.as_str()),
            reason: detail.error.as_deref(),
        };
        let audit = self.shared.audit.record(&record);
        let point = ResultPoint {
            rtu: &self.rtu.name,
            ca: job.ca,
            ioa: job.ioa,
        };
        let m = CommandResult::new(job.request.id.as_deref(), status, Some(point), detail)
            .message(&job.result_topic);
        let direct = Direct {
            message: m,
            correlation: job.correlation.clone(),
        };
        if self.shared.results.send(direct).await.is_err() {
            tracing::debug!(rtu = %self.rtu.name, "publisher gone: command result not published");
        }
        if let Some(message) = audit {
            let _ = self
                .shared
                .results
                .send(Direct {
                    message,
                    correlation: None,
                })
                .await;
        }
    }

    async fn refuse(&self, job: &CommandJob, why: &str) {
        if self.cluster.is_some() && *self.role.borrow() != Role::Active {
            // Another node carries the RTU and answers.
            tracing::debug!(rtu = %self.rtu.name, "command left to the active node");
            return;
        }
        self.result(job, CommandStatus::Rejected, ResultDetail::error(why))
            .await;
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
                    Some(job) => self.refuse(&job, "the RTU is not connected").await,
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
            self.status(LinkState::Connecting, None, Some(&address));
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
                        Some(job) => self.refuse(&job, "the RTU is not connected (connecting)").await,
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
                    self.tap(iec104_sparkplug::session::Input::LinkDown);
                    self.report(Report::Closed).await;
                    ended
                }
                Err(e) => Ended {
                    reason: EndReason::Lost(format!("connect to {address}: {e}")),
                    started: false,
                    shutdown: false,
                },
            };
            let reason = match &ended.reason {
                EndReason::RoleOff => {
                    tracing::info!(rtu = %self.rtu.name, %address, "connection closed: neither owner nor standby");
                    continue;
                }
                EndReason::Lost(reason) => reason,
            };
            tracing::warn!(rtu = %self.rtu.name, %address, %reason, "disconnected");
            self.status(LinkState::Disconnected, Some(reason), Some(&address));
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
            if !self.wait_retry(Instant::now() + delay, &mut shutdown).await {
                return;
            }
        }
    }

    /// Waits until `until` before the next attempt (at once when the role becomes Off),
    /// refusing commands meanwhile. False on shutdown.
    async fn wait_retry(&mut self, until: Instant, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return true,
                _ = shutdown.changed() => return false,
                changed = self.role.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                    let role = *self.role.borrow_and_update();
                    self.role_topics(role);
                    if role == Role::Off {
                        return true;
                    }
                }
                job = self.commands.recv() => match job {
                    Some(job) => self.refuse(&job, "the RTU is not connected").await,
                    None => return false,
                },
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
            self.status(LinkState::Stopped, Some("standby"), Some(address));
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
            reason: EndReason::Lost(reason),
            started,
            shutdown,
        };
        loop {
            // Act on a role change: STARTDT or STOPDT, awaiting its confirmation.
            if let Some(role) = want_role.take() {
                match role {
                    Role::Off if !started && stopping.is_none() => {
                        return Ended::role_off(ever_started);
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
                                self.tap(iec104_sparkplug::session::Input::LinkUp);
                                self.status(LinkState::Started, None, Some(address));
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
                            self.status(LinkState::Stopped, Some("standby"), Some(address));
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
                            self.result(&p.job, CommandStatus::Timeout, ResultDetail::error(format!("connection lost before the answer: {reason}"))).await;
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
                        if let Some((status, detail)) = p.timed_out() {
                            self.result(&p.job, status, detail).await;
                        }
                    }
                }
                job = self.commands.recv(), if pending.as_ref().map_or(true, |p| p.confirmed()) => match job {
                    Some(job) if !started => self.refuse(&job, "the RTU is connected but data transfer is stopped (standby)").await,
                    Some(job) => {
                        match Pending::start(job, self.shared.command_timeout, self.rtu.tz_offset_secs) {
                            Ok((p, asdu)) => match client.send(asdu).await {
                                Ok(()) => pending = Some(p),
                                Err(e) => self.refuse(&p.job, &format!("cannot send: {e}")).await,
                            },
                            Err(failed) => {
                                let (job, e) = *failed;
                                self.result(&job, CommandStatus::Invalid, ResultDetail::error(e)).await;
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
        token: iec104::link::ReceiveToken,
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
                    detail,
                    done,
                } => {
                    self.result(&p.job, status, detail).await;
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
        if self.sparkplug.is_some() {
            for update in iec104_sparkplug::element::updates(&view, self.rtu.tz_offset_secs) {
                self.tap(iec104_sparkplug::session::Input::Value(update));
            }
            if iec104_sparkplug::element::ends_interrogation(&view) {
                self.tap(iec104_sparkplug::session::Input::InterrogationComplete);
            }
        }
        let count = view.objects().count() as u64;
        self.shared.metrics.rtu(&self.rtu.name, |f| {
            f.asdus += 1;
            f.objects += count;
        });
        if let Some(asdu) = execute {
            if let Err(e) = client.send(asdu).await {
                if let Some(p) = pending.take() {
                    self.refuse(&p.job, &format!("cannot send the execute: {e}"))
                        .await;
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
fn release_of(client: &iec104::client::Client, token: iec104::link::ReceiveToken) -> Release {
    let client = client.clone();
    Release::new(move || client.release(token))
}
