//! `monitor`: print everything as it arrives.

use tokio::time::Instant;

use super::{parse, print_all};
use crate::args::Common;
use crate::error::CliError;
use crate::output::Printer;
use crate::session::Session;

/// Prints every object until `duration` has passed (exit 0), Ctrl-C (exit 0) or the
/// connection fails (exit 3).
pub async fn monitor(
    common: &Common,
    duration: Option<std::time::Duration>,
) -> Result<(), CliError> {
    let mut printer = Printer::new(common.format);
    let mut session = Session::open(common).await?;
    let end = duration.map(|d| Instant::now() + d);
    let result = async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        // Without signal support (an error at once), run on without the Ctrl-C branch.
        let mut signals = true;
        loop {
            tokio::select! {
                r = &mut ctrl_c, if signals => match r {
                    Ok(()) => {
                        printer.note("interrupted");
                        return Ok(());
                    }
                    Err(_) => signals = false,
                },
                _ = async { tokio::time::sleep_until(end.unwrap_or_else(Instant::now)).await },
                    if end.is_some() => return Ok(()),
                next = session.next_until(None, "data") => {
                    let Some(asdu) = next? else { continue };
                    if let Some(view) = parse(&printer, &asdu) {
                        print_all(&mut printer, &view)?;
                    }
                }
            }
        }
    }
    .await;
    session.close().await;
    result
}
