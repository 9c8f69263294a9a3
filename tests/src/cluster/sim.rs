//! The simulator process (`iec104-sim --config scenario.toml --events-log events.jsonl`):
//! several stations with time-tagged spontaneous events at a steady rate, redundancy mode
//! "single" (one group: a STARTDT on a new connection closes the old one), a queue large
//! enough for any takeover gap and room for a connection from every node. Its stderr (info)
//! records every connection, STARTDT, STOPDT and close per station: [`Sim::transfers`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Name, port and common address of one simulated station.
#[derive(Debug, Clone)]
pub struct StationAddr {
    /// Station name = RTU name in the gateway configuration.
    pub name: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its common address.
    pub ca: u16,
}

/// The running simulator.
pub struct Sim {
    /// The stations.
    pub stations: Vec<StationAddr>,
    /// The events log (ground truth).
    pub events_log: PathBuf,
    /// Its stderr.
    pub log: PathBuf,
    child: Child,
    scenario: PathBuf,
}

/// Starts the simulator on `scenario`, appending to `events_log` and `log`; waits until every
/// station listens.
async fn spawn(scenario: &Path, events_log: &Path, log: &Path, stations: &[StationAddr]) -> Child {
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("sim log");
    let child = Command::new(crate::gateway::simulator())
        .arg("--config")
        .arg(scenario)
        .arg("--events-log")
        .arg(events_log)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .expect("start iec104-sim");
    for st in stations {
        assert!(
            crate::wait_listening(st.port, Duration::from_secs(15)).await,
            "station {} not listening on {}",
            st.name,
            st.port
        );
    }
    child
}

/// The scenario: `n` stations `s1..sn` (CA 1..n) with four time-tagged points each (a float,
/// an integrated total, a scaled value and a bitstring), all counting up so that no two events
/// of a point share (time tag, value) even within one millisecond; `rate` events per second
/// per station; and a command point, IOA 2001 (C_SC_NA_1), driving IOA 1005.
pub fn scenario(stations: &[StationAddr], rate: f64, redundancy: &str) -> String {
    let mut s = String::from("seed = 7\n");
    for st in stations {
        let _ = write!(
            s,
            "[[station]]\nname = \"{}\"\nca = {}\nport = {}\nrate = {rate}\nredundancy = \"{redundancy}\"\nqueue_size = 100000\nmax_connections = 8\n",
            st.name, st.ca, st.port
        );
        for (ioa, ty, behaviour) in [
            (1001, "M_ME_TF_1", "{ kind = \"counter\", increment = 1.0 }"),
            (1002, "M_IT_TB_1", "{ kind = \"counter\", increment = 1.0 }"),
            (1003, "M_ME_TE_1", "{ kind = \"counter\", increment = 1.0 }"),
            (1004, "M_BO_TB_1", "{ kind = \"counter\", increment = 1.0 }"),
        ] {
            let _ = write!(
                s,
                "[[station.point]]\nioa = {ioa}\ntype = \"{ty}\"\nbehaviour = {behaviour}\n"
            );
        }
        // A command point (IOA 2001) driving a single point (IOA 1005) that changes only then.
        s.push_str(
            "[[station.point]]\nioa = 1005\ntype = \"M_SP_NA_1\"\nrate = 0.0\n[[station.point]]\nioa = 2001\ntype = \"C_SC_NA_1\"\ndrives = 1005\n",
        );
    }
    s
}

impl Sim {
    /// Starts `n` stations at `rate` events/s each, on free ports, redundancy "single", and
    /// waits until all listen.
    pub async fn start(dir: &Path, n: u16, rate: f64) -> Sim {
        Sim::start_with(dir, n, rate, "single").await
    }

    /// [`Sim::start`] with another redundancy mode ("connection": every connection is its own
    /// group, so a STARTDT closes nothing).
    pub async fn start_with(dir: &Path, n: u16, rate: f64, redundancy: &str) -> Sim {
        // Distinct ports: hold every probe listener until all are chosen (a released port can
        // be handed out again at once).
        let probes: Vec<std::net::TcpListener> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let stations: Vec<StationAddr> = (1..=n)
            .zip(&probes)
            .map(|(i, l)| StationAddr {
                name: format!("s{i}"),
                port: l.local_addr().expect("addr").port(),
                ca: i,
            })
            .collect();
        drop(probes);
        let path = dir.join("scenario.toml");
        std::fs::write(&path, scenario(&stations, rate, redundancy)).expect("scenario");
        let events_log = dir.join("events.jsonl");
        let log = dir.join("sim.log");
        let child = spawn(&path, &events_log, &log, &stations).await;
        Sim {
            stations,
            events_log,
            log,
            child,
            scenario: path,
        }
    }

    /// An RTU restart: kills the simulator and starts it again on the same ports and scenario
    /// (its events log and stderr log go on in the same files); waits until all listen.
    pub async fn restart(&mut self) {
        let _ = self.child.kill().await;
        self.child = spawn(&self.scenario, &self.events_log, &self.log, &self.stations).await;
    }

    /// The station names.
    pub fn names(&self) -> Vec<String> {
        self.stations.iter().map(|s| s.name.clone()).collect()
    }

    /// Every data transfer change per station, in log order.
    pub fn transfers(&self) -> BTreeMap<String, Vec<Transfer>> {
        transfers(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The commands station `station` logged (with their outcome), in order.
    pub fn commands(&self, station: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.events_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("outcome").is_some() && v["station"] == station)
            .collect()
    }

    /// Stops the simulator.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// One line of the simulator's connection log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// A client connected (connection id).
    Connected(String),
    /// STARTDT on a connection.
    Started(String),
    /// STOPDT on a connection.
    Stopped(String),
    /// A connection closed.
    Closed(String),
}

/// Parses the simulator's stderr (tracing's text format: `... message station=s1 conn=#3 ...`).
pub fn transfers(text: &str) -> BTreeMap<String, Vec<Transfer>> {
    let mut out: BTreeMap<String, Vec<Transfer>> = BTreeMap::new();
    for line in text.lines() {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let (Some(station), Some(conn)) = (field("station="), field("conn=")) else {
            continue;
        };
        let t = if line.contains("data transfer started") {
            Transfer::Started(conn)
        } else if line.contains("data transfer stopped") {
            Transfer::Stopped(conn)
        } else if line.contains("client closed") {
            Transfer::Closed(conn)
        } else if line.contains("client connected") {
            Transfer::Connected(conn)
        } else {
            continue;
        };
        out.entry(station).or_default().push(t);
    }
    out
}

/// STARTDTs that came while another connection of the station was still started (not stopped,
/// not closed): a takeover from a frozen or cut-off node fences it this way once; a node
/// fighting back makes it more. A graceful handover makes none.
pub fn preemptions(log: &[Transfer]) -> usize {
    let mut started: Option<&str> = None;
    let mut n = 0;
    for t in log {
        match t {
            Transfer::Started(c) => {
                if started.is_some_and(|s| s != c) {
                    n += 1;
                }
                started = Some(c);
            }
            Transfer::Stopped(c) | Transfer::Closed(c) => {
                if started == Some(c.as_str()) {
                    started = None;
                }
            }
            Transfer::Connected(_) => {}
        }
    }
    n
}

/// The connections of a station started now (at the end of its log).
pub fn started_now(log: &[Transfer]) -> Vec<String> {
    let mut started: Vec<String> = Vec::new();
    for t in log {
        match t {
            Transfer::Started(c) => {
                if !started.contains(c) {
                    started.push(c.clone());
                }
            }
            Transfer::Stopped(c) | Transfer::Closed(c) => started.retain(|s| s != c),
            Transfer::Connected(_) => {}
        }
    }
    started
}

/// How many STARTDTs the station saw.
pub fn starts(log: &[Transfer]) -> usize {
    log.iter()
        .filter(|t| matches!(t, Transfer::Started(_)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preemption_is_a_start_over_a_started_connection() {
        let log = transfers(
            "x INFO data transfer started station=s1 conn=#1\n\
             x INFO client connected station=s1 conn=#2 peer=1\n\
             x INFO data transfer started station=s1 conn=#2\n\
             x INFO client closed station=s1 conn=#1 reason=x\n\
             x INFO data transfer stopped station=s1 conn=#2\n\
             x INFO data transfer started station=s1 conn=#3\n\
             x INFO data transfer started station=s2 conn=#1\n",
        );
        assert_eq!(preemptions(&log["s1"]), 1);
        assert_eq!(starts(&log["s1"]), 3);
        assert_eq!(preemptions(&log["s2"]), 0);
        assert_eq!(started_now(&log["s1"]), vec!["#3".to_string()]);
        assert_eq!(started_now(&log["s2"]), vec!["#1".to_string()]);
    }
}
