//! The session machine in virtual time: every input is given its `Instant`, every output is
//! read back as a short text.

use std::time::{Duration, Instant};

use iec104::asdu::{AsduParams, AsduView};
use iec104::json::CommandRequest;

use super::*;

const T1: Duration = Duration::from_secs(15);
const GI: Duration = Duration::from_secs(60);
const CI: Duration = Duration::from_secs(300);
const CS: Duration = Duration::from_secs(3600);
const CMD: Duration = Duration::from_secs(5);
const MS: Duration = Duration::from_millis(1);

fn settings(addresses: usize, cluster: bool) -> Settings {
    Settings {
        addresses,
        common_addresses: vec![1],
        t1: T1,
        interrogation_period: Some(GI),
        counter_interrogation_period: None,
        clock_sync_period: None,
        command_timeout: CMD,
        tz_offset_secs: 0,
        cluster,
    }
}

fn topic(t: Option<StatusTopic>) -> &'static str {
    match t {
        Some(StatusTopic::Main) => "main",
        Some(StatusTopic::Standby) => "standby",
        None => "none",
    }
}

fn show(a: &Action) -> String {
    match a {
        Action::Connect(i) => format!("connect {i}"),
        Action::StartDt => "startdt".into(),
        Action::StopDt => "stopdt".into(),
        Action::Interrogate(ca) => format!("gi {ca}"),
        Action::CounterInterrogate(ca) => format!("ci {ca}"),
        Action::ClockSync(ca) => format!("cs {ca}"),
        Action::SendCommand { execute, .. } => {
            format!("send {}", if *execute { "execute" } else { "first" })
        }
        Action::Close { reason } => format!("close {reason}"),
        Action::Report(r) => format!("report {r:?}"),
        Action::Status(s) => format!(
            "status {} {} {}",
            s.state.as_str(),
            topic(s.topic),
            s.reason.as_deref().unwrap_or("-")
        ),
        Action::RoleTopics(r) => format!("topics {r:?}"),
        Action::Idle => "idle".into(),
        Action::CommandResult { status, detail, .. } => match &detail.error {
            Some(e) => format!("result {}: {e}", status.as_str()),
            None => format!("result {}", status.as_str()),
        },
    }
}

fn drain(m: &mut Machine) -> Vec<String> {
    std::iter::from_fn(|| m.next_action())
        .map(|a| show(&a))
        .collect()
}

fn job(select: bool) -> CommandJob {
    let mut request = CommandRequest::new("C_DC_NA_1", serde_json::json!("on"));
    request.select = select;
    CommandJob {
        ca: 1,
        ioa: 100,
        request,
        result_topic: "r".into(),
        correlation: None,
        response_topic_refused: None,
        sender: None,
        received: Instant::now(),
        reply: None,
    }
}

/// C_DC_NA_1 (46), one object, COT octet `cot` (7 ActCon, 10 ActTerm, | 0x40 for P/N),
/// OA 0, CA 1, IOA 100, DCO `dco` (0x82 select ON, 0x02 execute ON).
fn answer(m: &mut Machine, cot: u8, dco: u8, now: Instant) {
    let bytes = [46, 1, cot, 0, 1, 0, 0x64, 0, 0, dco];
    let view = AsduView::parse(&bytes, &AsduParams::IEC104).unwrap();
    m.asdu(&view, now, Utc::now());
}

/// An Active machine, connected and started at `t0`; its start-up actions drained.
fn started(settings: Settings, t0: Instant) -> Machine {
    let mut m = Machine::new(settings, Role::Active, 1, t0);
    m.connected(t0);
    m.dt_confirmed(t0);
    drain(&mut m);
    m
}

#[test]
fn active_connects_starts_then_interrogates_on_every_period() {
    let t0 = Instant::now();
    let mut s = settings(1, false);
    s.counter_interrogation_period = Some(CI);
    s.clock_sync_period = Some(CS);
    s.common_addresses = vec![1, 2];
    let mut m = Machine::new(s, Role::Active, 1, t0);
    assert_eq!(
        drain(&mut m),
        ["topics Active", "status connecting main -", "connect 0"]
    );
    assert_eq!(m.next_deadline(), None, "t0 bounds the attempt");
    m.connected(t0);
    assert_eq!(drain(&mut m), ["report Connected", "startdt"]);
    assert_eq!(m.next_deadline(), Some(t0 + T1 + DT_GRACE));
    assert!(!m.wants_command(), "commands wait for the STARTDT con");
    m.dt_confirmed(t0 + MS);
    // GI after every STARTDT; CI and clock sync when configured; for each common address.
    assert_eq!(
        drain(&mut m),
        [
            "report Started",
            "status started main -",
            "cs 1",
            "gi 1",
            "ci 1",
            "cs 2",
            "gi 2",
            "ci 2"
        ]
    );
    assert!(m.wants_command());
    let t = t0 + MS;
    assert_eq!(m.next_deadline(), Some(t + GI));
    m.tick(t + GI - MS);
    assert!(drain(&mut m).is_empty(), "not due yet");
    m.tick(t + GI);
    assert_eq!(drain(&mut m), ["gi 1", "gi 2"]);
    assert_eq!(m.next_deadline(), Some(t + 2 * GI));
    // Five GI periods make the CI period: both in one tick.
    m.tick(t + CI);
    assert_eq!(drain(&mut m), ["gi 1", "ci 1", "gi 2", "ci 2"]);
    assert_eq!(m.next_deadline(), Some(t + CI + GI));
}

#[test]
fn reconnects_across_addresses_then_backs_off_and_resets_after_a_lasting_start() {
    let mut now = Instant::now();
    let mut m = Machine::new(settings(2, false), Role::Active, 7, now);
    assert_eq!(drain(&mut m).last().unwrap(), "connect 0");
    // Each round: the second address after 50 ms, then the backoff (500 ms, 1 s, 2 s, ...
    // each scaled by a jitter in 0.5..=1.0).
    let mut delays = Vec::new();
    for round in 0..4u32 {
        m.connect_failed("connect to a: refused".into(), now);
        assert_eq!(
            drain(&mut m),
            ["status disconnected main connect to a: refused"]
        );
        assert_eq!(m.next_deadline(), Some(now + NEXT_ADDRESS));
        now += NEXT_ADDRESS;
        m.tick(now);
        assert_eq!(
            drain(&mut m),
            ["topics Active", "status connecting main -", "connect 1"]
        );
        m.connect_failed("connect to b: refused".into(), now);
        drain(&mut m);
        let delay = m.next_deadline().unwrap() - now;
        let base = Duration::from_millis(500) * 2u32.pow(round);
        assert!(delay >= base / 2 && delay <= base, "{round}: {delay:?}");
        delays.push(delay);
        m.tick(now + delay - MS);
        assert!(drain(&mut m).is_empty(), "early");
        now += delay;
        m.tick(now);
        assert_eq!(drain(&mut m).last().unwrap(), "connect 0");
    }
    // A start that lasted 10 s resets the backoff (the address round still goes on).
    m.connected(now);
    m.dt_confirmed(now);
    drain(&mut m);
    now += LASTED;
    m.closed("t1 expired".into(), now);
    assert_eq!(
        drain(&mut m),
        [
            "close t1 expired",
            "report Closed",
            "status disconnected main t1 expired"
        ]
    );
    now += NEXT_ADDRESS;
    m.tick(now);
    m.connect_failed("refused".into(), now);
    drain(&mut m);
    let delay = m.next_deadline().unwrap() - now;
    assert!(delay <= Duration::from_millis(500), "{delay:?}");
    // One that broke at once does not.
    m.tick(now + delay);
    m.connected(now + delay);
    m.dt_confirmed(now + delay);
    m.closed("bad frame".into(), now + delay + MS);
    drain(&mut m);
    now += delay + MS + NEXT_ADDRESS;
    m.tick(now);
    m.connect_failed("refused".into(), now);
    drain(&mut m);
    let delay = m.next_deadline().unwrap() - now;
    assert!(delay >= Duration::from_millis(500), "{delay:?}");
}

#[test]
fn role_changes_while_off_connecting_and_waiting() {
    let t = Instant::now();
    let mut m = Machine::new(settings(1, true), Role::Off, 1, t);
    assert_eq!(drain(&mut m), ["topics Off", "idle"]);
    assert_eq!(m.next_deadline(), None);
    // Commands while Off, in cluster mode: left to the active node.
    m.command(job(false), t, Utc::now());
    assert!(drain(&mut m).is_empty());
    m.role(Role::Standby, t);
    assert_eq!(
        drain(&mut m),
        ["topics Standby", "status connecting standby -", "connect 0"]
    );
    // Off while connecting: the attempt is abandoned, nothing is reported.
    m.role(Role::Off, t);
    assert_eq!(
        drain(&mut m),
        [
            "topics Off",
            "close off: neither owner nor standby",
            "topics Off",
            "idle"
        ]
    );
    m.role(Role::Active, t);
    assert_eq!(
        drain(&mut m),
        ["topics Active", "status connecting main -", "connect 0"]
    );
    m.connect_failed("refused".into(), t);
    assert_eq!(drain(&mut m), ["status disconnected main refused"]);
    // Standby while waiting: the wait goes on; Off ends it.
    m.role(Role::Standby, t);
    assert_eq!(drain(&mut m), ["topics Standby"]);
    assert!(m.next_deadline().is_some());
    m.role(Role::Off, t);
    assert_eq!(drain(&mut m), ["topics Off", "topics Off", "idle"]);
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn role_changes_while_connected_fence_with_startdt_and_stopdt() {
    let t = Instant::now();
    let mut m = Machine::new(settings(1, false), Role::Standby, 1, t);
    drain(&mut m);
    m.connected(t);
    assert_eq!(
        drain(&mut m),
        ["report Connected", "status stopped main standby"]
    );
    // Standby: connected, data transfer stopped; commands refused.
    m.command(job(false), t, Utc::now());
    assert_eq!(
        drain(&mut m),
        ["result rejected: the RTU is connected but data transfer is stopped (standby)"]
    );
    m.role(Role::Active, t);
    assert_eq!(drain(&mut m), ["topics Active", "startdt"]);
    // Standby before the STARTDT con: decided once it is confirmed.
    m.role(Role::Standby, t);
    assert_eq!(drain(&mut m), ["topics Standby"]);
    m.dt_confirmed(t);
    assert_eq!(
        drain(&mut m),
        ["report Started", "status started main -", "gi 1", "stopdt"]
    );
    assert_eq!(
        m.next_deadline(),
        Some(t + T1 + DT_GRACE),
        "no periodic GI while stopping"
    );
    // Off while stopping: closed once the STOPDT is confirmed; no backoff, no disconnect status.
    m.role(Role::Off, t);
    assert_eq!(drain(&mut m), ["topics Off"]);
    m.dt_confirmed(t);
    assert_eq!(
        drain(&mut m),
        [
            "report Stopped",
            "status stopped main standby",
            "close off: neither owner nor standby",
            "report Closed",
            "topics Off",
            "idle"
        ]
    );
    assert!(!m.is_connected());
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn missing_or_failed_startdt_and_stopdt_end_the_connection() {
    let t = Instant::now();
    let mut m = Machine::new(settings(1, false), Role::Active, 1, t);
    m.connected(t);
    drain(&mut m);
    m.tick(t + T1 + DT_GRACE);
    assert_eq!(
        drain(&mut m),
        [
            "close no STARTDT con",
            "report Closed",
            "status disconnected main no STARTDT con"
        ]
    );
    let mut m = started(settings(1, false), t);
    m.role(Role::Standby, t);
    drain(&mut m);
    m.dt_failed("closed", t);
    assert_eq!(
        drain(&mut m),
        [
            "close STOPDT: closed",
            "report Closed",
            "status disconnected main STOPDT: closed"
        ]
    );
}

#[test]
fn standby_takes_over_when_made_active_in_a_cluster() {
    let t = Instant::now();
    let mut m = Machine::new(settings(1, true), Role::Standby, 1, t);
    drain(&mut m);
    m.connected(t);
    assert_eq!(
        drain(&mut m),
        ["report Connected", "status stopped standby standby"]
    );
    m.role(Role::Active, t);
    assert_eq!(drain(&mut m), ["topics Active", "startdt"]);
    m.dt_confirmed(t);
    assert_eq!(
        drain(&mut m),
        ["report Started", "status started main -", "gi 1"]
    );
    // Fenced: the station closed us as another node started. The disconnection goes to the
    // standby topic; the next attempt, still Active, speaks on the main topic again.
    m.closed("closed by the station".into(), t);
    assert_eq!(
        drain(&mut m),
        [
            "close closed by the station",
            "report Closed",
            "status disconnected standby closed by the station"
        ]
    );
    m.tick(m.next_deadline().unwrap());
    assert_eq!(
        drain(&mut m),
        [
            "topics Active",
            "topics Active",
            "status connecting main -",
            "connect 0"
        ]
    );
}

#[test]
fn command_executes_then_confirms_then_terminates_one_at_a_time() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    assert!(m.wants_command());
    m.command(job(false), t, Utc::now());
    assert_eq!(drain(&mut m), ["send first"]);
    // One at a time: the next waits in the queue (the router answers busy once it is full).
    assert!(!m.wants_command());
    assert_eq!(m.next_deadline(), Some(t + CMD));
    // Another point's answer, and an ActTerm before the ActCon, are not ours.
    answer(&mut m, 10, 0x02, t);
    assert!(drain(&mut m).is_empty());
    answer(&mut m, 7, 0x02, t + MS);
    assert_eq!(drain(&mut m), ["result confirmed"]);
    assert!(m.wants_command(), "confirmed: the next command may go");
    answer(&mut m, 10, 0x02, t + MS);
    assert_eq!(drain(&mut m), ["result terminated"]);
    assert_eq!(m.next_deadline(), Some(t + GI));
}

#[test]
fn select_before_operate_sends_the_execute_after_the_select_con() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.command(job(true), t, Utc::now());
    let Some(Action::SendCommand { asdu, execute }) = m.next_action() else {
        panic!("no select")
    };
    // DCO: S/E = 1 (select), DCS 2 (ON).
    assert_eq!((asdu.last(), execute), (Some(&0x82), false));
    answer(&mut m, 7, 0x82, t + MS);
    let Some(Action::SendCommand { asdu, execute }) = m.next_action() else {
        panic!("no execute")
    };
    assert_eq!((asdu.last(), execute), (Some(&0x02), true));
    assert!(!m.wants_command(), "the execute awaits its con");
    assert_eq!(m.next_deadline(), Some(t + MS + CMD));
    answer(&mut m, 7, 0x02, t + MS);
    assert_eq!(drain(&mut m), ["result confirmed"]);
    answer(&mut m, 10, 0x02, t + MS);
    assert_eq!(drain(&mut m), ["result terminated"]);
}

#[test]
fn command_times_out_without_con_but_not_without_term() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.command(job(true), t, Utc::now());
    drain(&mut m);
    m.tick(t + CMD - MS);
    assert!(drain(&mut m).is_empty());
    m.tick(t + CMD);
    assert_eq!(
        drain(&mut m),
        ["result timeout: no ActCon of the select within 5s"]
    );
    assert!(m.wants_command());
    // Confirmed: a missing ActTerm is no failure.
    m.command(job(false), t + CMD, Utc::now());
    answer(&mut m, 7, 0x02, t + CMD);
    drain(&mut m);
    m.tick(t + 2 * CMD);
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.next_deadline(), Some(t + GI));
}

#[test]
fn negative_con_rejects_and_frees_the_session() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.command(job(false), t, Utc::now());
    drain(&mut m);
    answer(&mut m, 0x47, 0x02, t);
    assert_eq!(
        drain(&mut m),
        ["result rejected: refused by the RTU: cause 7 actcon, P/N=1"]
    );
    assert!(m.wants_command());
}

#[test]
fn connection_closed_mid_command_answers_timeout_and_reconnects() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.command(job(false), t, Utc::now());
    drain(&mut m);
    m.closed("t1 expired".into(), t + MS);
    assert_eq!(
        drain(&mut m),
        [
            "result timeout: connection lost before the answer: t1 expired",
            "close t1 expired",
            "report Closed",
            "status disconnected main t1 expired"
        ]
    );
    // Nothing of the old command is left: the next deadline is the reconnection.
    let at = m.next_deadline().unwrap();
    assert!(at <= t + MS + Duration::from_millis(500));
    m.command(job(false), t + MS, Utc::now());
    assert_eq!(drain(&mut m), ["result rejected: the RTU is not connected"]);
    m.tick(at);
    drain(&mut m);
    m.command(job(false), at, Utc::now());
    assert_eq!(
        drain(&mut m),
        ["result rejected: the RTU is not connected (connecting)"]
    );
}

#[test]
fn unsent_commands_are_refused_and_an_unsent_execute_ends_the_connection() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.command(job(false), t, Utc::now());
    drain(&mut m);
    m.command_not_sent(false, "queue closed", t);
    assert_eq!(
        drain(&mut m),
        ["result rejected: cannot send: queue closed"]
    );
    assert!(m.wants_command() && m.is_connected());
    m.command(job(true), t, Utc::now());
    answer(&mut m, 7, 0x82, t);
    drain(&mut m);
    m.command_not_sent(true, "closed", t);
    assert_eq!(
        drain(&mut m),
        [
            "result rejected: cannot send the execute: closed",
            "close sending execute: closed",
            "report Closed",
            "status disconnected main sending execute: closed"
        ]
    );
}

#[test]
fn shutdown_closes_a_connection_and_finishes() {
    let t = Instant::now();
    let mut m = started(settings(1, false), t);
    m.shutdown("gateway shutting down", t);
    assert_eq!(
        drain(&mut m),
        [
            "close gateway shutting down",
            "report Closed",
            "status disconnected main gateway shutting down"
        ]
    );
    assert!(m.finished() && !m.wants_command());
    assert_eq!(m.next_deadline(), None);
    // While waiting: finished without a word.
    let mut m = Machine::new(settings(1, false), Role::Active, 1, t);
    m.connect_failed("refused".into(), t);
    drain(&mut m);
    m.shutdown("gateway shutting down", t);
    assert!(drain(&mut m).is_empty() && m.finished());
}

/// RTU path loss (issue #11): the cluster learns of a reset at once (the report comes with the
/// close, in the same instant); refused retries report nothing more (the path stays lost); a
/// node demoted to standby keeps trying, speaking on its standby topic; a connection that
/// works again is reported at once.
#[test]
fn a_lost_path_is_reported_at_once_and_a_demoted_node_keeps_trying() {
    let t0 = Instant::now();
    let mut m = started(settings(1, true), t0);
    m.closed("connection reset by peer".into(), t0);
    let out = drain(&mut m);
    assert_eq!(
        out[..2],
        ["close connection reset by peer", "report Closed"]
    );
    // The retry is refused: a status, no report.
    m.tick(m.next_deadline().unwrap());
    drain(&mut m);
    let t1 = m.next_deadline().map_or(t0, |d| d.max(t0));
    m.connect_failed("connect to 127.0.0.1:2404: refused".into(), t1);
    let out = drain(&mut m);
    assert!(out.iter().all(|a| !a.starts_with("report")), "{out:?}");
    // Demoted to standby while waiting: it goes on trying, on its standby topic.
    m.role(Role::Standby, t1);
    assert_eq!(drain(&mut m), ["topics Standby"]);
    m.tick(m.next_deadline().unwrap());
    assert_eq!(
        drain(&mut m),
        ["topics Standby", "status connecting standby -", "connect 0"]
    );
    let t2 = m.next_deadline().unwrap_or(t1);
    m.connected(t2);
    assert_eq!(
        drain(&mut m),
        ["report Connected", "status stopped standby standby"]
    );
}
