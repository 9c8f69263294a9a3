//! One simulated controlled station: an `iec104` server, its point table, the schedule of
//! spontaneous and periodic events, command handling and faults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use iec104::asdu::{Asdu, AsduBuilder, Coi, Element, InformationObject};
use iec104::cot::{Cause, Cot};
use iec104::server::{
    ConnectionId, Server, ServerConfig, ServerError, ServerEvent, ServerEvents, ServerHandle,
};
use iec104::type_id::TypeId;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events_log::EventsLog;
use crate::faults::{FaultKind, Scheduled, MALFORMED};
use crate::points::behaviour::Rng;
use crate::points::PointTable;

mod packer;
mod protection;
mod requests;
mod spontaneous;

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
    /// Serve TLS with this acceptor; `None`: plain TCP.
    pub tls: Option<iec104::tls::TlsAcceptor>,
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

/// Responses to one connection, sent in order by its responder task.
#[derive(Debug)]
struct Reply {
    asdus: Vec<Bytes>,
    /// Sent after every event enqueued so far (the ActTerm of a command after the change
    /// the command caused).
    after_events: bool,
}

/// Messages from the station's helper tasks.
#[derive(Debug)]
enum Internal {
    /// A command's operation time is over: apply it and send ActTerm.
    Complete {
        conn: ConnectionId,
        asdu: Asdu,
        ioa: u32,
        value: f64,
    },
}

struct Running {
    handle: ServerHandle,
    events: ServerEvents,
    /// The server's run future, owned here: aborted when the station future is dropped.
    task: JoinSet<Result<(), ServerError>>,
}

async fn start_server(
    addr: SocketAddr,
    config: &ServerConfig,
    tls: Option<&iec104::tls::TlsAcceptor>,
) -> Result<Running, ServerError> {
    let mut task = JoinSet::new();
    let (handle, events) = match tls {
        None => {
            let (handle, events, run) = Server::bind(addr, config.clone()).await?;
            task.spawn(run);
            (handle, events)
        }
        Some(tls) => {
            let (handle, events, run) = Server::bind_tls(addr, config.clone(), tls.clone()).await?;
            task.spawn(run);
            (handle, events)
        }
    };
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
    /// TLS of the listener (kept for restarts).
    tls: Option<iec104::tls::TlsAcceptor>,
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
    responders: HashMap<ConnectionId, mpsc::Sender<Reply>>,
    selections: HashMap<u32, Selection>,
    delay_ms: Arc<AtomicU64>,
    delay_until: Option<f64>,
    /// Stop acknowledging: until then (seconds since start; infinite for ever).
    mute_until: Option<f64>,
    /// Active `quality` faults: when each ends (seconds since start) and its points.
    quality_faults: Vec<(f64, Vec<usize>)>,
    any_started: bool,
    internal_tx: mpsc::Sender<Internal>,
    /// The running server's handle; `None` while restarting.
    handle: Option<ServerHandle>,
    /// Helper tasks (responders, delayed completions, raw sends), owned by the station's
    /// future: nothing outlives it.
    tasks: JoinSet<()>,
}

/// Binds the station's port; returns the bound address and the future that runs the station
/// until `shutdown` turns true.
pub async fn start(
    setup: StationSetup,
    log: EventsLog,
    stats: Arc<Stats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()> + Send), StationError> {
    let name = setup.name.clone();
    let server = start_server(setup.addr, &setup.server, setup.tls.as_ref())
        .await
        .map_err(|source| StationError::Server {
            name: name.clone(),
            source,
        })?;
    let addr = server.handle.local_addr();
    tracing::info!(station = %name, ca = setup.ca, %addr, points = setup.table.points.len(), "station listening");
    let (internal_tx, mut internal_rx) = mpsc::channel(256);
    let setup_seed = setup.seed;
    let mut station = Station {
        name,
        ca: setup.ca,
        addr,
        server_config: setup.server,
        tls: setup.tls,
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
        quality_faults: Vec::new(),
        any_started: false,
        internal_tx,
        handle: Some(server.handle.clone()),
        tasks: JoinSet::new(),
    };
    Ok((addr, async move {
        let mut running = Some(server);
        // While restarting: when the station comes back.
        let mut down_until: Option<Instant> = None;
        // Each station ticks at its own phase within the tick (from its seed), as RTUs that
        // were not switched on in the same millisecond do: with one phase for all, a hundred
        // stations would hand over their events in the same instant, every tick.
        let mut tick = tokio::time::interval_at(Instant::now() + tick_phase(setup_seed), TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        // Faults due at t = 0 act before anything else (the interval's first tick may come a
        // millisecond late, after a quick client's first command).
        if let Some(handle) = station.handle.clone() {
            if let Some(down) = station.run_faults(&handle, 0.0).await {
                if let Some(server) = running.take() {
                    stop_server(server).await;
                }
                station.went_down();
                down_until = Some(Instant::now() + down);
            }
        }
        loop {
            // Biased, the tick first: faults due at t = 0 act before the first command.
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                scheduled = tick.tick() => {
                    let now = Instant::now();
                    station.note_lateness(now.saturating_duration_since(scheduled));
                    let dt = now.saturating_duration_since(last).as_secs_f64();
                    last = now;
                    station.on_tick(&mut running, &mut down_until, now, dt).await;
                }
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
                // Reaps finished helper tasks (their results are `()`).
                Some(_) = station.tasks.join_next(), if !station.tasks.is_empty() => {}
            }
        }
        if let Some(server) = running.take() {
            stop_server(server).await;
        }
    }))
}

impl Station {
    /// One tick: the server back up if its restart is due, then (while it runs) the
    /// generated events and the faults due at this time.
    async fn on_tick(
        &mut self,
        running: &mut Option<Running>,
        down_until: &mut Option<Instant>,
        now: Instant,
        dt: f64,
    ) {
        let t = now.saturating_duration_since(self.started).as_secs_f64();
        if down_until.is_some_and(|until| now >= until) {
            match start_server(self.addr, &self.server_config, self.tls.as_ref()).await {
                Ok(server) => {
                    tracing::info!(station = %self.name, "station restarted");
                    self.handle = Some(server.handle.clone());
                    self.end_of_initialization().await;
                    *running = Some(server);
                    *down_until = None;
                }
                Err(error) => {
                    tracing::warn!(station = %self.name, %error, "restart failed; trying again");
                    *down_until = Some(now + Duration::from_millis(500));
                }
            }
        }
        if let Some(server) = running.as_ref() {
            let handle = server.handle.clone();
            self.generate(t, dt).await;
            if let Some(down) = self.run_faults(&handle, t).await {
                if let Some(server) = running.take() {
                    stop_server(server).await;
                }
                self.went_down();
                *down_until = Some(now + down);
            }
        }
    }
}

async fn next_event(running: &mut Option<Running>) -> Option<ServerEvent> {
    match running {
        Some(server) => server.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn stop_server(server: Running) {
    server.handle.shutdown();
    let mut task = server.task;
    let _ = tokio::time::timeout(Duration::from_secs(5), task.join_next()).await;
}

/// The offset of a station's ticks within [`TICK`], spread evenly over stations by a
/// mix of their seed (MurmurHash3's 64-bit finaliser), in whole microseconds.
pub fn tick_phase(seed: u64) -> Duration {
    let mut x = seed;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    let tick_us = TICK.as_micros() as u64;
    Duration::from_micros(x % tick_us)
}

impl Station {
    /// The server was shut down (restart fault): no handle, no connections, no selects.
    fn went_down(&mut self) {
        self.handle = None;
        self.responders.clear();
        self.selections.clear();
    }

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

    /// Enqueues an event ASDU for every redundancy group and logs it.
    async fn emit(&self, asdu: Bytes, now: DateTime<Utc>) {
        let Some(handle) = &self.handle else { return };
        self.log.asdu(&self.name, &asdu, None, now).await;
        self.stats.asdus.fetch_add(1, Ordering::Relaxed);
        // Waiting events can be many (queue_size per group and station): keep them in exact-size
        // buffers, not in the builder's spare capacity.
        let asdu = Bytes::copy_from_slice(&asdu);
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
        self.end_quality_faults(t).await;
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
                FaultKind::Quality => self.begin_quality_fault(t, &spec).await,
                FaultKind::ProtectionTrip => self.protection_trip(&spec).await,
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
                        self.tasks.spawn(async move {
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

    async fn on_server_event(&mut self, handle: &ServerHandle, event: ServerEvent) {
        match event {
            ServerEvent::Connected { conn, peer, group } => {
                tracing::info!(station = %self.name, %conn, %peer, group = group.0, "client connected");
                if self.mute_until.is_some() {
                    handle.set_mute(conn, true);
                }
                let (tx, rx) = mpsc::channel(RESPONSE_BATCHES);
                self.tasks
                    .spawn(respond(handle.clone(), conn, rx, self.delay_ms.clone()));
                self.responders.insert(conn, tx);
            }
            ServerEvent::Refused { peer } => {
                tracing::info!(station = %self.name, %peer, "client refused");
            }
            ServerEvent::TlsRefused { peer, error } => {
                tracing::warn!(station = %self.name, %peer, kind = error.kind(), "TLS handshake refused: {error}");
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
        self.reply(conn, batch, false);
    }

    /// As [`Station::respond`], after every event enqueued so far for the connection's group
    /// (a command's ActTerm after the events the command caused).
    fn respond_after_events(&self, conn: ConnectionId, batch: Vec<Bytes>) {
        self.reply(conn, batch, true);
    }

    fn reply(&self, conn: ConnectionId, asdus: Vec<Bytes>, after_events: bool) {
        if let Some(tx) = self.responders.get(&conn) {
            if tx
                .try_send(Reply {
                    asdus,
                    after_events,
                })
                .is_err()
            {
                tracing::warn!(station = %self.name, %conn, "responses dropped: the client reads too slowly");
            }
        }
    }

    /// Logs a received ASDU with its outcome.
    async fn log_command(&self, asdu: &Asdu, outcome: &str) {
        tracing::debug!(station = %self.name, outcome, "command");
        self.log
            .asdu(&self.name, asdu.as_bytes(), Some(outcome), self.now_utc())
            .await;
    }

    /// Sends the answer to `asdu` with cause `cause` and P/N `negative` (`AsduView::reply`).
    fn answer(&self, conn: ConnectionId, asdu: &Asdu, cause: Cause, negative: bool) {
        self.respond(conn, vec![asdu.view().reply(cause, negative).into_bytes()]);
    }

    /// Refuses `asdu` with a negative answer of `cause` and logs the outcome.
    async fn refuse(&self, conn: ConnectionId, asdu: &Asdu, cause: Cause, outcome: &str) {
        self.answer(conn, asdu, cause, true);
        self.log_command(asdu, outcome).await;
    }
}

/// Sends a connection's response batches in order, after the fault delay if one is set.
async fn respond(
    handle: ServerHandle,
    conn: ConnectionId,
    mut rx: mpsc::Receiver<Reply>,
    delay_ms: Arc<AtomicU64>,
) {
    while let Some(reply) = rx.recv().await {
        let delay = delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        for asdu in reply.asdus {
            let sent = if reply.after_events {
                handle.send_to_after_events(conn, asdu).await
            } else {
                handle.send_to(conn, asdu).await
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod phase_tests {
    use super::*;

    #[test]
    fn phases_lie_within_a_tick_and_spread_over_it() {
        // Seeds as the scenario runner derives them for stations 0..100 of one run.
        let seed = 42u64;
        let mut buckets = [0u32; 10];
        for i in 0..100u64 {
            let p = tick_phase(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert!(p < TICK, "{p:?}");
            let b = (p.as_micros() * 10 / TICK.as_micros()) as usize;
            buckets[b] += 1;
        }
        // 100 stations over ten 10 ms slices: none empty, none holding a third of them.
        assert!(buckets.iter().all(|&n| (1..34).contains(&n)), "{buckets:?}");
        // The same seed always gives the same phase (runs are reproducible).
        assert_eq!(tick_phase(7), tick_phase(7));
    }
}
