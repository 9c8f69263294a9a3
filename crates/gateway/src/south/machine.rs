//! The decisions of one RTU session without I/O: [`Machine`] is told the wanted role, what
//! the link did (connected, STARTDT/STOPDT con, closed), the ASDUs that may answer a command,
//! the commands and the time; it answers with [`Action`]s (connect, STARTDT, STOPDT, system
//! commands, command ASDUs, statuses, reports, command results, close) and the next deadline.
//! The async driver (`south/mod.rs`) executes the actions; the tests run in virtual time.
//!
//! Behaviour: reconnect with [`Backoff`] across the addresses (the other addresses of a round
//! after 50 ms, then the backoff; reset once a connection started and lasted 10 s); STARTDT
//! when Active, STOPDT when Standby or Off (each awaited within t1 + 1 s; Off closes once
//! stopped); a general interrogation (and counter interrogation, clock sync when configured)
//! after every STARTDT and on their periods; one command at a time (select, execute,
//! ActTerm), the next one taken once the current one is confirmed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use iec104::asdu::AsduView;

use super::backoff::Backoff;
use super::command::{Pending, Step};
use crate::config::Rtu;
use crate::contract::{CommandStatus, LinkState, ResultDetail};
use crate::model::{CommandJob, Report, Role};

/// The reason of a connection closed because the role became Off.
pub const OFF: &str = "off: neither owner nor standby";

/// A connection that started and lasted this long resets the backoff.
const LASTED: Duration = Duration::from_secs(10);
/// The delay before the next address of the same round.
const NEXT_ADDRESS: Duration = Duration::from_millis(50);
/// STARTDT / STOPDT con are awaited t1 plus this.
const DT_GRACE: Duration = Duration::from_secs(1);

/// What the machine needs to know of its RTU.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How many addresses the RTU has (tried in turn).
    pub addresses: usize,
    /// The common addresses (system commands go to each).
    pub common_addresses: Vec<u16>,
    /// The link's t1.
    pub t1: Duration,
    /// General interrogation period.
    pub interrogation_period: Option<Duration>,
    /// Counter interrogation period (also enables it after STARTDT).
    pub counter_interrogation_period: Option<Duration>,
    /// Clock sync period (also enables it after STARTDT).
    pub clock_sync_period: Option<Duration>,
    /// Time a command waits for each confirmation.
    pub command_timeout: Duration,
    /// The RTU's time zone, seconds from UTC (command time tags).
    pub tz_offset_secs: i32,
    /// Cluster mode: statuses follow the role, commands are left to the active node.
    pub cluster: bool,
}

impl Settings {
    /// The settings of `rtu`.
    pub fn of(rtu: &Rtu, command_timeout: Duration, cluster: bool) -> Settings {
        Settings {
            addresses: rtu.addresses.len(),
            common_addresses: rtu.common_addresses.clone(),
            t1: rtu.link.t1,
            interrogation_period: rtu.interrogation_period,
            counter_interrogation_period: rtu.counter_interrogation_period,
            clock_sync_period: rtu.clock_sync_period,
            command_timeout,
            tz_offset_secs: rtu.tz_offset_secs,
            cluster,
        }
    }
}

/// Where a status goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTopic {
    /// `{prefix}/{rtu}/status`.
    Main,
    /// `{prefix}/{rtu}/standby/{node}`.
    Standby,
}

/// A session status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `connecting`, `started`, `stopped` or `disconnected`.
    pub state: LinkState,
    /// Why (the standby, the reason of a disconnection).
    pub reason: Option<String>,
    /// Index of the address concerned.
    pub address: Option<usize>,
    /// Where it is published; None: only counted (cluster mode, role Off).
    pub topic: Option<StatusTopic>,
}

/// What the driver is to do.
// A command result carries its job (the largest variant); actions are handed over one step's
// few at a time and never stored in bulk, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Action {
    /// Connect to the address with this index.
    Connect(usize),
    /// Send STARTDT act; answer with [`Machine::dt_confirmed`] or [`Machine::dt_failed`].
    StartDt,
    /// Send STOPDT act; answer as for [`Action::StartDt`].
    StopDt,
    /// Send a general interrogation to this common address.
    Interrogate(u16),
    /// Send a counter interrogation to this common address.
    CounterInterrogate(u16),
    /// Send a clock synchronisation (the RTU's local time) to this common address.
    ClockSync(u16),
    /// Send a command ASDU; on failure call [`Machine::command_not_sent`] with `execute`.
    SendCommand {
        /// The ASDU.
        asdu: Bytes,
        /// The execute after a confirmed select.
        execute: bool,
    },
    /// Close the connection (or abandon the attempt).
    Close {
        /// Why.
        reason: String,
    },
    /// Tell the cluster task.
    Report(Report),
    /// Publish a status.
    Status(Status),
    /// The role is now this: clear the status topic not spoken on any more (cluster mode).
    RoleTopics(Role),
    /// Role Off: no connection.
    Idle,
    /// Publish a command result.
    CommandResult {
        /// The command.
        job: CommandJob,
        /// `confirmed`, `terminated`, `rejected`, `invalid` or `timeout`.
        status: CommandStatus,
        /// What the RTU's answer (or its absence) tells.
        detail: ResultDetail,
    },
}

/// STARTDT or STOPDT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dt {
    Start,
    Stop,
}

/// One established connection.
#[derive(Debug)]
struct Conn {
    address: usize,
    since: Instant,
    started: bool,
    ever_started: bool,
    /// STARTDT or STOPDT in progress and when its confirmation is late.
    dt: Option<(Dt, Instant)>,
    gi_next: Option<Instant>,
    ci_next: Option<Instant>,
    cs_next: Option<Instant>,
    pending: Option<Pending>,
}

#[derive(Debug)]
enum Phase {
    Off,
    Connecting { address: usize, since: Instant },
    Connected(Box<Conn>),
    Waiting { until: Instant },
    Finished,
}

/// The RTU session's state machine.
#[derive(Debug)]
pub struct Machine {
    settings: Settings,
    role: Role,
    phase: Phase,
    /// Attempts so far (the address is this modulo the count).
    attempts: usize,
    backoff: Backoff,
    rng: fastrand::Rng,
    /// Cluster mode: an established connection just ended. It may have been closed by the
    /// station because another node started (the fence): until the next attempt, statuses
    /// go to the standby topic so a fenced node never overwrites the new owner's.
    after_loss: bool,
    actions: VecDeque<Action>,
}

impl Machine {
    /// A machine in `role` at `now`; `seed` draws the backoff jitter.
    pub fn new(settings: Settings, role: Role, seed: u64, now: Instant) -> Machine {
        let mut m = Machine {
            settings,
            role,
            phase: Phase::Off,
            attempts: 0,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(30)),
            rng: fastrand::Rng::with_seed(seed),
            after_loss: false,
            actions: VecDeque::new(),
        };
        m.begin(now);
        m
    }

    /// The next action to execute.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The session is over (shutdown, or no address).
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// A connection is established.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected(_))
    }

    /// The index of the address being tried.
    pub fn connecting_address(&self) -> Option<usize> {
        match self.phase {
            Phase::Connecting { address, .. } => Some(address),
            _ => None,
        }
    }

    /// Whether a command is taken now (else it waits in the queue): not while STARTDT is
    /// in progress, nor while a command awaits its confirmation.
    pub fn wants_command(&self) -> bool {
        match &self.phase {
            Phase::Connected(c) => {
                !matches!(c.dt, Some((Dt::Start, _)))
                    && c.pending.as_ref().map_or(true, Pending::confirmed)
            }
            Phase::Finished => false,
            _ => true,
        }
    }

    /// When [`Machine::tick`] is due next.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Waiting { until } => Some(*until),
            Phase::Connected(c) => [
                c.dt.map(|(_, at)| at),
                c.pending.as_ref().map(|p| p.deadline),
                c.gi_next,
                c.ci_next,
                c.cs_next,
            ]
            .into_iter()
            .flatten()
            .min(),
            _ => None,
        }
    }

    fn push(&mut self, a: Action) {
        self.actions.push_back(a);
    }

    fn status(&mut self, state: LinkState, reason: Option<&str>, address: Option<usize>) {
        let topic = if !self.settings.cluster {
            Some(StatusTopic::Main)
        } else if self.after_loss {
            Some(StatusTopic::Standby)
        } else {
            match self.role {
                Role::Active => Some(StatusTopic::Main),
                Role::Standby => Some(StatusTopic::Standby),
                Role::Off => None,
            }
        };
        self.push(Action::Status(Status {
            state,
            reason: reason.map(str::to_owned),
            address,
            topic,
        }));
    }

    fn result(&mut self, job: CommandJob, status: CommandStatus, detail: ResultDetail) {
        self.push(Action::CommandResult {
            job,
            status,
            detail,
        });
    }

    /// A command refused; in cluster mode only the active node answers.
    fn refuse(&mut self, job: CommandJob, why: &str) {
        if self.settings.cluster && self.role != Role::Active {
            tracing::debug!("command left to the active node");
            return;
        }
        self.result(job, CommandStatus::Rejected, ResultDetail::error(why));
    }

    /// The top of the loop: wait while Off, else the next attempt.
    fn begin(&mut self, now: Instant) {
        self.push(Action::RoleTopics(self.role));
        if self.role == Role::Off {
            self.push(Action::Idle);
            self.phase = Phase::Off;
        } else {
            self.attempt(now);
        }
    }

    fn attempt(&mut self, now: Instant) {
        if self.settings.addresses == 0 {
            self.phase = Phase::Finished;
            return;
        }
        let address = self.attempts % self.settings.addresses;
        self.attempts = self.attempts.wrapping_add(1);
        if std::mem::take(&mut self.after_loss) && self.role == Role::Active {
            // Still (or again) the carrying node: the standby topic is not ours to use.
            self.push(Action::RoleTopics(Role::Active));
        }
        self.status(LinkState::Connecting, None, Some(address));
        self.push(Action::Connect(address));
        self.phase = Phase::Connecting {
            address,
            since: now,
        };
    }

    /// The wanted role is now `role`.
    pub fn role(&mut self, role: Role, now: Instant) {
        let last = std::mem::replace(&mut self.role, role);
        match self.phase {
            Phase::Off => {
                if role != last {
                    self.push(Action::RoleTopics(role));
                }
                if role == Role::Off {
                    self.push(Action::Idle);
                } else {
                    self.attempt(now);
                }
            }
            Phase::Connecting { .. } | Phase::Waiting { .. } => {
                self.push(Action::RoleTopics(role));
                if role == Role::Off {
                    if matches!(self.phase, Phase::Connecting { .. }) {
                        self.push(Action::Close { reason: OFF.into() });
                    }
                    self.begin(now);
                }
            }
            Phase::Connected(_) => {
                self.push(Action::RoleTopics(role));
                self.apply_role(now);
            }
            Phase::Finished => {}
        }
    }

    /// STARTDT or STOPDT as the role asks (decided again once one in progress is confirmed).
    fn apply_role(&mut self, now: Instant) {
        let role = self.role;
        let deadline = now + self.settings.t1 + DT_GRACE;
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        if c.dt.is_some() {
            return;
        }
        match (role, c.started) {
            (Role::Off, false) => self.end(OFF.into(), false, now),
            (Role::Active, false) => {
                c.dt = Some((Dt::Start, deadline));
                self.push(Action::StartDt);
            }
            (Role::Standby | Role::Off, true) => {
                c.dt = Some((Dt::Stop, deadline));
                c.gi_next = None;
                c.ci_next = None;
                c.cs_next = None;
                self.push(Action::StopDt);
            }
            _ => {}
        }
    }

    /// The connection is established (TCP and link up).
    pub fn connected(&mut self, now: Instant) {
        let Phase::Connecting { address, .. } = self.phase else {
            return;
        };
        self.phase = Phase::Connected(Box::new(Conn {
            address,
            since: now,
            started: false,
            ever_started: false,
            dt: None,
            gi_next: None,
            ci_next: None,
            cs_next: None,
            pending: None,
        }));
        self.push(Action::Report(Report::Connected));
        if self.role == Role::Standby {
            self.status(LinkState::Stopped, Some("standby"), Some(address));
        }
        self.apply_role(now);
    }

    /// The attempt failed; `reason` names the address and the error.
    pub fn connect_failed(&mut self, reason: String, now: Instant) {
        let Phase::Connecting { address, since } = self.phase else {
            return;
        };
        self.after_attempt(&reason, address, false, since, now);
    }

    /// The STARTDT or STOPDT in progress was confirmed.
    pub fn dt_confirmed(&mut self, now: Instant) {
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        let address = c.address;
        match c.dt.take() {
            Some((Dt::Start, _)) => {
                c.started = true;
                c.ever_started = true;
                let s = &self.settings;
                c.gi_next = s.interrogation_period.map(|p| now + p);
                c.ci_next = s.counter_interrogation_period.map(|p| now + p);
                c.cs_next = s.clock_sync_period.map(|p| now + p);
                let (ci, cs) = (c.ci_next.is_some(), c.cs_next.is_some());
                self.push(Action::Report(Report::Started));
                self.status(LinkState::Started, None, Some(address));
                self.system_commands(true, ci, cs);
            }
            Some((Dt::Stop, _)) => {
                c.started = false;
                self.push(Action::Report(Report::Stopped));
                self.status(LinkState::Stopped, Some("standby"), Some(address));
            }
            None => return,
        }
        self.apply_role(now);
    }

    /// The STARTDT or STOPDT in progress failed with `error`: the connection ends.
    pub fn dt_failed(&mut self, error: &str, now: Instant) {
        let Phase::Connected(c) = &self.phase else {
            return;
        };
        match c.dt {
            Some((Dt::Start, _)) => self.end(format!("STARTDT: {error}"), false, now),
            Some((Dt::Stop, _)) => self.end(format!("STOPDT: {error}"), false, now),
            None => {}
        }
    }

    fn system_commands(&mut self, gi: bool, ci: bool, cs: bool) {
        for i in 0..self.settings.common_addresses.len() {
            let ca = self.settings.common_addresses[i];
            if cs {
                self.push(Action::ClockSync(ca));
            }
            if gi {
                self.push(Action::Interrogate(ca));
            }
            if ci {
                self.push(Action::CounterInterrogate(ca));
            }
        }
    }

    /// A command from the router (taken when [`Machine::wants_command`]); `utc` is the wall
    /// clock for its time tag.
    pub fn command(&mut self, job: CommandJob, now: Instant, utc: DateTime<Utc>) {
        let (timeout, tz) = (self.settings.command_timeout, self.settings.tz_offset_secs);
        match &mut self.phase {
            Phase::Off | Phase::Waiting { .. } => self.refuse(job, "the RTU is not connected"),
            Phase::Connecting { .. } => {
                self.refuse(job, "the RTU is not connected (connecting)");
            }
            Phase::Connected(c) if !c.started => self.refuse(
                job,
                "the RTU is connected but data transfer is stopped (standby)",
            ),
            Phase::Connected(c) => match Pending::start(job, timeout, tz, now, utc) {
                Ok((p, asdu)) => {
                    c.pending = Some(p);
                    self.push(Action::SendCommand {
                        asdu,
                        execute: false,
                    });
                }
                Err(failed) => {
                    let (job, e) = *failed;
                    self.result(job, CommandStatus::Invalid, ResultDetail::error(e));
                }
            },
            Phase::Finished => {}
        }
    }

    /// A [`Action::SendCommand`] could not be sent: the command is refused; a failed execute
    /// also ends the connection.
    pub fn command_not_sent(&mut self, execute: bool, error: &str, now: Instant) {
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        let Some(p) = c.pending.take() else {
            return;
        };
        if execute {
            self.refuse(p.job, &format!("cannot send the execute: {error}"));
            self.end(format!("sending execute: {error}"), false, now);
        } else {
            self.refuse(p.job, &format!("cannot send: {error}"));
        }
    }

    /// An ASDU from the RTU (it may answer the command in progress); `utc` is the wall clock.
    pub fn asdu(&mut self, view: &AsduView<'_>, now: Instant, utc: DateTime<Utc>) {
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        let Some(p) = c.pending.as_mut() else {
            return;
        };
        match p.answer(view, now, utc) {
            Step::Ignore => {}
            Step::Execute(asdu) => self.push(Action::SendCommand {
                asdu,
                execute: true,
            }),
            Step::Result {
                status,
                detail,
                done,
            } => {
                let job = if done {
                    c.pending.take().map(|p| p.job)
                } else {
                    c.pending.as_ref().map(|p| p.job.clone())
                };
                if let Some(job) = job {
                    self.result(job, status, detail);
                }
            }
        }
    }

    /// The link closed with `reason`: a command in progress times out, the connection ends.
    pub fn closed(&mut self, reason: String, now: Instant) {
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        if let Some(p) = c.pending.take() {
            let why = format!("connection lost before the answer: {reason}");
            self.result(p.job, CommandStatus::Timeout, ResultDetail::error(why));
        }
        self.end(reason, false, now);
    }

    /// The connection must end for `reason` (an undecodable ASDU, the data path stopped...).
    pub fn fail(&mut self, reason: String, now: Instant) {
        self.end(reason, false, now);
    }

    /// Shutdown (or the role or command channel is gone): a connection ends with `reason`.
    pub fn shutdown(&mut self, reason: &str, now: Instant) {
        if self.is_connected() {
            self.end(reason.to_owned(), true, now);
        }
        self.phase = Phase::Finished;
    }

    /// Time passed: deadlines due at `now` take effect.
    pub fn tick(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Waiting { until } if *until <= now => self.begin(now),
            Phase::Connected(c) => {
                if let Some((dt, at)) = c.dt {
                    if at <= now {
                        let reason = match dt {
                            Dt::Start => "no STARTDT con",
                            Dt::Stop => "no STOPDT con",
                        };
                        return self.end(reason.into(), false, now);
                    }
                }
                if c.pending.as_ref().is_some_and(|p| p.deadline <= now) {
                    if let Some(p) = c.pending.take() {
                        if let Some((status, detail)) = p.timed_out() {
                            self.result(p.job, status, detail);
                        }
                    }
                }
                self.periodic(now);
            }
            _ => {}
        }
    }

    fn periodic(&mut self, now: Instant) {
        let Phase::Connected(c) = &mut self.phase else {
            return;
        };
        let due = |t: &mut Option<Instant>, p: Option<Duration>| match (*t, p) {
            (Some(at), Some(p)) if at <= now => {
                *t = Some(now + p);
                true
            }
            _ => false,
        };
        let s = &self.settings;
        let gi = due(&mut c.gi_next, s.interrogation_period);
        let ci = due(&mut c.ci_next, s.counter_interrogation_period);
        let cs = due(&mut c.cs_next, s.clock_sync_period);
        self.system_commands(gi, ci, cs);
    }

    /// Ends the established connection.
    fn end(&mut self, reason: String, shutdown: bool, now: Instant) {
        let Phase::Connected(c) = std::mem::replace(&mut self.phase, Phase::Finished) else {
            return;
        };
        self.push(Action::Close {
            reason: reason.clone(),
        });
        self.after_loss = true;
        self.push(Action::Report(Report::Closed));
        if reason == OFF {
            return self.begin(now);
        }
        self.status(LinkState::Disconnected, Some(&reason), Some(c.address));
        if shutdown {
            return;
        }
        self.after_attempt_backoff(c.ever_started, c.since, now);
    }

    /// An attempt failed (or a connection ended): status, then the wait before the next.
    fn after_attempt(
        &mut self,
        reason: &str,
        address: usize,
        started: bool,
        since: Instant,
        now: Instant,
    ) {
        self.status(LinkState::Disconnected, Some(reason), Some(address));
        self.after_attempt_backoff(started, since, now);
    }

    fn after_attempt_backoff(&mut self, started: bool, since: Instant, now: Instant) {
        // A connection that started and lasted resets the backoff; one that breaks at once
        // (e.g. an RTU sending malformed frames) keeps backing off.
        if started && now.saturating_duration_since(since) >= LASTED {
            self.backoff.reset();
        }
        // Try the other addresses of this round at once, then back off.
        let delay = if self.attempts % self.settings.addresses.max(1) != 0 {
            NEXT_ADDRESS
        } else {
            self.backoff.next_delay(self.rng.f64())
        };
        self.phase = Phase::Waiting { until: now + delay };
    }
}

#[cfg(test)]
mod tests;
