//! Playback and evidence export through the real router, a real RocksDB and real H.264 (the
//! simulator's committed clip, and a second stream with other parameters that ffmpeg encodes
//! for the test): ffprobe checks every output against the index; byte ranges are compared
//! with the whole file; exports are verified offline, then tampered with.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use vms_sim::Clip;
use vms_storage::export::verify_package;
use vms_testkit::ffprobe::{ffprobe, ffprobe_tolerating};

/// Recordings start an hour before the test's "now".
const B: i64 = T0 - 3_600_000_000;
const S: i64 = 1_000_000;
/// One frame of the 30 fps clips, in seconds.
const FRAME: f64 = 1.0 / 30.0;

/// A 3 s 320×240 H.264 stream with different parameters from the built-in clip (a camera whose
/// settings changed), encoded by ffmpeg.
fn small_clip() -> Arc<Clip> {
    common::encoded_clip("testsrc=size=320x240:rate=30", &[])
}

/// Camera 0 (live): 15 s, offline 3 s, 6 s, then 3 s from a camera with other parameters.
async fn recorded(w: &World) -> Vec<i64> {
    let clip = Clip::builtin();
    record_clip(
        &w.store,
        w.cams[0],
        &[
            ClipRun {
                clip: clip.clone(),
                start_us: B,
                frames: 450,
            },
            ClipRun {
                clip,
                start_us: B + 18 * S,
                frames: 180,
            },
            ClipRun {
                clip: small_clip(),
                start_us: B + 25 * S,
                frames: 90,
            },
        ],
        4,
    )
    .await
}

fn video_path(cam: u32, start: i64, end: i64) -> String {
    format!(
        "/api/cameras/{cam}/video.mp4?start={start}&end={end}&reason=case+review&case_number=2026-77"
    )
}

#[tokio::test]
async fn playback_matches_the_index_under_ffprobe() {
    let w = world();
    let times = recorded(&w).await;
    let s = w.login("investigator").await;
    let ms = |m: i64| m * 1000;
    for (what, start, end) in [
        ("inside one fragment", B + ms(2_200), B + ms(2_700)),
        ("from a keyframe", B + ms(4_000), B + ms(6_000)),
        ("across segments", B + ms(1_500), B + ms(13_300)),
        ("across a gap", B + 10 * S, B + 21 * S),
        ("other camera settings only", B + 25 * S, B + ms(27_500)),
        ("across a codec change", B + 22 * S, B + ms(27_500)),
    ] {
        let (status, h, body) = get_raw(&w.app, &video_path(w.cams[0], start, end), &s, &[]).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(h[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(
            h[header::CONTENT_LENGTH].to_str().unwrap(),
            body.len().to_string()
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v.mp4");
        std::fs::write(&file, &body).unwrap();
        // Across the change the track switches to its second sample entry. FFmpeg's decoder
        // follows (it decodes every frame, counted below), but its H.264 *parser* (logged as
        // `[NULL @ …]`) keeps the first entry's SPS and complains about the second's PPS.
        let p = ffprobe_tolerating(&file, |line| {
            what == "across a codec change"
                && line.starts_with("[NULL @")
                && (line.ends_with("reference count 1 overflow")
                    || line.starts_with("Last message repeated"))
        });
        assert_eq!(p.codec, "h264", "{what}");
        // What the index says: frames captured in [start, end).
        let expect = times.iter().filter(|t| (start..end).contains(*t)).count() as u64;
        assert!(
            p.frames.abs_diff(expect) <= 1,
            "{what}: ffprobe decoded {} frames, the index has {expect} in the range",
            p.frames
        );
        let secs = (end - start) as f64 / 1e6;
        assert!(
            (p.duration - secs).abs() <= FRAME + 0.001,
            "{what}: duration {} s, range {secs} s",
            p.duration
        );
        // Presentation starts exactly at `start`: the lead-in is hidden before time 0.
        assert!(p.first_pts <= 0.0, "{what}: first pts {}", p.first_pts);
    }
}

#[tokio::test]
async fn byte_ranges_match_the_whole_file() {
    let w = world();
    recorded(&w).await;
    let s = w.login("investigator").await;
    let path = video_path(w.cams[0], B + S / 2, B + 20 * S);
    let (status, h, full) = get_raw(&w.app, &path, &s, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let etag = h[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert!(h.contains_key(header::LAST_MODIFIED));
    let len = full.len() as u64;

    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..40 {
        let a = next() % len;
        let b = (a + next() % 300_000).min(len - 1);
        let (st, h, body) =
            get_raw(&w.app, &path, &s, &[("range", &format!("bytes={a}-{b}"))]).await;
        assert_eq!(st, StatusCode::PARTIAL_CONTENT, "range {i}");
        assert_eq!(
            h[header::CONTENT_RANGE].to_str().unwrap(),
            format!("bytes {a}-{b}/{len}")
        );
        assert_eq!(body, full[a as usize..=b as usize], "bytes {a}-{b}");
    }
    // Suffix and open-ended ranges.
    let (_, _, tail) = get_raw(&w.app, &path, &s, &[("range", "bytes=-1000")]).await;
    assert_eq!(tail, full[full.len() - 1000..]);
    let (_, _, rest) = get_raw(&w.app, &path, &s, &[("range", "bytes=5000-")]).await;
    assert_eq!(rest, full[5000..]);

    // Several ranges: multipart/byteranges, each part the right bytes.
    let (st, h, body) = get_raw(
        &w.app,
        &path,
        &s,
        &[("range", "bytes=0-99, 1000-1999, 500000-500009")],
    )
    .await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    let ct = h[header::CONTENT_TYPE].to_str().unwrap().to_owned();
    let boundary = ct.split("boundary=").nth(1).unwrap();
    assert_eq!(
        h[header::CONTENT_LENGTH].to_str().unwrap(),
        body.len().to_string()
    );
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(text.matches(&format!("--{boundary}\r\n")).count(), 3);
    assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    for (a, b) in [(0usize, 99usize), (1000, 1999), (500_000, 500_009)] {
        let marker = format!("Content-Range: bytes {a}-{b}/{len}\r\n\r\n");
        let at = body
            .windows(marker.len())
            .position(|win| win == marker.as_bytes())
            .unwrap()
            + marker.len();
        assert_eq!(&body[at..at + (b - a + 1)], &full[a..=b]);
    }

    // If-Range with the current ETag honours the range; a stale one gets the whole file.
    let (st, _, body) = get_raw(
        &w.app,
        &path,
        &s,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!((st, body.len()), (StatusCode::PARTIAL_CONTENT, 10));
    let (st, _, body) = get_raw(
        &w.app,
        &path,
        &s,
        &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!((st, body.len() as u64), (StatusCode::OK, len));
    let (st, _, body) = get_raw(&w.app, &path, &s, &[("if-none-match", &etag)]).await;
    assert_eq!((st, body.len()), (StatusCode::NOT_MODIFIED, 0));

    // Malformed and unsatisfiable ranges: 416 with the length.
    for bad in [
        "bytes=x-y",
        "bytes=9-1",
        "items=0-1",
        &format!("bytes={len}-"),
    ] {
        let (st, h, _) = get_raw(&w.app, &path, &s, &[("range", bad)]).await;
        assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE, "{bad}");
        assert_eq!(
            h[header::CONTENT_RANGE].to_str().unwrap(),
            format!("bytes */{len}")
        );
    }

    // The ETag is stable for the same rows and differs for another range.
    let (_, h2, _) = get_raw(&w.app, &path, &s, &[("range", "bytes=0-0")]).await;
    assert_eq!(h2[header::ETAG].to_str().unwrap(), etag);
    let (_, h3, _) = get_raw(&w.app, &video_path(w.cams[0], B, B + 5 * S), &s, &[]).await;
    assert_ne!(h3[header::ETAG].to_str().unwrap(), etag);
}

#[tokio::test]
async fn bad_playback_requests_get_clear_4xx_and_are_audited() {
    let w = world();
    recorded(&w).await;
    let inv = w.login("investigator").await;
    let cam = w.cams[0];
    let day = 86_400 * S;
    for (what, path, want) in [
        (
            "end before start",
            video_path(cam, B + 5 * S, B),
            StatusCode::BAD_REQUEST,
        ),
        (
            "in the future",
            video_path(cam, T0 + S, T0 + 2 * S),
            StatusCode::BAD_REQUEST,
        ),
        (
            "30 days",
            video_path(cam, T0 - 30 * day, T0),
            StatusCode::BAD_REQUEST,
        ),
        (
            "nothing recorded",
            video_path(cam, B - 60 * S, B - 30 * S),
            StatusCode::NOT_FOUND,
        ),
        (
            "registry camera",
            video_path(w.cams[2], B, B + S),
            StatusCode::FORBIDDEN,
        ),
        (
            "on-request, no approval",
            video_path(w.cams[1], B, B + S),
            StatusCode::FORBIDDEN,
        ),
        (
            "unknown camera",
            video_path(999, B, B + S),
            StatusCode::NOT_FOUND,
        ),
        (
            "no reason",
            format!("/api/cameras/{cam}/video.mp4?start={B}&end={}", B + S),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not a number",
            format!("/api/cameras/{cam}/video.mp4?start=x&end=y&reason=r"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let before = w.last_audit().seq;
        let (st, _, body) = get_raw(&w.app, &path, &inv, &[]).await;
        assert_eq!(st, want, "{what}: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}");
        if matches!(
            what,
            "end before start"
                | "in the future"
                | "30 days"
                | "registry camera"
                | "on-request, no approval"
        ) {
            let ev = w.last_audit();
            assert!(ev.seq > before, "{what} audited");
            assert_eq!(ev.event.outcome, "deny", "{what}");
            assert_eq!(
                ev.event.camera,
                Some(if what.contains("registry") {
                    w.cams[2]
                } else if what.contains("on-request") {
                    w.cams[1]
                } else {
                    cam
                })
            );
        }
    }
    // Partners and viewers never play back recordings; the allowed access is audited.
    for user in ["partner1", "viewer"] {
        let s = w.login(user).await;
        let (st, _, _) = get_raw(&w.app, &video_path(cam, B, B + S), &s, &[]).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{user}");
    }
    let (st, _, _) = get_raw(&w.app, &video_path(cam, B, B + S), &inv, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let ev = w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.outcome.as_str()),
        ("video.playback", "allow")
    );
    assert_eq!(ev.event.case_number.as_deref(), Some("2026-77"));
    assert_eq!(ev.event.range, Some((B, B + S)));
}

/// `POST /api/exports` for `cameras` over `range`, as `session`.
async fn post_export(
    w: &World,
    session: &Session,
    cameras: &[u32],
    range: (i64, i64),
    case_number: &str,
    reason: &str,
) -> (StatusCode, Value) {
    let body = json!({"cameras": cameras, "start_us": range.0, "end_us": range.1,
                      "case_number": case_number, "reason": reason});
    w.call(Method::POST, "/api/exports", session, Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_package_verifies_offline_and_tampering_fails() {
    let w = world();
    let times = recorded(&w).await;
    let s = w.login("investigator").await;
    let (start, end) = (B + 2 * S + S / 3, B + 21 * S);
    let (st, v) = post_export(
        &w,
        &s,
        &[w.cams[0]],
        (start, end),
        "2026-000123",
        "burglary at 1 Main St",
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let done = wait_export(&w, &s, id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["bytes_done"], done["bytes_total"]);
    let dir = w.store.root().join(format!("exports/{id:08}"));

    let report = verify_package(&dir, None);
    assert!(report.ok(), "{:#?}", report.lines);

    // The manifest says what a court needs.
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["case_number"], "2026-000123");
    assert_eq!(m["exporter"], "investigator");
    assert_eq!(m["masks_applied"], false);
    assert!(m["legal_basis"].as_str().unwrap().contains("shared live"));
    let item = &m["items"][0];
    assert_eq!(item["partner_pseudonym"], "P-0001");
    assert_eq!(item["requested_start_us"], start);
    assert_eq!(item["actual_start_us"], start);
    assert!(item["first_sample_us"].as_i64().unwrap() <= start);
    assert!(
        item["source_segments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["verified"] == true)
    );
    let custody = m["chain_of_custody"].as_array().unwrap();
    assert!(
        custody
            .iter()
            .any(|e| e["action"] == "video.export" && e["outcome"] == "allow")
    );

    // The master plays: ffprobe agrees with the index and the manifest.
    let p = ffprobe(&dir.join(item["file"]["name"].as_str().unwrap()));
    let expect = times.iter().filter(|t| (start..end).contains(*t)).count() as u64;
    assert!(p.frames.abs_diff(expect) <= 1, "{} vs {expect}", p.frames);
    assert!((p.duration - (end - start) as f64 / 1e6).abs() <= FRAME + 0.001);

    // The exported range is under a legal hold.
    let holds = w.store.holds().unwrap();
    assert!(
        holds
            .iter()
            .any(|(_, h)| h.camera == w.cams[0] && h.start_utc <= start && h.end_utc >= end)
    );
    // Downloading a file is audited and gives the same bytes.
    let (st, _, body) = get_raw(
        &w.app,
        &format!("/api/exports/{id}/files/manifest.json"),
        &s,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body, std::fs::read(dir.join("manifest.json")).unwrap());
    assert_eq!(w.last_audit().event.action, "video.export.download");
    let (st, _, _) = get_raw(
        &w.app,
        &format!("/api/exports/{id}/files/..%2Fmanifest.json"),
        &s,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Another investigator's view of the export is denied; a supervisor sees it.
    let sup = w.login("supervisor").await;
    let (st, list) = w.call(Method::GET, "/api/exports", &sup, None).await;
    assert_eq!((st, list.as_array().unwrap().len()), (StatusCode::OK, 1));

    // One changed byte anywhere fails verification: in the video, or in the manifest.
    let video = dir.join(item["file"]["name"].as_str().unwrap());
    let original = std::fs::read(&video).unwrap();
    for at in [40usize, original.len() / 2, original.len() - 1] {
        let mut t = original.clone();
        t[at] ^= 0x01;
        std::fs::write(&video, &t).unwrap();
        let r = verify_package(&dir, None);
        assert!(!r.ok(), "byte {at} changed, still verified");
    }
    std::fs::write(&video, &original).unwrap();
    assert!(verify_package(&dir, None).ok());
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap();
    let edited = String::from_utf8(manifest.clone())
        .unwrap()
        .replace("2026-000123", "2026-000124");
    std::fs::write(dir.join("manifest.json"), edited).unwrap();
    let r = verify_package(&dir, None);
    assert!(!r.ok());
    assert!(
        r.lines
            .iter()
            .any(|l| l.contains("signature does not match")),
        "{:#?}",
        r.lines
    );
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    // Pinning another agency key fails too.
    assert!(!verify_package(&dir, Some(&[7; 32])).ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_stops_on_a_fixity_mismatch_and_needs_authority() {
    let w = world();
    recorded(&w).await;
    let s = w.login("investigator").await;
    // Flip one byte of sample data in the first (sealed) segment.
    let seg = w.store.segments(w.cams[0], B, B + S).unwrap().remove(0).1;
    assert!(seg.closed());
    let path = w.store.root().join(&seg.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x80;
    std::fs::write(&path, bytes).unwrap();

    let (st, v) = post_export(&w, &s, &[w.cams[0]], (B, B + 3 * S), "2026-9", "r").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let done = wait_export(&w, &s, id).await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"].as_str().unwrap().contains("fixity"), "{done}");
    assert!(!w.store.root().join(format!("exports/{id:08}")).exists());
    let ev = w.last_audit();
    assert_eq!(ev.event.action, "video.export.fixity-failed");
    assert_eq!(ev.event.outcome, "fail");

    // An on-request camera needs an approved request covering the range.
    let (st, _) = post_export(&w, &s, &[w.cams[1]], (B, B + S), "2026-9", "r").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(w.last_audit().event.outcome, "deny");
    for bad in [
        json!({"cameras": [], "start_us": B, "end_us": B + S, "case_number": "c", "reason": "r"}),
        json!({"cameras": [w.cams[0]], "start_us": B, "end_us": B + S, "case_number": " ", "reason": "r"}),
        json!({"cameras": [w.cams[0]], "start_us": B + S, "end_us": B, "case_number": "c", "reason": "r"}),
        json!({"cameras": [w.cams[0]], "start_us": B, "end_us": B + S, "case_number": "c"}),
        json!({"cameras": [w.cams[0]], "start_us": B, "end_us": B + S, "case_number": "c", "reason": "r", "extra": 1}),
    ] {
        let (st, v) = w
            .call(Method::POST, "/api/exports", &s, Some(bad.clone()))
            .await;
        assert!(st.is_client_error(), "{bad}: {st} {v}");
    }
    // A package directory that already exists (say, a data directory reused with a new index)
    // is refused and left exactly as it was.
    let taken = w.store.root().join(format!("exports/{:08}", id + 1));
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), b"not ours").unwrap();
    let (st, v) = post_export(
        &w,
        &s,
        &[w.cams[0]],
        (B + 10 * S, B + 12 * S),
        "2026-9",
        "r",
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let done = wait_export(&w, &s, v["id"].as_u64().unwrap()).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(std::fs::read(taken.join("keep.txt")).unwrap(), b"not ours");

    // A viewer may not export at all.
    let viewer = w.login("viewer").await;
    let (st, _) = post_export(&w, &viewer, &[w.cams[0]], (B, B + S), "c", "r").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// Issue 22 F16: an export's chain of custody copied every audit event on the camera over the
/// range, other cases' numbers and reasons included. Other cases' accesses stay listed (who,
/// when, what, with their audit hash) but without their case text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_carries_no_other_case_text() {
    let w = world();
    recorded(&w).await;
    let other = w.login("investigator").await;
    let (st, v) = w
        .call(
            Method::GET,
            &format!(
                "/api/cameras/{}/recordings?start={B}&end={}&reason=informant%20named%20the%20tenant&case_number=C-OTHER-5",
                w.cams[0],
                B + 10 * S
            ),
            &other,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let sup = w.login("supervisor").await;
    let (st, v) = post_export(
        &w,
        &sup,
        &[w.cams[0]],
        (B, B + 5 * S),
        "C-MINE-1",
        "hit and run",
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_u64().unwrap();
    assert_eq!(wait_export(&w, &sup, id).await["status"], "done");
    let dir = w.store.root().join(format!("exports/{id:08}"));
    assert!(verify_package(&dir, None).ok());
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(
        !text.contains("C-OTHER-5") && !text.contains("informant"),
        "another case's text is in the export: {text}"
    );
    let m: Value = serde_json::from_str(&text).unwrap();
    let custody = m["chain_of_custody"].as_array().unwrap();
    assert!(
        custody
            .iter()
            .any(|e| e["actor"] == "investigator" && e["case_number"].is_null()),
        "the other case's access must still be listed: {custody:?}"
    );
    assert!(
        custody
            .iter()
            .any(|e| e["action"] == "video.export" && e["case_number"] == "C-MINE-1")
    );
}

/// Issue 21: a camera from the config file is listed (owned by the agency), played back and
/// exported through the API like any other, and no partner account sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_camera_is_listed_played_and_exported_as_the_agencys() {
    let w = world();
    let row = w
        .store
        .register_config_camera("lobby", "front lobby, facing the door", 30)
        .unwrap();
    let again = w
        .store
        .register_config_camera("lobby", "front lobby", 30)
        .unwrap();
    assert_eq!((again.id, again.created_us), (row.id, row.created_us));
    assert_eq!(
        again.address, "front lobby",
        "the config file is the source of truth"
    );
    let id = row.id;
    record_clip(
        &w.store,
        id,
        &[ClipRun {
            clip: Clip::builtin(),
            start_us: B,
            frames: 150,
        }],
        60,
    )
    .await;

    let sup = w.login("supervisor").await;
    let (st, v) = w.call(Method::GET, "/api/cameras", &sup, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let listed = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("config camera not listed: {v}"));
    assert_eq!(listed["partner"], "agency");
    assert_eq!(listed["source"], "config");
    assert_eq!(listed["sharing"], "live");

    for partner in ["partner1", "partner2"] {
        let p = w.login(partner).await;
        let (_, v) = w.call(Method::GET, "/api/cameras", &p, None).await;
        assert!(
            !v.as_array().unwrap().iter().any(|c| c["id"] == id),
            "{partner} sees the agency's camera: {v}"
        );
        let (st, _) = w
            .call(Method::GET, &format!("/api/cameras/{id}"), &p, None)
            .await;
        assert!(
            st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND,
            "{st}"
        );
    }

    let inv = w.login("investigator").await;
    let (st, _, body) = get_raw(&w.app, &video_path(id, B, B + 4 * S), &inv, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lobby.mp4");
    std::fs::write(&file, &body).unwrap();
    let probe = ffprobe(&file);
    assert!(probe.frames >= 110, "{probe:?}");

    let (st, v) = post_export(&w, &sup, &[id], (B, B + 4 * S), "C-LOBBY-1", "lobby theft").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let export = v["id"].as_u64().unwrap();
    assert_eq!(wait_export(&w, &sup, export).await["status"], "done");
    let pkg = w.store.root().join(format!("exports/{export:08}"));
    assert!(verify_package(&pkg, None).ok());
}

/// Issue 22 F17: footage a partner approved for `[start, end)` leaves the system without the
/// keyframe lead-in before `start` — in playback and in the export — while a live camera's
/// playback still starts at the keyframe before (hidden by the edit list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_footage_leaves_without_frames_before_the_approval() {
    let w = world();
    let clip = Clip::builtin();
    for cam in [w.cams[0], w.cams[1]] {
        record_clip(
            &w.store,
            cam,
            &[ClipRun {
                clip: clip.clone(),
                start_us: B,
                frames: 450,
            }],
            4,
        )
        .await;
    }
    // Between keyframes (the clip has one a second).
    let (start, end) = (B + 5_500_000, B + 10 * S);
    let inv = w.login("investigator").await;
    let (st, req) = w
        .call(Method::POST, "/api/requests", &inv, Some(json!({"cameras": [w.cams[1]], "start_us": start, "end_us": end, "case_number": "C-17", "offence": "burglary", "reason": "suspect on the porch"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{req}");
    let id = req["id"].as_u64().unwrap();
    let p1 = w.login("partner1").await;
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{id}/decision"),
            &p1,
            Some(json!({"approve": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    let dir = tempfile::tempdir().unwrap();
    let probe_of = |name: &str, body: &[u8]| {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        ffprobe(&f)
    };
    let (st, _, body) = get_raw(&w.app, &video_path(w.cams[1], start, end), &inv, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let approved = probe_of("approved.mp4", &body);
    assert!(
        approved.first_pts >= 0.0,
        "a hidden lead-in before the approval is in the file: {approved:?}"
    );
    assert!(
        approved.packets as f64 <= (end - start) as f64 / 1e6 * 30.0 + 1.0,
        "more frames than the approved window holds: {approved:?}"
    );
    let (st, _, body) = get_raw(&w.app, &video_path(w.cams[0], start, end), &inv, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let live = probe_of("live.mp4", &body);
    assert!(
        live.first_pts < 0.0,
        "live camera playback keeps its lead-in: {live:?}"
    );
    // F9: the partner now shares the camera live; what it recorded while on-request still
    // leaves without the lead-in before the approval.
    let (st, v) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{}", w.cams[1]),
            &p1,
            Some(json!({"sharing": "live"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _, body) = get_raw(&w.app, &video_path(w.cams[1], start, end), &inv, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let switched = probe_of("switched.mp4", &body);
    assert!(
        switched.first_pts >= 0.0,
        "on-request footage gained a lead-in when the camera went live: {switched:?}"
    );

    let (st, v) = post_export(&w, &inv, &[w.cams[1]], (start, end), "C-17", "burglary").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let export = v["id"].as_u64().unwrap();
    assert_eq!(wait_export(&w, &inv, export).await["status"], "done");
    let pkg = w.store.root().join(format!("exports/{export:08}"));
    assert!(verify_package(&pkg, None).ok());
    let m: Value =
        serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    let item = &m["items"][0];
    assert!(
        item["first_sample_us"].as_i64().unwrap() >= start,
        "the export holds frames from before the approval: {item}"
    );
    assert_eq!(item["lead_in_90k"], 0);
}
