//! The async side of `return_to_first`: while connected to another broker, checks at the
//! times [`ReturnChecks`] says whether the node's first broker accepts a TCP connection.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::rotation::{ReturnChecks, Rotation};
use crate::config::Broker;

/// A pending "the first broker answers again" (see [`first_answers`]).
pub type FirstAnswers = Pin<Box<dyn Future<Output = ()> + Send>>;

/// On connecting to a broker of `brokers`: when `rotation` says this is not the first and
/// `return_to_first` is on, the checks of the first, as a future that resolves when it answers.
pub fn on_connected(
    rotation: &mut Rotation,
    brokers: &[Broker],
    timeout: Duration,
) -> Option<FirstAnswers> {
    let checks = rotation.connected(std::time::Instant::now())?;
    let first = brokers.first()?.clone();
    Some(Box::pin(first_answers(checks, first, timeout)))
}

/// Resolves once the first broker answers a check (a TCP connection accepted within
/// `timeout`, then closed at once); runs as long as the caller polls it.
pub async fn first_answers(mut checks: ReturnChecks, first: Broker, timeout: Duration) {
    loop {
        tokio::time::sleep_until(checks.due().into()).await;
        let answered = tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((first.host.as_str(), first.port)),
        )
        .await
        .is_ok_and(|c| c.is_ok());
        tracing::debug!(host = %first.host, port = first.port, answered, "first broker checked");
        if checks.checked(answered, std::time::Instant::now()) {
            return;
        }
    }
}
