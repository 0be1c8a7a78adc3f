//! SIGINT and SIGTERM: the first one asks the sweep to stop (the benchmark stops and saves its
//! results marked interrupted, the server group is stopped); a second one also cuts the
//! server's grace period short (SIGKILL at once); a third one kills the server group and exits
//! at once (for a benchmark that does not stop).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// What the sweep listens to.
#[derive(Debug, Clone)]
pub struct Signals {
    /// True after the first signal.
    pub stop: watch::Receiver<bool>,
    /// True after the second signal.
    pub hurry: watch::Receiver<bool>,
    first: Arc<AtomicI32>,
}

impl Signals {
    /// Signals driven by hand (tests), with the senders for `stop` and `hurry`.
    pub fn manual() -> (Signals, watch::Sender<bool>, watch::Sender<bool>) {
        let (stop_tx, stop) = watch::channel(false);
        let (hurry_tx, hurry) = watch::channel(false);
        (
            Signals {
                stop,
                hurry,
                first: Arc::new(AtomicI32::new(0)),
            },
            stop_tx,
            hurry_tx,
        )
    }

    /// Installs the SIGINT and SIGTERM handlers (inside a tokio runtime). From here on these
    /// signals no longer end the process by themselves.
    pub fn install() -> std::io::Result<Signals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (signals, stop_tx, hurry_tx) = Signals::manual();
        let first = Arc::clone(&signals.first);
        tokio::spawn(async move {
            let mut count = 0u32;
            loop {
                let (sig, name) = tokio::select! {
                    _ = int.recv() => (libc::SIGINT, "SIGINT"),
                    _ = term.recv() => (libc::SIGTERM, "SIGTERM"),
                };
                count += 1;
                if count == 1 {
                    first.store(sig, Ordering::SeqCst);
                    eprintln!("\nreceived {name}: stopping the benchmark and the server (send it again to kill the server at once)");
                    stop_tx.send_replace(true);
                } else if count == 2 {
                    eprintln!("\nreceived {name} again: killing the server group now");
                    hurry_tx.send_replace(true);
                } else {
                    eprintln!(
                        "\nreceived {name} a third time: killing the server group and exiting"
                    );
                    super::server::kill_active_group();
                    std::process::exit(128 + sig);
                }
            }
        });
        Ok(signals)
    }

    pub fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// The first signal received (`libc::SIGINT`/`SIGTERM`), if any.
    pub fn first_signal(&self) -> Option<i32> {
        match self.first.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}
