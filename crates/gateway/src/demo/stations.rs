//! The demo's substations, simulated in-process by the `iec104_sim` library: the 110 kV
//! substation of `simulators/scenarios/substation-110kv.toml` (CA 1) and two generated
//! stations (CA 2 and 3) with a mixed point set.

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

/// Binds every simulated station on 127.0.0.1 (ephemeral ports); they run until `stop`.
pub async fn start(stop: watch::Receiver<bool>) -> Result<Vec<Running>, String> {
    let substation = Scenario::from_toml_str(SUBSTATION)
        .map_err(|e| format!("simulators/scenarios/substation-110kv.toml: {e}"))?;
    let generated = Scenario::generated_stations(2, 2, 40, 2.0);
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
