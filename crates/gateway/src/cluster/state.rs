//! The cluster's decisions, sans I/O: inputs are presence messages, beats, the broker
//! connection, session reports and the time (passed in); outputs are the wanted [`Role`] of
//! every RTU and our own presence to publish.
//!
//! Rules (see docs/failover.md and docs/gateway.md, "Cluster"):
//! - *Acting* means: connected to the broker, the echo of our latest presence publication came
//!   back through our subscription (so the retained presence of every node, delivered on
//!   subscribe before the echo, is in the view), and our own beats come back within the
//!   liveness window (1.5 heartbeats). After that first echo on a broker connection, only a
//!   publication that drops an RTU whose connection was lost (we may have been fenced, over a
//!   dead link) stops acting until its echo; otherwise the beats' round trips watch the link
//!   (waiting for the echo of every change starved a node whose changes came faster than
//!   their echoes, e.g. 3,000 RTUs coming up).
//! - Not acting (partition, startup, a presence change in flight): no new RTU is taken; roles
//!   are kept, except that an Active RTU whose connection was lost goes to Standby (we may have
//!   been fenced by a node that took it over: do not fight back).
//! - Acting: the live nodes are the online ones heard (presence or beat) within the liveness
//!   window. Owner = preferred node if live, else the highest rendezvous score. If the owner is
//!   us: Active, unless another live node (online or leaving) still lists the RTU as started:
//!   then Standby, first until our own connection is up, then until it drops it or
//!   `handover_timeout` passes. Before any other node was heard, RTUs nobody holds wait for the
//!   startup grace. If the owner is someone else: we keep carrying a started RTU until the
//!   owner lists it as `ready` (connected); then Standby when we are among the next `standby`
//!   nodes of the ranking, else Off; a started session first stops data transfer (STOPDT,
//!   confirmed).
//! - Leaving (SIGTERM): presence `leaving`, every RTU Off (STOPDT first); done when nothing
//!   is started any more and that presence was echoed.
//! - Our state goes out numbered (`seq`) at most once per coalescing window, as a retained
//!   presence and a delta; the echo that syncs is the one with our latest number. Other nodes'
//!   states come from presences, snapshots and deltas (membership.rs); a node whose beats
//!   announce a state we do not have, or whose delta does not follow, is asked for a snapshot.
//!   A will about a node whose beats still come is held back and dropped when one comes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use std::collections::{BTreeMap, HashMap};

use super::membership::{Alarm, Delta, DeltaOutcome, Presence, View, LEAVING, OFFLINE, ONLINE};
use super::ownership::ranking;
use super::pacer::Pacer;
use super::paths::Paths;
use crate::model::{Report, Role};

/// Publications of one kind (deltas, full presences) that may go out back to back before
/// `coalesce` / `presence_every` paces them (see [`Pacer`]).
pub const BURST: u32 = 3;

/// Fixed settings of the state machine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Our node id.
    pub me: String,
    /// Random hex, new per process.
    pub incarnation: String,
    /// Hash of the shared configuration.
    pub config_hash: String,
    /// Further nodes keeping a hot standby connection per RTU.
    pub standby: usize,
    /// Time a new owner waits for the previous one to release an RTU.
    pub handover_timeout: Duration,
    /// A node not heard from (presence or beat) for this long is not live, and we do not act
    /// while our own beats do not come back within it (1.5 heartbeats).
    pub liveness: Duration,
    /// After the first sync of the process, RTUs nobody holds are started only after this
    /// (nodes started together hear of each other first).
    pub startup_grace: Duration,
    /// After a reconnection to the broker, RTUs nobody holds are started only after this
    /// (the other nodes may be reconnecting too, with their own backoff).
    pub reconnect_hold: Duration,
    /// On average at most one publication of our state (presence and delta) per this window,
    /// in bursts of at most [`BURST`]: a long burst of changes goes out as a few messages
    /// (zero: every change at once).
    pub coalesce: Duration,
    /// The full (retained) presence goes out on average at most once per this window, in
    /// bursts of at most [`BURST`] (a change of status, leaving and the first
    /// publication on a connection at once); the deltas carry every change in between.
    /// Zero: with every delta.
    pub presence_every: Duration,
    /// A last will about a node whose beats we hear is acted on only once no beat of that
    /// incarnation came for this long after its latest one (a late will from another broker
    /// node about a node that is alive moves nothing). Zero: wills act at once.
    pub will_wait: Duration,
    /// A node whose beats announce a state newer than the one we know for this long is asked
    /// for a snapshot (a delta missed or still on its way); a delta that does not follow
    /// asks at once. Also the shortest time between two requests to one node.
    pub snapshot_after: Duration,
    /// The coordination connection down and the data connection up for this long: the others
    /// have declared us dead and carry our RTUs, which go to Standby (see
    /// [`ClusterState::data_link`]).
    pub coordination_loss_hold: Duration,
}

/// One RTU as the cluster sees it.
#[derive(Debug, Clone)]
pub struct RtuState {
    /// Name.
    pub name: String,
    /// Preferred owner.
    pub preferred: Option<String>,
    /// The session reported data transfer started (and not stopped or closed since).
    pub started: bool,
    /// The session has a connection (reported connected, not closed since).
    pub connected: bool,
    /// The role we asked for.
    pub role: Role,
    /// Connection lost since the last synced decision.
    lost: bool,
    /// Since when we own it but wait for another holder to release it.
    waiting_since: Option<Instant>,
    /// Presence messages seen when data transfer started (a logical clock): an owner's
    /// claim to be ready counts only if it came after that.
    started_seq: u64,
}

/// A decided change of role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Index of the RTU.
    pub rtu: usize,
    /// The new role.
    pub role: Role,
    /// Why (for logs).
    pub reason: &'static str,
}

/// The result of one step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Roles to hand to the sessions.
    pub changes: Vec<Change>,
    /// Our presence, to publish (retained) when it changed.
    pub publish: Option<Presence>,
    /// Call `step` again at this time at the latest.
    pub wake_at: Option<Instant>,
    /// Publish a beat now (a will arrived: we act on it only once a beat of ours made the
    /// round trip after it, which proves our own link is alive — a broker shutting down
    /// delivers the wills of the clients it disconnects first to those still connected).
    pub probe: bool,
    /// The change from our previous announced state to `publish` (QoS 1, not retained).
    pub delta: Option<Delta>,
    /// Our announced state in full, asked for by another node (QoS 1, not retained).
    pub snapshot: Option<Presence>,
    /// Nodes to ask for a snapshot of their state.
    pub requests: Vec<String>,
}

/// A last will held back while the node's beats may still come.
#[derive(Debug, Clone)]
struct HeldWill {
    at: Instant,
    incarnation: String,
    payload: Vec<u8>,
}

/// The decision state of one node.
#[derive(Debug, Clone)]
pub struct ClusterState {
    settings: Settings,
    view: View,
    rtus: Vec<RtuState>,
    connected: bool,
    synced: bool,
    ever_synced: bool,
    /// Our presence has been echoed at least once on this broker connection.
    echoed_on_connection: bool,
    leaving: bool,
    /// (status, active, ready) of our latest publication.
    published: Option<(String, Vec<String>, Vec<String>)>,
    since: String,
    /// When each other node was last heard from (presence or beat).
    heard: std::collections::BTreeMap<String, Instant>,
    /// When our own presence or beat last came back.
    own_heard: Option<Instant>,
    /// When the process first synced.
    first_sync: Option<Instant>,
    /// A node went offline at this time: act only once our own beat or presence came back
    /// after it.
    probe_after: Option<Instant>,
    probe_pending: bool,
    /// The broker connection came back after we had acted: the others may be reconnecting too
    /// (a broker restart publishes everyone's will), so for one liveness window after our echo
    /// no RTU is taken that nobody holds.
    reconnected: bool,
    hold_until: Option<Instant>,
    /// Nodes live when our broker connection went down, and those heard alive (online
    /// presence or beat) since it came back: the hold ends once all of them are back.
    expect_back: BTreeSet<String>,
    back: BTreeSet<String>,
    /// Nodes whose will arrived and our probe has not come back since (the broker may be
    /// going down: they count as live when our connection drops).
    unconfirmed_offline: BTreeSet<String>,
    /// RTUs a node that is still there dropped from its `active` (a deliberate handover, e.g.
    /// to us): no reconnection hold for them.
    handed: BTreeSet<String>,
    /// Presence messages of other nodes seen so far (a logical clock) and the value at each
    /// node's latest one.
    seq: u64,
    presence_seq: std::collections::BTreeMap<String, u64>,
    /// Resumed from a pause: publish our presence again once acting (a fresh claim, newer
    /// than what the others did meanwhile).
    republish: bool,
    /// Our own last will came back while we live (a late will, published by a broker node
    /// that lost our connection while we went on through another): the retained presence
    /// says `offline`, so the full presence goes out again at once.
    own_will: bool,
    /// Another node newly claims an RTU we carry too (RTUs that do not fence): publish our
    /// presence again, so that the one that is not the owner yields.
    reannounce: bool,
    /// The previous step (steps come at least every beat period while the process runs).
    last_step: Option<Instant>,
    /// We were not running for longer than the liveness window (SIGSTOP, a stalled VM) and
    /// resumed at this time: the others' silence meanwhile says nothing about them.
    resumed_at: Option<Instant>,
    /// RTUs another node (online or leaving) listed as started since our start: known to be
    /// carried, they need no startup grace when released (their holder is known).
    seen_held: BTreeSet<String>,
    /// Our started RTUs that another node just stopped holding: our status must be published
    /// again (theirs may be the last one the broker retains).
    refresh: Vec<usize>,
    /// RTU index by name.
    index: HashMap<String, usize>,
    /// The number of our latest announced state, that state, and when it went out.
    seq_out: u64,
    announced: Presence,
    delta_pacer: Pacer,
    /// A change of our state waits for the end of the coalescing window.
    unannounced: bool,
    /// The state number, time and status of our latest full (retained) presence.
    full_seq: u64,
    /// Paces the full presence (see [`BURST`]).
    full_pacer: Pacer,
    full_status: String,
    /// The next full presence unsyncs until its echo; the number of the latest echo.
    echo_needed: bool,
    echoed_seq: u64,
    /// An RTU left our `active` since the latest full presence.
    release_pending: bool,
    /// Another node asked for our state; when our latest snapshot went out.
    snapshot_asked: bool,
    last_snapshot: Option<Instant>,
    /// Each other node's latest beat: when, its incarnation and the state number it announced.
    beats: BTreeMap<String, (Instant, String, u64)>,
    /// Since when our view of a node is behind its beats; nodes to ask at once (a gap); when
    /// each node was last asked.
    behind: BTreeMap<String, Instant>,
    ask: BTreeMap<String, (String, u64)>,
    asked: BTreeMap<String, Instant>,
    /// Wills held back (see [`Settings::will_wait`]), and how many turned out late.
    wills: BTreeMap<String, HeldWill>,
    late_wills: u64,
    /// Which node reaches which RTU: path failover and orphans (see [`super::paths`]).
    paths: Paths,
    /// RTUs no live node reaches whose `unowned` status and commands are ours (we rank first).
    orphans: BTreeSet<usize>,
    /// The live nodes (we among them unless leaving) of the latest acting step, by id.
    live_now: Vec<String>,
    /// The data connection is up (see [`ClusterState::data_link`]).
    data_connected: bool,
    /// The first step that saw the coordination connection down with the data connection up.
    coordination_lost_at: Option<Instant>,
}

#[cfg(test)]
impl Settings {
    /// Settings for virtual-time tests: incarnation `inc-{me}`, configuration hash `h`, one
    /// standby, and nothing that acts on its own (no grace, no coalescing, no will wait;
    /// liveness and holds of an hour). Tests override what they exercise.
    pub(crate) fn quiet(me: &str) -> Settings {
        Settings {
            me: me.into(),
            incarnation: format!("inc-{me}"),
            config_hash: "h".into(),
            standby: 1,
            handover_timeout: Duration::from_secs(5),
            liveness: Duration::from_secs(3600),
            startup_grace: Duration::ZERO,
            reconnect_hold: Duration::from_secs(3600),
            coalesce: Duration::ZERO,
            presence_every: Duration::ZERO,
            will_wait: Duration::ZERO,
            snapshot_after: Duration::from_millis(100),
            coordination_loss_hold: Duration::from_secs(3600),
        }
    }
}

impl ClusterState {
    /// A node with `rtus` (name, preferred node), every role Off until the first sync.
    pub fn new(settings: Settings, rtus: Vec<(String, Option<String>)>) -> ClusterState {
        let view = View::new(&settings.me, &settings.incarnation, &settings.config_hash);
        let index = rtus
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.clone(), i))
            .collect();
        ClusterState {
            index,
            seq_out: 0,
            announced: Presence::default(),
            delta_pacer: Pacer::new(settings.coalesce, BURST),
            unannounced: false,
            full_seq: 0,
            full_pacer: Pacer::new(settings.presence_every, BURST),
            full_status: String::new(),
            echo_needed: false,
            echoed_seq: 0,
            release_pending: false,
            snapshot_asked: false,
            last_snapshot: None,
            beats: BTreeMap::new(),
            behind: BTreeMap::new(),
            ask: BTreeMap::new(),
            asked: BTreeMap::new(),
            wills: BTreeMap::new(),
            late_wills: 0,
            settings,
            view,
            rtus: rtus
                .into_iter()
                .map(|(name, preferred)| RtuState {
                    name,
                    preferred,
                    started: false,
                    connected: false,
                    role: Role::Off,
                    lost: false,
                    waiting_since: None,
                    started_seq: 0,
                })
                .collect(),
            connected: false,
            synced: false,
            ever_synced: false,
            echoed_on_connection: false,
            leaving: false,
            published: None,
            since: String::new(),
            heard: std::collections::BTreeMap::new(),
            own_heard: None,
            first_sync: None,
            seen_held: BTreeSet::new(),
            probe_after: None,
            probe_pending: false,
            reconnected: false,
            hold_until: None,
            expect_back: BTreeSet::new(),
            back: BTreeSet::new(),
            unconfirmed_offline: BTreeSet::new(),
            handed: BTreeSet::new(),
            last_step: None,
            resumed_at: None,
            seq: 0,
            presence_seq: std::collections::BTreeMap::new(),
            republish: false,
            own_will: false,
            reannounce: false,
            refresh: Vec::new(),
            paths: Paths::new(Duration::from_secs(3)),
            orphans: BTreeSet::new(),
            live_now: Vec::new(),
            data_connected: false,
            coordination_lost_at: None,
        }
    }

    /// Sets `[cluster] path_failover` (default 3 s): how long after the end of a node's
    /// connection to an RTU a node that still reaches it takes over (see [`super::paths`]).
    pub fn with_path_failover(mut self, path_failover: Duration) -> ClusterState {
        self.paths = Paths::new(path_failover);
        self
    }

    /// RTUs (by index) no live node reaches whose `unowned` status we publish and whose
    /// commands we answer, as of the latest acting step.
    pub fn orphans(&self) -> &BTreeSet<usize> {
        &self.orphans
    }

    /// Whether we answer commands for RTU names not in the configuration: we are the live
    /// node with the smallest id (every node computes the same from the same live set).
    pub fn answers_unknown(&self) -> bool {
        self.live_now.first().map(String::as_str) == Some(self.settings.me.as_str())
    }

    /// Whether `node` has a connection to RTU `r` (ours from our sessions' reports).
    fn reaches(&self, r: &RtuState, node: &str) -> bool {
        if node == self.settings.me {
            r.connected
        } else {
            self.view.ready(node, &r.name)
        }
    }

    /// The ranking of `r` among `candidates` with the nodes that lost their path to it last.
    fn path_rank<'a>(&self, i: usize, r: &RtuState, candidates: &[&'a str]) -> Vec<&'a str> {
        let base = ranking(&r.name, r.preferred.as_deref(), candidates);
        self.paths.order(i, base, |n| self.reaches(r, n))
    }

    /// Observes every RTU's paths (while the view is trusted: see [`ClusterState::step`]),
    /// notes the orphans that are ours and the live nodes.
    fn observe_paths(&mut self, candidates: &[&str], now: Instant, out: &mut Output) {
        let expected = 1 + self.settings.standby;
        let mut orphans = BTreeSet::new();
        for i in 0..self.rtus.len() {
            let r = &self.rtus[i];
            let rank = self.path_rank(i, r, candidates);
            let reach: Vec<bool> = rank.iter().map(|n| self.reaches(r, n)).collect();
            let reaches = |n: &str| rank.iter().position(|x| *x == n).is_some_and(|k| reach[k]);
            let carried = r.started || self.view.holders(&r.name).any(|h| self.fresh(h, now));
            if let Some(at) = self
                .paths
                .observe(i, &rank, expected, reaches, carried, now)
            {
                wake(out, now, at);
            }
            if self.paths.orphan(i, now) && rank.first() == Some(&self.settings.me.as_str()) {
                orphans.insert(i);
            }
        }
        self.orphans = orphans;
        let mut live: Vec<String> = candidates.iter().map(|n| (*n).to_owned()).collect();
        live.sort();
        self.live_now = live;
    }

    /// The coordination connection (presence, beats, deltas, snapshots) came up or went down.
    /// Up: the view is trusted again only after the echo of our presence (republished on every
    /// connection). Down: not acting (see [`ClusterState::data_link`] for what the data
    /// connection's state adds).
    pub fn coordination(&mut self, connected: bool) {
        if connected && self.ever_synced {
            self.reconnected = true;
        }
        if !connected {
            self.handed.clear();
            if self.connected {
                let at = self.last_step;
                self.expect_back = self
                    .view
                    .live_others()
                    .filter(|n| at.is_some_and(|t| self.fresh(n, t)))
                    .map(str::to_owned)
                    .chain(self.unconfirmed_offline.iter().cloned())
                    .collect();
            }
        } else {
            self.back.clear();
        }
        self.connected = connected;
        self.synced = false;
        self.echoed_on_connection = false;
    }

    /// The data connection (RTU data, statuses, commands) came up or went down. Its loss alone
    /// changes no role: the data waits in the store and our beats still prove us alive on the
    /// coordination connection. It matters only while the coordination connection is down
    /// too: with the data connection up for the whole of `coordination_loss_hold` after the
    /// coordination connection was lost, the broker is reachable and the others have declared
    /// us dead (our will, or our beats stopped): every Active RTU goes to Standby, or our data
    /// would duplicate theirs. With both down (the broker unreachable) the partition rule
    /// holds: started RTUs are kept and their data waits in the store.
    pub fn data_link(&mut self, connected: bool) {
        self.data_connected = connected;
        if !connected {
            self.coordination_lost_at = None;
        }
    }

    /// The coordination connection has been down, the data connection up, for the whole of
    /// `coordination_loss_hold` at `now` (see [`ClusterState::data_link`]); else when that will be.
    fn declared_dead(&mut self, now: Instant) -> Result<bool, Instant> {
        if self.connected || !self.data_connected || !self.ever_synced {
            self.coordination_lost_at = None;
            return Ok(false);
        }
        let since = *self.coordination_lost_at.get_or_insert(now);
        let at = since + self.settings.coordination_loss_hold;
        if now >= at {
            Ok(true)
        } else {
            Err(at)
        }
    }

    /// A beat of `node` (`{prefix}/_cluster/{node}/beat`, carrying its incarnation) at `now`,
    /// without a state number (see [`ClusterState::beat_seq`]).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn beat(&mut self, node: &str, incarnation: &[u8], now: Instant) {
        self.beat_seq(node, incarnation, 0, now);
    }

    /// A beat of `node` carrying its incarnation and the number of its latest announced state
    /// (0: none) at `now`. A view behind it asks for a snapshot; a held will of that
    /// incarnation was late (the node is alive) and is dropped.
    pub fn beat_seq(&mut self, node: &str, incarnation: &[u8], seq: u64, now: Instant) {
        if node != self.settings.me {
            let inc = String::from_utf8_lossy(incarnation).into_owned();
            if self
                .wills
                .get(node)
                .is_some_and(|w| w.incarnation == inc && now > w.at)
            {
                self.wills.remove(node);
                self.late_wills += 1;
            }
            self.beats.insert(node.to_owned(), (now, inc, seq));
        }
        if node == self.settings.me {
            if incarnation == self.settings.incarnation.as_bytes() && self.connected {
                self.own_heard = Some(now);
            }
        } else {
            self.heard.insert(node.to_owned(), now);
            // Back (after our reconnection) once its beat finds our view of it current: a
            // retained presence can be older than what it did while we were away.
            let inc = String::from_utf8_lossy(incarnation);
            if !self.view.behind(node, &inc, seq) {
                self.back.insert(node.to_owned());
            }
        }
    }

    fn fresh(&self, node: &str, now: Instant) -> bool {
        let within = |t: Instant| now.saturating_duration_since(t) <= self.settings.liveness;
        // After we resumed from a pause, every node gets a whole window to be heard again.
        self.heard.get(node).is_some_and(|t| within(*t))
            || (self.heard.contains_key(node) && self.resumed_at.is_some_and(within))
    }

    fn own_fresh(&self, now: Instant) -> bool {
        self.own_heard
            .is_some_and(|t| now.saturating_duration_since(t) <= self.settings.liveness)
    }

    /// A message on `{prefix}/_cluster/{node}` (retained) or `.../state` (a snapshot) at
    /// `now`.
    pub fn presence(&mut self, node: &str, payload: &[u8], now: Instant) -> Vec<Alarm> {
        if node != self.settings.me && !self.settings.will_wait.is_zero() {
            if let Some(incarnation) = self.view.offline_of_known(node, payload) {
                if self.beats.contains_key(node) {
                    // Its beats may still come: the will may be a late one (another broker
                    // node's, about a node that reconnected elsewhere).
                    self.wills.insert(
                        node.to_owned(),
                        HeldWill {
                            at: now,
                            incarnation,
                            payload: payload.to_vec(),
                        },
                    );
                    return Vec::new();
                }
            }
        }
        self.wills.remove(node);
        let applied = self.view.apply(node, payload, self.echoed_on_connection);
        self.absorb(node, applied, now)
    }

    /// A message on `{prefix}/_cluster/{node}/delta` at `now`.
    pub fn delta(&mut self, node: &str, payload: &[u8], now: Instant) -> Vec<Alarm> {
        match self.view.apply_delta(node, payload) {
            DeltaOutcome::Applied(applied) => self.absorb(node, applied, now),
            DeltaOutcome::Stale => Vec::new(),
            DeltaOutcome::Gap { incarnation, seq } => {
                self.ask.insert(node.to_owned(), (incarnation, seq));
                Vec::new()
            }
            DeltaOutcome::Unreadable(a) => vec![a],
        }
    }

    /// A request for our state (`{prefix}/_cluster/{me}/sync`): a snapshot goes out (at most
    /// one per coalescing window, whoever asked).
    pub fn sync_request(&mut self) {
        self.snapshot_asked = true;
    }

    /// How many wills about a node whose beats went on were dropped as late.
    pub fn late_wills(&self) -> u64 {
        self.late_wills
    }

    /// What one applied presence, snapshot or delta of `node` means for the decisions.
    fn absorb(
        &mut self,
        node: &str,
        applied: super::membership::Applied,
        now: Instant,
    ) -> Vec<Alarm> {
        if applied.went_offline && node != self.settings.me {
            self.probe_after = Some(now);
            self.probe_pending = true;
            self.unconfirmed_offline.insert(node.to_owned());
        }
        if node != self.settings.me {
            self.seq += 1;
            self.presence_seq.insert(node.to_owned(), self.seq);
        }
        if node != self.settings.me
            && applied.claimed.iter().any(|c| {
                self.index
                    .get(c)
                    .is_some_and(|i| self.rtus.get(*i).is_some_and(|r| r.started))
            })
        {
            self.reannounce = true;
        }
        if applied.still_there && node != self.settings.me {
            self.handed.extend(applied.released.iter().cloned());
        }
        for name in &applied.released {
            if let Some(&i) = self.index.get(name) {
                if self.rtus.get(i).is_some_and(|r| r.started) && !self.refresh.contains(&i) {
                    self.refresh.push(i);
                }
            }
        }
        if node != self.settings.me {
            self.heard.insert(node.to_owned(), now);
            for c in &applied.claimed {
                if self.index.contains_key(c) {
                    self.seen_held.insert(c.clone());
                }
            }
        }
        if let Some(echo) = &applied.echo {
            if echo.status == OFFLINE && !self.leaving {
                tracing::warn!("cluster: our own last will came back while we run (a late will): presence published again");
                self.own_will = true;
            }
        }
        if let Some(echo) = applied.echo {
            if self.connected && self.full_seq > 0 && echo.seq == self.full_seq {
                self.echoed_seq = echo.seq;
                self.synced = true;
                self.ever_synced = true;
                self.echoed_on_connection = true;
                self.own_heard = Some(now);
                if std::mem::take(&mut self.reconnected) {
                    self.hold_until = Some(now + self.settings.reconnect_hold);
                }
            }
        }
        applied.alarms
    }

    /// A session report for RTU `rtu`.
    pub fn session(&mut self, rtu: usize, report: Report) {
        if let Some(r) = self.rtus.get_mut(rtu) {
            match report {
                Report::Connected => r.connected = true,
                Report::Started => {
                    r.started = true;
                    r.connected = true;
                    r.started_seq = self.seq;
                }
                Report::Stopped => r.started = false,
                Report::Closed => {
                    r.started = false;
                    r.connected = false;
                    r.lost = true;
                }
            }
        }
    }

    /// Our started RTUs whose status must be published again, since the last call.
    pub fn take_refresh(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.refresh)
    }

    /// SIGTERM: hand every RTU over and leave.
    pub fn leave(&mut self) {
        self.leaving = true;
    }

    /// Sets the RFC 3339 time put in the next presence publications.
    pub fn set_since(&mut self, since: String) {
        self.since = since;
    }

    /// Sets the RFC 3339 time this process started (see [`View::set_started`]).
    pub fn set_started(&mut self, started: &str) {
        self.view.set_started(started);
    }

    /// Leaving and nothing started any more, and that was published and echoed (or the
    /// broker is unreachable, when nobody can be told anyway).
    pub fn left(&self) -> bool {
        self.leaving
            && self.rtus.iter().all(|r| !r.started)
            && ((self.synced && !self.unannounced && self.echoed_seq == self.seq_out)
                || !self.connected)
    }

    /// Live nodes at `now`: other online nodes heard within the liveness window, and us.
    pub fn live_members(&self, now: Instant) -> usize {
        self.view
            .live_others()
            .filter(|n| self.fresh(n, now))
            .count()
            + 1
    }

    /// The number of our latest announced state (0: none yet).
    pub fn announced_seq(&self) -> u64 {
        self.seq_out
    }

    /// Our incarnation.
    pub fn incarnation(&self) -> &str {
        &self.settings.incarnation
    }

    /// Whether the view can be acted on.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The RTUs.
    pub fn rtus(&self) -> &[RtuState] {
        &self.rtus
    }

    /// The view.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// Our presence as it should be now.
    pub fn presence_now(&self, status: &str) -> Presence {
        Presence {
            node: self.settings.me.clone(),
            status: status.to_owned(),
            incarnation: self.settings.incarnation.clone(),
            config_hash: self.settings.config_hash.clone(),
            active: self.active(),
            ready: self.ready(),
            since: self.since.clone(),
            seq: self.seq_out,
        }
    }

    fn ready(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .rtus
            .iter()
            .filter(|r| r.connected && !r.started)
            .map(|r| r.name.as_str())
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }

    fn active(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .rtus
            .iter()
            .filter(|r| r.started)
            .map(|r| r.name.as_str())
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// Decides: our presence first (a change unsyncs until its echo), then every role.
    pub fn step(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        self.note_pause(now);
        self.release_wills(now, &mut out);
        self.presence_step(now, &mut out);
        self.snapshot_step(now, &mut out);
        self.request_step(now, &mut out);
        // Acting needs the echo of our latest presence and our own beats coming back.
        let probed = match (self.probe_after, self.own_heard) {
            (Some(after), Some(heard)) => heard > after,
            (Some(_), None) => false,
            (None, _) => true,
        };
        if probed {
            self.unconfirmed_offline.clear();
        }
        let acting = self.synced && self.own_fresh(now) && probed;
        out.probe = std::mem::take(&mut self.probe_pending);
        // The hold lasts until every node live before our outage was heard again (or its end).
        let hold_end = self
            .hold_until
            .filter(|h| now < *h)
            .filter(|_| !self.expect_back.is_subset(&self.back));
        if let Some(h) = hold_end {
            out.wake_at = Some(out.wake_at.map_or(h, |w: Instant| w.min(h)));
        }
        if acting && self.first_sync.is_none() {
            self.first_sync = Some(now);
        }
        let margin = Duration::from_millis(1);
        if let Some(t) = self.own_heard {
            wake(&mut out, now, t + self.settings.liveness + margin);
        }
        for t in self.heard.values() {
            wake(&mut out, now, *t + self.settings.liveness + margin);
        }
        let me = self.settings.me.clone();
        let mut owned: Vec<String> = self
            .view
            .live_others()
            .filter(|n| self.fresh(n, now))
            .map(str::to_owned)
            .collect();
        if !self.leaving {
            owned.push(me.clone());
        }
        let candidates: Vec<&str> = owned.iter().map(String::as_str).collect();
        // Paths are observed while acting, and also while only the echo of our own latest
        // presence is pending (it changes with every connection we lose or win): our own path
        // loss then counts from the step that saw it, not from the echo, so we never demote
        // ourselves later than the others demote us.
        if acting || (self.connected && self.ever_synced && self.own_fresh(now) && probed) {
            self.observe_paths(&candidates, now, &mut out);
        }
        let declared_dead = match self.declared_dead(now) {
            Ok(dead) => dead,
            Err(at) => {
                wake(&mut out, now, at);
                false
            }
        };
        let round = Round {
            now,
            acting,
            declared_dead,
            hold_end,
            grace_end: self.first_sync.map(|t| t + self.settings.startup_grace),
            me: &me,
            candidates: &candidates,
        };
        let decided: Vec<Decision> = self
            .rtus
            .iter()
            .enumerate()
            .map(|(i, r)| self.decide(i, r, &round, &mut out))
            .collect();
        self.apply(decided, acting, &mut out);
        out
    }

    /// A pause longer than the liveness (a frozen process, a suspended VM): check our own link
    /// first (probe) and give the others a window to be heard before anything moves.
    fn note_pause(&mut self, now: Instant) {
        if let Some(prev) = self.last_step.replace(now) {
            if now.saturating_duration_since(prev) > self.settings.liveness {
                self.resumed_at = Some(now);
                self.probe_after = Some(now);
                self.probe_pending = true;
                self.republish = true;
            }
        }
    }

    /// Held wills whose node stayed silent for `will_wait` after its latest beat: applied now.
    fn release_wills(&mut self, now: Instant, out: &mut Output) {
        let wait = self.settings.will_wait;
        let due: Vec<String> = self
            .wills
            .iter()
            .filter_map(|(node, w)| {
                let last = self.beats.get(node).map_or(w.at, |b| b.0);
                let at = (last + wait).max(w.at);
                if now >= at {
                    Some(node.clone())
                } else {
                    wake(out, now, at);
                    None
                }
            })
            .collect();
        for node in due {
            if let Some(w) = self.wills.remove(&node) {
                let applied = self
                    .view
                    .apply(&node, &w.payload, self.echoed_on_connection);
                let _ = self.absorb(&node, applied, now);
            }
        }
    }

    /// A snapshot of our announced state when asked for, at most one per coalescing window.
    fn snapshot_step(&mut self, now: Instant, out: &mut Output) {
        if !self.snapshot_asked || self.seq_out == 0 {
            return;
        }
        if let Some(at) = self.last_snapshot.map(|t| t + self.settings.coalesce) {
            if now < at {
                wake(out, now, at);
                return;
            }
        }
        self.snapshot_asked = false;
        self.last_snapshot = Some(now);
        out.snapshot = Some(self.announced.clone());
    }

    /// Asks the nodes whose beats announce a state we do not have (for `snapshot_after`), or
    /// whose delta did not follow what we know, for a snapshot.
    fn request_step(&mut self, now: Instant, out: &mut Output) {
        let after = self.settings.snapshot_after;
        let liveness = self.settings.liveness;
        for (node, (at, inc, seq)) in &self.beats {
            if now.saturating_duration_since(*at) > liveness {
                self.behind.remove(node);
                continue;
            }
            if !self.view.behind(node, inc, *seq) {
                self.behind.remove(node);
                continue;
            }
            let since = *self.behind.entry(node.clone()).or_insert(now);
            if now >= since + after {
                self.ask.insert(node.clone(), (inc.clone(), *seq));
            } else {
                wake(out, now, since + after);
            }
        }
        let ask = std::mem::take(&mut self.ask);
        for (node, (inc, seq)) in ask {
            if !self.view.behind(&node, &inc, seq) {
                continue;
            }
            match self.asked.get(&node).map(|t| *t + after) {
                Some(next) if now < next => {
                    wake(out, now, next);
                    self.ask.insert(node, (inc, seq));
                }
                _ => {
                    self.asked.insert(node.clone(), now);
                    out.requests.push(node);
                }
            }
        }
    }

    /// Our presence: published again when what we announce changed (unsynced until its echo),
    /// at most once per coalescing window, with the delta from the previous one.
    fn presence_step(&mut self, now: Instant, out: &mut Output) {
        if self.republish
            && self.synced
            && self.own_fresh(now)
            && matches!((self.probe_after, self.own_heard), (Some(a), Some(h)) if h > a)
        {
            // Resumed and our link works: announce what we carry now, as a new claim.
            self.republish = false;
            self.published = None;
        }
        if self.reannounce && self.synced {
            self.reannounce = false;
            self.published = None;
        }
        let status = if self.leaving { LEAVING } else { ONLINE };
        let want = (status.to_owned(), self.active(), self.ready());
        if self.published.as_ref() != Some(&want) {
            if let Some(at) = self.delta_pacer.next_allowed() {
                if now < at {
                    wake(out, now, at);
                    self.unannounced = true;
                    return;
                }
            }
            self.unannounced = false;
            self.seq_out += 1;
            let p = self.presence_now(status);
            let delta = Delta::between(&self.announced, &p);
            // Dropping an RTU whose connection was lost (we may have been fenced, and our
            // link may be dead): no decision before the echo of that publication.
            if delta.active_del.iter().any(|name| {
                self.index
                    .get(name)
                    .and_then(|i| self.rtus.get(*i))
                    .is_some_and(|r| r.lost)
            }) {
                self.echo_needed = true;
            }
            // A release goes out in full at once: consumers (and a new owner's watchers) see
            // it in the retained presence before the new owner's status.
            if !delta.active_del.is_empty() {
                self.release_pending = true;
            }
            out.delta = Some(delta);
            self.announced = p;
            self.published = Some(want);
            self.delta_pacer.spend(now);
        }
        self.full_presence_step(now, status, out);
    }

    /// The full (retained) presence, every state in it: at most once per `presence_every`,
    /// at once for a change of status, while leaving, and until the first echo on this
    /// broker connection (which syncs; later publications do not unsync: our beats' round
    /// trips watch the link).
    fn full_presence_step(&mut self, now: Instant, status: &str, out: &mut Output) {
        if self.full_seq == self.seq_out && !self.own_will {
            return;
        }
        let urgent = std::mem::take(&mut self.own_will)
            || self.leaving
            || !self.echoed_on_connection
            || self.echo_needed
            || self.release_pending
            || self.full_status != status;
        let next = self.full_pacer.next_allowed();
        if !urgent && next.is_some_and(|t| now < t) {
            if let Some(t) = next {
                wake(out, now, t);
            }
            return;
        }
        out.publish = Some(self.announced.clone());
        self.full_seq = self.seq_out;
        self.full_pacer.spend(now);
        self.full_status = status.to_owned();
        self.release_pending = false;
        if !self.echoed_on_connection || std::mem::take(&mut self.echo_needed) {
            self.synced = false;
        }
    }

    /// The role `r` should have in this round.
    fn decide(&self, i: usize, r: &RtuState, round: &Round, out: &mut Output) -> Decision {
        if self.leaving {
            (Role::Off, "leaving", None)
        } else if !round.acting {
            if !self.ever_synced {
                (r.role, "not synced yet", None)
            } else if r.role == Role::Active && round.declared_dead {
                (
                    Role::Standby,
                    "coordination lost while our data reaches the broker: the others carry it",
                    None,
                )
            } else if r.role == Role::Active && r.lost && !r.started {
                (
                    Role::Standby,
                    "connection lost while unsynced: maybe fenced",
                    None,
                )
            } else {
                (r.role, "unsynced: roles kept", r.waiting_since)
            }
        } else {
            let rank = self.path_rank(i, r, round.candidates);
            if let Some(d) = self.decide_path(i, r, &rank, round) {
                return d;
            }
            if rank.first() == Some(&round.me) {
                self.decide_owner(r, round, out)
            } else {
                self.decide_other(r, &rank, round.me)
            }
        }
    }

    /// Path failover and orphans (see [`super::paths`]): a role when our path to `r` is lost
    /// (we keep trying in standby through the hold-down) or nobody reaches it (the owner and
    /// the standby nodes keep trying in standby; the first of them publishes it `unowned`).
    fn decide_path(
        &self,
        i: usize,
        r: &RtuState,
        rank: &[&str],
        round: &Round,
    ) -> Option<Decision> {
        let reaches = |n: &str| self.reaches(r, n);
        if !r.started && self.paths.counts_as_demoted(i, round.me, rank, reaches) {
            return Some((
                Role::Standby,
                "our path to it was lost: another node carries it; reconnecting (hold-down)",
                None,
            ));
        }
        if r.started || !self.paths.orphan(i, round.now) {
            return None;
        }
        let tries = rank
            .iter()
            .take(1 + self.settings.standby)
            .any(|n| *n == round.me);
        Some(match (rank.first() == Some(&round.me), tries) {
            (true, _) => (
                Role::Standby,
                "no live node reaches it: we publish it unowned and keep trying",
                None,
            ),
            (false, true) => (Role::Standby, "no live node reaches it: trying", None),
            (false, false) => (
                Role::Off,
                "no live node reaches it; neither owner nor standby",
                None,
            ),
        })
    }

    /// We rank first for `r`.
    fn decide_owner(&self, r: &RtuState, round: &Round, out: &mut Output) -> Decision {
        let now = round.now;
        if r.started {
            (Role::Active, "owner", None)
        } else if !self.view.holders(&r.name).any(|h| self.fresh(h, now)) {
            // Nobody else (live) holds it; a frozen holder is fenced by our STARTDT.
            match round.grace_end {
                // An RTU we never saw carried, in our first heartbeat: nodes started with us
                // may not be heard yet (their views differ).
                Some(end) if now < end && !self.seen_held.contains(&r.name) => {
                    wake(out, now, end);
                    (
                        Role::Standby,
                        "owner, startup grace (hearing of the other nodes)",
                        None,
                    )
                }
                _ if round.hold_end.is_some() && !self.handed.contains(&r.name) => (
                    Role::Standby,
                    "owner, but just reconnected: the others may be reconnecting too",
                    None,
                ),
                _ => (Role::Active, "owner, nobody else holds it", None),
            }
        } else if !r.connected {
            // The holder hands over once we are connected (ready); the timeout runs from
            // then, so a slow connection does not turn a graceful handover into a fence.
            (Role::Standby, "owner, connecting before the handover", None)
        } else {
            let timeout = self.settings.handover_timeout;
            let since = r.waiting_since.unwrap_or(now);
            if now.saturating_duration_since(since) >= timeout {
                (Role::Active, "owner, handover timeout passed", Some(since))
            } else {
                wake(out, now, since + timeout);
                (
                    Role::Standby,
                    "owner, waiting for the holder to release",
                    Some(since),
                )
            }
        }
    }

    /// Another node ranks first for `r`: standby, off, or carrying it until the owner is ready.
    fn decide_other(&self, r: &RtuState, rank: &[&str], me: &str) -> Decision {
        let standby = self.settings.standby;
        let in_set = rank.iter().skip(1).take(standby).any(|n| *n == me);
        let owner = rank.first().copied().unwrap_or_default();
        // Its claim must be newer than our start: a node resuming from a pause still lists
        // what it carried before (and was fenced from meanwhile).
        let claim_newer = self
            .presence_seq
            .get(owner)
            .is_some_and(|s| *s > r.started_seq);
        if r.started && !(self.view.ready(owner, &r.name) && claim_newer) {
            // Hand over only to an owner that has its connection up: the takeover is then one
            // STARTDT, and an owner that cannot reach the RTU never gets it from us.
            (
                Role::Active,
                "carrying it until the owner is connected",
                None,
            )
        } else if in_set {
            (Role::Standby, "standby", None)
        } else {
            (Role::Off, "neither owner nor standby", None)
        }
    }

    /// Records the decisions and reports the changed roles.
    fn apply(&mut self, decided: Vec<Decision>, synced: bool, out: &mut Output) {
        for (i, (r, (role, reason, waiting))) in self.rtus.iter_mut().zip(decided).enumerate() {
            r.waiting_since = waiting;
            if synced {
                r.lost = false;
            }
            if r.role != role {
                r.role = role;
                out.changes.push(Change {
                    rtu: i,
                    role,
                    reason,
                });
            }
        }
    }
}

/// One decision: the role, why, and since when the owner waits for the holder.
type Decision = (Role, &'static str, Option<Instant>);

/// What every decision of one step shares.
struct Round<'a> {
    now: Instant,
    acting: bool,
    /// Coordination lost for `coordination_loss_hold` while the data connection is up.
    declared_dead: bool,
    hold_end: Option<Instant>,
    grace_end: Option<Instant>,
    me: &'a str,
    candidates: &'a [&'a str],
}

/// Wakes the driver at `at` (the earliest of the wake-up times), when it is still ahead.
fn wake(out: &mut Output, now: Instant, at: Instant) {
    if at > now {
        out.wake_at = Some(out.wake_at.map_or(at, |w: Instant| w.min(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ownership::owner;

    const T: Duration = Duration::from_secs(5);

    fn node(me: &str, rtus: &[&str]) -> ClusterState {
        ClusterState::new(
            Settings {
                handover_timeout: T,
                ..Settings::quiet(me)
            },
            rtus.iter().map(|r| (r.to_string(), None)).collect(),
        )
    }

    fn presence(node: &str, status: &str, active: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&Presence {
            node: node.into(),
            status: status.into(),
            incarnation: format!("inc-{node}"),
            config_hash: "h".into(),
            active: active.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .unwrap()
    }

    /// Delivers the echo of what `out` published (as the broker would).
    fn echo(s: &mut ClusterState, out: &Output, now: Instant) {
        if let Some(p) = &out.publish {
            let me = s.settings.me.clone();
            s.presence(&me, &serde_json::to_vec(p).unwrap(), now);
        }
    }

    /// Delivers the echo of our latest announced state (as the broker does on a new
    /// connection: it republishes the retained presence).
    fn echo_own(s: &mut ClusterState, now: Instant) {
        let me = s.settings.me.clone();
        let p = serde_json::to_vec(&s.announced).unwrap();
        s.presence(&me, &p, now);
    }

    fn role_of(s: &ClusterState, rtu: &str) -> Role {
        s.rtus().iter().find(|r| r.name == rtu).unwrap().role
    }

    /// An RTU owned by `a` among {a, b} and one owned by `b`.
    fn split() -> (String, String) {
        let nodes = ["a", "b"];
        let mut of_a = None;
        let mut of_b = None;
        for i in 0..50 {
            let r = format!("s{i}");
            match owner(&r, None, &nodes) {
                Some("a") if of_a.is_none() => of_a = Some(r),
                Some("b") if of_b.is_none() => of_b = Some(r),
                _ => {}
            }
        }
        (of_a.unwrap(), of_b.unwrap())
    }

    /// Node `me` connected and synced with peer `other` online holding `held`.
    fn synced_with(
        me: &str,
        other: &str,
        held: &[&str],
        rtus: &[&str],
        now: Instant,
    ) -> ClusterState {
        let mut s = node(me, rtus);
        s.coordination(true);
        s.presence(other, &presence(other, ONLINE, held), now);
        let out = s.step(now);
        assert!(out.publish.is_some());
        assert!(!s.synced());
        echo(&mut s, &out, now);
        assert!(s.synced());
        s
    }

    #[test]
    fn nothing_happens_before_the_first_echo() {
        let now = Instant::now();
        let mut s = node("a", &["s1"]);
        s.coordination(true);
        let out = s.step(now);
        assert_eq!(
            out.publish.as_ref().map(|p| p.status.as_str()),
            Some(ONLINE)
        );
        assert!(out.changes.is_empty());
        assert_eq!(role_of(&s, "s1"), Role::Off);
        // An echo of a different publication (an old retained one) does not sync.
        s.presence("a", &presence("a", ONLINE, &["s1"]), now);
        assert!(!s.synced());
        echo(&mut s, &out, now);
        let out = s.step(now);
        assert_eq!(out.changes.len(), 1);
        assert_eq!(role_of(&s, "s1"), Role::Active);
    }

    #[test]
    fn each_rtu_has_one_owner_and_a_standby() {
        let now = Instant::now();
        let (ra, rb) = split();
        let rtus = [ra.as_str(), rb.as_str()];
        let mut a = synced_with("a", "b", &[], &rtus, now);
        let mut b = synced_with("b", "a", &[], &rtus, now);
        a.step(now);
        b.step(now);
        assert_eq!(role_of(&a, &ra), Role::Active);
        assert_eq!(role_of(&a, &rb), Role::Standby);
        assert_eq!(role_of(&b, &rb), Role::Active);
        assert_eq!(role_of(&b, &ra), Role::Standby);
    }

    #[test]
    fn takeover_on_will() {
        let now = Instant::now();
        let (ra, _) = split();
        let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
        assert!(b.step(now).changes.iter().all(|c| c.role == Role::Standby));
        // a's last will: offline (its active list no longer counts). First a probe: a broker
        // shutting down delivers the wills of the clients it drops first to the others.
        let t = now + Duration::from_millis(1);
        b.presence("a", &presence("a", "offline", &[]), t);
        let out = b.step(t);
        assert!(out.probe);
        assert!(out.changes.is_empty(), "{out:?}");
        // Our connection drops before the probe comes back (the broker went down): nothing.
        b.coordination(false);
        let out = b.step(t);
        assert!(out.changes.is_empty() && !out.probe, "{out:?}");
        // Up again, our presence echoed: the reconnection hold (the others may be
        // reconnecting too) keeps ra until one liveness window passed.
        b.coordination(true);
        let t = t + Duration::from_millis(5);
        echo_own(&mut b, t);
        assert!(b.step(t).changes.is_empty());
        // a comes back within the window, carrying ra: nothing moves.
        // (hold = liveness, 3600 s in these tests: the hold itself is tested below.)

        // The same will on a live link: the probe's echo comes back, then ra is taken.
        let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
        b.step(now);
        let t = now + Duration::from_millis(1);
        b.presence("a", &presence("a", "offline", &[]), t);
        assert!(b.step(t).probe);
        b.beat("b", b"inc-b", t + Duration::from_millis(1));
        let out = b.step(t + Duration::from_millis(1));
        assert_eq!(out.changes[0].role, Role::Active);
    }

    #[test]
    fn after_a_reconnection_nothing_unheld_is_taken_for_one_liveness_window() {
        // A broker restart: every node's will is retained; the first node back must not take
        // the RTUs of the others, which are reconnecting too.
        let now = Instant::now();
        let (ra, rb) = split();
        let mut b = synced_then_cut("b", &ra, now);
        assert_eq!(role_of(&b, &ra), Role::Standby);
        // Back 1 s later (steps keep coming: no pause of our own).
        let t = now + Duration::from_secs(1);
        b.coordination(true);
        // Retained: a's will (published when the broker went down).
        b.presence("a", &presence("a", "offline", &[]), t);
        echo_own(&mut b, t);
        b.beat("b", b"inc-b", t + Duration::from_millis(1));
        let out = b.step(t + Duration::from_millis(1));
        assert!(out.changes.is_empty(), "{out:?}");
        assert!(out
            .wake_at
            .is_some_and(|w| w <= t + Duration::from_millis(1500)));
        // a reconnects within the window and still carries ra: nothing moves, ever.
        let u = t + Duration::from_millis(400);
        b.presence("a", &presence("a", ONLINE, &[&ra]), u);
        b.beat("b", b"inc-b", u);
        assert!(b.step(u).changes.is_empty());
        let v = t + Duration::from_millis(1400);
        b.beat("b", b"inc-b", v);
        b.beat("a", b"inc-a", v);
        assert!(b.step(t + Duration::from_millis(1600)).changes.is_empty());
        assert_eq!(role_of(&b, &ra), Role::Standby);

        // a does not come back: ra is taken once the window has passed.
        let mut c = synced_then_cut("b", &ra, now);
        c.coordination(true);
        c.presence("a", &presence("a", "offline", &[]), t);
        echo_own(&mut c, t);
        c.beat("b", b"inc-b", t + Duration::from_millis(1));
        assert!(c.step(t + Duration::from_millis(1)).changes.is_empty());
        let w = t + Duration::from_millis(1501);
        c.beat("b", b"inc-b", w);
        let out = c.step(w);
        assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
        // Within the hold, a live node handing an RTU over to us (it drops it and stays
        // online) is no reason to wait: taken at once.
        let mut d = synced_then_cut("b", &rb, now);
        d.coordination(true);
        // (A short outage: steps keep coming, no pause of our own.)
        let t = now + Duration::from_millis(1000);
        d.presence("a", &presence("a", ONLINE, &[&rb]), t);
        echo_own(&mut d, t);
        d.session(0, Report::Connected);
        let out = d.step(t);
        echo(&mut d, &out, t);
        d.beat("b", b"inc-b", t);
        assert!(d.step(t).changes.is_empty());
        let u = t + Duration::from_millis(100);
        d.presence("a", &presence("a", ONLINE, &[]), u);
        d.beat("b", b"inc-b", u);
        let out = d.step(u);
        assert_eq!(out.changes[0].role, Role::Active, "{out:?}");

        // B7: the hold ends once every node live before our outage was heard again; a later
        // failure is ordinary failure detection (no 8 s blindness of a successor).
        let mut e = synced_then_cut("b", &ra, now);
        e.coordination(true);
        let t = now + Duration::from_millis(500);
        e.presence("a", &presence("a", ONLINE, &[&ra]), t);
        echo_own(&mut e, t);
        e.beat("b", b"inc-b", t);
        e.beat("a", b"inc-a", t);
        assert!(e.step(t).changes.is_empty());
        // a dies 200 ms later: its will, our probe comes back, ra is taken at once.
        let u = t + Duration::from_millis(200);
        e.presence("a", &presence("a", "offline", &[]), u);
        assert!(e.step(u).probe);
        let v = u + Duration::from_millis(2);
        e.beat("b", b"inc-b", v);
        let out = e.step(v);
        assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
    }

    #[test]
    fn new_owner_waits_for_release_then_starts() {
        let now = Instant::now();
        let (_, rb) = split();
        // b joins while a holds rb (which b owns among {a, b}).
        let mut b = synced_with("b", "a", &[&rb], &[&rb], now);
        b.session(0, Report::Connected);
        let out = b.step(now);
        echo(&mut b, &out, now);
        let out = b.step(now);
        assert_eq!(role_of(&b, &rb), Role::Standby);
        assert_eq!(out.wake_at, Some(now + T));
        // Still held a second later.
        b.step(now + Duration::from_secs(1));
        assert_eq!(role_of(&b, &rb), Role::Standby);
        // a drops it after its STOPDT con.
        b.presence("a", &presence("a", ONLINE, &[]), now);
        b.step(now + Duration::from_secs(2));
        assert_eq!(role_of(&b, &rb), Role::Active);
    }

    #[test]
    fn handover_timeout_starts_anyway() {
        let now = Instant::now();
        let (_, rb) = split();
        let mut b = synced_with("b", "a", &[&rb], &[&rb], now);
        // Not connected yet: no timer runs (the holder hands over once we are ready).
        b.step(now);
        let out = b.step(now + T * 2);
        assert!(out.changes.is_empty(), "{out:?}");
        assert_eq!(role_of(&b, &rb), Role::Standby);
        let now = now + T * 2;
        b.beat("b", b"inc-b", now);
        b.session(0, Report::Connected);
        let out = b.step(now);
        echo(&mut b, &out, now);
        b.step(now);
        b.step(now + T - Duration::from_millis(1));
        assert_eq!(role_of(&b, &rb), Role::Standby);
        let out = b.step(now + T);
        assert_eq!(out.changes[0].role, Role::Active);
        assert_eq!(out.changes[0].reason, "owner, handover timeout passed");
    }

    #[test]
    fn yield_when_no_longer_owner() {
        let now = Instant::now();
        let (_, rb) = split();
        // a alone: owns rb and starts it.
        let mut a = node("a", &[&rb]);
        a.coordination(true);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.step(now);
        assert_eq!(role_of(&a, &rb), Role::Active);
        a.session(0, Report::Started);
        let out = a.step(now);
        assert_eq!(
            out.publish.as_ref().map(|p| p.active.clone()),
            Some(vec![rb.clone()])
        );
        echo(&mut a, &out, now);
        // b comes online: rb is b's, but b has no connection to it yet: a keeps carrying it.
        a.presence("b", &presence("b", ONLINE, &[]), now);
        let out = a.step(now);
        assert!(out.changes.is_empty(), "{out:?}");
        assert_eq!(role_of(&a, &rb), Role::Active);
        // b's standby connection is up (ready): a stops data transfer (Standby: a is b's
        // standby).
        let ready = serde_json::to_vec(&Presence {
            node: "b".into(),
            status: ONLINE.into(),
            incarnation: "inc-b".into(),
            config_hash: "h".into(),
            ready: vec![rb.clone()],
            ..Default::default()
        })
        .unwrap();
        a.presence("b", &ready, now);
        let out = a.step(now);
        assert_eq!(out.changes[0].role, Role::Standby);
        // STOPDT con: rb leaves our active list.
        a.session(0, Report::Stopped);
        let out = a.step(now);
        assert_eq!(out.publish.map(|p| p.active), Some(vec![]));
    }

    #[test]
    fn off_when_not_in_the_standby_set() {
        let now = Instant::now();
        let rtus: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let names: Vec<&str> = rtus.iter().map(|s| s.as_str()).collect();
        let mut a = node("a", &names);
        a.coordination(true);
        a.presence("b", &presence("b", ONLINE, &[]), now);
        a.presence("c", &presence("c", ONLINE, &[]), now);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.step(now);
        for r in &rtus {
            let rank = ranking(r, None, &["a", "b", "c"]);
            let want = match rank.iter().position(|n| *n == "a") {
                Some(0) => Role::Active,
                Some(1) => Role::Standby,
                _ => Role::Off,
            };
            assert_eq!(role_of(&a, r), want, "{r}: {rank:?}");
        }
    }

    #[test]
    fn preferred_node_owns_while_live() {
        let now = Instant::now();
        let (ra, _) = split();
        // ra is a's by score; prefer b.
        let mut b = node("b", &[]);
        b.rtus.push(RtuState {
            name: ra.clone(),
            preferred: Some("b".into()),
            started: false,
            connected: false,
            role: Role::Off,
            lost: false,
            waiting_since: None,
            started_seq: 0,
        });
        b.coordination(true);
        b.presence("a", &presence("a", ONLINE, &[]), now);
        let out = b.step(now);
        echo(&mut b, &out, now);
        b.step(now);
        assert_eq!(role_of(&b, &ra), Role::Active);
    }

    #[test]
    fn partition_keeps_started_and_takes_nothing_new() {
        let now = Instant::now();
        let (ra, rb) = split();
        let rtus = [ra.as_str(), rb.as_str()];
        let mut a = synced_with("a", "b", &[&rb], &rtus, now);
        a.step(now);
        a.session(0, Report::Started);
        let out = a.step(now);
        echo(&mut a, &out, now);
        // Cut from the broker.
        a.coordination(false);
        // b's will arrives... it cannot (we are cut), but even a stale message must not act.
        a.presence("b", &presence("b", "offline", &[]), now);
        let out = a.step(now);
        assert!(out.changes.is_empty(), "{out:?}");
        assert_eq!(role_of(&a, &ra), Role::Active);
        assert_eq!(role_of(&a, &rb), Role::Standby);
        // The RTU closes our connection (another node took it over): do not fight back.
        a.session(0, Report::Closed);
        let out = a.step(now);
        assert_eq!(out.changes[0].role, Role::Standby);
        assert_eq!(role_of(&a, &rb), Role::Standby);
        // Reconnected: nothing before the echo; then the fresh view decides.
        a.coordination(true);
        a.presence("b", &presence("b", ONLINE, &[&ra, &rb]), now);
        assert!(a.step(now).changes.is_empty());
        echo_own(&mut a, now);
        assert!(a.synced());
        // a owns ra by score but b holds it: wait for b to hand it back.
        a.step(now);
        assert_eq!(role_of(&a, &ra), Role::Standby);
    }

    #[test]
    fn a_lost_connection_with_a_dead_broker_link_does_not_restart() {
        // Frozen and resumed (SIGSTOP/SIGCONT): the broker link looks up but is dead; the RTU
        // closed our connection. Dropping the RTU from our presence unsyncs until the echo,
        // which never comes over a dead link: no STARTDT.
        let now = Instant::now();
        let (ra, _) = split();
        let mut a = synced_with("a", "b", &[], &[&ra], now);
        a.step(now);
        a.session(0, Report::Started);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.session(0, Report::Closed);
        let out = a.step(now);
        assert!(out.publish.is_some());
        assert_eq!(role_of(&a, &ra), Role::Standby);
        // With the echo (the link is alive) and nobody else holding it: started again.
        echo(&mut a, &out, now);
        a.step(now);
        assert_eq!(role_of(&a, &ra), Role::Active);
    }

    #[test]
    fn leaving_stops_everything_then_is_done() {
        let now = Instant::now();
        let (ra, _) = split();
        let mut a = synced_with("a", "b", &[], &[&ra], now);
        a.step(now);
        a.session(0, Report::Started);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.leave();
        let out = a.step(now);
        assert_eq!(
            out.publish.as_ref().map(|p| p.status.as_str()),
            Some(LEAVING)
        );
        assert_eq!(out.changes[0].role, Role::Off);
        echo(&mut a, &out, now);
        assert!(!a.left());
        a.session(0, Report::Stopped);
        let out = a.step(now);
        assert_eq!(out.publish.as_ref().map(|p| p.active.len()), Some(0));
        assert!(!a.left());
        echo(&mut a, &out, now);
        assert!(a.left());
    }

    #[test]
    fn others_do_not_count_a_leaving_node_as_candidate() {
        let now = Instant::now();
        let (ra, _) = split();
        let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
        b.step(now);
        assert_eq!(role_of(&b, &ra), Role::Standby);
        b.presence("a", &presence("a", LEAVING, &[&ra]), now);
        b.step(now);
        // b owns it now, but a still holds it: wait for its release.
        assert_eq!(role_of(&b, &ra), Role::Standby);
        b.presence("a", &presence("a", LEAVING, &[]), now);
        b.step(now);
        assert_eq!(role_of(&b, &ra), Role::Active);
    }

    #[test]
    fn duplicate_id_after_our_echo() {
        let now = Instant::now();
        let mut a = synced_with("a", "b", &[], &[], now);
        let other = serde_json::to_vec(&Presence {
            node: "a".into(),
            status: ONLINE.into(),
            incarnation: "someone-else".into(),
            config_hash: "h".into(),
            active: vec![],
            ..Default::default()
        })
        .unwrap();
        // (b releasing nothing we carry asks for no refresh.)
        a.presence("b", &presence("b", ONLINE, &["x"]), now);
        a.presence("b", &presence("b", ONLINE, &[]), now);
        assert!(a.take_refresh().is_empty());
        let alarms = a.presence("a", &other, now);
        assert_eq!(
            alarms,
            vec![Alarm::DuplicateId {
                incarnation: "someone-else".into()
            }]
        );
    }

    /// `me` with liveness and reconnection hold of 1.5 s, synced while "a" (online) carries
    /// `rtu`, then cut from the broker (steps keep coming: no pause of its own). The caller
    /// reconnects it.
    fn synced_then_cut(me: &str, rtu: &str, now: Instant) -> ClusterState {
        let mut s = node_hb(me, &[rtu], Duration::ZERO);
        s.coordination(true);
        s.presence("a", &presence("a", ONLINE, &[rtu]), now);
        let out = s.step(now);
        echo(&mut s, &out, now);
        s.step(now);
        s.coordination(false);
        s.step(now);
        s
    }

    fn node_hb(me: &str, rtus: &[&str], grace: Duration) -> ClusterState {
        ClusterState::new(
            Settings {
                me: me.into(),
                incarnation: format!("inc-{me}"),
                config_hash: "h".into(),
                standby: 1,
                handover_timeout: T,
                liveness: Duration::from_millis(1500),
                startup_grace: grace,
                reconnect_hold: Duration::from_millis(1500),
                coalesce: Duration::ZERO,
                presence_every: Duration::ZERO,
                will_wait: Duration::ZERO,
                snapshot_after: Duration::from_millis(100),
                coordination_loss_hold: Duration::from_secs(3600),
            },
            rtus.iter().map(|r| (r.to_string(), None)).collect(),
        )
    }

    #[test]
    fn a_silent_owner_is_taken_over_after_the_liveness_window() {
        // a holds ra and is frozen: its presence still says online and lists ra, but neither
        // beats nor presence come any more. b takes over after 1.5 s without waiting for the
        // release (the RTU fences a's connection), while its own beats keep coming back.
        let now = Instant::now();
        let (ra, _) = split();
        let mut b = node_hb("b", &[&ra], Duration::ZERO);
        b.coordination(true);
        b.presence("a", &presence("a", ONLINE, &[&ra]), now);
        let out = b.step(now);
        echo(&mut b, &out, now);
        let out = b.step(now);
        assert_eq!(role_of(&b, &ra), Role::Standby);
        // Woken when a would become stale.
        assert!(out
            .wake_at
            .is_some_and(|w| w <= now + Duration::from_millis(1501)));
        let mut t = now;
        for _ in 0..5 {
            t += Duration::from_millis(250);
            b.beat("b", b"inc-b", t);
            b.beat("a", b"inc-a", t);
            b.step(t);
        }
        assert_eq!(role_of(&b, &ra), Role::Standby, "a is beating: not taken");
        let frozen_at = t;
        for _ in 0..6 {
            t += Duration::from_millis(250);
            b.beat("b", b"inc-b", t);
            b.step(t);
            assert_eq!(
                role_of(&b, &ra),
                Role::Standby,
                "a silent for {:?} only",
                t - frozen_at
            );
        }
        t += Duration::from_millis(2);
        b.beat("b", b"inc-b", t);
        let out = b.step(t);
        assert_eq!(out.changes[0].role, Role::Active, "{out:?}");
        assert_eq!(out.changes[0].reason, "owner, nobody else holds it");
        // a beats again (resumed): live again, and ra is a's by score; but its presence
        // still claims ra from before the freeze (it was fenced meanwhile): b keeps carrying.
        b.session(0, Report::Started);
        let out = b.step(t);
        echo(&mut b, &out, t);
        b.beat("a", b"inc-a", t);
        b.step(t);
        assert_eq!(
            role_of(&b, &ra),
            Role::Active,
            "a stale claim is no reason to yield"
        );
        // a's new presence: ra lost, its standby connection up (ready): handed back by STOPDT.
        let ready = serde_json::to_vec(&Presence {
            node: "a".into(),
            status: ONLINE.into(),
            incarnation: "inc-a".into(),
            config_hash: "h".into(),
            ready: vec![ra.clone()],
            ..Default::default()
        })
        .unwrap();
        b.presence("a", &ready, t);
        b.step(t);
        assert_eq!(role_of(&b, &ra), Role::Standby, "handed back by STOPDT");
    }

    #[test]
    fn no_action_while_our_own_beats_do_not_come_back() {
        // Our inbound or outbound broker traffic is stalled (the link looks up): the others
        // look silent, but so do we: nothing is taken.
        let now = Instant::now();
        let (ra, _) = split();
        let mut b = node_hb("b", &[&ra], Duration::ZERO);
        b.coordination(true);
        b.presence("a", &presence("a", ONLINE, &[&ra]), now);
        let out = b.step(now);
        echo(&mut b, &out, now);
        b.step(now);
        // We run (steps every 250 ms) but hear nothing, not even our own beats.
        let mut t = now;
        for _ in 0..12 {
            t += Duration::from_millis(250);
            let out = b.step(t);
            assert!(out.changes.is_empty(), "{out:?}");
        }
        assert_eq!(role_of(&b, &ra), Role::Standby);
        // Our beat comes back (the link works): now a's silence counts.
        b.beat("b", b"inc-b", t);
        b.step(t);
        assert_eq!(role_of(&b, &ra), Role::Active);
        // A beat of another process under our id is not ours.
        let mut c = node_hb("b", &[&ra], Duration::ZERO);
        c.coordination(true);
        let out = c.step(now);
        echo(&mut c, &out, now);
        c.beat("b", b"someone-else", t);
        c.step(t);
        assert_eq!(role_of(&c, &ra), Role::Off);
    }

    #[test]
    fn after_a_pause_of_our_own_the_others_get_a_window_to_be_heard() {
        // SIGSTOP/SIGCONT of this node: on resuming, every other node looks silent, but only
        // because we were not running. Nothing moves until our probe came back and the
        // others had a whole window to be heard.
        let now = Instant::now();
        let (_, rb) = split();
        let mut b = node_hb("b", &[&rb], Duration::ZERO);
        b.coordination(true);
        // a carries rb (b's by score: a keeps it until b is ready; b is not connected).
        b.presence("a", &presence("a", ONLINE, &[&rb]), now);
        let out = b.step(now);
        echo(&mut b, &out, now);
        b.step(now);
        assert_eq!(role_of(&b, &rb), Role::Standby);
        // Paused for 4 s. Stale own beats are delivered first on resuming.
        let t = now + Duration::from_secs(4);
        b.beat("b", b"inc-b", t);
        let out = b.step(t);
        assert!(out.probe, "a probe first");
        assert!(out.changes.is_empty(), "{out:?}");
        // The probe comes back; a has not been heard since we resumed, but that is our doing.
        let u = t + Duration::from_millis(5);
        b.beat("b", b"inc-b", u);
        assert!(b.step(u).changes.is_empty());
        // a is heard again within the window: it still holds rb, nothing moves.
        b.beat("a", b"inc-a", t + Duration::from_millis(200));
        b.beat("b", b"inc-b", t + Duration::from_millis(250));
        assert!(b.step(t + Duration::from_millis(250)).changes.is_empty());
        // (Without the window, b would have started rb at `u`: a was silent for 4 s.)
    }

    #[test]
    fn startup_grace_lets_nodes_started_together_hear_of_each_other() {
        let now = Instant::now();
        let (ra, rb) = split();
        let grace = Duration::from_secs(1);
        let mut a = node_hb("a", &[&ra, &rb], grace);
        a.coordination(true);
        let out = a.step(now);
        echo(&mut a, &out, now);
        let out = a.step(now);
        // Alone in its view, a would own both; during the grace it only prepares.
        assert_eq!(role_of(&a, &ra), Role::Standby);
        assert_eq!(role_of(&a, &rb), Role::Standby);
        assert!(out.wake_at.is_some_and(|w| w <= now + grace));
        // b appears within the grace. A node just heard of may not have heard of a third one
        // yet (B1b: views differ for a moment), so an RTU nobody was seen carrying still
        // waits for the end of the grace.
        let t = now + Duration::from_millis(300);
        a.presence("b", &presence("b", ONLINE, &[]), t);
        a.beat("a", b"inc-a", t);
        a.step(t);
        assert_eq!(role_of(&a, &ra), Role::Standby);
        assert_eq!(role_of(&a, &rb), Role::Standby);
        let t = now + grace;
        a.beat("a", b"inc-a", t);
        a.beat("b", b"inc-b", t);
        a.step(t);
        assert_eq!(role_of(&a, &ra), Role::Active);
        assert_eq!(
            role_of(&a, &rb),
            Role::Standby,
            "b's share is never started by a"
        );

        // B4: b carries rb and dies within a's grace: rb was seen carried, a takes it at once.
        let mut a = node_hb("a", &[&ra, &rb], grace);
        a.coordination(true);
        a.presence("b", &presence("b", ONLINE, &[&rb]), now);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.step(now);
        let t = now + Duration::from_millis(300);
        a.presence("b", &presence("b", "offline", &[]), t);
        a.beat("a", b"inc-a", t + Duration::from_millis(1));
        a.step(t + Duration::from_millis(1));
        assert_eq!(role_of(&a, &rb), Role::Active, "known carried: no grace");
        assert_eq!(role_of(&a, &ra), Role::Standby, "never seen carried: grace");

        // Alone for the whole grace (only old offline presences retained): then everything
        // is ours.
        let mut c = node_hb("a", &[&ra, &rb], grace);
        c.coordination(true);
        c.presence("b", &presence("b", "offline", &[&ra]), now);
        let out = c.step(now);
        echo(&mut c, &out, now);
        c.step(now);
        c.step(now + grace - Duration::from_millis(1));
        assert_eq!(role_of(&c, &ra), Role::Standby);
        c.beat("a", b"inc-a", now + grace);
        c.step(now + grace);
        assert_eq!(role_of(&c, &ra), Role::Active);
        assert_eq!(role_of(&c, &rb), Role::Active);
    }

    #[test]
    fn another_node_releasing_what_we_carry_asks_for_our_status_again() {
        // Per-connection groups: b took ra over while we were silent, and gives it back; our
        // connection was never fenced, so our status must be published again (b's "started"
        // would otherwise stay the retained one).
        let now = Instant::now();
        let (ra, _) = split();
        let mut a = synced_with("a", "b", &[], &[&ra], now);
        a.step(now);
        a.session(0, Report::Started);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.presence("b", &presence("b", ONLINE, &[&ra]), now);
        assert!(a.take_refresh().is_empty());
        a.presence("b", &presence("b", ONLINE, &[]), now);
        assert_eq!(a.take_refresh(), vec![0]);
        assert!(a.take_refresh().is_empty());
        // Its will while it listed ra: the same.
        a.presence("b", &presence("b", ONLINE, &[&ra]), now);
        a.presence("b", &presence("b", "offline", &[]), now);
        assert_eq!(a.take_refresh(), vec![0]);
    }

    #[test]
    fn two_nodes_carrying_one_rtu_end_with_the_owner_only() {
        // RTUs with per-connection groups do not fence: after a disturbance both a (owner) and
        // b carry ra. a, seeing b newly claim ra, announces itself again; b sees a claim newer
        // than its own start and yields.
        let now = Instant::now();
        let (ra, _) = split();
        // The owner's side.
        let mut a = synced_with("a", "b", &[], &[&ra], now);
        a.step(now);
        a.session(0, Report::Started);
        let out = a.step(now);
        echo(&mut a, &out, now);
        a.presence("b", &presence("b", ONLINE, &[&ra]), now);
        let out = a.step(now);
        assert!(out.publish.is_some(), "a announces itself again");
        assert_eq!(role_of(&a, &ra), Role::Active);
        // The other side: b started ra after a's last presence.
        let mut b = synced_with("b", "a", &[&ra], &[&ra], now);
        b.step(now);
        b.session(0, Report::Started);
        let out = b.step(now);
        echo(&mut b, &out, now);
        b.step(now);
        assert_eq!(
            role_of(&b, &ra),
            Role::Active,
            "a's old claim is not enough"
        );
        // a's re-announcement arrives.
        b.presence("a", &presence("a", ONLINE, &[&ra]), now);
        b.step(now);
        assert_eq!(role_of(&b, &ra), Role::Standby);
    }
}

#[cfg(test)]
#[path = "state_paths_tests.rs"]
mod path_tests;

#[cfg(test)]
#[path = "state_links_tests.rs"]
mod link_tests;
