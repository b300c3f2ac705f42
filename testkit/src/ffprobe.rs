//! ffprobe (FFmpeg) as the independent judge of what the recorder, playback and export write.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What ffprobe says about a file's first video stream.
#[derive(Debug)]
pub struct Probe {
    pub codec: String,
    pub width: u64,
    /// Frames decoded and output (what a viewer sees).
    pub frames: u64,
    /// The container's duration, seconds.
    pub duration: f64,
    /// Sum of the packets' durations, seconds.
    pub packet_duration: f64,
    /// Earliest packet presentation time, seconds (negative for a hidden lead-in).
    pub first_pts: f64,
    pub packets: u64,
}

/// Runs ffprobe on `path`, decoding every frame. Fails the test with ffprobe's own message if
/// the file does not parse or decode cleanly.
pub fn ffprobe(path: &Path) -> Probe {
    ffprobe_tolerating(path, |_| false)
}

/// As [`ffprobe`], allowing on standard error only lines for which `tolerated` is true (for a
/// known, named quirk of FFmpeg's); anything else fails the test.
pub fn ffprobe_tolerating(path: &Path, tolerated: impl Fn(&str) -> bool) -> Probe {
    let v = run_ffprobe(
        path,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,nb_read_frames",
            "-show_entries",
            "format=duration",
            "-show_entries",
            "packet=pts_time,duration_time",
        ],
        tolerated,
    );
    let s = &v["streams"][0];
    let num = |x: &Value| x.as_str().and_then(|s| s.parse::<f64>().ok());
    let packets = v["packets"].as_array().cloned().unwrap_or_default();
    Probe {
        codec: s["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: s["width"].as_u64().unwrap_or(0),
        frames: num(&s["nb_read_frames"]).unwrap_or(0.0) as u64,
        duration: num(&v["format"]["duration"]).unwrap_or(0.0),
        packet_duration: packets
            .iter()
            .filter_map(|p| num(&p["duration_time"]))
            .sum(),
        first_pts: packets
            .iter()
            .filter_map(|p| num(&p["pts_time"]))
            .fold(f64::INFINITY, f64::min),
        packets: packets.len() as u64,
    }
}

/// One decoded frame, as ffprobe outputs them: in presentation order.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrame {
    /// Presentation time, seconds.
    pub pts: f64,
    /// `I`, `P` or `B`.
    pub pict_type: String,
}

/// Decodes every frame of `path`'s first video stream and lists them in the order a player
/// presents them. Fails the test on any decoder complaint.
pub fn decoded_frames(path: &Path) -> Vec<DecodedFrame> {
    let v = run_ffprobe(path, &["-show_entries", "frame=pts_time,pict_type"], |_| {
        false
    });
    v["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| DecodedFrame {
            pts: f["pts_time"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
            pict_type: f["pict_type"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Runs ffprobe on the first video stream of `path` with `args`, JSON out. Fails the test if
/// it fails or writes to standard error anything `tolerated` does not accept.
fn run_ffprobe(path: &Path, args: &[&str], tolerated: impl Fn(&str) -> bool) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("ffprobe runs (apt-get install ffmpeg)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.lines().all(|l| tolerated(l.trim())),
        "ffprobe {}: {stderr}",
        path.display(),
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe writes JSON")
}
