//! Community submissions through the real router and a real RocksDB: submission links, and
//! uploads over tus 1.0 — resumed after an interruption and after a restart (the intake hash
//! rebuilt from the bytes on disk), hashed over exactly the bytes received, kept read-only and
//! named by id — and every bad input the issue lists that applies so far.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::tus::*;
use common::*;
use serde_json::json;
use sha1::Digest;

#[tokio::test]
async fn a_link_carries_a_resumable_upload_to_a_hashed_read_only_original() {
    let w = world();
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0042").await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

    // What the server speaks.
    let (st, h, _) = go(
        &w.app,
        tus(Method::OPTIONS, "/api/uploads", "", &[], vec![]),
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(hdr(&h, "tus-version"), "1.0.0");
    assert!(hdr(&h, "tus-extension").contains("creation"));
    assert!(hdr(&h, "tus-checksum-algorithm").contains("sha1"));

    let (st, at, v) = create(&w.app, &token, data.len(), "../../Elm St/front door.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(at.starts_with("/api/uploads/"), "{at}");

    // 100 kB with a matching checksum (more than the JSON body limit in one PATCH).
    let part = &data[..100_000];
    let sum = format!("sha1 {}", b64(&sha1::Sha1::digest(part)));
    let (st, h, v) = patch(&w.app, &token, &at, 0, part, Some(sum)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(hdr(&h, "upload-offset"), "100000");
    assert_eq!(hdr(&h, "tus-resumable"), "1.0.0");
    // The wrong offset is a conflict that names the right one; a wrong checksum keeps nothing.
    let (st, _, v) = patch(&w.app, &token, &at, 50_000, &data[50_000..60_000], None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("100000"), "{v}");
    let bad = format!("sha1 {}", b64(&sha1::Sha1::digest(b"something else")));
    let (st, _, _) = patch(
        &w.app,
        &token,
        &at,
        100_000,
        &data[100_000..150_000],
        Some(bad),
    )
    .await;
    assert_eq!(st.as_u16(), 460);
    assert_eq!(offset(&w.app, &token, &at).await, 100_000);
    // More bytes than declared: refused, nothing of them kept.
    let (st, _, v) = patch(&w.app, &token, &at, 100_000, &vec![0; 250_000], None).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(offset(&w.app, &token, &at).await, 100_000);

    // A restart: a new server on the same store (the running hash is gone).
    let state = vms_web::AppState::new(
        w.store.clone(),
        w.state.secrets.clone(),
        (*w.state.settings).clone(),
    );
    let app = vms_web::app(state);
    assert_eq!(offset(&app, &token, &at).await, 100_000);
    let (st, h, v) = patch(&app, &token, &at, 100_000, &data[100_000..], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(hdr(&h, "upload-offset"), "300000");

    // Received: hashed over exactly these bytes, read-only, named by id, the name kept only
    // (sanitised) as metadata.
    let id: u64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let up = w.store.upload(id).unwrap().unwrap();
    let got = up.received.clone().expect("received");
    assert_eq!(
        got.sha256.as_slice(),
        sha2::Sha256::digest(&data).as_slice()
    );
    assert_eq!(up.declared.filename, "front door.mp4");
    let path = w.store.root().join(&got.file);
    assert!(!got.file.contains("front"), "{}", got.file);
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o222,
        0,
        "the original is read-only"
    );
    // An independent hash agrees.
    let out = std::process::Command::new("sha256sum")
        .arg(&path)
        .output()
        .unwrap();
    let hex = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        hex.split_whitespace().next(),
        Some(hex::encode(got.sha256).as_str())
    );
    // Evidence stays: the submitter cannot delete a received file.
    let (st, _, _) = go(&app, tus(Method::DELETE, &at, &token, &[], vec![])).await;
    assert_eq!(st, StatusCode::CONFLICT);
    let ev = w.last_audit();
    assert_eq!(ev.event.action, "submission.received");
    assert!(
        ev.event.detail.contains(&hex::encode(got.sha256)),
        "{}",
        ev.event.detail
    );
    assert_eq!(ev.event.case_number.as_deref(), Some("2026-0042"));
}

#[tokio::test]
async fn bad_links_uploads_and_limits_are_clear_refusals() {
    let w = world_with(|s| {
        s.program.submissions.bytes_per_file = 1_000;
        s.program.submissions.files_per_link = 2;
    });
    let inv = w.login("investigator").await;
    let (link_id, token) = new_link(&w, &inv, "2026-0043").await;
    let refused = vms_program::submissions::LINK_REFUSED;

    // No protocol version: 412 with the version spoken.
    let r = Request::builder()
        .method(Method::POST)
        .uri("/api/uploads")
        .header("submission-token", &token)
        .header("upload-length", "10")
        .body(Body::empty())
        .unwrap();
    let (st, h, _) = go(&w.app, r).await;
    assert_eq!(st, StatusCode::PRECONDITION_FAILED);
    assert_eq!(hdr(&h, "tus-version"), "1.0.0");

    // Files come after the statement, which needs the attestation agreed to.
    let s2 = w
        .call(
            Method::POST,
            "/api/cases/2026-0043/links",
            &inv,
            Some(json!({"recipient": "second"})),
        )
        .await
        .1;
    let fresh = s2["token"].as_str().unwrap().to_owned();
    let (st, _, v) = create(&w.app, &fresh, 10, "a.mp4").await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    let (st, _, v) = go(&w.app, statement(&fresh, false)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _, _) = go(&w.app, statement(&fresh, true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(w.last_audit().event.action, "submission.statement");
    let (st, _, _) = go(&w.app, statement(&fresh, true)).await;
    assert_eq!(st, StatusCode::CONFLICT, "a statement is made once");

    // Unknown token, no token: one answer.
    for t in ["", "not-a-token"] {
        let (st, _, v) = create(&w.app, t, 10, "a.mp4").await;
        assert_eq!(
            (st, v["error"].as_str()),
            (StatusCode::FORBIDDEN, Some(refused))
        );
    }
    assert_eq!(w.last_audit().event.action, "submission.refused");

    // Limits say what they are.
    let (st, _, v) = create(&w.app, &token, 1_001, "big.mp4").await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("1000"), "{v}");
    let (st, _, v) = create(&w.app, &token, 0, "empty.mp4").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, a, _) = create(&w.app, &token, 10, "a.mp4").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, b, _) = create(&w.app, &token, 10, "b.mp4").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, v) = create(&w.app, &token, 10, "c.mp4").await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        v["error"].as_str().unwrap().contains("at most 2 files"),
        "{v}"
    );

    // Termination drops an unfinished upload and its bytes.
    let (st, _, _) = patch(&w.app, &token, &a, 0, b"12345", None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, _) = go(&w.app, tus(Method::DELETE, &a, &token, &[], vec![])).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _, _) = go(&w.app, tus(Method::HEAD, &a, &token, &[], vec![])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(!w.store.root().join("submissions/parts/00000001").exists());

    // Wrong content type; another link's token does not reach this link's upload.
    let (st, _, _) = go(
        &w.app,
        tus(
            Method::PATCH,
            &b,
            &token,
            &[
                ("upload-offset", "0".into()),
                ("content-type", "video/mp4".into()),
            ],
            b"x".to_vec(),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, other) = new_link(&w, &inv, "2026-0099").await;
    let (st, _, _) = go(&w.app, tus(Method::HEAD, &b, &other, &[], vec![])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A revoked link, an expired one: the same refusal.
    let (st, _) = w
        .call(Method::DELETE, &format!("/api/links/{link_id}"), &inv, None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(w.last_audit().event.action, "submission.link.revoke");
    let (st, _, v) = patch(&w.app, &token, &b, 0, b"x", None).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some(refused))
    );
    w.clock.advance_secs(73 * 3600);
    let (st, _, v) = create(&w.app, &other, 10, "late.mp4").await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::FORBIDDEN, Some(refused))
    );

    // Viewers and partners make no links.
    for user in ["viewer", "partner1"] {
        let s = w.login(user).await;
        let (st, _) = w
            .call(
                Method::POST,
                "/api/cases/2026-0043/links",
                &s,
                Some(json!({"recipient": "x"})),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{user}");
    }
}

/// The tus project's own Python client (tuspy, an independent implementation) uploads a file
/// with checksums, stops a third of the way, and finishes after the server restarted; the
/// stored hash is `sha256sum`'s of the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_tus_client_resumes_across_a_server_restart() {
    let python = std::path::PathBuf::from(std::env::var_os("VMS_PYDEPS").unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
            .join(".cache/vms-pydeps/onvif")
            .into()
    }))
    .join("bin/python");
    assert!(
        python.exists(),
        "{} (install with scripts/install-deps --test)",
        python.display()
    );
    let w = world();
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0044").await;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("doorbell.mp4");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&source, &data).unwrap();
    const CLIENT: &str = r#"
import sys
from tusclient import client
base, token, path, stop, url = sys.argv[1:6]
c = client.TusClient(base + "/api/uploads", headers={"Submission-Token": token})
if url:
    u = c.uploader(path, url=url, chunk_size=256 * 1024, upload_checksum=True)
else:
    u = c.uploader(path, chunk_size=256 * 1024, upload_checksum=True,
                   metadata={"filename": "doorbell clip.mp4", "filetype": "video/mp4"})
u.upload(stop_at=int(stop) or None)
print(u.url)
"#;
    let src = source.clone();
    let run = move |base: String, stop: usize, url: String| {
        let out = std::process::Command::new(&python)
            .args(["-c", CLIENT, &base, &token])
            .arg(&src)
            .args([stop.to_string(), url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tuspy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let serve = |state: vms_web::AppState| async move {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, task) = vms_web::serve("127.0.0.1:0".parse().unwrap(), state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
        (format!("http://{addr}"), stop, task)
    };

    let (base, stop, task) = serve(w.state.clone()).await;
    let url = tokio::task::spawn_blocking({
        let run = run.clone();
        move || run(base, 1_000_000, String::new())
    })
    .await
    .unwrap();
    let id: u64 = url.rsplit('/').next().unwrap().parse().unwrap();
    let partial = w.store.upload(id).unwrap().unwrap();
    assert!(partial.received.is_none());
    assert!(
        partial.offset >= 1_000_000 && partial.offset < 3_000_000,
        "{partial:?}"
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // A new server process state on the same store, on another port.
    let state = vms_web::AppState::new(
        w.store.clone(),
        w.state.secrets.clone(),
        (*w.state.settings).clone(),
    );
    let (base, stop, task) = serve(state).await;
    let resume = format!("{base}/api/uploads/{id}");
    tokio::task::spawn_blocking(move || run(base, 0, resume))
        .await
        .unwrap();
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let up = w.store.upload(id).unwrap().unwrap();
    let got = up.received.expect("received whole");
    let out = std::process::Command::new("sha256sum")
        .arg(&source)
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        want.split_whitespace().next(),
        Some(hex::encode(got.sha256).as_str())
    );
    assert_eq!(up.declared.filename, "doorbell clip.mp4");
    assert_eq!(std::fs::read(w.store.root().join(&got.file)).unwrap(), data);
}

/// A connection that breaks mid-body: what arrived whole is kept and acknowledged, so the
/// client resumes from there (a closed laptop, a dropped uplink).
#[tokio::test]
async fn an_interrupted_body_keeps_what_arrived() {
    let w = world();
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0045").await;
    let (st, at, _) = create(&w.app, &token, 200_000, "clip.mp4").await;
    assert_eq!(st, StatusCode::CREATED);
    let r = patch_stream(
        &at,
        &token,
        0,
        None,
        vec![
            Ok(bytes::Bytes::from(vec![1u8; 30_000])),
            Ok(bytes::Bytes::from(vec![2u8; 20_000])),
            Err(broken()),
        ],
    );
    let _ = go(&w.app, r).await;
    assert_eq!(offset(&w.app, &token, &at).await, 50_000);
    let (st, h, v) = patch(&w.app, &token, &at, 50_000, &vec![3u8; 150_000], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(hdr(&h, "upload-offset"), "200000");
    let id: u64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let got = w.store.upload(id).unwrap().unwrap().received.unwrap();
    let mut want = vec![1u8; 30_000];
    want.extend(vec![2u8; 20_000]);
    want.extend(vec![3u8; 150_000]);
    assert_eq!(
        got.sha256.as_slice(),
        sha2::Sha256::digest(&want).as_slice()
    );
}

/// Crash points and leftovers: a received file left under its part name is moved into place
/// (read-only) when the server starts; a checksum cannot vouch for a body cut short, so none of
/// it is kept; an upload left unfinished past its expiry ends (its bytes deleted) and stops
/// counting against the limits.
#[tokio::test]
async fn crashes_cut_bodies_and_expired_uploads_leave_nothing_inconsistent() {
    let w = world_with(|s| s.program.submissions.files_per_link = 2);
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0046").await;

    // A body cut short while it declared a checksum: nothing of it is kept.
    let (_, at, _) = create(&w.app, &token, 100, "a.mp4").await;
    let sum = format!("sha1 {}", b64(&sha1::Sha1::digest([1u8; 100])));
    let r = patch_stream(
        &at,
        &token,
        0,
        Some(sum),
        vec![Ok(bytes::Bytes::from(vec![1u8; 60])), Err(broken())],
    );
    let (st, _, _) = go(&w.app, r).await;
    assert_eq!(st.as_u16(), 460);
    assert_eq!(offset(&w.app, &token, &at).await, 0);

    // Finished, then "crashed" before the original reached its place: put in order at start.
    let (st, _, _) = patch(&w.app, &token, &at, 0, &[1u8; 100], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let id: u64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let got = w.store.upload(id).unwrap().unwrap().received.unwrap();
    let file = w.store.root().join(&got.file);
    let part = w.store.root().join(format!("submissions/parts/{id:08}"));
    std::fs::rename(&file, &part).unwrap();
    let _restarted = vms_web::AppState::new(
        w.store.clone(),
        w.state.secrets.clone(),
        (*w.state.settings).clone(),
    );
    assert!(!part.exists());
    assert_eq!(std::fs::read(&file).unwrap(), vec![1u8; 100]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o222,
        0
    );

    // An upload left unfinished past its expiry ends; the link may carry another file.
    let (st, stale, _) = create(&w.app, &token, 10, "b.mp4").await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _, _) = create(&w.app, &token, 10, "c.mp4").await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "two files per link");
    w.clock.advance_secs(25 * 3600);
    let (st, _, v) = create(&w.app, &token, 10, "c.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let stale_id: u64 = stale.rsplit('/').next().unwrap().parse().unwrap();
    let row = w.store.upload(stale_id).unwrap().unwrap();
    assert!(row.terminated_us.is_some(), "{row:?}");
    assert!(
        !w.store
            .root()
            .join(format!("submissions/parts/{stale_id:08}"))
            .exists()
    );
    let (st, _, _) = go(&w.app, tus(Method::HEAD, &stale, &token, &[], vec![])).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// Identified by content, not by name: an MP4 made by FFmpeg plays inline with byte ranges; a
/// web page renamed `.mp4` is only ever an attachment of type `application/octet-stream`.
/// Opening an original is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originals_are_identified_by_content_and_served_safely() {
    let w = world();
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0047").await;
    let dir = tempfile::tempdir().unwrap();
    let mp4 = ffmpeg_clip(
        dir.path(),
        "clip.mp4",
        &["-pix_fmt", "yuv420p", "-c:v", "libx264"],
    );
    let files = [
        ("clip.mp4", mp4),
        (
            "evil.mp4",
            b"<html><script>alert(1)</script></html>".to_vec(),
        ),
    ];
    let mut ids = Vec::new();
    for (name, data) in &files {
        let (st, at, _) = create(&w.app, &token, data.len(), name).await;
        assert_eq!(st, StatusCode::CREATED);
        let (st, _, v) = patch(&w.app, &token, &at, 0, data, None).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
        ids.push(at.rsplit('/').next().unwrap().parse::<u64>().unwrap());
    }
    // Identification runs after receipt, in the background.
    let mut what = Vec::new();
    for _ in 0..300 {
        what = ids
            .iter()
            .filter_map(|id| w.store.upload(*id).unwrap().unwrap().identified)
            .collect();
        if what.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(what.len(), 2, "both files identified");
    assert!(
        what[0].browser_playable && what[0].summary.starts_with("h264 video 160×120"),
        "{:?}",
        what[0]
    );
    assert!(
        !what[1].browser_playable && what[1].summary.starts_with("not playable here"),
        "{:?}",
        what[1]
    );

    let get = |id: u64, query: &str, range: Option<&str>| {
        let mut b = Request::builder()
            .uri(format!("/api/submissions/{id}/original{query}"))
            .header("cookie", &inv.cookie);
        if let Some(r) = range {
            b = b.header("range", r);
        }
        b.body(Body::empty()).unwrap()
    };
    let (st, h) = raw(&w.app, get(ids[1], "?inline=1", None)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hdr(&h, "content-type"), "application/octet-stream");
    assert!(
        hdr(&h, "content-disposition").starts_with("attachment"),
        "{h:?}"
    );
    assert_eq!(hdr(&h, "x-content-type-options"), "nosniff");
    let (st, h) = raw(&w.app, get(ids[0], "?inline=1", Some("bytes=0-99"))).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(hdr(&h, "content-type"), "video/mp4");
    assert_eq!(
        hdr(&h, "content-range"),
        format!("bytes 0-99/{}", files[0].1.len())
    );
    let ev = w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.case_number.as_deref()),
        ("submission.view", Some("2026-0047"))
    );
}

/// One source address may make so many submission requests a minute: past it, 429 saying the
/// limit, before any token is looked up (a flood of guesses costs no scans or audit writes).
#[tokio::test]
async fn a_flood_from_one_address_is_turned_away() {
    let w = world_with(|s| s.submission_requests_per_minute = 5);
    let audit_before = w.store.audit_search(&Default::default()).unwrap().len();
    for i in 0..5 {
        let (st, _, _) = create(&w.app, "guess", 10, "x.mp4").await;
        assert_eq!(st, StatusCode::FORBIDDEN, "request {i}");
    }
    let (st, _, v) = create(&w.app, "guess", 10, "x.mp4").await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        v["error"].as_str().unwrap().contains("at most 5 a minute"),
        "{v}"
    );
    let audited = w.store.audit_search(&Default::default()).unwrap().len() - audit_before;
    assert_eq!(audited, 5, "the turned-away request wrote nothing");
    w.clock.advance_secs(60);
    let (st, _, _) = create(&w.app, "guess", 10, "x.mp4").await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a new minute");
}

/// A link used too often (leaked, and used from many places) is turned away past its own
/// budget, whatever the address; other links are not affected.
#[tokio::test]
async fn a_link_used_too_often_is_turned_away() {
    let w = world_with(|s| {
        s.submission_requests_per_minute = 0;
        s.requests_per_link_per_minute = 4;
    });
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0052").await; // the statement is one request
    for i in 0..3 {
        let (st, _, v) = create(&w.app, &token, 10, "x.mp4").await;
        assert_eq!(st, StatusCode::CREATED, "request {i}: {v}");
    }
    let (st, _, v) = create(&w.app, &token, 10, "x.mp4").await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("with this link"),
        "{v}"
    );
    let (_, other) = new_link(&w, &inv, "2026-0052").await;
    let (st, _, v) = create(&w.app, &other, 10, "x.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "another link: {v}");
    w.clock.advance_secs(60);
    let (st, _, v) = create(&w.app, &token, 10, "x.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "a new minute: {v}");
}

/// A disk that fills up mid-upload (a real one: an 8 MiB tmpfs under the submissions tree, in
/// the test's own mount namespace): the PATCH is 507 saying so, what was acknowledged before
/// is kept (offset and bytes), nothing of the refused request is; once space is freed (the
/// submitter ends the upload), another file goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_upload_keeps_what_was_received() {
    if !vms_testkit::netns::in_mountns(
        "a_full_disk_mid_upload_keeps_what_was_received",
        std::time::Duration::from_secs(60),
    ) {
        return;
    }
    let w = world();
    let sub = w.store.root().join("submissions");
    std::fs::create_dir_all(&sub).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(ok.success(), "mount tmpfs");
    let inv = w.login("investigator").await;
    let (_, token) = new_link(&w, &inv, "2026-0050").await;
    let data: Vec<u8> = (0..12_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let (st, at, v) = create(&w.app, &token, data.len(), "big.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _, v) = patch(&w.app, &token, &at, 0, &data[..3_000_000], None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, h, v) = patch(&w.app, &token, &at, 3_000_000, &data[3_000_000..], None).await;
    assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE, "{v}");
    assert!(v["error"].as_str().unwrap().contains("disk is full"), "{v}");
    assert_eq!(hdr(&h, "tus-resumable"), "1.0.0");
    assert_eq!(offset(&w.app, &token, &at).await, 3_000_000);
    let id: u64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let part = sub.join(format!("parts/{id:08}"));
    assert_eq!(
        std::fs::read(&part).unwrap(),
        &data[..3_000_000],
        "the acknowledged bytes, and nothing of the refused request"
    );
    // The submitter gives up on that file; the space comes back; a smaller one goes through.
    let (st, _, _) = go(&w.app, tus(Method::DELETE, &at, &token, &[], vec![])).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let small = upload_file(&w.app, &token, "clip.mp4", &data[..2_000_000]).await;
    let up = w.store.upload(small).unwrap().unwrap();
    assert_eq!(
        up.received.unwrap().sha256.as_slice(),
        sha2::Sha256::digest(&data[..2_000_000]).as_slice()
    );
}

/// 1000 tiny uploads at once over 63 links (16 files each): every one is created and received
/// with its own hash, ids distinct; a PATCH past the writer cap is 503 and the client retries
/// (as tus clients do); nothing panics, nothing mixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_tiny_uploads_each_arrive_whole() {
    let w = world_with(|s| {
        s.submission_requests_per_minute = 0;
        s.requests_per_link_per_minute = 0;
    });
    let inv = w.login("investigator").await;
    let mut tokens = Vec::new();
    for _ in 0..63 {
        tokens.push(new_link(&w, &inv, "2026-0051").await.1);
    }
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let app = w.app.clone();
            let token = tokens[i as usize / 16].clone();
            tokio::spawn(async move {
                let data = format!("tiny file {i}").into_bytes();
                let (st, at, v) = create(&app, &token, data.len(), &format!("f{i}.mp4")).await;
                assert_eq!(st, StatusCode::CREATED, "{i}: {v}");
                let mut busy = 0;
                loop {
                    let (st, _, v) = patch(&app, &token, &at, 0, &data, None).await;
                    match st {
                        StatusCode::NO_CONTENT => break,
                        StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT => {
                            busy += 1;
                            assert!(busy < 1000, "{i} never got through: {v}");
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                        st => panic!("{i}: {st} {v}"),
                    }
                }
                let id: u64 = at.rsplit('/').next().unwrap().parse().unwrap();
                (id, data)
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (id, data) = t.await.unwrap();
        assert!(ids.insert(id), "id {id} given twice");
        let up = w.store.upload(id).unwrap().unwrap();
        assert_eq!(
            up.received.expect("received").sha256.as_slice(),
            sha2::Sha256::digest(&data).as_slice(),
            "upload {id}"
        );
    }
    assert_eq!(ids.len(), 1000);
}
