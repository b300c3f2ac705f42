//! The sweep's plot: CPU per stream, RSS per stream and p99 latency against the number of
//! cameras, as a self-contained SVG (ops would rather look at a curve than read a table).
//! Hand-written rather than a plotting crate: three line charts do not justify the
//! dependencies, and the output opens in any browser.

use std::fmt::Write as _;

use crate::report::RunReport;

const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 260.0;
const MARGIN_L: f64 = 62.0;
const MARGIN_R: f64 = 14.0;
const MARGIN_T: f64 = 34.0;
const MARGIN_B: f64 = 44.0;

/// One panel's data.
struct Series<'a> {
    title: &'a str,
    unit: &'a str,
    points: Vec<(f64, f64, bool)>,
    /// A dashed horizontal line (e.g. a target) with its label.
    reference: Option<(f64, &'a str)>,
}

/// Rounds up to 1, 2 or 5 × 10^k.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 100.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn panel(svg: &mut String, x0: f64, s: &Series<'_>, xs: &[f64], log_x: bool) {
    let (pw, ph) = (PANEL_W - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B);
    let (left, top) = (x0 + MARGIN_L, MARGIN_T);
    let xmin = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let xmax = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tx = |x: f64| -> f64 {
        let (a, b, v) = if log_x {
            (xmin.ln(), xmax.ln(), x.ln())
        } else {
            (xmin.min(0.0), xmax, x)
        };
        if (b - a).abs() < 1e-12 {
            left + pw / 2.0
        } else {
            left + (v - a) / (b - a) * pw
        }
    };
    let ymax_data = s
        .points
        .iter()
        .map(|p| p.1)
        .chain(s.reference.map(|r| r.0))
        .fold(0.0, f64::max);
    let ymax = nice_ceil(ymax_data * 1.05);
    let ty = |y: f64| top + ph - (y / ymax).clamp(0.0, 1.2) * ph;

    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="20" font-size="13" font-weight="bold" text-anchor="middle">{}</text>"##,
        left + pw / 2.0,
        esc(s.title)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#999"/>"##
    );
    for i in 0..=4 {
        let y = ymax * f64::from(i) / 4.0;
        let py = ty(y);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            left + pw,
            left - 4.0,
            py + 3.0,
            fmt_num(y)
        );
    }
    for &x in xs {
        let px = tx(x);
        let _ = writeln!(
            svg,
            r##"<text x="{px:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
            top + ph + 14.0,
            fmt_num(x)
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">cameras{}</text>"##,
        left + pw / 2.0,
        top + ph + 32.0,
        if log_x { " (log scale)" } else { "" }
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"##,
        x0 + 14.0,
        top + ph / 2.0,
        x0 + 14.0,
        top + ph / 2.0,
        esc(s.unit)
    );
    if let Some((v, label)) = s.reference {
        let py = ty(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#2a2" stroke-dasharray="5,4"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#2a2" text-anchor="end">{}</text>"##,
            left + pw,
            left + pw - 3.0,
            py - 3.0,
            esc(label)
        );
    }
    let path: Vec<String> = s
        .points
        .iter()
        .map(|&(x, y, _)| format!("{:.1},{:.1}", tx(x), ty(y)))
        .collect();
    let _ = writeln!(
        svg,
        r##"<polyline points="{}" fill="none" stroke="#36c" stroke-width="2"/>"##,
        path.join(" ")
    );
    for &(x, y, ok) in &s.points {
        let color = if ok { "#36c" } else { "#d22" };
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>{} cameras: {} {}</title></circle>"##,
            tx(x),
            ty(y),
            fmt_num(x),
            fmt_num(y),
            esc(s.unit)
        );
    }
}

/// The three-panel SVG for a sweep. Failed steps are drawn in red.
pub fn sweep_svg(steps: &[RunReport], cpu_target: Option<f64>) -> String {
    let xs: Vec<f64> = steps.iter().map(|r| r.cameras as f64).collect();
    let log_x = {
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(0.0, f64::max);
        min > 0.0 && max / min >= 10.0
    };
    let pts = |f: &dyn Fn(&RunReport) -> f64| -> Vec<(f64, f64, bool)> {
        steps
            .iter()
            .map(|r| (r.cameras as f64, f(r), r.ok))
            .collect()
    };
    let panels = [
        Series {
            title: "recorder CPU per stream",
            unit: "CPU s per stream-minute",
            points: pts(&|r| r.recorder.cpu_s_per_stream_minute),
            reference: cpu_target.map(|t| (t, "target")),
        },
        Series {
            title: "RSS per stream",
            unit: "MiB per stream",
            points: pts(&|r| r.recorder.rss_per_stream_bytes / (1024.0 * 1024.0)),
            reference: Some((1.0, "target 1 MiB")),
        },
        Series {
            title: "p99 latency send → indexed",
            unit: "seconds",
            points: pts(&|r| r.recorder.latency_send_to_indexed.p99_ms / 1000.0),
            reference: None,
        },
    ];
    let width = PANEL_W * panels.len() as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{:.0}" font-family="sans-serif">"##,
        PANEL_H + 24.0
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
    for (i, p) in panels.iter().enumerate() {
        panel(&mut svg, PANEL_W * i as f64, p, &xs, log_x);
    }
    let caption = steps.first().map_or(String::new(), |r| {
        format!(
            "{}x{} {:.0} fps {:.2} Mbit/s per camera, {:.0} s per step, sync={}; red = step failed (loss, errors or behind)",
            r.clip.width,
            r.clip.height,
            r.clip.fps,
            r.clip.bitrate_bps / 1e6,
            r.duration_s,
            r.sync
        )
    });
    let _ = writeln!(
        svg,
        r##"<text x="8" y="{:.0}" font-size="11" fill="#555">{}</text>"##,
        PANEL_H + 16.0,
        esc(&caption)
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ClipInfo, Recorder};

    fn step(n: usize, ok: bool) -> RunReport {
        RunReport {
            cameras: n,
            duration_s: 30.0,
            warmup_s: 5.0,
            read_batch_ms: 100.0,
            clip: ClipInfo {
                source: "x".into(),
                width: 1920,
                height: 1080,
                fps: 30.0,
                bitrate_bps: 2e6,
            },
            sync: "always".into(),
            writer_threads: 2,
            recorder: Recorder {
                cpu_s_per_stream_minute: 0.01 * n as f64,
                rss_per_stream_bytes: 500_000.0,
                ..Recorder::default()
            },
            sim_cpu_s: 1.0,
            ffmpeg: None,
            ratios: None,
            problems: vec![],
            ok,
        }
    }

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(0.7), 1.0);
        assert_eq!(nice_ceil(1.3), 2.0);
        assert_eq!(nice_ceil(3.0), 5.0);
        assert_eq!(nice_ceil(420.0), 500.0);
    }

    #[test]
    fn svg_has_three_panels_and_marks_failures() {
        let svg = sweep_svg(
            &[step(10, true), step(100, true), step(1000, false)],
            Some(0.07),
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert_eq!(svg.matches("<circle").count(), 9);
        assert_eq!(svg.matches("#d22").count(), 3, "one red point per panel");
        assert!(svg.contains("log scale"));
        assert!(!svg.contains("NaN"));
        // One step only: no division by a zero range.
        let one = sweep_svg(&[step(5, true)], None);
        assert!(!one.contains("NaN") && !one.contains("inf"));
    }
}
