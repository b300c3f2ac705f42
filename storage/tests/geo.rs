//! The registry's spatial index against a brute-force oracle, on a real RocksDB: thousands of
//! random cameras (a city, and clusters on the antimeridian and near both poles), moved and
//! removed, and every search compared with the distance to every camera.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use vms_storage::geo::{Placed, Point, View};
use vms_storage::{
    CameraInfo, CameraKind, CameraSource, ManualClock, SharingMode, Store, StoreOptions,
};
use vms_testkit::T0;

fn open(dir: &std::path::Path) -> Arc<Store> {
    Store::open(
        dir,
        StoreOptions {
            clock: Arc::new(ManualClock::new(T0)),
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

fn registered(name: String, partner: u64, placed: Option<Placed>) -> CameraInfo {
    CameraInfo {
        id: 0,
        name,
        partner,
        source: CameraSource::Registered,
        credentials: None,
        sharing: SharingMode::Registry,
        retention_days: 30,
        address: String::new(),
        placed,
        kind: Some(CameraKind::Doorbell),
        owner_keeps_days: Some(30),
        paused: false,
        masks: vec![],
        created_us: T0,
    }
}

/// A point within `spread` degrees of `(lat, lon)`, wrapped and clamped onto the globe.
fn around(rng: &mut impl Rng, lat: f64, lon: f64, spread: f64) -> Point {
    let la = (lat + rng.random_range(-spread..spread)).clamp(-90.0, 90.0);
    let mut lo = lon + rng.random_range(-spread..spread);
    if lo > 180.0 {
        lo -= 360.0;
    }
    if lo < -180.0 {
        lo += 360.0;
    }
    Point::new(la, lo).unwrap()
}

/// What a full scan finds: every camera within the radius, by distance.
fn oracle(all: &[(u32, Point)], center: Point, radius_m: f64) -> BTreeSet<u32> {
    all.iter()
        .filter(|(_, p)| center.distance_m(*p) <= radius_m)
        .map(|(id, _)| *id)
        .collect()
}

#[test]
fn searches_match_a_full_scan_in_a_city_across_the_antimeridian_and_near_the_poles() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    // (centre lat, lon, spread in degrees): a city ~ 11 km across, the antimeridian, the poles.
    let areas = [
        (45.52, -122.68, 0.05),
        (-16.5, 180.0, 0.01),
        (89.995, 0.0, 0.005),
        (-89.99, 45.0, 0.01),
    ];
    let mut all = Vec::new();
    for (a, (lat, lon, spread)) in areas.iter().enumerate() {
        for i in 0..1500 {
            let p = around(&mut rng, *lat, *lon, *spread);
            let c = store
                .enroll_camera(registered(
                    format!("cam {a}-{i}"),
                    1,
                    Some(Placed {
                        point: p,
                        view: None,
                    }),
                ))
                .unwrap();
            all.push((c.id, p));
        }
    }
    // Move a tenth of them and remove another tenth: the index follows the rows.
    for n in 0..all.len() / 10 {
        let (id, _) = all[n * 10];
        let (lat, lon, spread) = areas[n % areas.len()];
        let p = around(&mut rng, lat, lon, spread);
        let mut c = store.camera_info(id).unwrap().unwrap();
        c.placed = Some(Placed {
            point: p,
            view: None,
        });
        store.put_camera_info(&c).unwrap();
        all[n * 10].1 = p;
    }
    let removed: Vec<u32> = (0..all.len() / 10).map(|n| all[n * 10 + 5].0).collect();
    for id in &removed {
        let before = store.camera_info(*id).unwrap().unwrap();
        store.remove_registered_camera(*id).unwrap();
        assert_eq!(store.camera_info(*id).unwrap(), None);
        // A change read before the removal does not bring the camera back.
        assert!(store.put_camera_info(&before).is_err());
        assert_eq!(store.camera_info(*id).unwrap(), None);
    }
    // A removed registration's id (its audit trail names it) is never given out again.
    let highest = all.iter().map(|(id, _)| *id).max().unwrap();
    store.remove_registered_camera(highest).unwrap();
    let next = store
        .enroll_camera(registered("after".into(), 1, None))
        .unwrap();
    assert!(next.id > highest, "{} reused", next.id);
    all.retain(|(id, _)| *id != highest);
    all.retain(|(id, _)| !removed.contains(id));

    let mut found_any = 0;
    for q in 0..400 {
        let (lat, lon, spread) = areas[q % areas.len()];
        let center = around(&mut rng, lat, lon, spread);
        let radius = rng.random_range(0.0..800.0);
        let got = store.cameras_near(center, radius).unwrap();
        let ids: BTreeSet<u32> = got.iter().map(|n| n.camera).collect();
        assert_eq!(ids.len(), got.len(), "no camera twice");
        assert_eq!(
            ids,
            oracle(&all, center, radius),
            "query {q} at {center:?} r={radius}"
        );
        assert!(got.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
        found_any += usize::from(!got.is_empty());
    }
    assert!(
        found_any > 200,
        "the queries must find cameras ({found_any})"
    );
}

#[test]
fn a_search_says_whose_view_covers_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let scene = Point::new(40.0, -75.0).unwrap();
    // 100 m south of the scene, one facing north (towards it) and one facing south.
    let south = Point::new(40.0 - 100.0 / 111_195.0, -75.0).unwrap();
    let view = |bearing_deg| {
        Some(Placed {
            point: south,
            view: Some(View {
                bearing_deg,
                fov_deg: 60.0,
                range_m: 150.0,
            }),
        })
    };
    let facing = store
        .enroll_camera(registered("facing".into(), 1, view(0.0)))
        .unwrap();
    let away = store
        .enroll_camera(registered("away".into(), 2, view(180.0)))
        .unwrap();
    let unplaced = store
        .enroll_camera(registered("unplaced".into(), 3, None))
        .unwrap();
    let got = store.cameras_near(scene, 200.0).unwrap();
    let by_id = |id| got.iter().find(|n| n.camera == id);
    assert!(by_id(facing.id).unwrap().covers);
    assert!(!by_id(away.id).unwrap().covers);
    assert!(
        by_id(unplaced.id).is_none(),
        "unplaced cameras are not found"
    );
    assert!((by_id(facing.id).unwrap().distance_m - 100.0).abs() < 1.0);
    assert!(store.cameras_near(scene, 50.0).unwrap().is_empty());
    assert!(store.cameras_near(scene, f64::NAN).is_err());
}

#[test]
fn recording_cameras_are_not_removed_as_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let c = store
        .enroll_camera(CameraInfo {
            source: CameraSource::Rtsp {
                url: "rtsp://127.0.0.1:9/x".into(),
            },
            sharing: SharingMode::OnRequest,
            ..registered("porch".into(), 1, None)
        })
        .unwrap();
    assert!(store.remove_registered_camera(c.id).is_err());
    assert!(store.camera_info(c.id).unwrap().is_some());
}
