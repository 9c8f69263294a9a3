//! The async side of `return_to_first`: while connected to another broker, checks at the
//! times [`ReturnChecks`] says whether the node's first broker accepts a TCP connection.

use std::time::Duration;

use super::rotation::ReturnChecks;
use crate::config::Broker;

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
