//! The one signal handler of `run` and `sweep`. SIGINT, SIGTERM and SIGHUP (a closed terminal
//! or SSH session) are treated alike: the first one asks to stop (no new requests; what was
//! measured is written, marked interrupted); the second one asks to hurry (`sweep`: SIGKILL
//! the server at once; `run`: quit without waiting for in-flight requests); the third one
//! runs the caller's last-resort hook and exits at once with 128 + the signal number.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// What each signal does, as told to the user.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Said at the first signal (after "received SIGINT: ").
    pub on_stop: &'static str,
    /// Said at the second signal; `None`: the second signal exits.
    pub on_hurry: Option<&'static str>,
    /// Said when the process exits at the last signal.
    pub on_exit: &'static str,
    /// Runs just before that exit (e.g. kill the server group).
    pub before_exit: fn(),
}

/// What `run` and `sweep` listen to.
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

    /// Installs the SIGINT, SIGTERM and SIGHUP handlers (inside a tokio runtime). From here on
    /// these signals no longer end the process by themselves.
    pub fn install(policy: Policy) -> std::io::Result<Signals> {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let (signals, stop_tx, hurry_tx) = Signals::manual();
        let first = Arc::clone(&signals.first);
        tokio::spawn(async move {
            let mut count = 0u32;
            loop {
                let (sig, name) = tokio::select! {
                    _ = int.recv() => (libc::SIGINT, "SIGINT"),
                    _ = term.recv() => (libc::SIGTERM, "SIGTERM"),
                    _ = hup.recv() => (libc::SIGHUP, "SIGHUP"),
                };
                count += 1;
                if count == 1 {
                    first.store(sig, Ordering::SeqCst);
                    eprintln!("\nreceived {name}: {}", policy.on_stop);
                    stop_tx.send_replace(true);
                } else if count == 2 && policy.on_hurry.is_some() {
                    eprintln!("\nreceived {name} again: {}", policy.on_hurry.unwrap_or(""));
                    hurry_tx.send_replace(true);
                } else {
                    eprintln!("\nreceived {name} again: {}", policy.on_exit);
                    (policy.before_exit)();
                    std::process::exit(128 + sig);
                }
            }
        });
        Ok(signals)
    }

    /// Signals driven by other channels (a sweep stops its benchmark for other reasons too).
    pub fn from_channels(stop: watch::Receiver<bool>, hurry: watch::Receiver<bool>) -> Signals {
        Signals {
            stop,
            hurry,
            first: Arc::new(AtomicI32::new(0)),
        }
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
