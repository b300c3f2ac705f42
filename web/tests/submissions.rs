//! What happens to a submitted file after it arrived, through the real router, RocksDB and
//! FFmpeg: a file a browser cannot play gets a derived working copy (its own hash, the
//! original untouched), investigators accept or reject each file with a reason, and retention
//! deletes rejected and unreviewed files after their periods while accepted ones stay.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::tus::*;
use common::*;
use serde_json::{Value, json};
use sha2::Digest;

/// The case's files as the case page sees them.
async fn case_files(w: &World, s: &Session, case: &str) -> Vec<Value> {
    let (st, v) = w
        .call(
            Method::GET,
            &format!("/api/cases/{case}/submissions"),
            s,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["files"].as_array().unwrap().clone())
        .collect()
}

/// The file once `ready` says so (examination runs in the background), within 30 s.
async fn file_when(
    w: &World,
    s: &Session,
    case: &str,
    id: u64,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let mut f = Value::Null;
    for _ in 0..300 {
        f = file(w, s, case, id).await;
        if ready(&f) {
            return f;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("file {id} not ready within 30 s: {f}");
}

async fn file(w: &World, s: &Session, case: &str, id: u64) -> Value {
    case_files(w, s, case)
        .await
        .into_iter()
        .find(|f| f["id"] == id)
        .unwrap()
}

fn audits(w: &World, action: &str) -> Vec<vms_storage::AuditEvent> {
    w.store
        .audit_search(&vms_storage::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == action)
        .collect()
}

/// A world in which someone sent, through an investigator's link for a case, an H.265
/// Matroska clip as a phone or an NVR exports it (no browser plays it as it is).
struct Sent {
    w: World,
    inv: Session,
    link: u64,
    token: String,
    dir: tempfile::TempDir,
    mkv: Vec<u8>,
    id: u64,
}

async fn sent_hevc(case: &str) -> Sent {
    let w = world();
    let inv = w.login("investigator").await;
    let (link, token) = new_link(&w, &inv, case).await;
    let dir = tempfile::tempdir().unwrap();
    let mkv = ffmpeg_clip(
        dir.path(),
        "porch.mkv",
        &["-c:v", "libx265", "-x265-params", "log-level=error"],
    );
    let id = upload_file(&w.app, &token, "porch.mkv", &mkv).await;
    Sent {
        w,
        inv,
        link,
        token,
        dir,
        mkv,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplayable_files_get_a_derived_working_copy() {
    let case = "2026-0101";
    let Sent {
        w,
        inv,
        token,
        dir,
        mkv,
        id,
        ..
    } = sent_hevc(case).await;
    let junk = upload_file(&w.app, &token, "export.dav", b"not a video at all").await;

    let f = file_when(&w, &inv, case, id, |f| !f["working_copy"].is_null()).await;
    let wc = &f["working_copy"];
    assert_eq!(f["browser_playable"], false, "{f}");
    assert!(f["what"].as_str().unwrap().starts_with("hevc video"), "{f}");
    assert!(wc["tool"].as_str().unwrap().contains("libx264"), "{wc}");

    // The copy is served for the browser with byte ranges, and its bytes are what its hash
    // says; the original is served exactly as received.
    let (st, h, body) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/working-copy"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hdr(&h, "content-type"), "video/mp4");
    assert_eq!(
        wc["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&body))
    );
    assert_eq!(wc["length"], body.len());
    let copy = dir.path().join("copy.mp4");
    std::fs::write(&copy, &body).unwrap();
    let p = vms_testkit::ffprobe::ffprobe(&copy);
    assert_eq!((p.codec.as_str(), p.width), ("h264", 160));
    assert!(p.frames >= 9, "{p:?}");
    let (st, h, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/working-copy"),
        &inv,
        &[("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert!(hdr(&h, "content-range").starts_with("bytes 0-9/"), "{h:?}");
    let (st, _, original) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/original"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(original, mkv, "the original is untouched");
    assert_eq!(
        f["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&mkv))
    );
    let ev = audits(&w, "submission.working-copy");
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].event.detail.contains(wc["sha256"].as_str().unwrap())
            && ev[0].event.detail.contains(f["sha256"].as_str().unwrap()),
        "the copy's record names both hashes: {}",
        ev[0].event.detail
    );

    // What FFmpeg cannot read gets no copy and is flagged; asking for one is 404.
    let j = file_when(&w, &inv, case, junk, |f| f["what"].is_string()).await;
    assert!(
        j["what"].as_str().unwrap().starts_with("not playable here"),
        "{j}"
    );
    assert!(j["working_copy"].is_null());
    let (st, _, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{junk}/working-copy"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Nor does a partner or a viewer reach submissions.
    for who in ["partner1", "viewer"] {
        let s = w.login(who).await;
        let (st, _, _) = get_raw(
            &w.app,
            &format!("/api/submissions/{id}/working-copy"),
            &s,
            &[],
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{who}");
    }
}

#[tokio::test]
async fn investigators_review_and_retention_follows_the_decision() {
    let w = world();
    let inv = w.login("investigator").await;
    let case = "2026-0102";
    let (_, token) = new_link(&w, &inv, case).await;
    let accepted = upload_file(&w.app, &token, "a.mp4", b"first file").await;
    let rejected = upload_file(&w.app, &token, "b.mp4", b"second file").await;
    let unreviewed = upload_file(&w.app, &token, "c.mp4", b"third file").await;
    let review = |s: Session, id: u64, body: Value| {
        let w = &w;
        async move {
            w.call(
                Method::POST,
                &format!("/api/submissions/{id}/review"),
                &s,
                Some(body),
            )
            .await
        }
    };

    // A rejection needs a reason; a partner cannot review.
    let (st, v) = review(inv.clone(), rejected, json!({"accepted": false})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("reason"), "{v}");
    let p = w.login("partner1").await;
    let (st, _) = w
        .call(
            Method::POST,
            &format!("/api/submissions/{accepted}/review"),
            &p,
            Some(json!({"accepted": true})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = review(inv.clone(), accepted, json!({"accepted": true})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["review"]["accepted"], true);
    assert_eq!(v["review"]["by"], "investigator");
    let (st, v) = review(
        inv.clone(),
        rejected,
        json!({"accepted": false, "reason": "shows a different street"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ev = w.last_audit();
    assert_eq!(ev.event.action, "submission.review");
    assert_eq!(ev.event.case_number.as_deref(), Some(case));
    assert!(
        ev.event
            .detail
            .contains("rejected: shows a different street"),
        "{}",
        ev.event.detail
    );
    // The public report counts decisions, nothing else about them.
    let (st, report, _) = send(
        &w.app,
        request(Method::GET, "/api/transparency?month=2026-09", None, None),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (
            &report["submissions_received"],
            &report["submissions_accepted"],
            &report["submissions_rejected"]
        ),
        (&json!(3), &json!(1), &json!(1))
    );

    // Day 31: the rejected file goes (audited, with its hash); the others stay.
    let path = |id: u64| {
        let up = w.store.upload(id).unwrap().unwrap();
        w.store.root().join(up.received.unwrap().file)
    };
    assert!(path(rejected).exists());
    w.clock.advance_secs(31 * 86_400);
    assert_eq!(w.state.program.sweep_submissions().unwrap(), 1);
    assert!(!path(rejected).exists(), "the rejected original is deleted");
    assert!(path(accepted).exists() && path(unreviewed).exists());
    let ev = w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.actor.as_str()),
        ("submission.deleted", "retention")
    );
    let sha = hex::encode(sha2::Sha256::digest(b"second file"));
    assert!(ev.event.detail.contains(&sha), "{}", ev.event.detail);
    let inv = w.login("investigator").await;
    let f = file(&w, &inv, case, rejected).await;
    assert!(!f["deleted"].is_null(), "the record stays: {f}");
    assert_eq!(f["sha256"], sha.as_str());
    let (st, _, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{rejected}/original"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = review(inv.clone(), rejected, json!({"accepted": true})).await;
    assert_eq!(st, StatusCode::CONFLICT, "nothing left to accept");
    // Sweeping again changes nothing.
    assert_eq!(w.state.program.sweep_submissions().unwrap(), 0);

    // Day 91: nobody reviewed the third file; the accepted one stays with its case.
    w.clock.advance_secs(60 * 86_400);
    assert_eq!(w.state.program.sweep_submissions().unwrap(), 1);
    assert!(!path(unreviewed).exists());
    assert!(path(accepted).exists(), "accepted files follow their case");
    assert!(
        w.last_audit()
            .event
            .detail
            .contains("not reviewed within 90 days"),
        "{}",
        w.last_audit().event.detail
    );
    w.clock.advance_secs(3650 * 86_400);
    assert_eq!(w.state.program.sweep_submissions().unwrap(), 0);
    assert!(path(accepted).exists());
}

/// Accepted files go into an evidence package — the master bit-exact, the working copy
/// labelled derived, the intake record, the declared clock offset and the submissions' audit
/// trail in the manifest — which verifies offline; one flipped byte is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_files_are_exported_and_verify_offline() {
    let case = "2026-0103";
    let Sent {
        w,
        inv,
        link,
        token,
        mkv,
        id: a,
        ..
    } = sent_hevc(case).await;
    let b = upload_file(&w.app, &token, "note.txt", b"a plain note").await;
    let c = upload_file(&w.app, &token, "other.mp4", b"not reviewed").await;
    file_when(&w, &inv, case, a, |f| !f["working_copy"].is_null()).await;
    for id in [a, b] {
        let (st, v) = w
            .call(
                Method::POST,
                &format!("/api/submissions/{id}/review"),
                &inv,
                Some(json!({"accepted": true, "reason": "shows the suspect's car"})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let export = |ids: Vec<u64>, case: &'static str| {
        let w = &w;
        let inv = inv.clone();
        async move {
            w.call(
                Method::POST,
                "/api/exports",
                &inv,
                Some(
                    json!({"cameras": [], "submissions": ids, "start_us": T0, "end_us": T0,
                    "case_number": case, "reason": "court bundle"}),
                ),
            )
            .await
        }
    };
    // Only accepted files of this case.
    let (st, v) = export(vec![a, c], case).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not accepted"), "{v}");
    let (st, v) = export(vec![a], "2026-9999").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = export(vec![], case).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "nothing to export: {v}");

    let (st, v) = export(vec![a, b], case).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let done = wait_export(&w, &inv, id).await;
    assert_eq!(done["status"], "done", "{done}");
    let pkg = w.store.root().join(format!("exports/{id:08}"));
    let files = done["files"].as_array().unwrap();
    for name in [
        format!("submission-{a}.mkv"),
        format!("submission-{a}-working-copy.mp4"),
        format!("submission-{b}"),
        "manifest.json".into(),
    ] {
        assert!(
            files.iter().any(|f| f == name.as_str()),
            "{name} in {files:?}"
        );
    }
    assert_eq!(
        std::fs::read(pkg.join(format!("submission-{a}.mkv"))).unwrap(),
        mkv,
        "the master is bit-exact"
    );
    let report = vms_storage::export::verify_package(&pkg, None);
    assert!(report.ok(), "{:#?}", report.lines);
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("DERIVED working copy")),
        "{:#?}",
        report.lines
    );

    // The public report counts the package (it holds no camera).
    let (_, t, _) = send(
        &w.app,
        request(Method::GET, "/api/transparency?month=2026-09", None, None),
    )
    .await;
    assert_eq!(t["exports"], 1, "{t}");
    let m: Value =
        serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["format"], "vms-evidence-export/2");
    let s = m["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["upload_id"] == a)
        .unwrap();
    assert_eq!(s["link_id"], link);
    assert_eq!(s["declared_clock_offset_secs"], 420);
    assert_eq!(s["statement"]["attestation_version"], "2026-1");
    assert_eq!(s["review"]["accepted"], true);
    let sha = hex::encode(sha2::Sha256::digest(&mkv));
    assert_eq!(
        (s["intake_sha256"].as_str(), s["master"]["sha256"].as_str()),
        (Some(sha.as_str()), Some(sha.as_str()))
    );
    assert_eq!(s["working_copy"]["derived_from_sha256"], sha.as_str());
    let custody: Vec<&str> = m["chain_of_custody"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "submission.link.create",
        "submission.statement",
        "submission.received",
        "submission.working-copy",
        "submission.review",
        "submission.export",
    ] {
        assert!(custody.contains(&want), "{want} in {custody:?}");
    }

    // One byte of the submitted master flipped: verification names that file.
    let master = pkg.join(format!("submission-{a}.mkv"));
    let mut bytes = std::fs::read(&master).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&master, bytes).unwrap();
    let report = vms_storage::export::verify_package(&pkg, None);
    assert!(!report.ok());
    let fails: Vec<&String> = report
        .lines
        .iter()
        .filter(|l| l.starts_with("FAIL"))
        .collect();
    assert_eq!(
        fails.len(),
        1,
        "only the master fails (its copy still names the recorded hash): {fails:#?}"
    );
    assert!(
        fails[0].contains(&format!("submission-{a}.mkv")),
        "{fails:#?}"
    );
}

/// A partner answers its footage request with files from its own recorder: a link of its own
/// for the request, the same upload page; every step and every staff access to the file then
/// shows in the partner's receipts (and nothing of another partner's submissions does).
#[tokio::test]
async fn a_partner_answers_its_request_with_files_and_sees_every_access() {
    let w = world();
    let inv = w.login("investigator").await;
    let (st, r) = w
        .call(
            Method::POST,
            "/api/requests",
            &inv,
            Some(json!({"cameras": [w.cams[1]], "start_us": T0 - 3_600_000_000, "end_us": T0,
                "case_number": "2026-0104", "offence": "burglary", "reason": "suspect seen on Elm Ave"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let request = r["id"].as_u64().unwrap();
    let link_for = |s: Session, request: u64| {
        let w = &w;
        async move {
            w.call(
                Method::POST,
                &format!("/api/requests/{request}/submission-link"),
                &s,
                None,
            )
            .await
        }
    };
    // Not the investigator's way in, and not another partner's request.
    let (st, _) = link_for(inv.clone(), request).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let p2 = w.login("partner2").await;
    let (st, _) = link_for(p2.clone(), request).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let p1 = w.login("partner1").await;
    let (st, l) = link_for(p1.clone(), request).await;
    assert_eq!(st, StatusCode::CREATED, "{l}");
    let token = l["token"].as_str().unwrap().to_owned();
    assert_eq!(l["request_id"], request);
    assert_eq!(l["case_number"], "2026-0104");
    let (st, _, v) = go(&w.app, statement(&token, true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let id = upload_file(
        &w.app,
        &token,
        "nvr export.mp4",
        b"the partner's own export",
    )
    .await;

    // The investigator sees it with the case, and opens it.
    let f = file(&w, &inv, "2026-0104", id).await;
    assert_eq!(f["filename"], "nvr export.mp4");
    let (st, _, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/original"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK);

    // The partner's receipts show the link, statement, receipt and the investigator's view.
    let (st, rc) = w
        .call(Method::GET, "/api/partner/receipts", &p1, None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let seen: Vec<(&str, &str)> = rc
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for want in [
        ("submission.link.create", "partner1"),
        ("submission.statement", "submitter"),
        ("submission.received", "submitter"),
        ("submission.view", "investigator"),
    ] {
        assert!(seen.contains(&want), "{want:?} in {seen:?}");
    }
    let (_, rc2) = w
        .call(Method::GET, "/api/partner/receipts", &p2, None)
        .await;
    assert!(
        !rc2.to_string().contains("submission."),
        "another partner sees none of it: {rc2}"
    );
    // A denied request is not answered with files.
    let (st, r) = w
        .call(
            Method::POST,
            "/api/requests",
            &inv,
            Some(
                json!({"cameras": [w.cams[1]], "start_us": T0 - 3_600_000_000, "end_us": T0,
                "case_number": "2026-0105", "offence": "theft", "reason": "r"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let denied = r["id"].as_u64().unwrap();
    let (st, _) = w
        .call(
            Method::POST,
            &format!("/api/requests/{denied}/decision"),
            &p1,
            Some(json!({"approve": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = link_for(p1.clone(), denied).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
}

/// A ZIP archive (written by Python's `zipfile`, an independent writer) is kept as received;
/// its entries are listed, and extracted only within bounds: a clip is extracted, hashed and
/// identified; an entry whose name leads outside and a ZIP bomb's entry are listed, not
/// extracted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_archives_are_listed_and_extracted_within_bounds() {
    let w = world();
    let inv = w.login("investigator").await;
    let case = "2026-0106";
    let (_, token) = new_link(&w, &inv, case).await;
    let dir = tempfile::tempdir().unwrap();
    let clip = ffmpeg_clip(
        dir.path(),
        "ch1.mp4",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let zip = dir.path().join("export.zip");
    let script = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
        z.write(sys.argv[2], arcname='DVR/ch1.mp4')\n\
        z.writestr('../../etc/cron.d/evil', 'echo pwned')\n\
        z.writestr('bomb.bin', b'\\0' * (64 << 20))\n\
        z.close()\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .arg(dir.path().join("ch1.mp4"))
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(&zip).unwrap();
    assert!(bytes.len() < 1 << 20, "the bomb is small compressed");
    let id = upload_file(&w.app, &token, "export.zip", &bytes).await;

    let f = file_when(&w, &inv, case, id, |f| {
        f["archive"]["entries"]
            .as_array()
            .is_some_and(|es| es.iter().any(|e| e["what"].is_string()))
    })
    .await;
    assert_eq!(f["what"], "ZIP archive of 3 entries, 1 extracted", "{f}");
    let entries = f["archive"]["entries"].as_array().unwrap();
    let by_name = |n: &str| entries.iter().find(|e| e["name"] == n).unwrap();
    let ch1 = by_name("DVR/ch1.mp4");
    assert_eq!(ch1["extracted"], true);
    assert_eq!(
        ch1["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&clip))
    );
    assert!(
        ch1["what"]
            .as_str()
            .unwrap()
            .starts_with("h264 video 160×120"),
        "{ch1}"
    );
    assert_eq!(ch1["browser_playable"], true);
    let evil = by_name("../../etc/cron.d/evil");
    assert_eq!(evil["extracted"], false);
    assert!(
        evil["skipped"].as_str().unwrap().contains("outside"),
        "{evil}"
    );
    let bomb = by_name("bomb.bin");
    assert_eq!(bomb["extracted"], false);
    assert!(
        bomb["skipped"].as_str().unwrap().contains("ZIP bomb"),
        "{bomb}"
    );
    // Nothing was written outside the store, and nothing of the bomb at all.
    assert!(!dir.path().join("etc").exists());
    let extracted = w
        .store
        .root()
        .join(format!("submissions/extracted/{id:08}"));
    let on_disk: Vec<_> = std::fs::read_dir(&extracted).unwrap().collect();
    assert_eq!(on_disk.len(), 1, "only the clip: {on_disk:?}");

    // The entry downloads as extracted (audited); an entry not extracted is 404; the archive
    // itself is served exactly as received.
    let index = ch1["index"].as_u64().unwrap();
    let (st, h, body) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/entries/{index}"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hdr(&h, "content-type"), "application/octet-stream");
    assert_eq!(body, clip);
    let (st, h, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/entries/{index}?inline=1"),
        &inv,
        &[("range", "bytes=0-9")],
    )
    .await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(hdr(&h, "content-type"), "video/mp4");
    let bomb_index = bomb["index"].as_u64().unwrap();
    let (st, _, _) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/entries/{bomb_index}"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, _, original) = get_raw(
        &w.app,
        &format!("/api/submissions/{id}/original"),
        &inv,
        &[],
    )
    .await;
    assert_eq!(original, bytes);
    let ev = audits(&w, "submission.extracted");
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].event.detail.contains(ch1["sha256"].as_str().unwrap()),
        "{}",
        ev[0].event.detail
    );

    // Accepted and exported, the archive is the master and its extracted entries' hashes are
    // in the manifest; `vms verify` reads each entry from the archive again.
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/submissions/{id}/review"),
            &inv,
            Some(json!({"accepted": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = w
        .call(
            Method::POST,
            "/api/exports",
            &inv,
            Some(
                json!({"cameras": [], "submissions": [id], "start_us": T0, "end_us": T0,
                "case_number": case, "reason": "court bundle"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let x = v["id"].as_u64().unwrap();
    assert_eq!(wait_export(&w, &inv, x).await["status"], "done");
    let pkg = w.store.root().join(format!("exports/{x:08}"));
    let report = vms_storage::export::verify_package(&pkg, None);
    assert!(report.ok(), "{:#?}", report.lines);
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("entries extracted at intake read the same")),
        "{:#?}",
        report.lines
    );
    // A manifest that misstates an entry (signed again, so only the entry check can tell).
    use ed25519_dalek::Signer as _;
    let key = vms_storage::export::load_or_create_signing_key(
        &w.store.root().join("keys/export-ed25519.key"),
    )
    .unwrap();
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    m["submissions"][0]["archive_entries"][0]["sha256"] = json!("00".repeat(32));
    let body = serde_json::to_vec_pretty(&m).unwrap();
    std::fs::write(pkg.join("manifest.json"), &body).unwrap();
    let sig = json!({"algorithm": "Ed25519", "public_key": hex::encode(key.verifying_key().as_bytes()),
        "signature": hex::encode(key.sign(&body).to_bytes())});
    std::fs::write(pkg.join("signature.json"), sig.to_string()).unwrap();
    let report = vms_storage::export::verify_package(&pkg, None);
    assert!(!report.ok());
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.starts_with("FAIL") && l.contains("entry")),
        "{:#?}",
        report.lines
    );
}

/// Public calls for video: off unless the server turns them on; an investigator opens one;
/// anyone starts a submission from its page and gets a link of their own (the ordinary
/// statement and upload follow); a stricter budget per address; closed calls refuse.
#[tokio::test]
async fn public_calls_give_each_sender_a_link_of_their_own() {
    let off = world();
    let inv = off.login("investigator").await;
    let body = json!({"title": "Collision at Elm St and 3rd", "window": "Tue 3 Dec, 01:30-02:30",
        "area": "Elm St between 2nd and 4th"});
    let (st, v) = off
        .call(
            Method::POST,
            "/api/cases/2026-0107/public-calls",
            &inv,
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "off by default: {v}");

    let w = world_with(|s| {
        s.program.submissions.public_calls = true;
        s.public_submissions_per_hour = 2;
    });
    let inv = w.login("investigator").await;
    let (st, c) = w
        .call(
            Method::POST,
            "/api/cases/2026-0107/public-calls",
            &inv,
            Some(body),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let id = c["id"].as_u64().unwrap();
    assert_eq!(c["url"], format!("/call/{id}"));
    // The public page: what, when, where in general; nobody's name.
    let (st, page, _) = send(
        &w.app,
        request(Method::GET, &format!("/api/public-calls/{id}"), None, None),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(page["title"], "Collision at Elm St and 3rd");
    assert!(page.get("created_by").is_none(), "{page}");
    // Two people start (each a link of their own); the third start from the address is 429.
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (st, s, _) = send(
            &w.app,
            request(
                Method::POST,
                &format!("/api/public-calls/{id}/start"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{s}");
        tokens.push(
            s["url"]
                .as_str()
                .unwrap()
                .trim_start_matches("/submit#")
                .to_owned(),
        );
    }
    assert_ne!(tokens[0], tokens[1]);
    let (st, v, _) = send(
        &w.app,
        request(
            Method::POST,
            &format!("/api/public-calls/{id}/start"),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v["error"].as_str().unwrap().contains("at most 2"), "{v}");
    // The link works as any other: statement (no name needed), then a file, in the case.
    let (st, _, v) = go(&w.app, statement(&tokens[0], true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let up = upload_file(&w.app, &tokens[0], "dashcam.mp4", b"dashcam footage").await;
    let f = file(&w, &inv, "2026-0107", up).await;
    assert_eq!(f["filename"], "dashcam.mp4");
    // Closed: the page and new starts refuse with one message; started links keep working.
    let (st, _) = w
        .call(
            Method::DELETE,
            &format!("/api/public-calls/{id}"),
            &inv,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    for (m, path) in [
        (Method::GET, format!("/api/public-calls/{id}")),
        (Method::POST, format!("/api/public-calls/{id}/start")),
        (Method::GET, "/api/public-calls/999".to_owned()),
    ] {
        let (st, v, _) = send(&w.app, request(m, &path, None, None)).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{path}: {v}");
        assert_eq!(v["error"], vms_program::public_calls::CALL_CLOSED);
    }
    let (st, _, v) = go(&w.app, statement(&tokens[1], true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let ev = audits(&w, "submission.public-call");
    assert_eq!(ev.len(), 2, "opened and closed");
}

/// The space for submissions counts what is kept: an archive's extracted entries take room
/// next to the archive, so the next file that would pass the quota is refused (507 saying so);
/// a smaller one still fits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_submissions_quota_counts_extracted_entries() {
    let w = world_with(|s| {
        s.program.submissions.quota_bytes = 250_000;
        s.program.submissions.bytes_per_link = 250_000;
        s.program.submissions.bytes_per_file = 250_000;
    });
    let inv = w.login("investigator").await;
    let case = "2026-0108";
    let (_, token) = new_link(&w, &inv, case).await;
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("stored.zip");
    let script = "import sys, os, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED)\n\
        z.writestr('clip.bin', os.urandom(100000))\n\
        z.close()\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(&zip).unwrap();
    let id = upload_file(&w.app, &token, "stored.zip", &bytes).await;
    file_when(&w, &inv, case, id, |f| {
        f["archive"]["entries"][0]["extracted"] == true
    })
    .await;
    // Kept: the archive (~100 kB) and its entry (100 kB). 60 kB more would pass a quota that
    // counted originals only (160 kB of 250 kB), not one that counts what is on disk.
    let (st, _, v) = create(&w.app, &token, 60_000, "more.mp4").await;
    assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("space for submissions is full"),
        "{v}"
    );
    let (st, _, v) = create(&w.app, &token, 20_000, "small.mp4").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}
