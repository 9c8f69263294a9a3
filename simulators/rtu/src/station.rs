//! One simulated controlled station: an `iec104` server, its point table, the schedule of
//! spontaneous and periodic events, command handling and faults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use iec104::asdu::{
    AsduBuilder, AsduParams, AsduView, Coi, DoubleState, Element, InformationObject, Qcc,
};
use iec104::server::{
    ConnectionId, Server, ServerConfig, ServerError, ServerEvent, ServerEvents, ServerHandle,
};
use iec104::time::Cp56Time2a;
use iec104::{Cause, Cot, TypeId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::events_log::EventsLog;
use crate::faults::{FaultKind, Scheduled, MALFORMED};
use crate::points::behaviour::Rng;
use crate::points::{command_base, PointTable};

/// How often a station generates its events.
pub const TICK: Duration = Duration::from_millis(100);

/// Response batches waiting per connection, at most (beyond, responses are dropped with a
/// warning: the client does not read).
const RESPONSE_BATCHES: usize = 64;

/// Everything a station needs to run.
#[derive(Debug)]
pub struct StationSetup {
    /// Display name (events log `"station"`).
    pub name: String,
    /// Common address.
    pub ca: u16,
    /// Listening address.
    pub addr: SocketAddr,
    /// Server configuration (link parameters, redundancy mode, queue size).
    pub server: ServerConfig,
    /// Spontaneous events per second of the points sharing the station rate.
    pub rate: f64,
    /// How long a select stays valid.
    pub select_timeout: Duration,
    /// The points.
    pub table: PointTable,
    /// Faults to inject.
    pub faults: Vec<Scheduled>,
    /// Seed of the station's random generator.
    pub seed: u64,
}

/// Counters of all stations, for the summary at exit.
#[derive(Debug, Default)]
pub struct Stats {
    /// Information objects sent spontaneously or periodically.
    pub objects: AtomicU64,
    /// ASDUs enqueued.
    pub asdus: AtomicU64,
    /// Updates the shared rates asked for (the schedule).
    pub scheduled: AtomicU64,
    /// Largest lateness of a tick, in microseconds.
    pub max_lateness_us: AtomicU64,
    /// Ticks more than one tick late.
    pub late_ticks: AtomicU64,
    /// Commands received.
    pub commands: AtomicU64,
}

/// A station that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    /// The server could not start.
    #[error("station {name}: {source}")]
    Server {
        /// The station.
        name: String,
        /// Why.
        source: ServerError,
    },
}

/// A select waiting for its execute.
#[derive(Debug, Clone, Copy)]
struct Selection {
    conn: ConnectionId,
    base: u8,
    value: f64,
    deadline: Instant,
}

/// Messages from the station's helper tasks.
#[derive(Debug)]
enum Internal {
    /// A command's operation time is over: apply it and send ActTerm.
    Complete {
        conn: ConnectionId,
        asdu: Bytes,
        ioa: u32,
        value: f64,
    },
}

struct Running {
    handle: ServerHandle,
    events: ServerEvents,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

async fn start_server(addr: SocketAddr, config: &ServerConfig) -> Result<Running, ServerError> {
    let (handle, events, run) = Server::bind(addr, config.clone()).await?;
    let task = tokio::spawn(run);
    Ok(Running {
        handle,
        events,
        task,
    })
}

/// One station's state.
struct Station {
    name: String,
    ca: u16,
    addr: SocketAddr,
    server_config: ServerConfig,
    rate: f64,
    select_timeout: Duration,
    table: PointTable,
    faults: Vec<Scheduled>,
    rng: Rng,
    log: EventsLog,
    stats: Arc<Stats>,
    started: Instant,
    shared_credit: f64,
    clock_offset: chrono::TimeDelta,
    responders: HashMap<ConnectionId, mpsc::Sender<Vec<Bytes>>>,
    selections: HashMap<u32, Selection>,
    delay_ms: Arc<AtomicU64>,
    delay_until: Option<f64>,
    /// Stop acknowledging: until then (seconds since start; infinite for ever).
    mute_until: Option<f64>,
    any_started: bool,
    internal_tx: mpsc::Sender<Internal>,
    /// The running server's handle; `None` while restarting.
    handle: Option<ServerHandle>,
}

/// Binds the station's port; the returned future runs it until `shutdown` turns true.
pub async fn start(
    setup: StationSetup,
    log: EventsLog,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<impl std::future::Future<Output = ()>, StationError> {
    let name = setup.name.clone();
    let server = start_server(setup.addr, &setup.server)
        .await
        .map_err(|source| StationError::Server {
            name: name.clone(),
            source,
        })?;
    let addr = server.handle.local_addr();
    tracing::info!(station = %name, ca = setup.ca, %addr, points = setup.table.points.len(), "station listening");
    let (internal_tx, mut internal_rx) = mpsc::channel(256);
    let mut station = Station {
        name,
        ca: setup.ca,
        addr,
        server_config: setup.server,
        rate: setup.rate,
        select_timeout: setup.select_timeout,
        table: setup.table,
        faults: setup.faults,
        rng: Rng::new(setup.seed),
        log,
        stats,
        started: Instant::now(),
        shared_credit: 0.0,
        clock_offset: chrono::TimeDelta::zero(),
        responders: HashMap::new(),
        selections: HashMap::new(),
        delay_ms: Arc::new(AtomicU64::new(0)),
        delay_until: None,
        mute_until: None,
        any_started: false,
        internal_tx,
        handle: Some(server.handle.clone()),
    };
    Ok(async move {
        let mut running = Some(server);
        // While restarting: when the station comes back.
        let mut down_until: Option<Instant> = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                event = next_event(&mut running) => match event {
                    Some(event) => {
                        if let Some(server) = &running {
                            let handle = server.handle.clone();
                            station.on_server_event(&handle, event).await;
                        }
                    }
                    None => {
                        tracing::warn!(station = %station.name, "server ended");
                        running = None;
                    }
                },
                Some(msg) = internal_rx.recv() => {
                    if running.is_some() {
                        station.complete(msg).await;
                    }
                }
                scheduled = tick.tick() => {
                    let now = Instant::now();
                    station.note_lateness(now.saturating_duration_since(scheduled));
                    let dt = now.saturating_duration_since(last).as_secs_f64();
                    last = now;
                    let t = now.saturating_duration_since(station.started).as_secs_f64();
                    if let Some(until) = down_until {
                        if now >= until {
                            match start_server(station.addr, &station.server_config).await {
                                Ok(server) => {
                                    tracing::info!(station = %station.name, "station restarted");
                                    station.handle = Some(server.handle.clone());
                                    station.end_of_initialization().await;
                                    running = Some(server);
                                    down_until = None;
                                }
                                Err(error) => {
                                    tracing::warn!(station = %station.name, %error, "restart failed; trying again");
                                    down_until = Some(now + Duration::from_millis(500));
                                }
                            }
                        }
                    }
                    if let Some(server) = &running {
                        let handle = server.handle.clone();
                        station.generate(t, dt).await;
                        if let Some(down) = station.run_faults(&handle, t).await {
                            if let Some(server) = running.take() {
                                stop_server(server).await;
                            }
                            station.handle = None;
                            station.responders.clear();
                            station.selections.clear();
                            down_until = Some(now + down);
                        }
                    }
                }
            }
        }
        if let Some(server) = running.take() {
            stop_server(server).await;
        }
    })
}

async fn next_event(running: &mut Option<Running>) -> Option<ServerEvent> {
    match running {
        Some(server) => server.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn stop_server(server: Running) {
    server.handle.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), server.task).await;
}

/// A copy of `asdu` with cause `cause` and the P/N bit `negative` (test bit and originator
/// kept): the way a station confirms or refuses what it received.
pub fn mirror(asdu: &[u8], cause: Cause, negative: bool) -> Bytes {
    let mut reply = asdu.to_vec();
    if let Some(cot) = reply.get_mut(2) {
        let old = Cot::from_octets(*cot, 0);
        let mut new = Cot::new(cause);
        new.negative = negative;
        new.test = old.test;
        *cot = new.first_octet();
    }
    Bytes::from(reply)
}

/// Packs objects into as few ASDUs as possible, one type per ASDU (SQ=0), in arrival order
/// within a type.
struct Packer {
    cot: Cot,
    ca: u16,
    open: Vec<(TypeId, AsduBuilder)>,
    done: Vec<Bytes>,
}

impl Packer {
    fn new(cause: Cause, ca: u16) -> Packer {
        Packer {
            cot: Cot::new(cause),
            ca,
            open: Vec::new(),
            done: Vec::new(),
        }
    }

    fn push(&mut self, object: InformationObject<'_>) {
        let t = object.element.type_id();
        let index = match self.open.iter().position(|(ty, _)| *ty == t) {
            Some(i) => i,
            None => {
                self.open.push((t, AsduBuilder::new(t, self.cot, self.ca)));
                self.open.len() - 1
            }
        };
        let Some((_, builder)) = self.open.get_mut(index) else {
            return;
        };
        if builder.push(object).is_err() {
            // Full: send it and start the next ASDU of this type.
            let full = std::mem::replace(builder, AsduBuilder::new(t, self.cot, self.ca));
            if let Ok(asdu) = full.build() {
                self.done.push(asdu.into_bytes());
            }
            if let Err(error) = builder.push(object) {
                tracing::error!(%error, "cannot encode an object");
            }
        }
    }

    fn finish(mut self) -> Vec<Bytes> {
        for (_, b) in self.open {
            if let Ok(asdu) = b.build() {
                self.done.push(asdu.into_bytes());
            }
        }
        self.done
    }
}

impl Station {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    fn note_lateness(&self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.stats.max_lateness_us.fetch_max(us, Ordering::Relaxed);
        if late > TICK {
            self.stats.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Spontaneous (shared and own rates) and periodic events due at `t`, `dt` after the last.
    async fn generate(&mut self, t: f64, dt: f64) {
        let mut updates: Vec<usize> = Vec::new();
        if !self.table.shared.is_empty() {
            self.shared_credit += self.rate * dt;
            let n = self.shared_credit.floor();
            self.shared_credit -= n;
            let n = n as usize;
            self.stats.scheduled.fetch_add(n as u64, Ordering::Relaxed);
            for _ in 0..n {
                let pick = self.rng.below(self.table.shared.len());
                if let Some(&index) = self.table.shared.get(pick) {
                    updates.push(index);
                }
            }
        }
        for &index in &self.table.own_rate {
            if let Some(p) = self.table.points.get_mut(index) {
                p.credit += p.rate.unwrap_or(0.0) * dt;
                while p.credit >= 1.0 {
                    p.credit -= 1.0;
                    updates.push(index);
                }
            }
        }
        let mut spont = Packer::new(Cause::Spontaneous, self.ca);
        let mut cyclic = Packer::new(Cause::Periodic, self.ca);
        let now = self.now_utc();
        let time = Cp56Time2a::from_datetime(&now);
        let mut count = 0u64;
        for index in updates {
            if let Some(object) = self.update(index, t, &time) {
                spont.push(object);
                count += 1;
            }
        }
        for &index in &self.table.periodic {
            if let Some(p) = self.table.points.get_mut(index) {
                let period = p.period.unwrap_or(1.0);
                if t >= p.next_periodic {
                    p.next_periodic = (p.next_periodic + period).max(t);
                    if let Some(e) = p.element(&time) {
                        cyclic.push(InformationObject::new(p.ioa, e));
                        count += 1;
                    }
                }
            }
        }
        self.stats.objects.fetch_add(count, Ordering::Relaxed);
        for asdu in spont.finish().into_iter().chain(cyclic.finish()) {
            self.emit(asdu, now).await;
        }
    }

    /// Moves point `index` by its behaviour; the object to report when the change passes the
    /// deadband.
    fn update(
        &mut self,
        index: usize,
        t: f64,
        time: &Cp56Time2a,
    ) -> Option<InformationObject<'static>> {
        let p = self.table.points.get_mut(index)?;
        let kind = p.kind();
        p.value = p.behaviour.next(p.value, t, kind, &mut self.rng);
        if p.deadband > 0.0 && (p.value - p.last_sent).abs() < p.deadband {
            return None;
        }
        p.last_sent = p.value;
        let e = p.element(time)?;
        Some(InformationObject::new(p.ioa, e))
    }

    /// Enqueues an event ASDU for every redundancy group and logs it.
    async fn emit(&self, asdu: Bytes, now: DateTime<Utc>) {
        let Some(handle) = &self.handle else { return };
        self.log.asdu(&self.name, &asdu, None, now).await;
        self.stats.asdus.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = handle.enqueue(asdu) {
            tracing::error!(station = %self.name, %error, "event not enqueued");
        }
    }

    async fn end_of_initialization(&self) {
        let mut b = AsduBuilder::new(TypeId::M_EI_NA_1, Cot::new(Cause::Initialized), self.ca);
        if b.push(InformationObject::new(
            0,
            Element::M_EI_NA_1(Coi::new(0, false)),
        ))
        .is_ok()
        {
            if let Ok(asdu) = b.build() {
                self.emit(asdu.into_bytes(), self.now_utc()).await;
            }
        }
    }

    /// Runs the faults due at `t`; returns how long to stay down for a restart.
    async fn run_faults(&mut self, handle: &ServerHandle, t: f64) -> Option<Duration> {
        if self.delay_until.is_some_and(|until| t >= until) {
            self.delay_ms.store(0, Ordering::Relaxed);
            self.delay_until = None;
            tracing::info!(station = %self.name, "fault over: responses no longer delayed");
        }
        if self.mute_until.is_some_and(|until| t >= until) {
            self.mute_until = None;
            for c in handle.connections() {
                handle.set_mute(c.id, false);
            }
            tracing::info!(station = %self.name, "fault over: acknowledging again");
        }
        let mut due = Vec::new();
        for f in &mut self.faults {
            if f.fire(t) {
                due.push(f.spec.clone());
            }
        }
        let mut down = None;
        for spec in due {
            tracing::info!(station = %self.name, kind = ?spec.kind, t, "injecting fault");
            match spec.kind {
                FaultKind::DropConnections => {
                    for c in handle.connections() {
                        handle.close(c.id);
                    }
                }
                FaultKind::DelayResponses => {
                    self.delay_ms
                        .store(spec.delay_ms.unwrap_or(1000), Ordering::Relaxed);
                    self.delay_until = spec.duration.map(|d| t + d);
                }
                FaultKind::Restart => {
                    down = Some(Duration::from_millis(spec.down_ms.unwrap_or(1000)));
                }
                FaultKind::Burst => self.burst(t, spec.events.unwrap_or(1000)).await,
                FaultKind::StopAcknowledging => {
                    self.mute_until = Some(spec.duration.map_or(f64::INFINITY, |d| t + d));
                    for c in handle.connections() {
                        handle.set_mute(c.id, true);
                    }
                }
                FaultKind::MalformedFrame => {
                    let octets = Bytes::from(spec.frame().unwrap_or_else(|| MALFORMED.to_vec()));
                    for c in handle.connections() {
                        let handle = handle.clone();
                        let octets = octets.clone();
                        let name = self.name.clone();
                        // `send_raw` may wait for the connection: not in the station's loop.
                        tokio::spawn(async move {
                            if let Err(error) = handle.send_raw(c.id, octets).await {
                                tracing::info!(station = %name, conn = %c.id, %error, "malformed frame not sent");
                            }
                        });
                    }
                }
            }
        }
        down
    }

    /// `n` spontaneous events at once, from the points that change by themselves (or any
    /// monitored point when none does).
    async fn burst(&mut self, t: f64, n: u32) {
        let pool: Vec<usize> = if self.table.shared.is_empty() && self.table.own_rate.is_empty() {
            (0..self.table.points.len())
                .filter(|&i| self.table.points.get(i).is_some_and(|p| !p.is_command()))
                .collect()
        } else {
            self.table
                .shared
                .iter()
                .chain(&self.table.own_rate)
                .copied()
                .collect()
        };
        if pool.is_empty() {
            return;
        }
        let now = self.now_utc();
        let time = Cp56Time2a::from_datetime(&now);
        let mut spont = Packer::new(Cause::Spontaneous, self.ca);
        let mut count = 0;
        for _ in 0..n {
            let pick = self.rng.below(pool.len());
            if let Some(&index) = pool.get(pick) {
                let object = match self.table.points.get(index) {
                    Some(p) if !p.behaviour.is_active() => {
                        // A constant point in a burst: report its value as it is.
                        p.element(&time).map(|e| InformationObject::new(p.ioa, e))
                    }
                    _ => self.update(index, t, &time),
                };
                if let Some(object) = object {
                    spont.push(object);
                    count += 1;
                }
            }
        }
        self.stats.objects.fetch_add(count, Ordering::Relaxed);
        for asdu in spont.finish() {
            self.emit(asdu, now).await;
        }
    }

    async fn on_server_event(&mut self, handle: &ServerHandle, event: ServerEvent) {
        match event {
            ServerEvent::Connected { conn, peer, group } => {
                tracing::info!(station = %self.name, %conn, %peer, group = group.0, "client connected");
                if self.mute_until.is_some() {
                    handle.set_mute(conn, true);
                }
                let (tx, rx) = mpsc::channel(RESPONSE_BATCHES);
                tokio::spawn(respond(handle.clone(), conn, rx, self.delay_ms.clone()));
                self.responders.insert(conn, tx);
            }
            ServerEvent::Refused { peer } => {
                tracing::info!(station = %self.name, %peer, "client refused");
            }
            ServerEvent::Started { conn } => {
                tracing::info!(station = %self.name, %conn, "data transfer started");
                let t = self.started.elapsed().as_secs_f64();
                let first = !self.any_started;
                self.any_started = true;
                for f in &mut self.faults {
                    f.on_startdt(t, first);
                }
            }
            ServerEvent::Stopped { conn } => {
                tracing::info!(station = %self.name, %conn, "data transfer stopped");
            }
            ServerEvent::Closed { conn, reason } => {
                tracing::info!(station = %self.name, %conn, ?reason, "client closed");
                self.responders.remove(&conn);
                self.selections.retain(|_, s| s.conn != conn);
            }
            ServerEvent::Asdu { conn, asdu } => {
                self.stats.commands.fetch_add(1, Ordering::Relaxed);
                self.on_asdu(conn, asdu).await;
            }
        }
    }

    /// Sends responses to one connection, in order, through its responder task.
    fn respond(&self, conn: ConnectionId, batch: Vec<Bytes>) {
        if let Some(tx) = self.responders.get(&conn) {
            if tx.try_send(batch).is_err() {
                tracing::warn!(station = %self.name, %conn, "responses dropped: the client reads too slowly");
            }
        }
    }

    /// Logs a received ASDU with its outcome.
    async fn log_command(&self, asdu: &[u8], outcome: &str) {
        tracing::debug!(station = %self.name, outcome, "command");
        self.log
            .asdu(&self.name, asdu, Some(outcome), self.now_utc())
            .await;
    }

    /// Refuses `asdu` with a negative mirror of `cause` and logs the outcome.
    async fn refuse(&self, conn: ConnectionId, asdu: &Bytes, cause: Cause, outcome: &str) {
        self.respond(conn, vec![mirror(asdu, cause, true)]);
        self.log_command(asdu, outcome).await;
    }

    async fn on_asdu(&mut self, conn: ConnectionId, asdu: Bytes) {
        let view = match AsduView::parse(&asdu, &AsduParams::IEC104) {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(station = %self.name, %conn, %error, "undecodable ASDU ignored");
                return;
            }
        };
        let header = *view.header();
        let Some(type_id) = view.type_id() else {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        };
        let broadcast_ok = matches!(type_id.as_u8(), 100 | 101 | 103 | 105);
        if header.common_address != self.ca && !(broadcast_ok && header.common_address == 0xFFFF) {
            return self
                .refuse(conn, &asdu, Cause::UnknownCommonAddress, "unknown_ca")
                .await;
        }
        let cause = header.cot.cause;
        let Some(object) = view.objects().next() else {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        };
        match object.element {
            Element::C_IC_NA_1(qoi) => match cause {
                Cause::Activation => {
                    if object.ioa != 0 {
                        return self
                            .refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                            .await;
                    }
                    let group = match qoi.0 {
                        20 => None,
                        21..=36 => Some(qoi.0 - 20),
                        _ => {
                            return self
                                .refuse(conn, &asdu, Cause::ActivationCon, "rejected_qualifier")
                                .await
                        }
                    };
                    self.interrogation(conn, &asdu, group);
                    self.log_command(&asdu, "confirmed").await;
                }
                Cause::Deactivation => {
                    self.respond(conn, vec![mirror(&asdu, Cause::DeactivationCon, false)]);
                    self.log_command(&asdu, "confirmed").await;
                }
                _ => {
                    self.refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await
                }
            },
            Element::C_CI_NA_1(qcc) => match cause {
                Cause::Activation if object.ioa == 0 => {
                    self.counter_interrogation(conn, &asdu, qcc);
                    self.log_command(&asdu, "confirmed").await;
                }
                Cause::Activation => {
                    self.refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                        .await
                }
                _ => {
                    self.refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await
                }
            },
            Element::C_RD_NA_1 => {
                if cause != Cause::Request {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await;
                }
                let time = Cp56Time2a::from_datetime(&self.now_utc());
                match self.table.get(object.ioa).and_then(|p| p.element(&time)) {
                    Some(e) => {
                        let mut packer = Packer::new(Cause::Request, self.ca);
                        packer.push(InformationObject::new(object.ioa, e));
                        self.respond(conn, packer.finish());
                        self.log_command(&asdu, "confirmed").await;
                    }
                    None => {
                        self.refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                            .await
                    }
                }
            }
            Element::C_CS_NA_1(time) => {
                if cause != Cause::Activation {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await;
                }
                match time.to_utc() {
                    Some(at) => {
                        self.clock_offset = at - Utc::now();
                        self.respond(conn, vec![mirror(&asdu, Cause::ActivationCon, false)]);
                        self.log_command(&asdu, "confirmed").await;
                    }
                    None => {
                        self.refuse(conn, &asdu, Cause::ActivationCon, "rejected_time")
                            .await
                    }
                }
            }
            Element::C_TS_NA_1(_) | Element::C_TS_TA_1(..) | Element::C_RP_NA_1(_) => {
                if cause != Cause::Activation {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                        .await;
                }
                self.respond(conn, vec![mirror(&asdu, Cause::ActivationCon, false)]);
                self.log_command(&asdu, "confirmed").await;
            }
            _ if command_base(type_id) >= 45 && command_base(type_id) <= 51 => {
                self.command(conn, asdu.clone(), type_id, object).await
            }
            _ => {
                self.refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                    .await
            }
        }
    }

    /// ActCon, the data of the group (station: every monitored point except integrated
    /// totals), ActTerm.
    fn interrogation(&self, conn: ConnectionId, asdu: &Bytes, group: Option<u8>) {
        let cause = match group {
            None => Cause::InterrogatedByStation,
            Some(g) => Cause::InterrogatedByGroup(g),
        };
        let time = Cp56Time2a::from_datetime(&self.now_utc());
        let mut packer = Packer::new(cause, self.ca);
        for p in &self.table.points {
            if p.is_command() || p.is_counter() {
                continue;
            }
            if group.is_some() && p.group != group {
                continue;
            }
            if let Some(e) = p.element(&time) {
                packer.push(InformationObject::new(p.ioa, e));
            }
        }
        let mut batch = vec![mirror(asdu, Cause::ActivationCon, false)];
        batch.extend(packer.finish());
        batch.push(mirror(asdu, Cause::ActivationTerm, false));
        self.respond(conn, batch);
    }

    /// ActCon, the counters (for a read, or after a freeze), ActTerm.
    fn counter_interrogation(&mut self, conn: ConnectionId, asdu: &Bytes, qcc: Qcc) {
        let rqt = qcc.request();
        let group = match rqt {
            5 => None,
            1..=4 => Some(rqt),
            _ => {
                self.respond(conn, vec![mirror(asdu, Cause::ActivationCon, true)]);
                return;
            }
        };
        let cause = match group {
            None => Cause::RequestedByGeneralCounter,
            Some(g) => Cause::RequestedByGroupCounter(g),
        };
        let time = Cp56Time2a::from_datetime(&self.now_utc());
        let mut packer = Packer::new(cause, self.ca);
        let freeze = qcc.freeze();
        for p in &mut self.table.points {
            if !p.is_counter() || (group.is_some() && p.group != group) {
                continue;
            }
            match freeze {
                // Read: the frozen value if there is one, else the current one.
                0 => {
                    let v = p.frozen.take().unwrap_or(p.value);
                    if let Some(e) = p.element_with(v, &time) {
                        packer.push(InformationObject::new(p.ioa, e));
                    }
                    p.sequence = (p.sequence + 1) % 32;
                }
                1 => p.frozen = Some(p.value),
                2 => {
                    p.frozen = Some(p.value);
                    p.value = 0.0;
                }
                _ => p.value = 0.0,
            }
        }
        let mut batch = vec![mirror(asdu, Cause::ActivationCon, false)];
        batch.extend(packer.finish());
        batch.push(mirror(asdu, Cause::ActivationTerm, false));
        self.respond(conn, batch);
    }

    /// A process command (C_SC, C_DC, C_RC, C_SE, C_BO with or without time tag).
    async fn command(
        &mut self,
        conn: ConnectionId,
        asdu: Bytes,
        type_id: TypeId,
        object: InformationObject<'_>,
    ) {
        if !self.table.accepts_command_type(type_id) {
            return self
                .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                .await;
        }
        let cause = Cot::from_octets(asdu.get(2).copied().unwrap_or(0), 0).cause;
        if !matches!(cause, Cause::Activation | Cause::Deactivation) {
            return self
                .refuse(conn, &asdu, Cause::UnknownCause, "unknown_cause")
                .await;
        }
        let base = command_base(type_id);
        let spec = match self.table.get(object.ioa) {
            Some(p) if p.is_command() => {
                if command_base(p.type_id) != base {
                    return self
                        .refuse(conn, &asdu, Cause::UnknownTypeId, "unknown_type")
                        .await;
                }
                p.command.clone()
            }
            _ => None,
        };
        let Some(spec) = spec else {
            return self
                .refuse(conn, &asdu, Cause::UnknownObjectAddress, "unknown_ioa")
                .await;
        };
        if cause == Cause::Deactivation {
            let had = self.selections.remove(&object.ioa).is_some();
            self.respond(conn, vec![mirror(&asdu, Cause::DeactivationCon, !had)]);
            return self
                .log_command(
                    &asdu,
                    if had {
                        "cancelled"
                    } else {
                        "rejected_not_selected"
                    },
                )
                .await;
        }
        let Some((value, select)) = command_value(&object.element) else {
            return self
                .refuse(conn, &asdu, Cause::ActivationCon, "rejected_value")
                .await;
        };
        let now = Instant::now();
        if select {
            self.selections.insert(
                object.ioa,
                Selection {
                    conn,
                    base,
                    value,
                    deadline: now + self.select_timeout,
                },
            );
            self.respond(conn, vec![mirror(&asdu, Cause::ActivationCon, false)]);
            return self.log_command(&asdu, "selected").await;
        }
        let selection = self.selections.remove(&object.ioa);
        if spec.sbo {
            let refusal = match selection {
                None => Some("rejected_not_selected"),
                Some(s) if s.deadline < now => Some("select_timeout"),
                Some(s) if s.conn != conn || s.base != base || s.value != value => {
                    Some("rejected_not_selected")
                }
                Some(_) => None,
            };
            if let Some(outcome) = refusal {
                return self
                    .refuse(conn, &asdu, Cause::ActivationCon, outcome)
                    .await;
            }
        }
        self.respond(conn, vec![mirror(&asdu, Cause::ActivationCon, false)]);
        self.log_command(&asdu, "executed").await;
        let done = Internal::Complete {
            conn,
            asdu,
            ioa: object.ioa,
            value,
        };
        if spec.delay_ms == 0 {
            self.complete(done).await;
        } else {
            let tx = self.internal_tx.clone();
            let delay = Duration::from_millis(spec.delay_ms);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(done).await;
            });
        }
    }

    /// The command's effect on the point it drives (reported with COT retrem), then ActTerm.
    async fn complete(&mut self, msg: Internal) {
        let Internal::Complete {
            conn,
            asdu,
            ioa,
            value,
        } = msg;
        let drives = self
            .table
            .get(ioa)
            .and_then(|p| p.command.as_ref().map(|c| (p.type_id, c.drives)));
        if let Some((type_id, Some(target))) = drives {
            let now = self.now_utc();
            let time = Cp56Time2a::from_datetime(&now);
            let object = self.table.get_mut(target).and_then(|t| {
                t.value = if command_base(type_id) == 47 {
                    // Regulating step: one step up or down, within the VTI range.
                    (t.value + value).clamp(-64.0, 63.0)
                } else {
                    value
                };
                t.last_sent = t.value;
                t.element(&time).map(|e| InformationObject::new(t.ioa, e))
            });
            if let Some(object) = object {
                let mut packer = Packer::new(Cause::ReturnRemote, self.ca);
                packer.push(object);
                for a in packer.finish() {
                    self.stats.objects.fetch_add(1, Ordering::Relaxed);
                    self.emit(a, now).await;
                }
            }
        }
        self.respond(conn, vec![mirror(&asdu, Cause::ActivationTerm, false)]);
    }
}

/// The commanded value and the S/E bit of a process command (C_RC: +1 higher, −1 lower);
/// `None` for a value the standard does not permit (DCS/RCS 0 or 3).
fn command_value(e: &Element<'_>) -> Option<(f64, bool)> {
    let double = |s: DoubleState| match s {
        DoubleState::Off => Some(1.0),
        DoubleState::On => Some(2.0),
        _ => None,
    };
    let step = |s: DoubleState| match s {
        DoubleState::Off => Some(-1.0),
        DoubleState::On => Some(1.0),
        _ => None,
    };
    match *e {
        Element::C_SC_NA_1(c) | Element::C_SC_TA_1(c, _) => {
            Some((f64::from(u8::from(c.value())), c.select()))
        }
        Element::C_DC_NA_1(c) | Element::C_DC_TA_1(c, _) => Some((double(c.state())?, c.select())),
        Element::C_RC_NA_1(c) | Element::C_RC_TA_1(c, _) => Some((step(c.state())?, c.select())),
        Element::C_SE_NA_1(n, q) | Element::C_SE_TA_1(n, q, _) => {
            Some((f64::from(n.to_f32()), q.select()))
        }
        Element::C_SE_NB_1(s, q) | Element::C_SE_TB_1(s, q, _) => {
            Some((f64::from(s.0), q.select()))
        }
        Element::C_SE_NC_1(f, q) | Element::C_SE_TC_1(f, q, _) => Some((f64::from(f), q.select())),
        Element::C_BO_NA_1(b) | Element::C_BO_TA_1(b, _) => Some((f64::from(b.0), false)),
        _ => None,
    }
}

/// Sends a connection's response batches in order, after the fault delay if one is set.
async fn respond(
    handle: ServerHandle,
    conn: ConnectionId,
    mut rx: mpsc::Receiver<Vec<Bytes>>,
    delay_ms: Arc<AtomicU64>,
) {
    while let Some(batch) = rx.recv().await {
        let delay = delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        for asdu in batch {
            if handle.send_to(conn, asdu).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_sets_cause_and_pn_keeps_test_bit() {
        // C_DC_NA_1 act with T bit: COT octet 0x86 = T (0x80) | 6; IEC 60870-5-101 §7.2.3:
        // bit 8 T, bit 7 P/N, bits 1-6 cause.
        let asdu = [46, 1, 0x86, 0, 1, 0, 5, 0, 0, 0x82];
        // Negative ActCon: 0x80 | 0x40 | 7 = 0xC7.
        assert_eq!(
            &mirror(&asdu, Cause::ActivationCon, true)[..],
            &[46, 1, 0xC7, 0, 1, 0, 5, 0, 0, 0x82]
        );
        // Unknown IOA 47 = 0x2F, negative: 0x80 | 0x40 | 0x2F = 0xEF.
        assert_eq!(mirror(&asdu, Cause::UnknownObjectAddress, true)[2], 0xEF);
    }

    #[test]
    fn packer_groups_by_type_and_splits_full_asdus() {
        use iec104::asdu::Quality;
        use iec104::asdu::{Qds, SinglePoint};
        let mut p = Packer::new(Cause::Spontaneous, 1);
        for i in 0..100u32 {
            p.push(InformationObject::new(
                i,
                Element::M_SP_NA_1(SinglePoint::new(true, Quality::GOOD)),
            ));
            p.push(InformationObject::new(
                1000 + i,
                Element::M_ME_NC_1(1.5, Qds(0)),
            ));
        }
        let asdus = p.finish();
        // M_SP_NA_1 objects take 4 octets (IOA 3 + SIQ 1): (249 - 6) / 4 = 60 per ASDU; floats
        // 8 octets (IOA 3 + R32 4 + QDS 1): (249 - 6) / 8 = 30 per ASDU.
        let mut counts: Vec<(u8, u8)> = asdus.iter().map(|a| (a[0], a[1])).collect();
        counts.sort();
        assert_eq!(
            counts,
            vec![(1, 40), (1, 60), (13, 10), (13, 30), (13, 30), (13, 30)]
        );
    }

    #[test]
    fn command_values() {
        use iec104::asdu::{DoubleCommand, Qos, Scaled, StepCommand};
        assert_eq!(
            command_value(&Element::C_DC_NA_1(DoubleCommand::new(
                DoubleState::On,
                0,
                true
            ))),
            Some((2.0, true))
        );
        assert_eq!(
            command_value(&Element::C_DC_NA_1(DoubleCommand::new(
                DoubleState::Indeterminate,
                0,
                false
            ))),
            None
        );
        assert_eq!(
            command_value(&Element::C_RC_NA_1(StepCommand::new(
                DoubleState::Off,
                0,
                false
            ))),
            Some((-1.0, false))
        );
        assert_eq!(
            command_value(&Element::C_SE_NB_1(Scaled(-5), Qos::new(0, true))),
            Some((-5.0, true))
        );
    }
}
