//! Read batching for camera sessions (see [`crate::CameraConfig::read_batch`]).
//!
//! A session that reads each frame as it arrives wakes a worker once or twice per frame; at a
//! few Mbit/s those wakeups, not the bytes, are most of what a camera costs. A batched session
//! instead reads once per period and takes everything that arrived in between. Periods run on
//! one grid for the whole process, ticked by one clock thread per period length: a tick wakes
//! every waiting session at once (one worker wakeup for all of them), and no session arms a
//! timer of its own (a timer per session per period costs the runtime's timer lock and driver
//! wakeups, which ate most of the gain when tried).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Read batching state of one session.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    configured: Duration,
    /// The period in use is `configured` halved this many times: raised while a camera sends
    /// more per period than a socket buffer comfortably holds, lowered when it sends little.
    /// Periods are thus always `configured / 2^k`, so a process needs few clocks.
    halvings: u32,
    /// Frame bytes taken since the last wait.
    bytes: usize,
}

impl ReadBatch {
    /// A round over this many bytes halves the period: Linux starts a TCP receive buffer at
    /// 128 KiB and may advertise only half of it as window; a camera whose bytes do not fit
    /// must stop sending (many drop frames then).
    const SHRINK_ABOVE: usize = 64 << 10;
    /// A round under this many bytes doubles the period again (up to the configured one).
    const GROW_BELOW: usize = 16 << 10;
    /// The period is not halved below this.
    const MIN_PERIOD: Duration = Duration::from_millis(5);

    pub(crate) fn new(period: Duration) -> Self {
        ReadBatch {
            configured: period,
            halvings: 0,
            bytes: 0,
        }
    }

    fn period(&self) -> Duration {
        self.configured / (1u32 << self.halvings)
    }

    /// Forgets what was taken outside batching (while a viewer watched), so the first round
    /// after it is judged on its own bytes.
    pub(crate) fn reset(&mut self) {
        self.bytes = 0;
    }

    /// Counts bytes taken in this round.
    pub(crate) fn took(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Ends a round (nothing complete is left to take), adapts the period to what the round
    /// took, and waits for the next tick. `false` if no clock could be started: the session
    /// should read as data arrives instead.
    pub(crate) async fn wait(&mut self) -> bool {
        match clock(self.end_round()) {
            Some(tick) => {
                tick.notified().await;
                true
            }
            None => false,
        }
    }

    /// Adapts the period to what the round took; returns the period of the next one.
    fn end_round(&mut self) -> Duration {
        let bytes = std::mem::take(&mut self.bytes);
        if bytes > Self::SHRINK_ABOVE && self.period() / 2 >= Self::MIN_PERIOD {
            self.halvings += 1;
        } else if bytes < Self::GROW_BELOW && self.halvings > 0 {
            self.halvings -= 1;
        }
        self.period()
    }
}

/// The tick of the clock for `period`, starting its thread on first use. Clocks are few (one
/// per distinct period in use) and live as long as the process.
fn clock(period: Duration) -> Option<&'static Notify> {
    static CLOCKS: Mutex<Vec<(Duration, &'static Notify)>> = Mutex::new(Vec::new());
    let mut clocks = CLOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, tick)) = clocks.iter().find(|(p, _)| *p == period) {
        return Some(tick);
    }
    let tick: &'static Notify = Box::leak(Box::new(Notify::new()));
    let started = std::thread::Builder::new()
        .name("vms-read-clock".into())
        .spawn(move || {
            loop {
                std::thread::sleep(until_next_boundary(period));
                tick.notify_waiters();
            }
        });
    match started {
        Ok(_) => {
            clocks.push((period, tick));
            Some(tick)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the read batching clock; reading frames as they arrive");
            None
        }
    }
}

/// Time to the next multiple of `period` on the process-wide grid (shared by all periods, so a
/// halved period's ticks include the full period's).
fn until_next_boundary(period: Duration) -> Duration {
    static GRID: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let base = *GRID.get_or_init(Instant::now);
    let since = base.elapsed().as_nanos();
    let period_ns = period.as_nanos().max(1);
    let next = (since / period_ns + 1) * period_ns;
    Duration::from_nanos(u64::try_from(next - since).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_halves_for_big_rounds_and_recovers_for_small_ones() {
        let mut b = ReadBatch::new(Duration::from_millis(100));
        let mut round = |bytes: usize| {
            b.took(bytes);
            b.end_round()
        };
        assert_eq!(round(50 << 10), Duration::from_millis(100));
        round(200 << 10);
        assert_eq!(round(200 << 10), Duration::from_millis(25));
        // A 4 Mbit/s camera's keyframe round stays batched at 50 ms, then recovers.
        assert_eq!(round(40 << 10), Duration::from_millis(25));
        // Never below the minimum, and only ever configured / 2^k (few clocks per process).
        for _ in 0..10 {
            round(1 << 20);
        }
        assert_eq!(round(1 << 20), Duration::from_micros(6250));
        for _ in 0..10 {
            round(1 << 10);
        }
        assert_eq!(round(0), Duration::from_millis(100));
        // A configured period under the minimum is kept as it is.
        let mut b = ReadBatch::new(Duration::from_millis(2));
        b.took(1 << 20);
        assert_eq!(b.end_round(), Duration::from_millis(2));
    }

    #[tokio::test]
    async fn a_tick_wakes_every_waiting_session() {
        let period = Duration::from_millis(20);
        let mut waiters = Vec::new();
        for _ in 0..5 {
            waiters.push(tokio::spawn(async move {
                let mut b = ReadBatch::new(period);
                let t = Instant::now();
                assert!(b.wait().await);
                t.elapsed()
            }));
        }
        for w in waiters {
            let waited = tokio::time::timeout(Duration::from_secs(5), w)
                .await
                .expect("woken by the clock")
                .expect("joined");
            assert!(waited <= Duration::from_secs(1), "{waited:?}");
        }
    }

    #[test]
    fn boundaries_are_within_one_period() {
        for ms in [1, 7, 100] {
            let p = Duration::from_millis(ms);
            let d = until_next_boundary(p);
            assert!(d > Duration::ZERO && d <= p, "{d:?} for {p:?}");
        }
    }
}
