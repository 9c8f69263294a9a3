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

impl RtuState {
    /// An RTU named `name` (preferred owner `preferred`) as nothing is known of it yet: no
    /// connection, role Off.
    fn new(name: String, preferred: Option<String>) -> RtuState {
        RtuState {
            name,
            preferred,
            started: false,
            connected: false,
            role: Role::Off,
            lost: false,
            waiting_since: None,
            started_seq: 0,
        }
    }
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
                .map(|(name, preferred)| RtuState::new(name, preferred))
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

mod decide;
mod links;
mod messages;
mod outgoing;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod paths_tests;

#[cfg(test)]
mod links_tests;
