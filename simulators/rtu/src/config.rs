//! The scenario: stations, their points, protocol parameters and faults, read from TOML
//! (unknown keys are errors, reported with line and column), or generated from the
//! command-line flags (`--points`, `--stations`).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use crate::faults::FaultSpec;
use crate::points::behaviour::Behaviour;

/// A whole scenario: one or many stations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random behaviour (overridden by `--seed`).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The stations, in port order.
    #[serde(rename = "station")]
    pub stations: Vec<StationConfig>,
}

/// One simulated controlled station.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    /// A name for logs and the events log (default `rtu-<ca>`).
    #[serde(default)]
    pub name: Option<String>,
    /// Common address of ASDU.
    pub ca: u16,
    /// TCP port; default: the `--listen` port plus the station's index.
    #[serde(default)]
    pub port: Option<u16>,
    /// Spontaneous events per second shared by the points without a rate of their own.
    #[serde(default)]
    pub rate: Option<f64>,
    /// k: unacknowledged I-frames at most.
    #[serde(default)]
    pub k: Option<u16>,
    /// w: acknowledge after this many received I-frames.
    #[serde(default)]
    pub w: Option<u16>,
    /// t1 in seconds.
    #[serde(default)]
    pub t1: Option<f64>,
    /// t2 in seconds.
    #[serde(default)]
    pub t2: Option<f64>,
    /// t3 in seconds.
    #[serde(default)]
    pub t3: Option<f64>,
    /// Redundancy mode: `single` (default), `groups` (see `groups`) or `connection`.
    #[serde(default)]
    pub redundancy: Redundancy,
    /// Redundancy groups for `redundancy = "groups"`.
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
    /// Events each redundancy group keeps while no client is started.
    #[serde(default)]
    pub queue_size: Option<usize>,
    /// Connections open at once.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// How long a select stays valid, in milliseconds (default 10000).
    #[serde(default)]
    pub select_timeout_ms: Option<u64>,
    /// The points.
    #[serde(default, rename = "point")]
    pub points: Vec<PointConfig>,
    /// Adds this many points of the generated mixed set (as `--points`).
    #[serde(default)]
    pub generate: Option<usize>,
    /// IOA of the first generated point (default 1).
    #[serde(default)]
    pub generate_ioa: Option<u32>,
    /// Faults to inject.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
    /// Serve TLS (IEC 62351-3) with these certificates; default: plain TCP.
    #[serde(default)]
    pub tls: Option<crate::tls::StationTls>,
}

/// Redundancy mode of a station.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redundancy {
    /// All clients share one group.
    #[default]
    Single,
    /// Groups chosen by client address (`groups`).
    Groups,
    /// Every connection is its own group.
    Connection,
}

/// A redundancy group of `redundancy = "groups"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Its name.
    pub name: String,
    /// Client addresses; empty: catch-all.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
}

/// One point: a monitored value or a command point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointConfig {
    /// Information object address.
    pub ioa: u32,
    /// Type mnemonic, e.g. `M_ME_TF_1` or `C_DC_NA_1`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// A name for humans (documentation of the scenario; not sent).
    #[serde(default)]
    #[allow(dead_code)]
    pub name: Option<String>,
    /// Initial value: a boolean, `"on"`/`"off"`/`"intermediate"`/`"indeterminate"`, or a number.
    #[serde(default)]
    pub value: Option<toml::Value>,
    /// How the value moves (default constant).
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Updates per second of this point alone; without it the point shares the station rate.
    #[serde(default)]
    pub rate: Option<f64>,
    /// A change smaller than this (absolute) is not reported spontaneously.
    #[serde(default)]
    pub deadband: f64,
    /// Periodic (cyclic, COT 1) reporting every this many seconds.
    #[serde(default)]
    pub period: Option<f64>,
    /// Interrogation group 1..=16 (counter group 1..=4 for integrated totals).
    #[serde(default)]
    pub group: Option<u8>,
    /// Command points: the IOA of the point the command drives.
    #[serde(default)]
    pub drives: Option<u32>,
    /// Command points: milliseconds between ActCon and the driven change (then ActTerm).
    #[serde(default)]
    pub delay_ms: u64,
    /// Command points: execution only after a select (select-before-operate).
    #[serde(default)]
    pub sbo: bool,
    /// Quality flags the point always reports, e.g. `["SB"]` (substituted) or `["BL"]`
    /// (blocked); any of IV, NT, SB, BL, OV, EI (each type carries those its quality octet has).
    #[serde(default)]
    pub quality: Vec<String>,
}

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax, a type mismatch or an unknown key (the message has line and column).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, with line, column and the offending text.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("station {station}: {message}")]
    Invalid {
        /// Station name or CA.
        station: String,
        /// What is wrong.
        message: String,
    },
}

impl Scenario {
    /// Reads and parses a TOML scenario file (unknown keys are errors, with line and column).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ConfigError> {
        Scenario::load(path.as_ref())
    }

    /// Parses a TOML scenario from a string (errors name it `<string>`).
    pub fn from_toml_str(text: &str) -> Result<Scenario, ConfigError> {
        Scenario::parse(text, "<string>")
    }

    /// One generated station (common address 1) with `points` points of the mixed set,
    /// `rate` spontaneous events per second, reproducible from `seed`: what
    /// `iec104-sim --points P --rate R --seed S` runs.
    pub fn generated(points: usize, rate: f64, seed: u64) -> Scenario {
        let mut scenario = Scenario::generated_stations(1, 1, points, rate);
        scenario.seed = Some(seed);
        scenario
    }

    /// `stations` generated stations with common addresses `first_ca`, `first_ca + 1`, ...
    /// (wrapping), each with `points` points of the mixed set and `rate` events per second;
    /// no seed (set [`Scenario::seed`] or [`crate::Options::seed`]).
    pub fn generated_stations(stations: u16, first_ca: u16, points: usize, rate: f64) -> Scenario {
        let points = generated_points(points);
        let stations = (0..stations)
            .map(|i| StationConfig {
                name: None,
                ca: first_ca.wrapping_add(i),
                port: None,
                rate: Some(rate),
                k: None,
                w: None,
                t1: None,
                t2: None,
                t3: None,
                redundancy: Redundancy::Single,
                groups: Vec::new(),
                queue_size: None,
                max_connections: None,
                select_timeout_ms: None,
                points: points.clone(),
                generate: None,
                generate_ioa: None,
                faults: Vec::new(),
                tls: None,
            })
            .collect();
        Scenario {
            seed: None,
            stations,
        }
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }
}

impl StationConfig {
    /// Every point: the configured ones, then the generated set.
    pub fn all_points(&self) -> Vec<PointConfig> {
        let mut points = self.points.clone();
        if let Some(n) = self.generate {
            let shift = self.generate_ioa.unwrap_or(1).saturating_sub(1);
            points.extend(generated_points(n).into_iter().map(|mut p| {
                p.ioa = p.ioa.saturating_add(shift);
                p.drives = p.drives.map(|d| d.saturating_add(shift));
                p
            }));
        }
        points
    }

    /// The station's display name.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("rtu-{}", self.ca))
    }
}

/// The generated mixed point set of `--points N` (see [`generated_points`]).
const TEMPLATES: &[(&str, &str)] = &[
    ("M_SP_NA_1", "toggle"),
    ("M_SP_TB_1", "toggle"),
    ("M_DP_NA_1", "toggle"),
    ("M_DP_TB_1", "toggle"),
    ("M_ME_NC_1", "walk"),
    ("M_ME_TF_1", "sine"),
    ("M_ME_NB_1", "walk"),
    ("M_ME_TE_1", "ramp"),
    ("M_ME_NA_1", "walk"),
    ("M_ME_TD_1", "square"),
    ("M_ST_NA_1", "walk"),
    ("M_ST_TB_1", "walk"),
    ("M_BO_NA_1", "counter"),
    ("M_BO_TB_1", "counter"),
    ("M_IT_NA_1", "counter"),
    ("M_IT_TB_1", "counter"),
    ("C_SC_NA_1", "drive:1"),
    ("C_DC_NA_1", "drive:3"),
    ("C_SE_NC_1", "drive:5"),
    ("C_RC_NA_1", "drive:11"),
];

/// `n` points of mixed types at IOAs 1..=n: single and double points, floats, scaled and
/// normalized values, step positions, bitstrings, integrated totals, with and without
/// CP56Time2a, and command points driving points of their own block of 20.
pub fn generated_points(n: usize) -> Vec<PointConfig> {
    (0..n)
        .map(|i| {
            let (type_name, kind) = TEMPLATES[i % TEMPLATES.len()];
            let ioa = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let block = u32::try_from(i - i % TEMPLATES.len()).unwrap_or(0);
            let mut point = PointConfig {
                ioa,
                type_name: type_name.to_string(),
                name: None,
                value: None,
                behaviour: Behaviour::Constant,
                rate: None,
                deadband: 0.0,
                period: None,
                group: None,
                drives: None,
                delay_ms: 0,
                sbo: false,
                quality: Vec::new(),
            };
            point.behaviour = match kind {
                "toggle" => Behaviour::Toggle,
                "walk" if type_name.starts_with("M_ST") => Behaviour::RandomWalk {
                    step: 1.0,
                    min: -5.0,
                    max: 5.0,
                },
                "walk" if type_name == "M_ME_NA_1" => Behaviour::RandomWalk {
                    step: 0.01,
                    min: -1.0,
                    max: 0.99,
                },
                "walk" => Behaviour::RandomWalk {
                    step: 1.0,
                    min: 0.0,
                    max: 1000.0,
                },
                "sine" => Behaviour::Sine {
                    offset: 230.0,
                    amplitude: 5.0,
                    period: 60.0,
                },
                "ramp" => Behaviour::Ramp {
                    min: 0.0,
                    max: 1000.0,
                    period: 120.0,
                },
                "square" => Behaviour::Square {
                    offset: 0.0,
                    amplitude: 0.5,
                    period: 10.0,
                },
                "counter" => Behaviour::Counter { increment: 1.0 },
                _ => Behaviour::Constant,
            };
            if let Some(target) = kind.strip_prefix("drive:") {
                let offset: u32 = target.parse().unwrap_or(1);
                let driven = block + offset;
                if driven < ioa {
                    point.drives = Some(driven);
                }
                point.delay_ms = if type_name == "C_DC_NA_1" { 200 } else { 0 };
            }
            point
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_an_error_with_line_and_column() {
        let text = "[[station]]\nca = 1\n[[station.point]]\nioa = 5\ntype = \"M_SP_NA_1\"\ncolour = \"red\"\n";
        let err = Scenario::parse(text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(err.contains("line 6"), "{err}");
        assert!(err.contains("column 1"), "{err}");
    }

    #[test]
    fn unknown_behaviour_field_is_an_error() {
        let text = "[[station]]\nca = 1\n[[station.point]]\nioa = 5\ntype = \"M_ME_NC_1\"\nbehaviour = { kind = \"sine\", amplitude = 1.0, period = 2.0, offset = 0.0, phase = 1.0 }\n";
        let err = Scenario::parse(text, "t.toml").unwrap_err().to_string();
        assert!(err.contains("phase"), "{err}");
        assert!(err.contains("line 6"), "{err}");
    }

    #[test]
    fn generated_points_mix_types_and_drive_their_block() {
        let points = generated_points(40);
        assert_eq!(points.len(), 40);
        assert_eq!(points[0].type_name, "M_SP_NA_1");
        assert_eq!(points[17].type_name, "C_DC_NA_1");
        assert_eq!(points[17].drives, Some(3));
        assert_eq!(points[37].drives, Some(23));
        assert_eq!(points[39].ioa, 40);
    }
}

#[cfg(test)]
mod shipped {
    use super::*;
    use crate::points::PointTable;

    #[test]
    fn shipped_scenarios_parse_and_build() {
        for (name, text) in [
            (
                "substation-110kv.toml",
                include_str!("../../scenarios/substation-110kv.toml"),
            ),
            (
                "load-test.toml",
                include_str!("../../scenarios/load-test.toml"),
            ),
        ] {
            let s = Scenario::parse(text, name).unwrap();
            assert!(!s.stations.is_empty(), "{name}");
            for st in &s.stations {
                let table = PointTable::new(&st.all_points()).unwrap();
                assert!(table.points.len() > 5, "{name}");
                for f in &st.faults {
                    assert_eq!(f.check(&table), Ok(()), "{name}: {f:?}");
                }
            }
        }
    }
}
