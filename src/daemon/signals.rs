//! Process signals → lifecycle requests. SIGTERM/SIGINT ask for a graceful stop, SIGHUP for a config reload.

use futures::StreamExt;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_tokio::Signals;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
}

/// Forwards signals as requests until `cancel` fires. Registering happens here, before the task starts, so a
/// signal that arrives during start-up is not lost.
pub fn spawn(
    cancel: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> std::io::Result<mpsc::Receiver<Request>> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let handle = signals.handle();
    let (tx, rx) = mpsc::channel(8);
    tracker.spawn(async move {
        loop {
            let signal = tokio::select! {
                _ = cancel.cancelled() => break,
                signal = signals.next() => signal,
            };
            let request = match signal {
                Some(SIGHUP) => Request::Reload,
                Some(_) => Request::Stop,
                None => break,
            };
            if tx.send(request).await.is_err() {
                break;
            }
        }
        handle.close();
    });
    Ok(rx)
}
