//! Playback and export benches, each beside a baseline measured in the same run:
//! * first byte of a virtual MP4 (lay out from the index, then read the first 64 KiB) for 100 s
//!   and for 24 h of a 30 fps camera with 1 s GOPs (86 400 fragments a day, the worst case),
//!   against the bare index scan of the same range (`Store::fragments`);
//! * exporting 1 h of 4 Mbit/s video as a signed package (fixity re-check of the source
//!   segments, master MP4, per-fragment hashes, manifest, signature), against `std::fs::copy`
//!   of the same segment files. `VMS_BENCH_EXPORT_SECS` changes the length (default 3600).

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use vms_storage::export::{ExportItemSpec, ExportSpec, Progress, write_package};
use vms_storage::vmp4::{Reader, VirtualMp4};
use vms_storage::{
    ManualClock, RecFrame, RecorderOptions, Store, StoreOptions, SyncPolicy, TrackParams,
};

use vms_testkit::T0;

fn track() -> Arc<TrackParams> {
    Arc::new(TrackParams {
        codec: "avc1.4D401F".into(),
        width: 1920,
        height: 1080,
        sample_entry: Bytes::from_static(b"\0\0\0\x0cavc1BNCH"),
    })
}

/// A store holding `secs` seconds of one 30 fps camera (1 s GOPs, frames of `frame_bytes`),
/// recorded through the real recorder.
fn recorded(secs: i64, frame_bytes: usize) -> (tempfile::TempDir, Arc<Store>, u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(
        dir.path(),
        StoreOptions {
            sync: SyncPolicy::Os,
            clock: Arc::new(ManualClock::new(T0 + (secs + 60) * 1_000_000)),
            ..StoreOptions::default()
        },
    )
    .expect("store");
    let cam = store.camera_id("bench").expect("camera");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let key = Bytes::from(vec![0x65; frame_bytes * 4]);
    let other = Bytes::from(vec![0x41; frame_bytes]);
    rt.block_on(async {
        let mut rec = store
            .recorder(cam, RecorderOptions::default())
            .expect("recorder");
        for n in 0..secs * 30 {
            rec.push(RecFrame {
                new_run: (n == 0).then(track),
                pts_90k: n * 3000,
                wall_us: T0 + n * 1_000_000 / 30,
                keyframe: n % 30 == 0,
                data: if n % 30 == 0 {
                    key.clone()
                } else {
                    other.clone()
                },
            })
            .await
            .expect("push");
        }
        rec.close().await.expect("close");
    });
    (dir, store, cam)
}

fn first_byte(c: &mut Criterion) {
    let (_dir, store, cam) = recorded(86_400, 16);
    let mut grp = c.benchmark_group("vmp4_first_byte");
    for (name, secs) in [("100s", 100i64), ("24h", 86_390)] {
        let (start, end) = (T0 + 5_500_000, T0 + 5_500_000 + secs * 1_000_000);
        grp.bench_function(name, |b| {
            b.iter(|| {
                let v = Arc::new(VirtualMp4::build(&store, cam, start, end).expect("build"));
                let mut out = Vec::with_capacity(65_536);
                Reader::new(v.clone())
                    .read(0..65_536.min(v.len()), &mut out)
                    .expect("read");
                out
            })
        });
        grp.bench_function(format!("baseline_index_scan_{name}"), |b| {
            b.iter(|| store.fragments(cam, start, end).expect("scan"))
        });
    }
    grp.finish();
}

fn export(c: &mut Criterion) {
    let secs: i64 = std::env::var("VMS_BENCH_EXPORT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3600);
    // 4 Mbit/s at 30 fps: 16 667 bytes a frame on average (keyframes 4× larger).
    let (dir, store, cam) = recorded(secs, 4_000_000 / 8 / 30 * 30 / 33);
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let out = tempfile::tempdir().expect("tempdir");
    let mut grp = c.benchmark_group("export");
    grp.sample_size(10);
    let mut n = 0u64;
    grp.bench_function(format!("package_{secs}s_4mbps"), |b| {
        b.iter(|| {
            n += 1;
            let pkg = out.path().join(format!("e{n}"));
            let spec = ExportSpec {
                id: n,
                items: vec![ExportItemSpec {
                    camera: cam,
                    camera_name: "bench".into(),
                    partner_pseudonym: "P-0001".into(),
                    masks_defined: 0,
                    within_range: false,
                }],
                start_us: T0,
                end_us: T0 + secs * 1_000_000,
                case_number: "bench".into(),
                request_id: None,
                legal_basis: "bench".into(),
                purpose: "bench".into(),
                exporter: "bench".into(),
                approver: None,
                tool_name: "vms".into(),
                submissions: Vec::new(),
                tool_version: "bench".into(),
            };
            let s = write_package(&store, &spec, &key, &pkg, &Progress::default()).expect("export");
            std::fs::remove_dir_all(&pkg).expect("cleanup");
            s.bytes
        })
    });
    let files: Vec<_> = walk(&dir.path().join("segments"));
    grp.bench_function(format!("baseline_fs_copy_{secs}s_4mbps"), |b| {
        b.iter(|| {
            n += 1;
            let to = out.path().join(format!("c{n}"));
            std::fs::create_dir(&to).expect("dir");
            let mut bytes = 0;
            for (i, f) in files.iter().enumerate() {
                bytes += std::fs::copy(f, to.join(i.to_string())).expect("copy");
            }
            std::fs::remove_dir_all(&to).expect("cleanup");
            bytes
        })
    });
    grp.finish();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

criterion_group!(benches, first_byte, export);
criterion_main!(benches);
