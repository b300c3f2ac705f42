//! Registry search bench (issue 18): "cameras within 300 m of a point" over 100 000 registered
//! cameras spread over a 30 km × 30 km city (about 110 per km², so a 300 m circle holds about
//! 30), through the H3 cell index in RocksDB, next to a baseline measured in the same run: a
//! full scan of the same cameras' records with the same distance test (what a search without
//! the index reads).
//!
//! Besides criterion's means, it prints each way's p50 and p99 over 2 000 (index) and 30
//! (scan) random queries, and their ratio — the target is an index p99 well under 1 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use vms_storage::geo::{Placed, Point, View};
use vms_storage::{CameraInfo, CameraKind, CameraSource, SharingMode, Store, StoreOptions};

const CAMERAS: usize = 100_000;
const RADIUS_M: f64 = 300.0;
const CENTER: (f64, f64) = (45.52, -122.68);
/// Half the city's width in degrees of latitude (15 km).
const SPREAD: f64 = 0.135;

fn random_point(rng: &mut impl Rng) -> Point {
    let lat = CENTER.0 + rng.random_range(-SPREAD..SPREAD);
    let lon = CENTER.1 + rng.random_range(-SPREAD..SPREAD) / CENTER.0.to_radians().cos();
    Point::new(lat, lon).expect("in range")
}

/// A store with the city's cameras (built once per run; about a minute).
fn city() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
    let mut rng = rand::rngs::StdRng::seed_from_u64(100_000);
    for i in 0..CAMERAS {
        store
            .enroll_camera(CameraInfo {
                id: 0,
                name: format!("camera {i}"),
                partner: 1 + (i as u64) / 2,
                source: CameraSource::Registered,
                credentials: None,
                sharing: SharingMode::Registry,
                retention_days: 30,
                address: String::new(),
                placed: Some(Placed {
                    point: random_point(&mut rng),
                    view: Some(View {
                        bearing_deg: rng.random_range(0.0..360.0),
                        fov_deg: 90.0,
                        range_m: 40.0,
                    }),
                }),
                kind: Some(CameraKind::Doorbell),
                owner_keeps_days: Some(30),
                paused: false,
                masks: vec![],
                created_us: 0,
            })
            .expect("enroll");
    }
    (dir, store)
}

/// The baseline: every camera's record read and tested.
fn full_scan(store: &Store, center: Point) -> usize {
    store
        .cameras_info()
        .expect("scan")
        .iter()
        .filter_map(|c| c.placed.as_ref())
        .filter(|p| center.distance_m(p.point) <= RADIUS_M)
        .count()
}

fn percentiles(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    let at = |q: f64| d[((d.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}

fn registry(c: &mut Criterion) {
    let (_dir, store) = city();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let queries: Vec<Point> = (0..2_000).map(|_| random_point(&mut rng)).collect();

    // The same answers both ways, and the tails measured query by query.
    let mut found = 0usize;
    let mut index_times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let n = store.cameras_near(*q, RADIUS_M).expect("near").len();
        index_times.push(t.elapsed());
        found += n;
    }
    let mut scan_times = Vec::new();
    for q in queries.iter().take(30) {
        let t = Instant::now();
        let n = full_scan(&store, *q);
        scan_times.push(t.elapsed());
        assert_eq!(
            n,
            store.cameras_near(*q, RADIUS_M).expect("near").len(),
            "index and scan agree"
        );
    }
    let (i50, i99) = percentiles(index_times);
    let (s50, s99) = percentiles(scan_times);
    println!(
        "registry {CAMERAS} cameras, r={RADIUS_M} m, {:.1} found per query: index p50 {i50:?} p99 {i99:?}; \
         full scan p50 {s50:?} p99 {s99:?}; p99 ratio index/scan {:.5}",
        found as f64 / queries.len() as f64,
        i99.as_secs_f64() / s99.as_secs_f64()
    );

    let mut g = c.benchmark_group("registry");
    let mut i = 0usize;
    g.bench_function("near_300m_100k", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            store.cameras_near(queries[i], RADIUS_M).expect("near")
        })
    });
    g.sample_size(10);
    g.bench_function("full_scan_300m_100k", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            full_scan(&store, queries[i])
        })
    });
    g.finish();
}

criterion_group!(benches, registry);
criterion_main!(benches);
