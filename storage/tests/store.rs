//! Store tests against a real RocksDB in a temporary directory: recording, the reader API,
//! crash recovery, retention with holds, and corrupt or truncated data.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use vms_storage::{
    ManualClock, RecFrame, RecorderOptions, RetentionPolicy, Store, StoreOptions, TrackParams,
};

use vms_testkit::T0;

fn track() -> Arc<TrackParams> {
    Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 1280,
        height: 720,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
    })
}

fn open(dir: &std::path::Path, clock: Arc<ManualClock>) -> Arc<Store> {
    Store::open(
        dir,
        StoreOptions {
            clock,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// Frames of a 30 fps camera with a keyframe every `gop` frames, starting at `t0`.
fn frames(n: usize, gop: usize, t0: i64) -> Vec<RecFrame> {
    (0..n)
        .map(|i| RecFrame {
            new_run: (i == 0).then(track),
            pts_90k: 1_000_000 + i as i64 * 3000,
            wall_us: t0 + i as i64 * 1_000_000 / 30,
            keyframe: i % gop == 0,
            data: Bytes::from(vec![i as u8; 100 + i % 7]),
        })
        .collect()
}

/// The store's RocksDB opened directly, to damage or age it behind the store's back.
fn raw_index(dir: &std::path::Path) -> rocksdb::DB {
    rocksdb::DB::open_cf(
        &rocksdb::Options::default(),
        dir.join("index"),
        vms_storage::index::cf::ALL,
    )
    .unwrap()
}

async fn record(store: &Arc<Store>, camera: u32, fs: Vec<RecFrame>, opts: RecorderOptions) {
    let mut rec = store.recorder(camera, opts).unwrap();
    for f in fs {
        rec.push(f).await.unwrap();
    }
    rec.close().await.unwrap();
}

#[tokio::test]
async fn records_fragments_segments_and_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));
    let cam = store.camera_id("front-door").unwrap();
    assert_eq!(store.camera_id("front-door").unwrap(), cam);
    let opts = RecorderOptions {
        segment_target_secs: 2,
        ..RecorderOptions::default()
    };
    record(&store, cam, frames(300, 30, T0), opts).await;

    let frags = store.fragments(cam, T0, T0 + 20_000_000).unwrap();
    assert_eq!(frags.len(), 10, "one fragment per GOP");
    assert_eq!(frags.iter().map(|f| f.row.frames).sum::<u32>(), 300);
    assert!(frags.iter().all(|f| f.row.starts_with_key()));
    for w in frags.windows(2) {
        assert_eq!(w[0].row.end_utc, w[1].start_utc, "fragments are contiguous");
    }
    // Each fragment's bytes are a well-formed fragment with the indexed frame count.
    for f in &frags {
        let bytes = store.read_fragment(f).unwrap();
        let p = vms_storage::fmp4::parse_fragment(&bytes).unwrap();
        assert_eq!(p.samples.len(), f.row.frames as usize);
        assert_eq!(p.duration(), u64::from(f.row.duration_90k));
        assert_eq!(p.utc_micros, Some(f.start_utc));
    }
    let segs = store.segments(cam, T0, T0 + 20_000_000).unwrap();
    assert!(segs.len() >= 4, "2 s segments: {}", segs.len());
    assert!(
        segs.iter().all(|(_, s)| s.sha256.is_some()),
        "closed segments have hashes"
    );
    let spans = store
        .spans(cam, T0 - 1_000_000, T0 + 20_000_000, 100_000)
        .unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].start_utc, T0);
    assert!(
        (spans[0].end_utc - (T0 + 10_000_000)).abs() < 10_000,
        "{:?}",
        spans[0]
    );
    // A range inside one fragment finds exactly that fragment.
    let inside = store
        .fragments(cam, T0 + 1_200_000, T0 + 1_300_000)
        .unwrap();
    assert_eq!(inside.len(), 1);
    assert!(inside[0].start_utc <= T0 + 1_200_000 && inside[0].row.end_utc > T0 + 1_300_000);
    assert!(store.check(false).unwrap().ok());
}

#[tokio::test]
async fn timestamp_anomalies_start_new_runs_and_spans_show_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));
    let cam = store.camera_id("cam").unwrap();
    let mut fs = frames(90, 30, T0);
    // A 60 s timestamp jump at frame 60 (camera clock step), with wall time jumping too.
    for f in &mut fs[60..] {
        f.pts_90k += 60 * 90_000;
        f.wall_us += 60_000_000;
    }
    // A reversal at frame 90, wall time carrying on: a new run that joins up with the last.
    let mut tail = frames(31, 30, T0 + 63_000_000);
    for f in &mut tail {
        f.new_run = None;
        f.pts_90k -= 500_000;
    }
    fs.extend(tail);
    let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
    let stats = rec.stats().clone();
    for f in fs {
        rec.push(f).await.unwrap();
    }
    rec.close().await.unwrap();
    assert_eq!(
        stats
            .timestamp_anomalies
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(stats.runs.load(std::sync::atomic::Ordering::Relaxed), 3);
    let spans = store.spans(cam, T0, T0 + 200_000_000, 100_000).unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(store.check(false).unwrap().ok());
}

#[tokio::test]
async fn crash_leftovers_are_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (cam, file, size) = {
        let store = open(dir.path(), clock.clone());
        let cam = store.camera_id("cam").unwrap();
        let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
        for f in frames(100, 30, T0) {
            rec.push(f).await.unwrap();
        }
        // Simulate a crash: the recorder never closes; the segment stays open.
        let (_, seg) = store.last_segment(cam).unwrap().unwrap();
        assert!(seg.sha256.is_none());
        // Dropped without close(): like a crash, the segment stays unsealed.
        drop(rec);
        store.shutdown();
        (cam, seg.file, seg.size)
    };
    // Half a fragment that never got indexed.
    let path = dir.path().join(&file);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, &[0xAB; 5000]).unwrap();
    drop(f);

    // check (without recovery) notes the leftover but does not fail.
    {
        let store = Store::open(
            dir.path(),
            StoreOptions {
                recover: false,
                clock: clock.clone(),
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let report = store.check(false).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.note_only && p.what.contains("past the last indexed"))
        );
    }
    let store = open(dir.path(), clock);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    let (_, seg) = store.last_segment(cam).unwrap().unwrap();
    assert!(seg.sha256.is_some(), "recovery seals the segment");
    let report = store.check(false).unwrap();
    assert!(
        report.ok() && report.problems.is_empty(),
        "{:?}",
        report.problems
    );
    assert_eq!(store.fragments(cam, T0, T0 + 10_000_000).unwrap().len(), 3);
}

#[tokio::test]
async fn retention_by_age_and_quota_respects_holds() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    let a = store.camera_id("a").unwrap();
    let b = store.camera_id("b").unwrap();
    let opts = RecorderOptions {
        segment_target_secs: 1,
        ..RecorderOptions::default()
    };
    record(&store, a, frames(300, 30, T0), opts.clone()).await;
    record(&store, b, frames(300, 30, T0 + 5_000_000), opts).await;
    let segs_a = store.segments(a, T0, T0 + 100_000_000).unwrap();
    assert_eq!(segs_a.len(), 10);
    let recorded = store.total_bytes();
    assert_eq!(store.written_bytes(), recorded);
    // Hold the third and fourth seconds of camera a.
    let hold = store
        .add_hold(a, T0 + 2_100_000, T0 + 3_500_000, "case 2026-123")
        .unwrap();

    // Age: 31 days later, camera a keeps 30 days, camera b keeps 60 days.
    clock.advance_secs(31 * 86_400);
    let mut policy = RetentionPolicy {
        default_max_age_secs: 30 * 86_400,
        max_age_secs: [(b, 60 * 86_400)].into_iter().collect(),
        quota_bytes: None,
        low_watermark_bytes: None,
    };
    let r = store.enforce_retention(&policy).unwrap();
    assert_eq!(r.deleted_segments, 8, "{r:?}");
    assert_eq!(r.held_segments, 2);
    let left: Vec<i64> = store
        .segments(a, T0, T0 + 100_000_000)
        .unwrap()
        .iter()
        .map(|s| s.0)
        .collect();
    assert_eq!(left.len(), 2);
    assert_eq!(store.segments(b, T0, T0 + 100_000_000).unwrap().len(), 10);
    assert_eq!(store.deletions().unwrap().len(), 8);
    // Deleted segments' files are gone and the index still checks out.
    assert!(store.check(false).unwrap().ok());

    // Quota: keep at most ~half of b; the held segments of a stay.
    let total = store.total_bytes();
    policy.quota_bytes = Some(total / 2);
    policy.low_watermark_bytes = Some(total / 3);
    let r = store.enforce_retention(&policy).unwrap();
    assert!(r.deleted_segments > 0);
    assert!(
        store.total_bytes() <= total / 3,
        "{} > {}",
        store.total_bytes(),
        total / 3
    );
    assert_eq!(
        store.segments(a, T0, T0 + 100_000_000).unwrap().len(),
        2,
        "held video survives quota"
    );
    // Deleting takes from what the store holds, not from what was written.
    assert!(store.total_bytes() < recorded);
    assert_eq!(store.written_bytes(), recorded);
    // Oldest first: what is left of b is its newest video.
    let b_left = store.segments(b, T0, T0 + 100_000_000).unwrap();
    assert_eq!(
        b_left.last().unwrap().1.end_utc,
        store
            .segments(b, T0, T0 + 100_000_000)
            .unwrap()
            .last()
            .unwrap()
            .1
            .end_utc
    );
    assert!(b_left.first().unwrap().0 > T0 + 5_000_000);

    // Lifting the hold lets retention take the rest of a.
    store.remove_hold(hold).unwrap();
    store.enforce_retention(&policy).unwrap();
    assert!(store.segments(a, T0, T0 + 100_000_000).unwrap().is_empty());
    assert!(store.remove_hold(hold).is_err());
}

#[tokio::test]
async fn corrupt_rows_and_truncated_files_are_reported_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    let cam = store.camera_id("cam").unwrap();
    record(&store, cam, frames(120, 30, T0), RecorderOptions::default()).await;
    let (_, seg) = store.last_segment(cam).unwrap().unwrap();
    store.shutdown();
    drop(store);

    // Corrupt one fragment row directly in RocksDB.
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(vms_storage::index::cf::FRAGMENTS).unwrap();
        let key = vms_storage::index::camera_time_key(cam, T0 + 1_000_000);
        assert!(db.get_cf(h, key).unwrap().is_some());
        db.put_cf(h, key, [1, 0xff, 0xff]).unwrap();
        // The sealed segment's packed layout would still serve playback: break it too, so
        // playback falls back to the (corrupt) fragment rows.
        let h = db.cf_handle(vms_storage::index::cf::LAYOUTS).unwrap();
        let key = vms_storage::index::camera_time_key(cam, seg.start_utc);
        assert!(db.get_cf(h, key).unwrap().is_some());
        db.put_cf(h, key, [1, 0xff]).unwrap();
    }
    let store = Store::open(
        dir.path(),
        StoreOptions {
            recover: false,
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let err = store.fragments(cam, T0, T0 + 10_000_000).unwrap_err();
    assert!(
        err.to_string().contains("corrupt index row in fragments"),
        "{err}"
    );
    let report = store.check(false).unwrap();
    assert!(!report.ok());
    let report = store.check(true).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(store.fragments(cam, T0, T0 + 10_000_000).unwrap().len(), 3);
    drop(store);

    // Truncate the segment file in the middle of its last fragment.
    let path = dir.path().join(&seg.file);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(seg.size - 10)
        .unwrap();
    let store = Store::open(
        dir.path(),
        StoreOptions {
            recover: false,
            clock,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let report = store.check(false).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("index says")),
        "{:?}",
        report.problems
    );
    let report = store.check(true).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.repaired && p.what.contains("dropped the fragments")),
        "{:?}",
        report.problems
    );
    assert!(store.check(false).unwrap().ok());
    // The quota's count follows the index down to what is left.
    let indexed: u64 = store
        .segments(cam, T0, T0 + 10_000_000)
        .unwrap()
        .iter()
        .map(|s| s.1.size)
        .sum();
    assert_eq!(store.total_bytes(), indexed);
    assert!(indexed < seg.size);
    // Reading a fragment whose bytes are gone is an error, not a panic.
    let frags = store.fragments(cam, T0, T0 + 10_000_000).unwrap();
    assert_eq!(frags.len(), 2);
}

#[tokio::test]
async fn schema_version_from_the_future_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), Arc::new(ManualClock::new(T0))));
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle("meta").unwrap();
        db.put_cf(h, "schema_version", 99u32.to_be_bytes()).unwrap();
    }
    let err = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

#[test]
fn audit_chain_detects_edits_deletions_and_truncation() {
    use vms_storage::{AuditFilter, NewAuditEvent};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    {
        let store = open(dir.path(), clock.clone());
        for i in 0..5 {
            store
                .audit(NewAuditEvent {
                    actor: format!("user{i}"),
                    action: "video.playback".into(),
                    outcome: "allow".into(),
                    camera: Some(i),
                    case_number: Some(format!("C-{i}")),
                    ..Default::default()
                })
                .unwrap();
            clock.advance_secs(1);
        }
        let v = store.audit_verify().unwrap();
        assert_eq!((v.events, v.first_bad), (5, None));
        let found = store
            .audit_search(&AuditFilter {
                camera: Some(3),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].event.actor, "user3");
        let since = store
            .audit_search(&AuditFilter {
                from_us: Some(T0 + 2_000_000),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            since.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![5, 4, 3]
        );
        // Paging: two at a time, each page starting before the last one's end.
        let page = |before| {
            store
                .audit_search(&AuditFilter {
                    before_seq: before,
                    limit: 2,
                    ..Default::default()
                })
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(page(None), vec![5, 4]);
        assert_eq!(page(Some(4)), vec![3, 2]);
        assert_eq!(page(Some(2)), vec![1]);
        assert_eq!(page(Some(1)), Vec::<u64>::new());
    }
    let tamper = |f: &dyn Fn(&rocksdb::DB)| {
        let db = raw_index(dir.path());
        f(&db);
    };
    let verify = || {
        open(dir.path(), clock.clone())
            .audit_verify()
            .unwrap()
            .first_bad
    };
    // Edit event 3's actor in place (re-encoding it validly).
    let backup: Vec<u8>;
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle("audit").unwrap();
        backup = db.get_cf(h, 3u64.to_be_bytes()).unwrap().unwrap();
        let mut ev: vms_storage::AuditEvent =
            vms_storage::index::decode("audit", b"k", &backup).unwrap();
        ev.event.actor = "someone-else".into();
        db.put_cf(h, 3u64.to_be_bytes(), vms_storage::index::encode(&ev))
            .unwrap();
    }
    let bad = verify().unwrap();
    assert_eq!(bad.0, 3, "{bad:?}");
    assert!(bad.1.contains("edited"));
    tamper(&|db| {
        db.put_cf(db.cf_handle("audit").unwrap(), 3u64.to_be_bytes(), &backup)
            .unwrap()
    });
    assert_eq!(verify(), None, "restored");
    // Delete event 2.
    tamper(&|db| {
        db.delete_cf(db.cf_handle("audit").unwrap(), 2u64.to_be_bytes())
            .unwrap()
    });
    let bad = verify().unwrap();
    assert_eq!(bad.0, 2);
    assert!(bad.1.contains("missing"), "{bad:?}");
}

#[test]
fn audit_chain_detects_a_truncated_tail() {
    use vms_storage::NewAuditEvent;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    {
        let store = open(dir.path(), clock.clone());
        for _ in 0..3 {
            store
                .audit(NewAuditEvent {
                    actor: "a".into(),
                    action: "login".into(),
                    ..Default::default()
                })
                .unwrap();
        }
    }
    {
        let db = raw_index(dir.path());
        db.delete_cf(db.cf_handle("audit").unwrap(), 3u64.to_be_bytes())
            .unwrap();
    }
    let store = open(dir.path(), clock);
    let bad = store.audit_verify().unwrap().first_bad.unwrap();
    assert_eq!(bad.0, 3, "{bad:?}");
}

#[tokio::test]
async fn measured_clock_offset_is_stored_with_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));
    let cam = store.camera_id("porch").unwrap();
    let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
    rec.set_clock_offset(Some(-1_250_000));
    for f in frames(60, 30, T0) {
        rec.push(f).await.unwrap();
    }
    rec.end_run().await.unwrap();
    rec.set_clock_offset(None);
    for f in frames(30, 30, T0 + 10_000_000) {
        rec.push(f).await.unwrap();
    }
    rec.close().await.unwrap();
    let frags = store.fragments(cam, T0, T0 + 20_000_000).unwrap();
    let first = store.run(frags[0].row.run).unwrap();
    let last = store.run(frags.last().unwrap().row.run).unwrap();
    assert_ne!(first, last);
    assert_eq!(first.clock_offset_us, Some(-1_250_000));
    assert_eq!(last.clock_offset_us, None);
}

/// Sealed segments are served from their packed layout rows; a store written before layouts
/// existed (schema 1) gets them on open; `check` finds missing or stale ones and rebuilds them;
/// and whichever path serves a range, the fragments are the same.
#[tokio::test]
async fn layout_rows_match_fragment_rows_and_are_upgraded_and_repaired() {
    use vms_storage::index::{FragmentRow, SCHEMA_KEY, camera_time_key, cf, decode, encode};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    let cam = store.camera_id("cam").unwrap();
    let opts = RecorderOptions {
        segment_target_secs: 3,
        ..RecorderOptions::default()
    };
    // 20 s in 1 s GOPs, then a gap, then a second recording: sealed segments of two runs.
    record(&store, cam, frames(600, 30, T0), opts.clone()).await;
    record(&store, cam, frames(300, 30, T0 + 40_000_000), opts).await;
    let segs = store.segments(cam, T0, T0 + 60_000_000).unwrap();
    assert!(segs.len() >= 8, "{}", segs.len());
    assert!(segs.iter().all(|(_, s)| s.closed()));
    // Ranges with edges inside fragments, on fragment edges, across the gap, and all of it.
    let ranges = [
        (T0, T0 + 60_000_000),
        (T0 + 2_500_000, T0 + 7_200_000),
        (T0 + 3_000_000, T0 + 6_000_000),
        (T0 + 19_900_000, T0 + 40_100_000),
        (T0 + 25_000_000, T0 + 30_000_000),
        (T0 - 5_000_000, T0 + 1),
    ];
    let served = |store: &Store| -> Vec<Vec<(i64, vms_storage::index::FragmentRow, String)>> {
        ranges
            .iter()
            .map(|(s, e)| {
                store
                    .fragments(cam, *s, *e)
                    .unwrap()
                    .into_iter()
                    .map(|f| (f.start_utc, f.row, f.file.to_string()))
                    .collect()
            })
            .collect()
    };
    let packed = served(&store);
    assert_eq!(packed[0].len(), 30);
    assert_eq!(packed[1].len(), 6);
    assert_eq!(packed[2].len(), 3);
    assert_eq!(packed[3].len(), 2);
    assert!(packed[4].is_empty());
    assert_eq!(packed[5].len(), 1);
    assert!(store.check(false).unwrap().ok());
    store.shutdown();
    drop(store);

    // Take the layout rows away, as a store written before they existed.
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::LAYOUTS).unwrap();
        let keys: Vec<_> = db
            .iterator_cf(h, rocksdb::IteratorMode::Start)
            .map(|kv| kv.unwrap().0)
            .collect();
        assert_eq!(keys.len(), segs.len());
        for k in keys {
            db.delete_cf(h, k).unwrap();
        }
    }
    // Still at the current schema, so no upgrade runs: the fallback to fragment rows serves the
    // same.
    let store = open(dir.path(), clock.clone());
    assert_eq!(served(&store), packed, "fallback to fragment rows");
    let report = store.check(false).unwrap();
    assert_eq!(
        report
            .problems
            .iter()
            .filter(|p| p.what.contains("layout row missing"))
            .count(),
        segs.len(),
        "{:?}",
        report.problems
    );
    assert!(!report.ok());
    assert!(store.check(true).unwrap().ok());
    assert!(store.check(false).unwrap().problems.is_empty());
    assert_eq!(served(&store), packed, "after check --repair");
    store.shutdown();
    drop(store);

    // The upgrade from schema 1 builds them on open.
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::LAYOUTS).unwrap();
        for (s, _) in &segs {
            db.delete_cf(h, camera_time_key(cam, *s)).unwrap();
        }
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 1u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock.clone());
    assert!(store.check(false).unwrap().problems.is_empty());
    assert_eq!(served(&store), packed, "after the upgrade");
    store.shutdown();
    drop(store);

    // A stale layout row (another segment's table) is not used, and check rebuilds it.
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::LAYOUTS).unwrap();
        let v = db
            .get_cf(h, camera_time_key(cam, segs[2].0))
            .unwrap()
            .unwrap();
        db.put_cf(h, camera_time_key(cam, segs[1].0), v).unwrap();
    }
    let store = open(dir.path(), clock.clone());
    assert_eq!(served(&store), packed, "a stale layout row is not used");
    let report = store.check(true).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].what.contains("layout row stale"));
    assert!(store.check(false).unwrap().problems.is_empty());
    store.shutdown();
    drop(store);

    // Sealed segments are served from their layout rows, not their fragment rows: change a
    // fragment row (validly) behind the store's back and playback still shows the layout's.
    let key = camera_time_key(cam, T0 + 2_000_000);
    let original = {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::FRAGMENTS).unwrap();
        let v = db.get_cf(h, key).unwrap().unwrap();
        let row: FragmentRow = decode(cf::FRAGMENTS, &key, &v).unwrap();
        let mut changed = row.clone();
        changed.base_decode_90k += 1;
        db.put_cf(h, key, encode(&changed)).unwrap();
        row
    };
    let store = open(dir.path(), clock.clone());
    let at = |store: &Store| {
        store
            .fragments(cam, T0 + 2_000_000, T0 + 2_000_001)
            .unwrap()[0]
            .row
            .clone()
    };
    assert_eq!(at(&store), original, "read from the layout row");
    let report = store.check(true).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(
        at(&store).base_decode_90k,
        original.base_decode_90k + 1,
        "rebuilt"
    );
    store.shutdown();
    drop(store);

    // A schema-1 store with an undecodable fragment row still opens (that segment gets no
    // layout row), and `check --repair` drops the row, recounts the segment and packs it.
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::LAYOUTS).unwrap();
        for (s, _) in &segs {
            db.delete_cf(h, camera_time_key(cam, *s)).unwrap();
        }
        db.put_cf(db.cf_handle(cf::FRAGMENTS).unwrap(), key, [1, 0xff, 0xff])
            .unwrap();
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 1u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    assert!(
        store
            .fragments(cam, T0 + 2_000_000, T0 + 2_000_001)
            .is_err()
    );
    assert_eq!(
        store
            .fragments(cam, T0 + 40_000_000, T0 + 50_000_000)
            .unwrap()
            .len(),
        10
    );
    let report = store.check(false).unwrap();
    assert!(!report.ok());
    let report = store.check(true).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    let recounted: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.what.contains("segment row counts"))
        .collect();
    assert_eq!(
        recounted.len(),
        1,
        "only the damaged segment: {:?}",
        report.problems
    );
    assert!(
        recounted[0].what.ends_with("its fragment rows 2"),
        "{recounted:?}"
    );
    assert!(store.check(false).unwrap().problems.is_empty());
    let after = served(&store);
    assert_eq!(after[0].len(), 29, "all but the dropped fragment");
    assert!(
        store
            .fragments(cam, T0 + 2_000_000, T0 + 2_000_001)
            .unwrap()
            .is_empty()
    );
    store.shutdown();
    drop(store);

    // The recounted segment (its last fragment gone, its size unchanged) is served from its
    // rebuilt layout row: change a remaining fragment row behind the store's back again.
    let key = camera_time_key(cam, T0 + 1_000_000);
    let original = {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::FRAGMENTS).unwrap();
        let v = db.get_cf(h, key).unwrap().unwrap();
        let row: FragmentRow = decode(cf::FRAGMENTS, &key, &v).unwrap();
        let mut changed = row.clone();
        changed.base_decode_90k += 1;
        db.put_cf(h, key, encode(&changed)).unwrap();
        row
    };
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));
    let got = store
        .fragments(cam, T0 + 1_000_000, T0 + 1_000_001)
        .unwrap();
    assert_eq!(got[0].row, original, "read from the rebuilt layout row");
}

/// Issue 21: a camera whose clock runs slow (here 2 %: 29.4 frames of RTP time per wall-clock
/// second, as when its encoder is starved of CPU) pulls the index behind wall time, but never by
/// more than its drift minus the clamp's 500 ppm, never with a jump, and the recorder reports
/// the lag it is working off.
#[tokio::test]
async fn a_slow_camera_clock_is_pulled_back_at_the_clamp_rate_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));
    let cam = store.camera_id("slow").unwrap();
    let n = 30 * 120; // 120 s of wall time
    let fs: Vec<RecFrame> = (0..n)
        .map(|i| RecFrame {
            new_run: (i == 0).then(track),
            // 2 % less RTP time per frame than the 3000 ticks of a 30 fps frame.
            pts_90k: i as i64 * 2940,
            wall_us: T0 + i as i64 * 1_000_000 / 30,
            keyframe: i % 30 == 0,
            data: Bytes::from(vec![1u8; 50]),
        })
        .collect();
    let mut rec = store.recorder(cam, RecorderOptions::default()).unwrap();
    let stats = rec.stats().clone();
    for f in fs {
        rec.push(f).await.unwrap();
    }
    rec.close().await.unwrap();

    let frags = store.fragments(cam, T0, T0 + 200_000_000).unwrap();
    assert!(frags.len() > 100, "{}", frags.len());
    let mut prev_end = None;
    for f in &frags {
        // Contiguous: the clamp nudges durations, it never jumps.
        if let Some(end) = prev_end {
            assert_eq!(f.start_utc, end, "a jump in index time");
        }
        prev_end = Some(f.row.end_utc);
    }
    // After ~119 s of wall time the camera has produced 2 % less media time; the clamp has
    // taken back 500 ppm of that.
    let wall_elapsed = (n as i64 - 1) * 1_000_000 / 30;
    let last = frags.last().unwrap();
    let lag = T0 + wall_elapsed - last.row.end_utc;
    let expect = wall_elapsed * 195 / 10_000; // 2 % − 0.05 %
    assert!(
        (lag - expect).abs() < 100_000,
        "index lag {lag} µs, expected about {expect} µs"
    );
    let drift = stats.drift_us.load(std::sync::atomic::Ordering::Relaxed);
    // Measured at the last fragment's start, so within a fragment's worth of the final lag.
    assert!(
        (drift - lag).abs() < 50_000,
        "reported drift {drift} µs, index lag {lag} µs"
    );
}

/// Issue 15 (honest health): a camera whose timestamps keep ending runs (here B-frames
/// reordered deeper than the recorder follows) loses most frames; the recorder counts them and its
/// recent drop rate says so, while a clean stream's stays at zero — including the wait for the
/// first keyframe when a session starts mid-GOP.
#[tokio::test]
async fn dropped_frames_are_counted_and_the_recent_drop_rate_shows_them() {
    use std::sync::atomic::Ordering::Relaxed;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), Arc::new(ManualClock::new(T0)));

    let clean = store.camera_id("clean").unwrap();
    let mut rec = store.recorder(clean, RecorderOptions::default()).unwrap();
    let stats = rec.stats().clone();
    // Starts mid-GOP: 10 frames before the first keyframe are skipped, not "lost".
    let mut fs = frames(310, 30, T0);
    for f in &mut fs {
        f.keyframe = (f.pts_90k - 1_000_000) / 3000 % 30 == 10;
    }
    for f in fs {
        rec.push(f).await.unwrap();
    }
    rec.close().await.unwrap();
    assert_eq!(stats.frames_before_keyframe.load(Relaxed), 10);
    assert_eq!(stats.frames_dropped_resync.load(Relaxed), 0);
    assert_eq!(stats.drop_ppm.load(Relaxed), 0);

    // I P B B P B B …: presentation times in decode order go 0, 3, 1, 2, 6, 4, 5, … A recorder
    // that follows one frame of reordering keeps them all (issue 15); one that follows none
    // (as before B-frames were understood) ends a run at each B-frame and loses the rest of
    // the GOP, and says so.
    let order = vms_testkit::ipbb_presentation;
    let bframes = store.camera_id("bframes").unwrap();
    let mut stats = Vec::new();
    for depth in [1, 0] {
        let opts = RecorderOptions {
            max_reorder_frames: depth,
            ..RecorderOptions::default()
        };
        let mut rec = store.recorder(bframes, opts).unwrap();
        stats.push(rec.stats().clone());
        for i in 0..300i64 {
            let mut f = frames(1, 1, T0).remove(0);
            f.new_run = (i == 0).then(track);
            f.pts_90k = 1_000_000 + order(i) * 3000;
            f.wall_us = T0 + (i + 400 * i64::from(1 - depth)) * 1_000_000 / 30;
            f.keyframe = order(i) % 30 == 0;
            rec.push(f).await.unwrap();
        }
        rec.close().await.unwrap();
    }
    assert_eq!(stats[0].frames.load(Relaxed), 300);
    assert_eq!(stats[0].timestamp_anomalies.load(Relaxed), 0);
    let stats = &stats[1];
    let dropped = stats.frames_dropped_resync.load(Relaxed);
    assert!(dropped > 200, "{dropped} of 300 frames dropped");
    assert!(
        stats.drop_ppm.load(Relaxed) > 500_000,
        "recent drop rate {} ppm",
        stats.drop_ppm.load(Relaxed)
    );
}

/// Issue 22 F9: each change of a camera's sharing mode is kept, at the moment it was made; a
/// store from before the history (schema 2) starts it with each camera's terms at enrollment.
#[test]
fn sharing_terms_history_is_kept_and_started_by_the_upgrade() {
    use vms_storage::index::{SCHEMA_KEY, cf};
    use vms_storage::{CameraInfo, CameraSource, SharingMode};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    let c = store
        .enroll_camera(CameraInfo {
            id: 0,
            name: "porch".into(),
            partner: 1,
            source: CameraSource::Rtsp {
                url: "rtsp://127.0.0.1:9/x".into(),
            },
            credentials: None,
            sharing: SharingMode::OnRequest,
            retention_days: 30,
            address: String::new(),
            placed: None,
            kind: None,
            owner_keeps_days: None,
            paused: false,
            masks: vec![],
            created_us: T0,
        })
        .unwrap();
    clock.advance_secs(60);
    let moved = CameraInfo {
        address: "moved".into(),
        ..c.clone()
    };
    store.put_camera_info(&moved).unwrap();
    let live = CameraInfo {
        sharing: SharingMode::Live,
        ..moved
    };
    store.put_camera_info(&live).unwrap();
    store.put_camera_info(&live).unwrap();
    assert_eq!(
        store.terms_history(c.id).unwrap(),
        [
            (T0, SharingMode::OnRequest),
            (T0 + 60_000_000, SharingMode::Live)
        ],
        "only changes of the sharing mode are entered"
    );
    store.shutdown();
    drop(store);

    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::TERMS).unwrap();
        let keys: Vec<_> = db
            .iterator_cf(h, rocksdb::IteratorMode::Start)
            .map(|kv| kv.unwrap().0)
            .collect();
        for k in keys {
            db.delete_cf(h, k).unwrap();
        }
        // The camera row as schema 2 stored it (the schema-6 layout, as a tuple): no place.
        let v2 = (
            c.id,
            "porch".to_owned(),
            1u64,
            CameraSource::Rtsp {
                url: "rtsp://127.0.0.1:9/x".into(),
            },
            None::<Vec<u8>>,
            SharingMode::Live,
            30u32,
            "moved".to_owned(),
            false,
            Vec::<Vec<(f32, f32)>>::new(),
            T0,
        );
        db.put_cf(
            db.cf_handle(cf::CAMERA_INFO).unwrap(),
            c.id.to_be_bytes(),
            vms_storage::index::encode(&v2),
        )
        .unwrap();
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 2u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    assert_eq!(
        store.terms_history(c.id).unwrap(),
        [(T0, SharingMode::Live)],
        "the upgrade starts the history with today's terms from enrollment"
    );
    let after = store.camera_info(c.id).unwrap().unwrap();
    assert_eq!((after.address.as_str(), after.created_us), ("moved", T0));
}

/// Issue 22 F5: accounts stored before owners enrolled their own second factor (schema 3) are
/// read after the upgrade with their secret, counters and state kept, and nothing pending.
#[test]
fn accounts_survive_the_upgrade_to_owner_enrolment() {
    use vms_storage::Role;
    use vms_storage::index::{SCHEMA_KEY, cf, encode};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    store.shutdown();
    drop(store);
    {
        let db = raw_index(dir.path());
        // Schema 3's row: postcard writes a struct as its fields in order, as this tuple.
        let v3 = (
            "officer".to_owned(),
            Role::Supervisor,
            None::<u64>,
            "$argon2id$hash".to_owned(),
            Some(vec![7u8; 20]),
            123u64,
            2u32,
            0i64,
            false,
            T0,
        );
        db.put_cf(db.cf_handle(cf::USERS).unwrap(), b"officer", encode(&v3))
            .unwrap();
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 3u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    let u = store.user("officer").unwrap().unwrap();
    assert_eq!(u.role, Role::Supervisor);
    assert_eq!(u.password_hash, "$argon2id$hash");
    assert_eq!(u.totp_secret, Some(vec![7u8; 20]));
    assert_eq!((u.totp_last_step, u.failed_logins), (123, 2));
    assert_eq!(u.totp_pending, None);
}

/// Issue 17: files submitted before reviews and working copies (schema 4) keep their intake
/// record, hash and identification through the upgrade, with no decision, copy or deletion.
#[test]
fn submitted_files_survive_the_upgrade_to_reviews() {
    use vms_storage::index::{SCHEMA_KEY, cf, encode, u64_key};
    use vms_storage::intake::{Declared, Received};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    store.shutdown();
    drop(store);
    let received = Received {
        sha256: [9; 32],
        received_us: T0 + 5,
        file: "submissions/files/00000003".into(),
    };
    let identified = vms_media::Identified {
        format: "matroska,webm".into(),
        summary: "h264 video".into(),
        ..vms_media::Identified::default()
    };
    {
        let db = raw_index(dir.path());
        // Schema 4's row: postcard writes a struct as its fields in order, as this tuple.
        let v4 = (
            3u64,
            1u64,
            "24-1".to_owned(),
            Declared {
                filename: "clip.mkv".into(),
                filetype: "video/x-matroska".into(),
                remote_addr: "127.0.0.1".into(),
                user_agent: "tuspy".into(),
            },
            100u64,
            100u64,
            T0,
            T0 + 10,
            Some(received.clone()),
            None::<i64>,
            Some(identified.clone()),
        );
        db.put_cf(db.cf_handle(cf::UPLOADS).unwrap(), u64_key(3), encode(&v4))
            .unwrap();
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 4u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    let u = store.upload(3).unwrap().unwrap();
    assert_eq!((u.link, u.case_number.as_str()), (1, "24-1"));
    assert_eq!(u.declared.filename, "clip.mkv");
    assert_eq!(u.received, Some(received));
    assert_eq!(u.identified, Some(identified));
    assert_eq!((u.review, u.working_copy, u.deleted), (None, None, None));
    assert_eq!(u.archive, None);
}

/// Links are found by their token's hash through an index (a point lookup, not a scan); links
/// stored before the index (schema 5) are indexed by the upgrade.
#[test]
fn link_tokens_are_indexed_and_the_upgrade_indexes_old_links() {
    use vms_storage::index::{SCHEMA_KEY, cf};
    use vms_storage::intake::LinkRow;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    let link = |n: u8| LinkRow {
        id: 0,
        token_hash: [n; 32],
        case_number: "24-1".into(),
        request_id: None,
        recipient: format!("owner {n}"),
        created_by: "investigator".into(),
        created_us: T0,
        expires_us: T0 + 1,
        revoked_us: None,
        statement: None,
    };
    let a = store.create_link(link(1)).unwrap();
    let b = store.create_link(link(2)).unwrap();
    assert_eq!(store.link_by_token(&[2; 32]).unwrap(), Some(b.clone()));
    assert_eq!(store.link_by_token(&[3; 32]).unwrap(), None);
    store.shutdown();
    drop(store);
    {
        let db = raw_index(dir.path());
        let h = db.cf_handle(cf::LINK_TOKENS).unwrap();
        for k in [[1u8; 32], [2u8; 32]] {
            db.delete_cf(h, k).unwrap();
        }
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 5u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    assert_eq!(store.link_by_token(&[1; 32]).unwrap(), Some(a));
    assert_eq!(store.link_by_token(&[2; 32]).unwrap(), Some(b));
}

/// Issue 18: a camera's free-text location (schema 6) becomes its address line; it is not
/// placed on the map until its owner places it.
#[test]
fn free_text_locations_become_address_lines_in_the_upgrade() {
    use vms_storage::index::{SCHEMA_KEY, cf, encode};
    use vms_storage::{CameraSource, SharingMode};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open(dir.path(), clock.clone());
    store.shutdown();
    drop(store);
    {
        let db = raw_index(dir.path());
        // Schema 6's row: postcard writes a struct as its fields in order, as this tuple.
        let v6 = (
            9u32,
            "porch".to_owned(),
            4u64,
            CameraSource::Rtsp {
                url: "rtsp://127.0.0.1:9/x".into(),
            },
            None::<Vec<u8>>,
            SharingMode::OnRequest,
            14u32,
            "12 Elm St, facing the street".to_owned(),
            true,
            Vec::<Vec<(f32, f32)>>::new(),
            T0,
        );
        db.put_cf(
            db.cf_handle(cf::CAMERA_INFO).unwrap(),
            9u32.to_be_bytes(),
            encode(&v6),
        )
        .unwrap();
        let meta = db.cf_handle(cf::META).unwrap();
        db.put_cf(meta, SCHEMA_KEY, 6u32.to_be_bytes()).unwrap();
    }
    let store = open(dir.path(), clock);
    let c = store.camera_info(9).unwrap().unwrap();
    assert_eq!(c.address, "12 Elm St, facing the street");
    assert_eq!(
        (c.name.as_str(), c.partner, c.retention_days),
        ("porch", 4, 14)
    );
    assert_eq!((c.placed, c.kind, c.owner_keeps_days), (None, None, None));
    assert!(c.paused);
    assert_eq!(c.created_us, T0);
    let again = vms_storage::CameraInfo { id: 0, ..c };
    assert!(
        store.enroll_camera(again).is_err(),
        "the upgrade indexed the camera's name for its owner"
    );
}
