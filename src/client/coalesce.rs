//! Read coalescing: while data arrives more often than every `2·W`, the client reads it in
//! batches instead of waking up for every SSE event.
//!
//! Why: a client that waits in `epoll_wait` is woken by the kernel for every segment that
//! arrives — with vLLM, one per token and stream. Each wake-up costs a context switch, an
//! `epoll_wait` and a `recvfrom`: measured, most of the client's CPU per token
//! (docs/performance-client.md). Pausing individual streams does not help, since the kernel
//! still wakes the runtime for every segment of a paused stream; only not waiting in
//! `epoll_wait` for a moment does.
//!
//! How: with a window `W` (`--read-coalesce-us`), a runtime thread that is about to go idle first
//! sleeps `W` — but only if its previous idle spell was shorter than `2·W`, i.e. if data is
//! arriving more often than every `2·W`. After the nap, one `epoll_wait` returns every socket that
//! received data meanwhile, and each read takes every event waiting in it.
//!
//! What this does to the measurements (docs/metrics.md, "Read coalescing"):
//! - on Linux every read keeps the kernel's receive time of its bytes (`super::conn`), so a late
//!   read moves no timestamp; only tokens of one stream that arrive within one window share the
//!   timestamp of the last of them;
//! - without kernel timestamps a timestamp is taken at most `W` (plus the sleep's own latency,
//!   tens of µs) after its bytes arrived: gaps get up to ±`W` of jitter, TTFT and E2E up to `W`
//!   more (`W/2` on average);
//! - either way only while the client as a whole is receiving data more often than every `2·W`:
//!   a client with idle gaps longer than that reads the moment bytes arrive, exactly as with
//!   `W = 0`;
//! - a send that falls due during a nap goes out when it ends (the schedule delay shows it).

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// When this runtime thread last went idle, and how long its last idle spell was.
    static IDLE: Cell<(Option<Instant>, Option<Duration>)> = const { Cell::new((None, None)) };
}

/// Whether a thread whose previous idle spell lasted `previous_idle` naps before going idle.
pub fn should_nap(previous_idle: Option<Duration>, window: Duration) -> bool {
    !window.is_zero() && previous_idle.is_some_and(|d| d < window * 2)
}

/// Installs the nap on a runtime builder (nothing with a zero window).
pub fn install(builder: &mut tokio::runtime::Builder, window: Duration) {
    if window.is_zero() {
        return;
    }
    builder
        .on_thread_park(move || {
            let (_, previous) = IDLE.get();
            if should_nap(previous, window) {
                std::thread::sleep(window);
            }
            IDLE.set((Some(Instant::now()), previous));
        })
        .on_thread_unpark(|| {
            let (since, _) = IDLE.get();
            IDLE.set((None, since.map(|t| t.elapsed())));
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naps_only_after_short_idle_spells() {
        let w = Duration::from_micros(250);
        assert!(!should_nap(None, w));
        assert!(should_nap(Some(Duration::ZERO), w));
        assert!(should_nap(Some(Duration::from_micros(499)), w));
        assert!(!should_nap(Some(Duration::from_micros(500)), w));
        assert!(!should_nap(Some(Duration::from_millis(20)), w));
        assert!(!should_nap(Some(Duration::ZERO), Duration::ZERO));
    }
}
