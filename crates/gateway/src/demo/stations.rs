//! The demo's substations, simulated in-process by the `iec104_sim` library: the 110 kV
//! substation of `simulators/scenarios/substation-110kv.toml` (CA 1) and two generated
//! stations (CA 2 and 3) with a mixed point set; the one of CA 3 serves IEC 62351-3 TLS when
//! given certificates.

use std::future::Future;
use std::pin::Pin;

use iec104_sim::{Options, Scenario, StationInfo};
use tokio::sync::watch;

const SUBSTATION: &str = include_str!("../../../../simulators/scenarios/substation-110kv.toml");

/// A running simulation's stations and the future that runs them until `stop` resolves.
pub type Running = (Vec<StationInfo>, Pin<Box<dyn Future<Output = ()> + Send>>);

/// Resolves once `stop` holds true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// The common address of the demo's TLS station.
pub const TLS_CA: u16 = 3;

/// Binds every simulated station on 127.0.0.1 (ephemeral ports); they run until `stop`. The
/// station of common address [`TLS_CA`] serves TLS with `tls` when given.
pub async fn start(
    stop: watch::Receiver<bool>,
    tls: Option<iec104_sim::StationTls>,
) -> Result<Vec<Running>, String> {
    let substation = Scenario::from_toml_str(SUBSTATION)
        .map_err(|e| format!("simulators/scenarios/substation-110kv.toml: {e}"))?;
    let mut generated = Scenario::generated_stations(2, 2, 40, 2.0);
    for station in generated.stations.iter_mut() {
        if station.ca == TLS_CA {
            station.tls = tls.clone();
        }
    }
    let mut out = Vec::new();
    for scenario in [substation, generated] {
        let options = Options::new(([127, 0, 0, 1], 0).into());
        let sim = iec104_sim::start(&scenario, options)
            .await
            .map_err(|e| format!("simulated substations: {e}"))?;
        let stations = sim.stations().to_vec();
        let stop = stop.clone();
        let fut = async move {
            if let Err(e) = sim.run(stopped(stop)).await {
                tracing::warn!(error = %e, "simulation ended");
            }
        };
        out.push((
            stations,
            Box::pin(fut) as Pin<Box<dyn Future<Output = ()> + Send>>,
        ));
    }
    Ok(out)
}
