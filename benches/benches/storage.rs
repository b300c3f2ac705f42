//! Storage hot-path benches, each next to a baseline measured in the same run:
//! * fragment header building vs copying the fragment's bytes (memcpy);
//! * recording one GOP (30 frames, `sync = os`) through recorder → writer thread → RocksDB vs
//!   writing the same bytes to a file;
//! * looking up the fragments of a 10 s and a 24 h range, and the spans of 24 h, in an index of
//!   `VMS_BENCH_FRAGMENTS` fragments (a comma list; default 1 000 000, `1000000,10000000` for
//!   the figure beside a smaller index) vs a one-row seek in the same index.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use vms_storage::fmp4::{SampleInfo, fragment_header};
use vms_storage::index::{FragmentRow, SegmentRow, camera_time_key, cf, encode, encode_layout};
use vms_storage::{RecFrame, RecorderOptions, Store, StoreOptions, SyncPolicy, TrackParams};

use vms_testkit::T0;

fn gop() -> Vec<(SampleInfo, Bytes)> {
    (0..30)
        .map(|i| {
            let size = if i == 0 { 60_000 } else { 14_000 };
            (
                SampleInfo {
                    duration: 3000,
                    size: size as u32,
                    keyframe: i == 0,
                    composition_offset: 0,
                },
                Bytes::from(vec![i as u8; size]),
            )
        })
        .collect()
}

fn fragment(c: &mut Criterion) {
    let g = gop();
    let samples: Vec<SampleInfo> = g.iter().map(|(s, _)| *s).collect();
    let mut grp = c.benchmark_group("fragment_header");
    grp.bench_function("build_30_samples", |b| {
        b.iter(|| fragment_header(7, 123_456, T0, std::hint::black_box(&samples)))
    });
    grp.bench_function("baseline_memcpy_gop_bytes", |b| {
        b.iter(|| {
            let mut v = Vec::with_capacity(500_000);
            for (_, d) in &g {
                v.extend_from_slice(d);
            }
            std::hint::black_box(v)
        })
    });
    grp.finish();
}

fn record(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        StoreOptions {
            sync: SyncPolicy::Os,
            ..StoreOptions::default()
        },
    )
    .expect("store");
    let cam = store.camera_id("bench").expect("camera");
    let track = Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 1920,
        height: 1080,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
    });
    let g = gop();
    let mut rec = store
        .recorder(cam, RecorderOptions::default())
        .expect("recorder");
    let mut n: i64 = 0;
    let mut grp = c.benchmark_group("record");
    grp.bench_function("gop_30_frames_os_sync", |b| {
        b.iter(|| {
            rt.block_on(async {
                for (s, d) in &g {
                    let f = RecFrame {
                        new_run: (n == 0).then(|| track.clone()),
                        pts_90k: n * 3000,
                        wall_us: T0 + n * 33_333,
                        keyframe: s.keyframe,
                        data: d.clone(),
                    };
                    rec.push(f).await.expect("push");
                    n += 1;
                }
            })
        })
    });
    let path = dir.path().join("baseline.bin");
    let mut file = std::fs::File::create(&path).expect("file");
    grp.bench_function("baseline_write_gop_to_file", |b| {
        b.iter(|| {
            for (_, d) in &g {
                std::io::Write::write_all(&mut file, d).expect("write");
            }
        })
    });
    grp.finish();
    rt.block_on(rec.close()).expect("close");
}

fn lookup(c: &mut Criterion) {
    let sizes: Vec<i64> = std::env::var("VMS_BENCH_FRAGMENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000]);
    for n in sizes {
        lookup_in(c, n.max(100_000));
    }
}

fn lookup_in(c: &mut Criterion, n: i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path(), StoreOptions::default()).expect("store"));
    {
        // Fill the index directly, as the recorder leaves it: one camera, 1 s fragments, 60
        // per sealed segment, each segment with its packed layout row.
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path().join("index"),
            cf::ALL,
        )
        .expect("db");
        let frags = db.cf_handle(cf::FRAGMENTS).expect("cf");
        let segs = db.cf_handle(cf::SEGMENTS).expect("cf");
        let layouts = db.cf_handle(cf::LAYOUTS).expect("cf");
        let mut batch = rocksdb::WriteBatch::default();
        let mut seg_rows = Vec::with_capacity(60);
        for i in 0..n {
            let t = T0 + i * 1_000_000;
            let seg_start = T0 + (i / 60) * 60_000_000;
            let row = FragmentRow {
                segment_start: seg_start,
                run: 1,
                offset: 700 + (i % 60) as u64 * 500_000,
                len: 500_000,
                end_utc: t + 1_000_000,
                base_decode_90k: i as u64 * 90_000,
                duration_90k: 90_000,
                frames: 30,
                flags: vms_storage::index::FragmentFlags::new(true, false),
            };
            batch.put_cf(frags, camera_time_key(1, t), encode(&row));
            seg_rows.push((t, row));
            if i % 60 == 59 || i == n - 1 {
                let row = SegmentRow {
                    id: (i / 60) as u64 + 1,
                    run: 1,
                    file: format!("segments/00000001/{:016x}.mp4", i / 60 + 1),
                    start_utc: seg_start,
                    end_utc: t + 1_000_000,
                    size: 700 + seg_rows.len() as u64 * 500_000,
                    fragments: seg_rows.len() as u32,
                    frames: 30 * seg_rows.len() as u64,
                    sha256: Some([0; 32]),
                };
                batch.put_cf(segs, camera_time_key(1, seg_start), encode(&row));
                batch.put_cf(
                    layouts,
                    camera_time_key(1, seg_start),
                    encode_layout(&seg_rows),
                );
                seg_rows.clear();
            }
            if batch.len() >= 100_000 {
                db.write(std::mem::take(&mut batch)).expect("write");
            }
        }
        db.write(batch).expect("write");
        for h in [frags, segs, layouts] {
            db.compact_range_cf(h, None::<&[u8]>, None::<&[u8]>);
        }
    }
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let mut grp = c.benchmark_group("index_lookup");
    let mut i = 0i64;
    grp.bench_with_input(BenchmarkId::new("fragments_10s_range", n), &n, |b, &n| {
        b.iter(|| {
            i = (i * 7919 + 104_729) % (n - 20);
            let start = T0 + i * 1_000_000 + 500_000;
            store
                .fragments(1, start, start + 10_000_000)
                .expect("lookup")
        })
    });
    grp.bench_with_input(BenchmarkId::new("fragments_24h_range", n), &n, |b, &n| {
        b.iter(|| {
            i = (i * 7919 + 104_729) % (n - 86_400).max(1);
            let start = T0 + i * 1_000_000 + 500_000;
            let mut frames = 0u64;
            store
                .for_each_fragment(1, start, start + 86_400_000_000, |_, _, r| {
                    frames += u64::from(r.frames);
                    Ok(())
                })
                .expect("lookup");
            frames
        })
    });
    grp.bench_with_input(BenchmarkId::new("baseline_one_row_seek", n), &n, |b, &n| {
        b.iter(|| {
            i = (i * 7919 + 104_729) % (n - 20);
            let t = T0 + i * 1_000_000;
            store.segments(1, t, t + 1).expect("seek")
        })
    });
    grp.bench_with_input(BenchmarkId::new("spans_24h", n), &n, |b, &n| {
        b.iter(|| {
            i = (i * 7919 + 104_729) % (n - 86_400).max(1);
            let start = T0 + i * 1_000_000;
            store
                .spans(1, start, start + 86_400_000_000, 100_000)
                .expect("spans")
        })
    });
    grp.finish();
}

/// The recorder's rules alone (no I/O): ten seconds of a 30 fps camera, in presentation
/// order and with B-frames (I P B B, decode times sorted over the reorder window), against
/// the baseline of merely moving the same frames through a `Vec`.
fn timeline(c: &mut Criterion) {
    use vms_storage::timeline::{Counters, Timeline};
    let track = Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 1280,
        height: 720,
        sample_entry: Bytes::from_static(b"\0\0\0\x08avc1"),
    });
    let data = Bytes::from(vec![0u8; 8_000]);
    let frames = |b_frames: bool| -> Vec<RecFrame> {
        (0..300i64)
            .map(|d| {
                let n = if b_frames {
                    vms_testkit::ipbb_presentation(d)
                } else {
                    d
                };
                RecFrame {
                    new_run: (d == 0).then(|| track.clone()),
                    pts_90k: n * 3000,
                    wall_us: T0 + d * 33_333,
                    keyframe: n % 30 == 0,
                    data: data.clone(),
                }
            })
            .collect()
    };
    let mut grp = c.benchmark_group("timeline_300_frames");
    for (name, b_frames) in [("in_order", false), ("b_frames", true)] {
        let input = frames(b_frames);
        grp.bench_function(name, |b| {
            b.iter(|| {
                let mut t = Timeline::new(1, RecorderOptions::default(), i64::MIN);
                let mut ids = Counters::default();
                let mut n = 0usize;
                for f in input.iter().cloned() {
                    n += t.push(f, &mut ids).len();
                }
                n + t.end_run(&mut ids).len()
            })
        });
    }
    let input = frames(false);
    grp.bench_function("baseline_move_frames", |b| b.iter(|| input.to_vec().len()));
    grp.finish();
}

criterion_group!(benches, fragment, record, lookup, timeline);
criterion_main!(benches);
