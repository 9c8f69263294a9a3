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
//!
//! Every decision is taken by the sans-IO [`machine::Machine`]; [`RtuSession::run`] is its
//! driver: it selects on the link, the role, the commands, shutdown and the machine's next
//! deadline, feeds what happened to the machine and executes the actions it answers.

pub mod backoff;
mod command;
pub mod convert;
pub mod live;
pub mod machine;
pub mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{Datelike, Utc};
use iec104::asdu::{Asdu, AsduParams, AsduView, Element, InformationObject, Qcc, Qoi};
use iec104::client::{Client, ClientConfig, ClientError, ClientEvent, ClientEvents, CloseReason};
use iec104::cot::{Cause, Cot};
use iec104::time::Cp56Time2a;
use iec104::tls::{PeerChain, TlsConnector};
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
use convert::{Converter, Publish};
use machine::{Action, Machine, Settings, Status, StatusTopic, OFF};

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
    /// TLS connectors of the RTUs with `[rtu.tls]`.
    pub tls: Arc<tls::Connectors>,
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
    /// Sparkplug B tap: values and link events for this RTU's edge node (`[sparkplug]`).
    sparkplug: Option<mpsc::Sender<iec104_sparkplug::session::Input>>,
    /// Sparkplug is the only data output (`[mqtt] json_data = false`): no JSON data
    /// messages, and the tap is waited for (its back-pressure holds the I-frames back).
    sparkplug_only: bool,
    /// The TLS connector of this RTU (replaced when its files are reloaded), when TLS is on.
    tls: Option<watch::Receiver<TlsConnector>>,
}

type Connecting = Pin<Box<dyn Future<Output = Result<tls::Linked, ClientError>> + Send>>;
type DtCon = Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send>>;

/// An established connection.
struct Up {
    client: Client,
    events: ClientEvents,
    task: tokio::task::JoinHandle<Result<(), ClientError>>,
    /// The address connected to and the RTU's certificates (TLS only).
    peer: Option<(String, PeerChain)>,
}

/// The I/O the machine asked for: an attempt, a connection, a STARTDT/STOPDT awaiting its con.
#[derive(Default)]
struct Wire {
    connecting: Option<Connecting>,
    up: Option<Up>,
    dt: Option<DtCon>,
}

/// Awaits the future in `slot`, or forever when there is none.
async fn slot<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Resolves when the TLS connector was replaced (a reload); never without TLS.
async fn tls_changed(
    rx: &mut Option<watch::Receiver<TlsConnector>>,
) -> Result<(), watch::error::RecvError> {
    match rx {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
}

/// The next event of the connection, or forever when there is none.
async fn next_event(up: &mut Option<Up>) -> Option<ClientEvent> {
    match up {
        Some(u) => u.events.recv().await,
        None => std::future::pending().await,
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
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
        let tls = rtu.tls.as_ref().and_then(|c| shared.tls.receiver(c));
        RtuSession {
            rtu,
            shared,
            role,
            commands,
            converter,
            live,
            since: now_s(),
            cluster: None,
            sparkplug: None,
            sparkplug_only: false,
            tls,
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

    /// Sparkplug as the only data output (`[mqtt] json_data = false`): values and link
    /// events go to this RTU's edge node, none to the JSON data topics, and the session waits
    /// for room in the tap, so that the edge node's pace holds the RTU's I-frames back as the
    /// JSON publisher's does otherwise.
    pub fn with_sparkplug_only(
        mut self,
        tap: mpsc::Sender<iec104_sparkplug::session::Input>,
    ) -> RtuSession {
        self.sparkplug = Some(tap);
        self.sparkplug_only = true;
        self
    }

    /// Hands an event to the Sparkplug edge node. Beside the JSON output it is dropped (and
    /// counted by the edge node's history only once it arrives) when its queue is full,
    /// never waited for; as the only data output it is waited for.
    async fn tap(&self, input: iec104_sparkplug::session::Input) {
        let Some(tap) = &self.sparkplug else {
            return;
        };
        if self.sparkplug_only {
            if tap.send(input).await.is_err() {
                tracing::debug!(rtu = %self.rtu.name, "sparkplug edge node gone: event dropped");
            }
        } else if tap.try_send(input).is_err() {
            tracing::debug!(rtu = %self.rtu.name, "sparkplug tap full: event dropped");
            self.shared
                .metrics
                .rtu(&self.rtu.name, |f| f.sparkplug_queue_full += 1);
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if *shutdown.borrow() {
            return;
        }
        let settings = Settings::of(
            &self.rtu,
            self.shared.command_timeout,
            self.cluster.is_some(),
        );
        let role = *self.role.borrow_and_update();
        let mut machine = Machine::new(settings, role, fastrand::u64(..), now());
        let mut wire = Wire::default();
        loop {
            self.execute(&mut machine, &mut wire).await;
            if machine.finished() {
                self.close(&mut wire, "").await;
                return;
            }
            let deadline = machine.next_deadline().map(Instant::from_std);
            tokio::select! {
                r = slot(&mut wire.connecting), if wire.connecting.is_some() => {
                    wire.connecting = None;
                    self.connect_done(&mut machine, &mut wire, r);
                }
                ev = next_event(&mut wire.up), if wire.up.is_some() => {
                    self.event(&mut machine, &mut wire, ev).await;
                }
                r = slot(&mut wire.dt), if wire.dt.is_some() => {
                    wire.dt = None;
                    match r {
                        Ok(()) => machine.dt_confirmed(now()),
                        Err(e) => machine.dt_failed(&e.to_string(), now()),
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    machine.tick(now());
                }
                job = self.commands.recv(), if machine.wants_command() => match job {
                    Some(job) => machine.command(job, now(), Utc::now()),
                    None => machine.shutdown("shutdown", now()),
                },
                changed = self.role.changed() => match changed {
                    Ok(()) => machine.role(*self.role.borrow_and_update(), now()),
                    Err(_) => machine.shutdown("shutdown", now()),
                },
                _ = shutdown.changed() => machine.shutdown("gateway shutting down", now()),
                Ok(()) = tls_changed(&mut self.tls) => self.recheck(&mut machine, &wire),
            }
        }
    }

    /// The attempt finished.
    fn connect_done(
        &self,
        machine: &mut Machine,
        wire: &mut Wire,
        r: Result<tls::Linked, ClientError>,
    ) {
        let address = self.address_of(machine.connecting_address());
        match r {
            Ok((client, events, connection, chain)) => {
                tracing::info!(rtu = %self.rtu.name, %address, tls = chain.is_some(), "connected");
                let task = tokio::spawn(connection);
                wire.up = Some(Up {
                    client,
                    events,
                    task,
                    peer: chain.map(|c| (address.to_owned(), c)),
                });
                machine.connected(now());
            }
            Err(e) => {
                let reason = match tls::tls_error(&e) {
                    Some(t) => tls::failure(&self.shared.metrics, &self.rtu.name, address, t),
                    None => format!("connect to {address}: {e}"),
                };
                machine.connect_failed(reason, now());
            }
        }
    }

    /// The TLS files were reloaded: a connection whose RTU the new CAs, CRLs or allow-list
    /// refuse ends now (a revoked RTU certificate does not wait for the next handshake).
    fn recheck(&mut self, machine: &mut Machine, wire: &Wire) {
        let Some(rx) = &mut self.tls else {
            return;
        };
        let connector = rx.borrow_and_update().clone();
        let Some((address, chain)) = wire.up.as_ref().and_then(|u| u.peer.as_ref()) else {
            return;
        };
        if let Err(e) = connector.recheck(tls::host_of(address), chain) {
            let reason = tls::failure(&self.shared.metrics, &self.rtu.name, address, &e);
            machine.fail(reason, now());
        }
    }

    fn address_of(&self, index: Option<usize>) -> &str {
        index
            .and_then(|i| self.rtu.addresses.get(i))
            .map_or("", String::as_str)
    }

    fn connect(&self, address: &str) -> Connecting {
        let config = ClientConfig {
            link: self.rtu.link.clone(),
            ..ClientConfig::default()
        };
        match &self.tls {
            Some(rx) => Box::pin(tls::connect(
                address.to_owned(),
                config,
                rx.borrow().clone(),
            )),
            None => Box::pin(tls::connect_plain(address.to_owned(), config)),
        }
    }

    /// Closes the connection (awaiting its task up to a second) or abandons the attempt.
    async fn close(&self, wire: &mut Wire, reason: &str) {
        wire.connecting = None;
        wire.dt = None;
        let Some(up) = wire.up.take() else {
            return;
        };
        up.client.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), up.task).await;
        self.shared
            .metrics
            .rtu(&self.rtu.name, |f| f.reconnects += 1);
        self.tap(iec104_sparkplug::session::Input::LinkDown).await;
        if reason == OFF {
            tracing::info!(rtu = %self.rtu.name, "connection closed: neither owner nor standby");
        }
    }

    /// Executes what the machine asked for, feeding back what failed.
    async fn execute(&mut self, machine: &mut Machine, wire: &mut Wire) {
        while let Some(action) = machine.next_action() {
            let client = wire.up.as_ref().map(|u| u.client.clone());
            match action {
                Action::Connect(i) => {
                    wire.connecting = Some(self.connect(self.address_of(Some(i))));
                }
                Action::StartDt | Action::StopDt => {
                    if let Some(c) = client {
                        wire.dt = Some(if matches!(action, Action::StartDt) {
                            Box::pin(async move { c.start_dt().await })
                        } else {
                            Box::pin(async move { c.stop_dt().await })
                        });
                    }
                }
                Action::Interrogate(ca) => {
                    let act = Cot::new(Cause::Activation);
                    let asdu = Ok(Asdu::interrogation(ca, Qoi(20), act));
                    self.system_command(client, "general interrogation", asdu)
                        .await;
                }
                Action::CounterInterrogate(ca) => {
                    let act = Cot::new(Cause::Activation);
                    let asdu = Ok(Asdu::counter_interrogation(ca, Qcc::new(5, 0), act));
                    self.system_command(client, "counter interrogation", asdu)
                        .await;
                }
                Action::ClockSync(ca) => self.clock_sync(client, ca).await,
                Action::SendCommand { asdu, execute } => {
                    let sent = match client {
                        Some(c) => c.send(asdu).await.map_err(|e| e.to_string()),
                        None => Err(ClientError::Closed.to_string()),
                    };
                    if let Err(e) = sent {
                        machine.command_not_sent(execute, &e, now());
                    }
                }
                Action::Close { reason } => self.close(wire, &reason).await,
                Action::Report(r) => {
                    self.report(r).await;
                    if r == Report::Started {
                        self.tap(iec104_sparkplug::session::Input::LinkUp).await;
                    }
                }
                Action::Status(s) => self.status(&s),
                Action::RoleTopics(role) => self.role_topics(role),
                Action::Idle => {
                    self.shared.metrics.rtu(&self.rtu.name, |f| f.state = "off");
                    self.show_status("off", None, None);
                }
                Action::CommandResult {
                    job,
                    status,
                    detail,
                } => self.result(&job, status, detail).await,
            }
        }
    }

    /// A clock synchronisation with the RTU's local time (its clock runs in its time zone).
    async fn clock_sync(&self, client: Option<Client>, ca: u16) {
        let t = Utc::now() + chrono::Duration::seconds(i64::from(self.rtu.tz_offset_secs));
        if (2000..=2099).contains(&t.year()) {
            let e = Element::C_CS_NA_1(Cp56Time2a::from_datetime(&t));
            let act = Cot::new(Cause::Activation);
            let asdu = Asdu::single(act, ca, InformationObject::new(0, e));
            self.system_command(client, "clock sync", asdu).await;
        }
    }

    async fn system_command(
        &self,
        client: Option<Client>,
        what: &str,
        asdu: Result<Asdu, iec104::asdu::AsduError>,
    ) {
        let Some(client) = client else {
            return;
        };
        let r = match asdu {
            Ok(asdu) => client
                .send(asdu.into_bytes())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot build the ASDU: {e}")),
        };
        log_err(&self.rtu.name, what, r);
    }

    /// One event of the connection.
    async fn event(&mut self, machine: &mut Machine, wire: &mut Wire, ev: Option<ClientEvent>) {
        match ev {
            Some(ClientEvent::Asdu { asdu, token }) => {
                self.asdu(machine, wire, asdu, token).await;
            }
            Some(ClientEvent::Started) | Some(ClientEvent::Stopped) => {}
            Some(ClientEvent::Closed { reason }) => {
                let reason = match reason {
                    CloseReason::Error(ClientError::Tls(e)) => {
                        let address = wire.up.as_ref().and_then(|u| u.peer.as_ref());
                        let address = address.map_or("", |(a, _)| a.as_str());
                        tls::failure(&self.shared.metrics, &self.rtu.name, address, &e)
                    }
                    CloseReason::Error(e) => e.to_string(),
                    CloseReason::Requested => "closed".to_owned(),
                    CloseReason::Aborted => "aborted".to_owned(),
                };
                machine.closed(reason, now());
            }
            None => machine.fail("connection ended".to_owned(), now()),
        }
    }

    /// One ASDU from the RTU: command answers, then data to the data path (which releases
    /// the I-frame once acknowledged by the broker or durable). An undecodable ASDU closes
    /// the connection.
    async fn asdu(
        &mut self,
        machine: &mut Machine,
        wire: &mut Wire,
        bytes: Bytes,
        token: iec104::link::ReceiveToken,
    ) {
        let Some(client) = wire.up.as_ref().map(|u| u.client.clone()) else {
            return;
        };
        let received = Utc::now();
        let view = match AsduView::parse(&bytes, &AsduParams::IEC104) {
            Ok(v) => v,
            Err(e) => {
                self.shared
                    .metrics
                    .rtu(&self.rtu.name, |f| f.bad_asdus += 1);
                return machine.fail(format!("undecodable ASDU: {e}"), now());
            }
        };
        machine.asdu(&view, now(), received);
        let messages = if self.sparkplug_only {
            Vec::new()
        } else {
            self.converter.convert(&view, received)
        };
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
                self.tap(iec104_sparkplug::session::Input::Value(update))
                    .await;
            }
            if iec104_sparkplug::element::ends_interrogation(&view) {
                self.tap(iec104_sparkplug::session::Input::InterrogationComplete)
                    .await;
            }
        }
        let count = view.objects().count() as u64;
        self.shared.metrics.rtu(&self.rtu.name, |f| {
            f.asdus += 1;
            f.objects += count;
        });
        // Command results and the execute go before the data.
        self.execute(machine, wire).await;
        if !machine.is_connected() {
            return;
        }
        let batch = Batch::new(messages, Some(release_of(&client, token)));
        if self.shared.writer.send(batch).await.is_err() {
            machine.fail("store writer stopped".to_owned(), now());
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

    fn clear(&self, topic: String) {
        self.shared.board.set(Message {
            topic,
            payload: Vec::new(),
            qos: 1,
            retain: true,
        });
    }

    /// Cluster mode: the role changed; the topic we do not speak on any more is cleared from
    /// the board (a node that no longer carries the RTU never republishes its old status).
    fn role_topics(&self, role: Role) {
        if self.cluster.is_none() {
            return;
        }
        if role == Role::Active {
            self.clear(self.standby_topic());
        } else {
            self.shared.board.remove(&self.main_topic());
            if role == Role::Off {
                self.clear(self.standby_topic());
            }
        }
    }

    fn status(&mut self, s: &Status) {
        let address = s.address.map(|i| self.address_of(Some(i)).to_owned());
        if s.state == LinkState::Disconnected {
            let reason = s.reason.as_deref().unwrap_or("");
            tracing::warn!(rtu = %self.rtu.name, address = address.as_deref().unwrap_or(""), %reason, "disconnected");
        }
        self.since = now_s();
        self.shared
            .metrics
            .rtu(&self.rtu.name, |f| f.state = s.state.as_str());
        self.show_status(s.state.as_str(), s.reason.as_deref(), address.as_deref());
        let topic = match s.topic {
            Some(StatusTopic::Main) => self.main_topic(),
            Some(StatusTopic::Standby) => self.standby_topic(),
            None => return,
        };
        let p = &self.shared.publish;
        let payload = RtuStatus {
            rtu: &self.rtu.name,
            node: &p.node,
            state: s.state,
            reason: s.reason.as_deref(),
            address: address.as_deref(),
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
        if let Some(reply) = &job.reply {
            // A Sparkplug write: the outcome goes to the RTU's edge node (its result metric).
            let outcome = contract::command::sparkplug_outcome(status, &detail);
            let input = iec104_sparkplug::session::Input::Outcome {
                id: reply.id,
                outcome,
            };
            if reply.tap.send(input).await.is_err() {
                tracing::debug!(rtu = %self.rtu.name, "sparkplug edge node gone: outcome not reported");
            }
        } else {
            self.publish_result(job, status, detail).await;
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

    /// The JSON result of a command on its result topic (waiting for room).
    async fn publish_result(&self, job: &CommandJob, status: CommandStatus, detail: ResultDetail) {
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
