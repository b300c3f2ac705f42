//! Live-view counters per camera and a lock-free latency histogram.
//!
//! Forward latency is measured from the moment ingest received a frame from the camera to the
//! moment its last RTP packet left the viewer's socket, so it covers fan-out, packetization,
//! SRTP and the send itself.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bounds exported to Prometheus, µs (each is also a bound of the fine buckets).
const COARSE_US: [u64; 9] = [100, 250, 500, 1000, 2000, 5000, 10_000, 50_000, 250_000];

/// Upper bounds of the histogram's buckets, µs: at most 25 % apart from 10 µs to ~1 s, so a
/// quantile read back is within 25 % of the truth.
fn bounds() -> &'static [u64] {
    static B: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        let mut v = COARSE_US.to_vec();
        let mut b = 10.0f64;
        while b < 1_200_000.0 {
            v.push(b.round() as u64);
            b *= 1.25;
        }
        v.sort_unstable();
        v.dedup();
        v
    })
}

/// A fixed-bucket histogram of microsecond values.
#[derive(Debug)]
pub struct Histogram {
    /// One counter per bound, plus one for larger values.
    buckets: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..=bounds().len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, us: u64) {
        let i = bounds().partition_point(|&b| b < us);
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1), µs; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bounds().get(i).copied().unwrap_or(u64::MAX));
            }
        }
        None
    }

    /// Prometheus histogram lines (`_bucket`, `_sum`, `_count`) in seconds, at coarse bounds.
    fn write_prometheus(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0u64;
        for (c, bound) in self.buckets.iter().zip(bounds()) {
            cum += c.load(Ordering::Relaxed);
            if COARSE_US.contains(bound) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{labels},le=\"{}\"}} {cum}",
                    *bound as f64 / 1e6
                );
            }
        }
        cum += self.buckets.last().map_or(0, |c| c.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count());
    }
}

/// Live-view counters of one camera.
#[derive(Debug, Default)]
pub struct CameraLiveMetrics {
    /// Viewers connected or connecting now.
    pub viewers: AtomicU64,
    /// Views started (WHEP sessions created).
    pub views: AtomicU64,
    /// RTP/RTCP datagrams sent to viewers.
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    /// Access units forwarded to viewers (counted once per viewer).
    pub frames: AtomicU64,
    /// Times a viewer had to wait for the camera's next keyframe (no GOP held at start, fell
    /// behind, or the camera restarted).
    pub keyframe_waits: AtomicU64,
    /// Frames a slow viewer skipped (it fell so far behind that the broadcast dropped them,
    /// and it then skipped to the next keyframe).
    pub dropped_slow: AtomicU64,
    /// Keyframe requests (PLI/FIR) from viewers; a camera cannot be asked, so the next
    /// keyframe answers them.
    pub keyframe_requests: AtomicU64,
    /// Camera frame in → last packet of it out, µs.
    pub forward_latency: Histogram,
}

impl CameraLiveMetrics {
    fn counters(&self) -> [(&'static str, &'static str, u64); 8] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("vms_live_viewers", "gauge", g(&self.viewers)),
            ("vms_live_views_total", "counter", g(&self.views)),
            ("vms_live_packets_total", "counter", g(&self.packets)),
            ("vms_live_bytes_total", "counter", g(&self.bytes)),
            ("vms_live_frames_total", "counter", g(&self.frames)),
            (
                "vms_live_keyframe_waits_total",
                "counter",
                g(&self.keyframe_waits),
            ),
            (
                "vms_live_frames_dropped_slow_viewer_total",
                "counter",
                g(&self.dropped_slow),
            ),
            (
                "vms_live_keyframe_requests_total",
                "counter",
                g(&self.keyframe_requests),
            ),
        ]
    }
}

/// A Prometheus label value: `\`, `"` and newlines escaped (camera names come from partners).
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Appends the live series of `cameras` (name, metrics) in Prometheus text format, one
/// `# TYPE` line per metric.
pub fn write_prometheus(out: &mut String, cameras: &[(String, std::sync::Arc<CameraLiveMetrics>)]) {
    let rows: Vec<_> = cameras
        .iter()
        .map(|(n, m)| (escape_label(n), m.counters()))
        .collect();
    for i in 0..8 {
        let Some((_, first)) = rows.first() else {
            return;
        };
        let (name, kind, _) = first[i];
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (camera, c) in &rows {
            let _ = writeln!(out, "{name}{{camera=\"{camera}\"}} {}", c[i].2);
        }
    }
    let name = "vms_live_forward_latency_seconds";
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (camera, m) in cameras {
        m.forward_latency.write_prometheus(
            out,
            name,
            &format!("camera=\"{}\"", escape_label(camera)),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=1000u64 {
            h.record(us);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((500..=625).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((990..=1240).contains(&p99), "{p99}");
        h.record(u64::MAX / 4);
        assert_eq!(h.quantile(1.0), Some(u64::MAX));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut out = String::new();
        write_prometheus(&mut out, &[("x\"} 1\nfake 2".into(), Default::default())]);
        assert!(!out.lines().any(|l| l.starts_with("fake")), "{out}");
    }

    #[test]
    fn prometheus_buckets_are_cumulative() {
        let m = std::sync::Arc::new(CameraLiveMetrics::default());
        for us in [50, 150, 400, 3000, 2_000_000] {
            m.forward_latency.record(us);
        }
        let mut out = String::new();
        write_prometheus(&mut out, &[("cam".into(), m.clone()), ("other".into(), m)]);
        assert_eq!(out.matches("# TYPE vms_live_viewers gauge").count(), 1);
        let bucket = |le: &str| {
            out.lines()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        assert_eq!(bucket("0.0001"), Some(1));
        assert_eq!(bucket("0.00025"), Some(2));
        assert_eq!(bucket("0.0005"), Some(3));
        assert_eq!(bucket("0.005"), Some(4));
        assert_eq!(bucket("+Inf"), Some(5));
        assert!(out.contains("vms_live_forward_latency_seconds_count{camera=\"cam\"} 5"));
    }
}
