//! The camera registry and area requests through the real router and RocksDB: a partner
//! registers a camera by its position (no video), staff find cameras around a point without
//! seeing their owners, an investigator previews and sends a canvass, and its progress follows
//! each owner's answer — approval, a link opened, a file received — down to the transparency
//! report. Bad input gets a 4xx, never a 500.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::tus::*;
use common::*;
use serde_json::{Value, json};

const LAT: f64 = 45.5231;
const LON: f64 = -122.6765;
/// Degrees of latitude per metre.
const DEG_PER_M: f64 = 1.0 / 111_195.0;

fn register_body(name: &str, north_m: f64, bearing: f64) -> Value {
    json!({
        "name": name, "sharing": "registry", "address": "12 Elm St",
        "lat": LAT + north_m * DEG_PER_M, "lon": LON,
        "bearing_deg": bearing, "fov_deg": 90.0, "range_m": 60.0,
        "kind": "doorbell", "owner_keeps_days": 7,
    })
}

fn canvass(radius_m: u32, start_us: i64, end_us: i64) -> Value {
    json!({
        "lat": LAT, "lon": LON, "radius_m": radius_m, "start_us": start_us, "end_us": end_us,
        "case_number": "2026-0188", "offence": "burglary",
        "reason": "break-in at the corner shop; looking for the getaway car",
    })
}

#[tokio::test]
async fn partners_register_cameras_by_position_and_staff_find_them_without_their_owners() {
    let w = world();
    let p1 = w.login("partner1").await;
    // 40 m south of the scene facing north (towards it), and 80 m north facing north (away).
    let (st, c) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(register_body("doorbell", -40.0, 0.0)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    assert_eq!(c["source"], "registered");
    assert_eq!(c["address"], "12 Elm St", "the owner sees its own address");
    assert_eq!(c["kind"], "doorbell");
    let doorbell = c["id"].as_u64().unwrap();
    let (st, c) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(register_body("garage", 80.0, 0.0)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let garage = c["id"].as_u64().unwrap();

    // Bad input: each a 400 that says what is wrong.
    for (body, says) in [
        (
            json!({"name": "x", "sharing": "registry", "lat": 91.0, "lon": 0.0}),
            "latitude",
        ),
        (
            json!({"name": "x", "sharing": "registry", "lat": 0.0, "lon": 200.0}),
            "longitude",
        ),
        (json!({"name": "x", "sharing": "registry"}), "position"),
        (
            json!({"name": "x", "sharing": "registry", "lat": 1.0, "lon": 1.0, "bearing_deg": 10.0}),
            "together",
        ),
        (
            json!({"name": "x", "sharing": "registry", "lat": 1.0, "lon": 1.0, "kind": "drone"}),
            "kind",
        ),
        (
            json!({"name": "x", "sharing": "registry", "lat": "north", "lon": 1.0}),
            "",
        ),
    ] {
        let (st, v) = w.call(Method::POST, "/api/cameras", &p1, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"].as_str().unwrap().contains(says), "{v}");
    }
    // A registered camera is never connected, so it cannot be shared live.
    let (st, v) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{doorbell}"),
            &p1,
            Some(json!({"sharing": "live"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // The registry map is agency-only.
    let search = format!("/api/registry?lat={LAT}&lon={LON}&radius_m=300");
    for who in ["viewer", "partner1"] {
        let s = w.login(who).await;
        let (st, _) = w.call(Method::GET, &search, &s, None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{who}");
    }
    let inv = w.login("investigator").await;
    let (st, hits) = w.call(Method::GET, &search, &inv, None).await;
    assert_eq!(st, StatusCode::OK, "{hits}");
    let searched = w.last_audit().event;
    assert_eq!(searched.action, "registry.search");
    assert_eq!(searched.actor, "investigator");
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0]["camera"], doorbell, "nearest first");
    assert_eq!(hits[0]["owner"], "P-0001", "the owner's pseudonym");
    assert_eq!(hits[0]["covers"], true);
    assert_eq!(hits[1]["covers"], false, "faces away from the point");
    assert!((hits[0]["distance_m"].as_f64().unwrap() - 40.0).abs() < 1.0);
    let text = serde_json::to_string(&hits).unwrap();
    assert!(
        !text.contains("Elm St") && !text.contains("Partner 1 Name"),
        "no address or owner name: {text}"
    );
    // Not in the investigator's camera lists (no video); in its owner's.
    let (_, list) = w.call(Method::GET, "/api/cameras", &inv, None).await;
    assert!(
        list.as_array().unwrap().iter().all(|c| c["id"] != doorbell),
        "{list}"
    );
    let (_, mine) = w.call(Method::GET, "/api/cameras", &p1, None).await;
    assert!(mine.as_array().unwrap().iter().any(|c| c["id"] == doorbell));
    let (_, c) = w
        .call(Method::GET, &format!("/api/cameras/{doorbell}"), &inv, None)
        .await;
    assert_eq!(c["address"], Value::Null, "{c}");
    assert!(c["lat"].is_number());
    for bad in [
        format!("/api/registry?lat=95&lon={LON}&radius_m=300"),
        format!("/api/registry?lat={LAT}&lon={LON}&radius_m=0"),
        format!("/api/registry?lat={LAT}&lon={LON}&radius_m=99999"),
        format!("/api/registry?lat=abc&lon={LON}&radius_m=300"),
    ] {
        let (st, v) = w.call(Method::GET, &bad, &inv, None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    // The owner moves one camera and removes the other: the map follows, the record goes.
    let (st, v) = w
        .call(
            Method::PUT,
            &format!("/api/cameras/{garage}/place"),
            &p1,
            Some(json!({"lat": LAT + 1.0, "lon": LON, "address": "far away"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let p2 = w.login("partner2").await;
    let (st, _) = w
        .call(
            Method::DELETE,
            &format!("/api/cameras/{doorbell}"),
            &p2,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "not its camera");
    let (st, _) = w
        .call(
            Method::DELETE,
            &format!("/api/cameras/{doorbell}"),
            &p1,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(w.last_audit().event.action, "camera.remove");
    let (st, hits) = w.call(Method::GET, &search, &inv, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hits.as_array().unwrap().len(), 0, "{hits}");
    let (st, _) = w
        .call(Method::GET, &format!("/api/cameras/{doorbell}"), &p1, None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "deleted, not hidden");
    // A recording camera is not removed this way.
    let (st, _) = w
        .call(
            Method::DELETE,
            &format!("/api/cameras/{}", w.cams[1]),
            &p1,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_canvass_asks_each_owner_once_and_follows_their_answers() {
    let w = world();
    let now = T0;
    let hour = 3_600_000_000i64;
    let p1 = w.login("partner1").await;
    let p2 = w.login("partner2").await;
    // Partner 1: a registered doorbell 30 m away, and its on-request camera placed 100 m away.
    let (st, c) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(register_body("doorbell", -30.0, 0.0)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let doorbell = c["id"].as_u64().unwrap();
    let on_request = w.cams[1];
    let (st, v) = w
        .call(
            Method::PUT,
            &format!("/api/cameras/{on_request}/place"),
            &p1,
            Some(json!({"lat": LAT + 100.0 * DEG_PER_M, "lon": LON, "kind": "fixed"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Partner 2: its live camera 50 m away (no request needed), and a registered one 600 m
    // away (outside a 300 m canvass).
    let (st, v) = w
        .call(
            Method::PUT,
            &format!("/api/cameras/{}/place", w.cams[3]),
            &p2,
            Some(json!({"lat": LAT - 50.0 * DEG_PER_M, "lon": LON})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p2,
            Some(register_body("far", 600.0, 0.0)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);

    let inv = w.login("investigator").await;
    // Bounds: radius, window, position; a partner may not canvass.
    for body in [
        canvass(0, now - hour, now),
        canvass(801, now - hour, now),
        canvass(300, now - 13 * hour, now),
        canvass(300, now, now - hour),
        json!({"lat": 91.0, "lon": 0.0, "radius_m": 100, "start_us": 0, "end_us": 1,
               "case_number": "c", "offence": "o", "reason": "r"}),
    ] {
        let (st, v) = w
            .call(Method::POST, "/api/canvasses/preview", &inv, Some(body))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    }
    let (st, _) = w
        .call(
            Method::POST,
            "/api/canvasses/preview",
            &p1,
            Some(canvass(300, now - hour, now)),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // The preview: nearest first; the doorbell keeps 7 days, so a window 10 days back is
    // flagged; the live camera is listed but not asked.
    let (st, old) = w
        .call(
            Method::POST,
            "/api/canvasses/preview",
            &inv,
            Some(canvass(300, now - 240 * hour, now - 239 * hour)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{old}");
    assert_eq!(old[0]["camera"], doorbell);
    assert_eq!(old[0]["in_retention"], false, "{old}");
    let (st, p) = w
        .call(
            Method::POST,
            "/api/canvasses/preview",
            &inv,
            Some(canvass(300, now - hour, now)),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let previewed = w.last_audit().event;
    assert_eq!(
        (previewed.action.as_str(), previewed.actor.as_str()),
        ("registry.search", "investigator"),
        "a preview shows what a search shows: audited alike"
    );
    let ids: Vec<u64> = p
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["camera"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [doorbell, u64::from(w.cams[3]), u64::from(on_request)]);
    assert_eq!(p[0]["in_retention"], true);
    assert_eq!(p[0]["covers"], true);
    assert!(p[1]["skipped"].as_str().unwrap().contains("live"), "{p}");
    assert_eq!(p[2]["skipped"], Value::Null);

    // A canvass where nothing can be asked is refused.
    let empty = json!({"lat": 0.0, "lon": 0.0, "radius_m": 300, "start_us": now - hour,
        "end_us": now, "case_number": "c", "offence": "o", "reason": "r"});
    let (st, v) = w
        .call(Method::POST, "/api/canvasses", &inv, Some(empty))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // Sending: one request for partner 1 naming both of its cameras.
    let (st, sent) = w
        .call(
            Method::POST,
            "/api/canvasses",
            &inv,
            Some(canvass(300, now - hour, now)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["owners"], 1);
    let owner = &sent["per_owner"][0];
    assert_eq!(owner["owner"], "P-0001");
    assert_eq!(owner["cameras"], json!([doorbell, on_request]));
    assert_eq!(owner["status"], "pending");
    assert_eq!(owner["email"], "portal", "partner 1 gave no email address");
    let request = owner["request"].as_u64().unwrap();
    let id = sent["id"].as_u64().unwrap();

    // The partner sees the request, with the case and window but not where the incident was.
    let (st, reqs) = w.call(Method::GET, "/api/requests", &p1, None).await;
    assert_eq!(st, StatusCode::OK);
    let r = reqs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == request)
        .unwrap()
        .clone();
    assert_eq!(r["case_number"], "2026-0188");
    let text = r.to_string();
    assert!(
        !text.contains(&format!("{LAT}")) && !text.contains("lat"),
        "{text}"
    );
    let (_, theirs) = w.call(Method::GET, "/api/requests", &p2, None).await;
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != request),
        "partner 2 was not asked"
    );

    // It approves, opens a link to answer with files and sends one.
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{request}/decision"),
            &p1,
            Some(json!({"approve": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, l) = w
        .call(
            Method::POST,
            &format!("/api/requests/{request}/submission-link"),
            &p1,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{l}");
    let token = l["token"].as_str().unwrap().to_owned();
    let (st, _, _) = go(
        &w.app,
        axum::http::Request::builder()
            .uri("/api/submission")
            .header("submission-token", &token)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, v) = go(&w.app, statement(&token, true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    upload_file(&w.app, &token, "doorbell.mp4", b"not really a video").await;

    let (st, prog) = w
        .call(Method::GET, &format!("/api/canvasses/{id}"), &inv, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{prog}");
    assert_eq!(
        (
            &prog["opened"],
            &prog["approved"],
            &prog["submitted"],
            &prog["declined"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0)),
        "{prog}"
    );
    assert_eq!(prog["per_owner"][0]["files"], 1);
    // Another investigator does not follow it; a supervisor does.
    let sup = w.login("supervisor").await;
    let (st, _) = w
        .call(Method::GET, &format!("/api/canvasses/{id}"), &sup, None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, list) = w.call(Method::GET, "/api/canvasses", &inv, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list[0]["id"], id);

    // The transparency report counts the canvass and the owner it asked.
    // T0 is in September 2026.
    let (st, t, _) = send(
        &w.app,
        common::request(Method::GET, "/api/transparency?month=2026-09", None, None),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (&t["area_requests"], &t["area_owners_contacted"]),
        (&json!(1), &json!(1))
    );
}

/// An administrator imports an existing registry: 10 000 CSV rows of which some are malformed
/// (each reported by its row number, the rest kept), again without duplicates, and GeoJSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_of_ten_thousand_rows_is_imported_with_row_errors_and_again_idempotently() {
    let w = world();
    let admin = w.login("admin").await;
    let mut csv = String::from(
        "owner_email,owner_name,camera_name,lat,lon,bearing_deg,fov_deg,range_m,kind,owner_keeps_days\n",
    );
    let mut bad = Vec::new();
    for i in 0..10_000usize {
        let row = i + 2; // the header is row 1
        let (lat, lon) = (
            LAT + (i % 100) as f64 * 0.001,
            LON + (i / 100) as f64 * 0.001,
        );
        let line = match i % 997 {
            1 => {
                bad.push((row, "latitude"));
                format!("o{i}@example.org,Owner {i},cam,95.0,{lon},0,90,30,doorbell,14")
            }
            2 => {
                bad.push((row, "owner_email"));
                format!(",Owner {i},cam,{lat},{lon},0,90,30,doorbell,14")
            }
            3 => {
                bad.push((row, "kind"));
                format!("o{i}@example.org,Owner {i},cam,{lat},{lon},0,90,30,drone,14")
            }
            4 => {
                bad.push((row, "column"));
                format!("o{i}@example.org,Owner {i},cam,north,{lon},0,90,30,doorbell,14")
            }
            5 => {
                bad.push((row, "fields"));
                format!("o{i}@example.org,Owner {i},cam,{lat}")
            }
            // Two cameras per owner.
            _ => format!(
                "o{}@example.org,Owner {},cam {},{lat},{lon},{},90,30,doorbell,14",
                i / 2,
                i / 2,
                i % 2,
                i % 360
            ),
        };
        csv.push_str(&line);
        csv.push('\n');
    }
    let import = |body: String, s: &Session| {
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/api/registry/import")
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
            .header("content-type", "text/csv")
            .body(axum::body::Body::from(body))
            .unwrap();
        go(&w.app, req)
    };
    let inv = w.login("investigator").await;
    let (st, _, _) = import(csv.clone(), &inv).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "administrators only");

    let (st, _, r) = import(csv.clone(), &admin).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let errors = r["errors"].as_array().unwrap();
    assert_eq!(r["rows"], 10_000);
    assert_eq!(errors.len(), bad.len(), "{errors:?}");
    for ((row, says), e) in bad.iter().zip(errors) {
        assert_eq!(e["row"], *row, "{e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{says}: {e}");
    }
    let good = 10_000 - bad.len();
    assert_eq!(r["cameras_created"], good);
    assert!(r["owners_created"].as_u64().unwrap() >= (good / 2) as u64);
    assert_eq!(w.last_audit().event.action, "registry.import");

    // Again: nothing new, nothing lost.
    let (st, _, again) = import(csv, &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        (
            &again["owners_created"],
            &again["cameras_created"],
            &again["unchanged"]
        ),
        (&json!(0), &json!(0), &json!(good)),
        "{again}"
    );

    // The imported cameras are on the map.
    let (st, hits) = w
        .call(
            Method::GET,
            &format!("/api/registry?lat={LAT}&lon={LON}&radius_m=60"),
            &inv,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!hits.as_array().unwrap().is_empty(), "{hits}");

    // GeoJSON: points only; an owner already imported gets its camera moved.
    let geo = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]},
         "properties": {"owner_email": "O0@example.org", "camera_name": "cam 0", "kind": "doorbell",
                        "bearing_deg": 10.0, "fov_deg": 90.0, "range_m": 30.0, "owner_keeps_days": 14}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"owner_email": "x@example.org", "camera_name": "c"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [LON, LAT]},
         "properties": {"owner_email": "new@example.org", "camera_name": "gate", "colour": "red"}},
    ]});
    let (st, _, r) = import(geo.to_string(), &admin).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        (&r["cameras_moved"], &r["cameras_created"]),
        (&json!(1), &json!(0)),
        "{r}"
    );
    let errs: Vec<u64> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_u64().unwrap())
        .collect();
    assert_eq!(errs, [2, 3], "a line and an unknown property: {r}");
    // Row numbers are the file's lines: a blank line and a quoted line break count.
    let (st, _, r) = import(
        "owner_email,camera_name,lat,lon\n\nq@example.org,\"gate\nnorth\",45.5,-122.6\nq@example.org,x,95,0\n".to_owned(),
        &admin,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["errors"][0]["row"], 5, "{r}");
    for junk in ["{\"type\": \"Feature\"}", "{not json", ""] {
        let (st, _, v) = import(junk.to_owned(), &admin).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{junk}: {v}");
    }
}
