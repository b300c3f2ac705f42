//! Per-fragment latency from the recorder's public counters, by polling, so the recording path
//! is measured exactly as it ships (no hooks in it).
//!
//! [`RecorderStats`](vms_storage::RecorderStats) exposes, per camera, the number of committed
//! fragments, the sum over fragments of (commit time − arrival of the fragment's first frame)
//! and the index end time of the last committed fragment. A camera commits about one fragment
//! per GOP (1 s here), so polling every 20 ms sees one new fragment at a time and the deltas
//! give two latencies per fragment:
//!
//! * **arrival → indexed** (exact): Δ`commit_latency_us_sum` / Δ`fragments`. From the first
//!   frame leaving retina to the fragment being `fdatasync`ed and its rows committed. When a
//!   poll sees k > 1 new fragments, each gets their mean.
//! * **send → indexed** (± half the poll interval): from the moment the camera sends the
//!   fragment's first frame to the poll that sees the commit, minus half the interval. The
//!   send time comes from the camera's real-time schedule: the simulator sends frame k at
//!   start + k / fps, so [`SendClock`] recovers each camera's start as the earliest
//!   `arrival − k / fps` seen (a frame can arrive late, never early). The fragment's own start
//!   is its index time (end of the previous fragment: fragments are contiguous within a run),
//!   which is the run's first arrival plus RTP time; the run's first arrival minus the camera's
//!   start ([`SendClock::run_start_late_us`]) converts one into the other. Unlike arrival →
//!   indexed, this covers time spent queued in the camera and in TCP buffers when the recorder
//!   falls behind. Only single-fragment deltas are used.
//!
//! The counters are updated one after another without a lock, so a poll can see the fragment
//! count of a commit but not yet its latency sum (or the other way round); such a camera's
//! baseline is simply not advanced until both have moved.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use vms_storage::RecorderStats;

/// Sub-buckets per power of two: ≤ 1/128 ≈ 0.8 % relative error on percentiles.
const SUB: u32 = 128;
const SUB_BITS: u32 = 7;
/// Values below `SUB` µs are exact; above, `SUB` sub-buckets per doubling up to 2^41 µs.
const BUCKETS: usize = (SUB as usize) * 36;

/// A log-linear histogram of microsecond values: fixed 36 KiB whatever the run length, so the
/// benchmark's own memory does not grow with cameras × minutes.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

/// p50/p99/max in milliseconds and the number of samples behind them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: u64,
}

fn bucket(v: u64) -> usize {
    if v < u64::from(SUB) {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = msb - SUB_BITS;
    let sub = (v >> shift) as u32 - SUB; // 0..SUB
    let i = ((shift + 1) * SUB + sub) as usize;
    i.min(BUCKETS - 1)
}

/// Upper bound of bucket `i` (what a percentile reports: never optimistic).
fn bucket_high(i: usize) -> u64 {
    let i = i as u32;
    if i < SUB {
        return u64::from(i);
    }
    let shift = i / SUB - 1;
    let sub = i % SUB;
    ((u64::from(SUB + sub) + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, us: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.counts[bucket(us)] += count;
        self.total += count;
        self.max = self.max.max(us);
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at quantile `q` (0..=1), in µs; capped at the true maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // Rank of the wanted sample, 1-based.
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(i).min(self.max);
            }
        }
        self.max
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50_ms: self.quantile(0.50) as f64 / 1000.0,
            p99_ms: self.quantile(0.99) as f64 / 1000.0,
            max_ms: self.max as f64 / 1000.0,
            samples: self.total,
        }
    }
}

/// One read of a camera's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub fragments: u64,
    pub latency_sum_us: u64,
    pub last_end_utc: i64,
    pub runs: u64,
}

impl Counters {
    pub fn read(s: &RecorderStats) -> Self {
        // Fragments first: the recorder bumps it before the latency sum, so a commit caught
        // in between shows as "fragments moved, sum did not", which `observe` waits out.
        let fragments = s.fragments.load(Ordering::Relaxed);
        let last_end_utc = s.last_commit_end_utc.load(Ordering::Relaxed) as i64;
        let latency_sum_us = s.commit_latency_us_sum.load(Ordering::Relaxed);
        let runs = s.runs.load(Ordering::Relaxed);
        Counters {
            fragments,
            latency_sum_us,
            last_end_utc,
            runs,
        }
    }
}

/// A camera's send schedule, recovered from arrivals: frame k (1-based) is sent at
/// `start + (k − 1) / fps`, and arrives at or after that.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SendClock {
    frame_us: f64,
    start_us: Option<i64>,
}

impl SendClock {
    pub fn new(fps: f64) -> Self {
        SendClock {
            frame_us: 1e6 / fps.max(1e-3),
            start_us: None,
        }
    }

    /// Feeds a consistent read of (frames received, arrival of the last one).
    pub fn observe(&mut self, frames: u64, last_arrival_us: i64) {
        if frames == 0 || last_arrival_us <= 0 {
            return;
        }
        let start = last_arrival_us - ((frames - 1) as f64 * self.frame_us) as i64;
        self.start_us = Some(self.start_us.map_or(start, |s| s.min(start)));
    }

    /// The estimated send time of the camera's first frame.
    pub fn start_us(&self) -> Option<i64> {
        self.start_us
    }

    /// How much later than the camera's send time the recorder anchored a run starting (first
    /// arrival) at `run_start_utc`: the offset between index time and send time.
    pub fn run_start_late_us(&self, run_start_utc: i64) -> Option<i64> {
        self.start_us.map(|s| run_start_utc - s)
    }
}

/// Turns successive [`Counters`] of many cameras into the two latency histograms.
#[derive(Debug)]
pub struct Sampler {
    base: Vec<Counters>,
    pub arrival_to_indexed: Histogram,
    pub send_to_indexed: Histogram,
    /// Polls where a camera's counters were caught mid-commit and left for the next poll.
    pub deferred: u64,
    /// Fragments whose send → indexed latency could not be attributed (k > 1 per poll, the
    /// first fragment of a run, or the camera's send clock not known yet).
    pub unattributed: u64,
}

impl Sampler {
    pub fn new(cameras: usize) -> Self {
        Sampler {
            base: vec![Counters::default(); cameras],
            arrival_to_indexed: Histogram::default(),
            send_to_indexed: Histogram::default(),
            deferred: 0,
            unattributed: 0,
        }
    }

    /// Forgets the latency samples taken so far (the warm-up's), keeping each camera's
    /// counters so that later samples are still attributed correctly.
    pub fn clear_percentiles(&mut self) {
        self.arrival_to_indexed = Histogram::default();
        self.send_to_indexed = Histogram::default();
    }

    /// Feeds one poll of camera `i`: `now_utc` is the poll time, `half_interval_us` half the
    /// time since the previous poll (the uncertainty of when in between the commit happened),
    /// `index_late_us` how much index time runs behind the camera's send time
    /// ([`SendClock::run_start_late_us`]), if known yet.
    pub fn observe(
        &mut self,
        i: usize,
        c: Counters,
        now_utc: i64,
        half_interval_us: i64,
        index_late_us: Option<i64>,
    ) {
        let Some(base) = self.base.get_mut(i) else {
            return;
        };
        let frags = c.fragments.saturating_sub(base.fragments);
        let sum = c.latency_sum_us.saturating_sub(base.latency_sum_us);
        if frags == 0 && sum == 0 {
            return;
        }
        if frags == 0 || sum == 0 {
            // Caught between the two increments of one commit.
            self.deferred += 1;
            return;
        }
        self.arrival_to_indexed.record(sum / frags, frags);
        match index_late_us {
            Some(late) if frags == 1 && c.runs == base.runs && base.last_end_utc > 0 => {
                let sent = base.last_end_utc - late;
                let lat = now_utc - half_interval_us - sent;
                self.send_to_indexed.record(lat.max(0) as u64, 1);
            }
            _ => self.unattributed += frags,
        }
        *base = c;
    }
}

/// The server clock in µs since the Unix epoch, as the recorder stamps frames.
pub fn now_utc_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut prev = 0;
        for v in (0..2_000_000u64).step_by(997).chain([u64::MAX / 4]) {
            let b = bucket(v);
            assert!(b >= prev, "bucket order at {v}");
            prev = b;
            if b == BUCKETS - 1 {
                continue;
            }
            let hi = bucket_high(b);
            assert!(hi >= v, "{v} above its bucket's top {hi}");
            if v >= u64::from(SUB) {
                assert!(
                    (hi - v) as f64 / v as f64 <= 1.0 / 64.0 + 1e-9,
                    "{v} → {hi}"
                );
            }
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.percentiles(), Percentiles::default());
        for v in 1..=1000u64 {
            h.record(v * 1000, 1);
        }
        let p = h.percentiles();
        assert_eq!(p.samples, 1000);
        assert!((p.p50_ms - 500.0).abs() <= 500.0 / 128.0, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() <= 990.0 / 128.0, "{p:?}");
        assert_eq!(p.max_ms, 1000.0);
    }

    fn c(fragments: u64, latency_sum_us: u64, last_end_utc: i64) -> Counters {
        Counters {
            fragments,
            latency_sum_us,
            last_end_utc,
            runs: 1,
        }
    }

    #[test]
    fn send_clock_takes_the_earliest_start() {
        let mut k = SendClock::new(25.0); // 40 ms frames
        assert_eq!(k.start_us(), None);
        k.observe(0, 0);
        assert_eq!(k.start_us(), None);
        // First frame 30 ms late (session start-up), frame 3 on time, frame 10 late again.
        k.observe(1, 1_030_000);
        k.observe(3, 1_080_500);
        k.observe(10, 1_400_000);
        assert_eq!(k.start_us(), Some(1_000_500));
        assert_eq!(k.run_start_late_us(1_030_000), Some(29_500));
    }

    #[test]
    fn sampler_attributes_single_fragments() {
        let mut s = Sampler::new(1);
        // First fragment of the run: arrival latency only.
        s.observe(0, c(1, 1_100_000, 10_000_000), 10_050_000, 10_000, Some(0));
        assert_eq!(s.arrival_to_indexed.len(), 1);
        assert_eq!(s.send_to_indexed.len(), 0);
        assert_eq!(s.unattributed, 1);
        // Nothing new.
        s.observe(0, c(1, 1_100_000, 10_000_000), 10_150_000, 10_000, Some(0));
        assert_eq!(s.arrival_to_indexed.len(), 1);
        // Second fragment committed between polls; it started at 10.0 s index time, which is
        // 40 ms behind the camera's send time.
        s.observe(
            0,
            c(2, 2_150_000, 11_000_000),
            11_060_000,
            10_000,
            Some(40_000),
        );
        assert_eq!(s.arrival_to_indexed.len(), 2);
        assert_eq!(s.arrival_to_indexed.percentiles().max_ms, 1100.0);
        assert_eq!(s.send_to_indexed.quantile(1.0), 1_090_000);
        // Send clock unknown: not attributed.
        s.observe(0, c(3, 3_200_000, 12_000_000), 12_060_000, 10_000, None);
        assert_eq!((s.send_to_indexed.len(), s.unattributed), (1, 2));
    }

    #[test]
    fn sampler_waits_out_torn_reads_and_averages_bursts() {
        let mut s = Sampler::new(1);
        s.observe(0, c(1, 1_000_000, 5_000_000), 0, 0, Some(0));
        // Fragment count moved, sum not yet: deferred, baseline kept.
        s.observe(0, c(2, 1_000_000, 6_000_000), 6_100_000, 50_000, Some(0));
        assert_eq!(s.deferred, 1);
        assert_eq!(s.arrival_to_indexed.len(), 1);
        s.observe(0, c(2, 2_200_000, 6_000_000), 6_200_000, 50_000, Some(0));
        assert_eq!(s.arrival_to_indexed.len(), 2);
        assert_eq!(s.send_to_indexed.quantile(1.0), 1_150_000);
        // Three at once (a stalled recorder catching up): mean to each, no send sample.
        s.observe(
            0,
            c(5, 2_200_000 + 3 * 900_000, 9_000_000),
            9_500_000,
            50_000,
            Some(0),
        );
        assert_eq!(s.arrival_to_indexed.len(), 5);
        assert_eq!(s.unattributed, 1 + 3);
    }
}
