//! `POST /api/onvif/probe` through the real router against a stand-in ONVIF device on
//! 127.0.0.1 that answers with the captured responses in `ingest/testdata/onvif`
//! (`vms_testkit::onvif`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::json;
use vms_testkit::netns::in_netns;

#[tokio::test]
async fn probe_reports_the_device_and_the_streams_enrollment_would_record() {
    let w = world();
    let port = vms_testkit::onvif::stand_in_device(None).await;
    let admin = w.login("admin").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/onvif/probe",
            &admin,
            Some(json!({"address": format!("127.0.0.1:{port}")})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["model"], "MS-C8165-PE");
    assert_eq!(v["media_version"], "Media2");
    assert_eq!(v["profiles"].as_array().unwrap().len(), 4);
    assert_eq!(v["main_stream"], "rtsp://127.0.0.1:8554/live/prof_1080");
    assert!(
        v["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["token"] == "prof_1080" && p["chosen"] == "main"),
        "{v}"
    );
    assert!(v["clock_offset_ms"].as_i64().is_some());
    let ev = w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.outcome.as_str()),
        ("onvif.probe", "ok")
    );

    // A partner may probe a camera before enrolling it; nothing listening is a clear 400.
    let partner = w.login("partner1").await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (st, v) = w
        .call(
            Method::POST,
            "/api/onvif/probe",
            &partner,
            Some(json!({"address": dead.to_string()})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    // One answer whatever failed, so probes cannot map what listens where (issue 22 F3).
    assert_eq!(
        v["error"], "no ONVIF device answered at this address",
        "{v}"
    );
    assert_eq!(w.last_audit().event.outcome, "fail");
    for bad in [
        json!({"address": ""}),
        json!({"address": "127.0.0.1", "username": "u"}),
        json!({"address": "127.0.0.1", "extra": true}),
    ] {
        let (st, v) = w
            .call(Method::POST, "/api/onvif/probe", &admin, Some(bad.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    // Staff who watch video do not enroll cameras.
    let inv = w.login("investigator").await;
    let (st, _) = w
        .call(
            Method::POST,
            "/api/onvif/probe",
            &inv,
            Some(json!({"address": format!("127.0.0.1:{port}")})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[test]
fn discover_over_the_api_in_a_private_namespace() {
    // Discovery binds a socket on every interface: only where `lo` is all there is.
    if !in_netns(
        "discover_over_the_api_in_a_private_namespace",
        &[],
        Duration::from_secs(120),
    ) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = vms_testkit::onvif::discovery_responder().await;
        let w = world();
        let admin = w.login("admin").await;
        let (st, v) = w
            .call(
                Method::POST,
                "/api/onvif/discover",
                &admin,
                Some(json!({"unicast": format!("127.0.0.1:{port}"), "wait_ms": 500})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let found = v.as_array().unwrap();
        assert_eq!(found.len(), 1, "{v}");
        assert_eq!(
            found[0]["xaddrs"][0],
            "http://192.168.1.87:2000/onvif/device_service"
        );
        assert_eq!(found[0]["video_transmitter"], true);
        assert_eq!(w.last_audit().event.action, "onvif.discover");

        for bad in [
            json!({}),
            json!({"interface": "vmsnope0"}),
            json!({"unicast": "not-an-address"}),
            json!({"interface": "lo", "unicast": "127.0.0.1"}),
        ] {
            let (st, v) = w
                .call(
                    Method::POST,
                    "/api/onvif/discover",
                    &admin,
                    Some(bad.clone()),
                )
                .await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
        }
        // Only administrators look for devices on the recorder's networks.
        let partner = w.login("partner1").await;
        let (st, _) = w
            .call(
                Method::POST,
                "/api/onvif/discover",
                &partner,
                Some(json!({"unicast": format!("127.0.0.1:{port}")})),
            )
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    });
}
