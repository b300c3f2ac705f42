//! Fuzz target bodies: each takes arbitrary bytes, must never panic, and checks the
//! invariants of what it parsed. libFuzzer drives them under nightly (`fuzz_targets/`); CI
//! drives them on stable for seconds each (`tests/short_runs.rs`).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use vms_ingest::onvif::{clock, discovery, select, soap};
use vms_storage::fmp4::{self, TIMESCALE, TrackParams};
use vms_storage::timeline::{Counters, RecFrame, RecorderOptions, Step, Timeline};

/// Every ONVIF parser that reads bytes from the network — SOAP responses (device, media,
/// time, faults) and WS-Discovery datagrams. Seed corpus: `ingest/testdata/onvif/*.xml`.
pub fn onvif_soap(data: &[u8]) {
    if let Ok(dt) = soap::parse_system_date_time(data)
        && let Ok(c) = clock::clock_offset(&dt, 1_700_000_000_000, 1_700_000_000_100)
    {
        assert!(c.uncertainty_ms >= 500);
        let offsets = c.token_offsets();
        assert_eq!(offsets[0], c.offset_ms);
    }
    if let Ok(p) = soap::parse_profiles(data) {
        assert!(p.iter().all(|p| !p.token.is_empty()));
        if let Ok(choice) = select::choose_profiles(&p) {
            assert!(choice.main < p.len());
            if let Some(s) = choice.sub {
                assert!(s < p.len() && s != choice.main);
            }
        }
    }
    if let Ok(m) = soap::parse_media_uri(data) {
        assert!(!m.uri.is_empty());
        if let Ok(device) = select::device_url("192.0.2.10:8080") {
            let mut notes = Vec::new();
            if let Ok(u) = select::media_url(&m.uri, &device, &["rtsp", "http"], &mut notes) {
                assert!(u.username().is_empty() && u.password().is_none());
            }
        }
    }
    let _ = soap::parse_device_information(data);
    let _ = soap::parse_services(data);
    let _ = soap::parse_capabilities(data);
    let _ = soap::parse_fault(data);
    if let Ok(r) = discovery::parse_probe_matches(data) {
        assert!(
            r.matches
                .iter()
                .all(|d| !d.endpoint.is_empty() || !d.xaddrs.is_empty())
        );
    }
}

/// The recorder's timestamp rules fed a camera's worst: every 4 bytes are a frame — flags
/// (keyframe, new session, huge jump, a picture's later slice), a signed presentation step and an arrival step. After
/// every step: each fragment's header parses back with as many samples as its row says, every
/// duration is positive and they sum to the row's; index time never goes backwards and moves
/// at most `max_drift_ppm` off the nominal duration; and every frame pushed is accounted for
/// (in a fragment, dropped and counted, or lost and counted) once the run ends.
pub fn timeline(data: &[u8]) {
    let opts = RecorderOptions {
        segment_target_secs: 2,
        ..RecorderOptions::default()
    };
    let max_drift_ppm = i64::from(opts.max_drift_ppm);
    let params = Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 64,
        height: 64,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
    });
    let mut t = Timeline::new(1, opts, i64::MIN);
    let mut ids = Counters::default();
    let (mut pts, mut wall) = (0i64, 1_790_000_000_000_000i64);
    let (mut pushed, mut accounted) = (0u64, 0u64);
    let mut last_end = i64::MIN;
    let mut check = |steps: Vec<Step>, accounted: &mut u64| {
        for s in steps {
            match s {
                Step::Fragment(f) => {
                    let p = fmp4::parse_fragment(&f.header).expect("own header parses");
                    assert_eq!(p.samples.len() as u32, f.row.frames);
                    assert!(p.samples.iter().all(|s| s.duration > 0), "{:?}", p.samples);
                    let sum: u64 = p.samples.iter().map(|s| u64::from(s.duration)).sum();
                    assert_eq!(sum, u64::from(f.row.duration_90k));
                    assert_eq!(f.data.len(), p.samples.len());
                    assert!(f.start_utc >= last_end, "index time went backwards");
                    let nominal = (sum * 1_000_000 / u64::from(TIMESCALE)) as i64;
                    let allowed = nominal * max_drift_ppm / 1_000_000;
                    let took = f.row.end_utc - f.start_utc;
                    assert!((took - nominal).abs() <= allowed, "{took} vs {nominal}");
                    last_end = f.row.end_utc;
                    *accounted += u64::from(f.row.frames);
                }
                Step::Dropped { .. } | Step::Merged => *accounted += 1,
                Step::Lost { frames, .. } => *accounted += u64::from(frames),
                Step::RunStarted { .. } | Step::CloseSegment | Step::Anomaly { .. } => {}
            }
        }
    };
    for chunk in data.chunks_exact(4) {
        let flags = chunk[0];
        let step = i64::from(i16::from_be_bytes([chunk[1], chunk[2]])) * 30;
        pts += if flags & 4 != 0 { step * 10_000 } else { step };
        wall += i64::from(chunk[3]) * 1_000;
        let f = RecFrame {
            new_run: (pushed == 0 || flags & 2 != 0).then(|| params.clone()),
            pts_90k: pts,
            wall_us: wall,
            keyframe: flags & 1 != 0,
            // A picture's first slice, or (flag 8) a later slice of it.
            data: if flags & 8 != 0 {
                Bytes::from_static(&[0, 0, 0, 2, 0x41, 0x40])
            } else {
                Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88])
            },
        };
        pushed += 1;
        check(t.push(f, &mut ids), &mut accounted);
    }
    check(t.end_run(&mut ids), &mut accounted);
    assert_eq!(accounted, pushed, "frames silently dropped");
}

/// The fMP4 fragment reader (recovery and playback read every fragment header) and the
/// progressive-MP4 reader the offline package verifier uses.
pub fn mp4(data: &[u8]) {
    if let Ok(p) = fmp4::parse_fragment(data) {
        // The `mdat` must hold exactly the samples the `trun` lists.
        let sizes: u64 = p.samples.iter().map(|s| u64::from(s.size)).sum();
        assert!(p.len >= sizes + 8, "{} bytes for {sizes} of samples", p.len);
        let _ = p.duration();
    }
    let _ = fmp4::init_segment_len(data);
    let _ = fmp4::sample_entry(data);
    if let Ok(m) = vms_storage::mp4read::parse_moov(data) {
        for s in &m.samples {
            let _ = s.offset.checked_add(u64::from(s.size));
        }
    }
    let _ = vms_storage::mp4read::top_level_boxes(&mut std::io::Cursor::new(data));
}

/// The offline package verifier (`vms verify`) on an arbitrary manifest next to arbitrary
/// files: it must report, never panic. `dir` is a scratch directory the caller owns.
pub fn package(dir: &Path, data: &[u8]) {
    let (manifest, rest) = data.split_at(data.len() / 2);
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).is_ok();
    if !(write("manifest.json", manifest)
        && write("manifest.sig.json", rest)
        && write("camera-1.mp4", rest))
    {
        return;
    }
    // Nothing signed with the pinned key can come out of random bytes.
    let report = vms_storage::export::verify_package(dir, Some(&[7; 32]));
    assert!(!report.ok(), "a package of arbitrary bytes verified");
}

/// The H.264 decoder configuration (`avcC`) parser and the Annex B conversion the live view
/// applies to every frame.
pub fn avcc(data: &[u8]) {
    // The first byte says how long the record is; the rest is one access unit.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (record, frame) = rest.split_at(rest.len().min(usize::from(n)));
    if let Ok(sets) = vms_web::live::h264::parse_avcc(&Bytes::copy_from_slice(record))
        && let Ok(out) = vms_web::live::h264::to_annex_b(frame, true, &sets)
    {
        assert!(out.len() >= frame.len());
    }
}

/// The reorder depth the recorder reads from a stream's parameter sets: the first byte picks
/// H.264 SPS, H.265 SPS or a whole sample entry; never a panic, never deeper than the cap.
pub fn reorder_depth(data: &[u8]) {
    use vms_storage::codec;
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let depth = match kind % 3 {
        0 => codec::h264_sps_depth(rest),
        1 => codec::h265_sps_depth(rest),
        _ => codec::reorder_depth(rest),
    };
    if kind % 3 == 2 {
        assert!(depth.is_none_or(|d| d <= codec::MAX_REORDER_DEPTH));
    }
}

/// The HTTP `Range` header parser of playback and exports.
pub fn range(data: &[u8]) {
    let Some((len, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let len = u64::from_be_bytes(*len);
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    if let Ok(ranges) = vms_web::api::parse_range(value, len) {
        assert!(!ranges.is_empty());
        for r in ranges {
            assert!(r.start < r.end && r.end <= len, "{r:?} of {len}");
        }
    }
}
