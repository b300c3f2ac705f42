//! The access policy through real HTTP requests against the real router and a real RocksDB:
//! route coverage, the authorization matrix, login hardening, CSRF, audit and bad input.
#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use vms_program::policy::{Action, Resource, Subject, authorize};
use vms_storage::Role;
use vms_web::routes::Access;

fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{name}", "viewer")
}

#[tokio::test]
async fn every_route_has_a_policy_and_is_closed_without_credentials() {
    let w = world();
    assert!(w.table.len() >= 25);
    for r in &w.table {
        if r.access == Access::Public {
            continue;
        }
        let body = (r.method != Method::GET && r.method != Method::DELETE).then(|| json!({}));
        let (status, v, _) = send(
            &w.app,
            request(r.method.clone(), &concrete(r.path), None, body),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{} {} without credentials: {v}",
            r.method,
            r.path
        );
    }
    // The checked-in OpenAPI description lists exactly these routes.
    let spec: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let mut documented: Vec<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let mut routed: Vec<(String, String)> = w
        .table
        .iter()
        .filter(|r| r.path.starts_with("/api/") || r.path == "/metrics")
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed, "openapi.json and the router disagree");
}

#[tokio::test]
async fn authorization_matrix_every_route_by_every_role() {
    let w = world();
    let users = ["admin", "supervisor", "investigator", "viewer", "partner1"];
    let mut sessions = Vec::new();
    for u in users {
        sessions.push((u, w.login(u).await));
    }
    for r in &w.table {
        let Access::Action(action) = r.access else {
            continue;
        };
        for (user, s) in &sessions {
            let row = w.store.user(user).unwrap().unwrap();
            let subject = Subject {
                username: user.to_string(),
                role: row.role,
                partner: row.partner,
                mfa: row.totp_secret.is_some(),
            };
            let expect = authorize(&subject, action, &Resource::Route).allow;
            let body = (r.method != Method::GET && r.method != Method::DELETE).then(|| json!({}));
            let (status, v) = w.call(r.method.clone(), &concrete(r.path), s, body).await;
            if expect {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{user} {} {}: {v}",
                    r.method,
                    r.path
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{user} {} {}: {v}",
                    r.method,
                    r.path
                );
                let e = w.last_audit();
                assert_eq!(
                    (e.event.actor.as_str(), e.event.outcome.as_str()),
                    (*user, "deny")
                );
                assert_eq!(e.event.action, action.as_str());
            }
        }
    }
    // Sanity: the matrix above covered denials for every role.
    for role in Role::ALL {
        assert!(Action::ALL.iter().any(|a| {
            !authorize(
                &Subject {
                    username: "x".into(),
                    role,
                    partner: Some(1),
                    mfa: true,
                },
                *a,
                &Resource::Route,
            )
            .allow
        }));
    }
}

#[tokio::test]
async fn footage_access_follows_sharing_mode_requests_and_partners() {
    let w = world();
    let [live, on_request, registry, other_live] = w.cams;
    let inv = w.login("investigator").await;
    let viewer = w.login("viewer").await;
    let p1 = w.login("partner1").await;
    let p2 = w.login("partner2").await;
    let range = |cam: u32, reason: &str| {
        format!(
            "/api/cameras/{cam}/recordings?start={}&end={}&reason={reason}&case_number=C-77",
            T0 - 3_600_000_000,
            T0
        )
    };

    // Live camera: investigators may, with a reason; viewers may not play back.
    let (st, v) = w
        .call(Method::GET, &range(live, "witness%20statement"), &inv, None)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let e = w.last_audit();
    assert_eq!(
        (
            e.event.action.as_str(),
            e.event.outcome.as_str(),
            e.event.camera
        ),
        ("video.timeline", "allow", Some(live))
    );
    assert_eq!(e.event.reason.as_deref(), Some("witness statement"));
    let (st, _) = w.call(Method::GET, &range(live, ""), &inv, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "a reason is required");
    let (st, _) = w.call(Method::GET, &range(live, "x"), &viewer, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Registry camera: nobody.
    let (st, _) = w.call(Method::GET, &range(registry, "x"), &inv, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(w.last_audit().event.rule, "registry-camera-has-no-video");

    // On-request camera: denied until the partner approves a request covering the range.
    let (st, _) = w
        .call(Method::GET, &range(on_request, "x"), &inv, None)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let e = w.last_audit();
    assert_eq!(
        (e.event.rule.as_str(), e.event.camera),
        ("no-approved-request-for-range", Some(on_request))
    );
    let (st, req) = w
        .call(Method::POST, "/api/requests", &inv, Some(json!({"cameras": [on_request], "start_us": T0 - 3_600_000_000, "end_us": T0, "case_number": "C-77", "offence": "burglary", "reason": "suspect seen on Elm Ave"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{req}");
    let id = req["id"].as_u64().unwrap();
    // Another partner cannot decide it or see it.
    let (st, _) = w
        .call(
            Method::POST,
            &format!("/api/requests/{id}/decision"),
            &p2,
            Some(json!({"approve": true})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, list) = w.call(Method::GET, "/api/requests", &p2, None).await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{id}/decision"),
            &p1,
            Some(json!({"approve": true, "note": "ok"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = w
        .call(Method::GET, &range(on_request, "reviewing"), &inv, None)
        .await;
    assert_eq!(st, StatusCode::OK);
    // Exactly that range: a second earlier is outside it.
    let wider = format!(
        "/api/cameras/{on_request}/recordings?start={}&end={}&reason=x",
        T0 - 3_600_000_001,
        T0
    );
    let (st, _) = w.call(Method::GET, &wider, &inv, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The partner sees who looked, when and why.
    let (_, receipts) = w
        .call(Method::GET, "/api/partner/receipts", &p1, None)
        .await;
    let r = receipts.as_array().unwrap();
    assert!(
        r.iter().any(|e| e["actor"] == "investigator"
            && e["action"] == "video.timeline"
            && e["reason"] == "reviewing"),
        "{receipts}"
    );
    assert!(r.iter().any(|e| e["action"] == "request.approve"));
    // Partners only ever see their own cameras.
    let (_, cams) = w.call(Method::GET, "/api/cameras", &p1, None).await;
    assert_eq!(cams.as_array().unwrap().len(), 3);
    assert!(!cams.to_string().contains("camera-password"));
    let (st, _) = w
        .call(
            Method::GET,
            &format!("/api/cameras/{other_live}"),
            &p1,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{other_live}"),
            &p1,
            Some(json!({"sharing": "registry"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(w.last_audit().event.rule, "not-your-camera");
    // The owner changes the sharing mode; it is audited with before and after.
    let (st, v) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{live}"),
            &p1,
            Some(json!({"sharing": "on-request"})),
        )
        .await;
    assert_eq!(
        (st, v["sharing"].as_str()),
        (StatusCode::OK, Some("on-request"))
    );
    let detail = w.last_audit().event.detail;
    assert!(
        detail.starts_with("sharing=live ") && detail.contains("-> sharing=on-request"),
        "{detail}"
    );
}

#[tokio::test]
async fn exigent_access_needs_a_supervisor_and_a_justification_and_is_reported() {
    let w = world();
    let on_request = w.cams[1];
    let inv = w.login("investigator").await;
    let sup = w.login("supervisor").await;
    let (_, req) = w
        .call(Method::POST, "/api/requests", &inv, Some(json!({"cameras": [on_request], "start_us": T0 - 600_000_000, "end_us": T0, "case_number": "C-9", "offence": "abduction", "reason": "child missing"})))
        .await;
    let id = req["id"].as_u64().unwrap();
    let path = format!("/api/requests/{id}/exigent");
    let (st, _) = w
        .call(
            Method::POST,
            &path,
            &inv,
            Some(json!({"justification": "child missing, minutes matter"})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = w
        .call(
            Method::POST,
            &path,
            &sup,
            Some(json!({"justification": "urgent"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "too short a justification");
    let (st, v) = w
        .call(
            Method::POST,
            &path,
            &sup,
            Some(json!({"justification": "child missing, minutes matter"})),
        )
        .await;
    assert_eq!((st, v["exigent"].as_bool()), (StatusCode::OK, Some(true)));
    let (st, _) = w
        .call(
            Method::GET,
            &format!(
                "/api/cameras/{on_request}/recordings?start={}&end={T0}&reason=search",
                T0 - 600_000_000
            ),
            &inv,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // The public report counts it, with no names or addresses.
    let month = "2026-09"; // T0 is 2026-09-21
    let (st, report, _) = send(
        &w.app,
        request(
            Method::GET,
            &format!("/api/transparency?month={month}"),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(report["exigent_accesses"], 1);
    assert_eq!(report["requests_filed"], 1);
    assert_eq!(report["cameras_live"], 2);
    let text = report.to_string();
    assert!(
        !text.contains("Secret Street") && !text.contains("Partner 1"),
        "{text}"
    );
    let (st, _, _) = send(
        &w.app,
        request(Method::GET, "/api/transparency?month=2026-13", None, None),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn login_lockout_second_factor_idle_expiry_and_csrf() {
    let w = world();
    let login = |user: &str, password: &str, code: Option<String>| {
        request(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": user, "password": password, "totp": code})),
        )
    };
    // Staff need the second factor; a wrong one counts as a failure.
    let (st, v, _) = send(&w.app, login("viewer", PASSWORD, None)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(w.last_audit().event.rule, "second-factor-required");
    let (st, _, _) = send(&w.app, login("viewer", PASSWORD, Some("000000".into()))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Five failures lock the account, even for the right password afterwards.
    for _ in 0..4 {
        let (st, _, _) = send(&w.app, login("viewer", "wrong password!", None)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // Locked: the same answer as any refusal (issue 22 F18); the audit log says why.
    let (st, _, _) = send(&w.app, login("viewer", PASSWORD, w.code("viewer"))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(w.last_audit().event.rule, "account-locked");
    w.clock.advance_secs(9 * 60);
    let (st, _, _) = send(&w.app, login("viewer", PASSWORD, w.code("viewer"))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "still locked after 9 minutes");
    assert_eq!(w.last_audit().event.rule, "account-locked");
    w.clock.advance_secs(7 * 60);
    let s = w.login("viewer").await;
    // A TOTP code is single use.
    let (st, _, _) = send(&w.app, login("viewer", PASSWORD, w.code("viewer"))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "replayed code");
    let logins: Vec<_> = w
        .store
        .audit_search(&vms_storage::AuditFilter {
            actor: Some("viewer".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(logins.iter().filter(|e| e.event.action == "login").count() >= 9);

    // Idle expiry: 29 minutes idle is fine, then 31 minutes is not.
    w.clock.advance_secs(29 * 60);
    let (st, _) = w.call(Method::GET, "/api/cameras", &s, None).await;
    assert_eq!(st, StatusCode::OK);
    w.clock.advance_secs(31 * 60);
    let (st, v) = w.call(Method::GET, "/api/cameras", &s, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("expired"));
    let e = w.last_audit();
    assert_eq!(
        (e.event.actor.as_str(), e.event.rule.as_str()),
        ("viewer", "session-expired")
    );

    // CSRF: a state-changing request with the session cookie but a wrong token is refused.
    w.clock.advance_secs(60);
    let p1 = w.login("partner1").await;
    let forged = Session {
        csrf: "forged".into(),
        ..p1.clone()
    };
    let (st, _) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{}", w.cams[0]),
            &forged,
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let e = w.last_audit();
    assert_eq!(
        (e.event.actor.as_str(), e.event.rule.as_str()),
        ("partner1", "csrf-token-mismatch")
    );
    let (st, _) = w
        .call(
            Method::PATCH,
            &format!("/api/cameras/{}", w.cams[0]),
            &p1,
            Some(json!({"paused": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // Disabled accounts stop working at once.
    let mut u = w.store.user("partner1").unwrap().unwrap();
    u.disabled = true;
    w.store.put_user(&u).unwrap();
    let (st, _) = w.call(Method::GET, "/api/cameras", &p1, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_never_500() {
    let w = world();
    let admin = w.login("admin").await;
    let inv = w.login("investigator").await;
    let raw = |method: Method, path: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::COOKIE, &admin.cookie)
            .header("x-csrf-token", &admin.csrf)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            raw(Method::POST, "/api/users", "{not json"),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            raw(
                Method::POST,
                "/api/users",
                r#"{"username":"a","role":"viewer","password":"long enough pass","shoe_size":9}"#,
            ),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            raw(
                Method::POST,
                "/api/users",
                r#"{"username":"a","role":"emperor","password":"long enough pass"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "unknown role",
        ),
        (
            raw(
                Method::POST,
                "/api/users",
                r#"{"username":"../../etc","role":"admin","password":"long enough pass"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "username",
        ),
        (
            raw(
                Method::POST,
                "/api/users",
                r#"{"username":"bob","role":"admin","password":"short"}"#,
            ),
            StatusCode::BAD_REQUEST,
            "12 characters",
        ),
        (
            raw(
                Method::POST,
                "/api/users",
                &format!(r#"{{"username":"{}"}}"#, "x".repeat(100_000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            raw(Method::GET, "/api/cameras/..%2F..%2Fetc%2Fpasswd", ""),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            raw(Method::GET, "/api/cameras/99999", ""),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            raw(Method::PATCH, "/api/users/nobody", "{}"),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            raw(Method::GET, "/api/audit?camera=abc", ""),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            raw(Method::GET, "/no/such/page", ""),
            StatusCode::NOT_FOUND,
            "",
        ),
    ];
    for (req, want, needle) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let (st, v, _) = send(&w.app, req).await;
        assert_eq!(st, want, "{what}: {v}");
        assert!(
            v["error"].as_str().unwrap_or("").contains(needle),
            "{what}: {v}"
        );
    }
    // Requests: bounded window, case number required, end after start, future nonsense.
    let file = |body: Value| w.call(Method::POST, "/api/requests", &inv, Some(body));
    let base = json!({"cameras": [w.cams[1]], "start_us": T0 - 1_000_000, "end_us": T0, "case_number": "C", "offence": "o", "reason": "r"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    for (body, needle) in [
        (
            with("end_us", json!(T0 - 2_000_000)),
            "end must be after start",
        ),
        (
            with("start_us", json!(T0 - 13 * 3_600_000_000)),
            "at most 12 h",
        ),
        (with("case_number", json!("  ")), "case_number is required"),
        (with("cameras", json!([w.cams[2]])), "registry-only"),
        (
            with("cameras", json!([w.cams[0], w.cams[3]])),
            "one request per partner",
        ),
        (with("cameras", json!([])), "1 to 16"),
    ] {
        let (st, v) = file(body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["error"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
    }
}

#[tokio::test]
async fn partner_leaving_is_told_about_legal_holds() {
    let w = world();
    let sup = w.login("supervisor").await;
    let p1 = w.login("partner1").await;
    let (st, _) = w
        .call(Method::POST, "/api/holds", &sup, Some(json!({"camera": w.cams[0], "start_us": T0 - 1_000_000, "end_us": T0, "case_number": "C-5", "reason": "evidence"})))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = w
        .call(
            Method::POST,
            "/api/partner/status",
            &p1,
            Some(json!({"status": "left"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["legal_holds"].as_array().unwrap().len(), 1);
    assert!(v["note"].as_str().unwrap().contains("legal hold"));
    let (st, _) = w
        .call(
            Method::POST,
            "/api/partner/status",
            &p1,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
}

/// An administrator gives a metrics scraper a token: shown once, listed by id (never the token),
/// accepted as a bearer credential until revoked, every step audited.
#[tokio::test]
async fn api_tokens_are_created_listed_used_and_revoked() {
    let w = world();
    let admin = w.login("admin").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/tokens",
            &admin,
            Some(json!({"username": "viewer", "label": "prometheus"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert_eq!(w.last_audit().event.action, "token.create");
    let bearer = |t: &str| {
        Request::builder()
            .uri("/api/health")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    let (st, _, _) = send(&w.app, bearer(&token)).await;
    assert_eq!(st, StatusCode::OK);
    let (st, list) = w.call(Method::GET, "/api/tokens", &admin, None).await;
    assert_eq!(st, StatusCode::OK);
    let listed = list.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["username"], "viewer");
    assert!(
        listed[0].get("token").is_none(),
        "a listed token is never shown: {list}"
    );
    for (body, want) in [
        (
            json!({"username": "viewer", "label": " "}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"username": "nobody", "label": "x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (st, v) = w
            .call(Method::POST, "/api/tokens", &admin, Some(body.clone()))
            .await;
        assert_eq!(st, want, "{body}: {v}");
    }
    let (st, v) = w
        .call(Method::DELETE, &format!("/api/tokens/{id}"), &admin, None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let ev = w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.actor.as_str()),
        ("token.revoke", "admin")
    );
    let (st, _, _) = send(&w.app, bearer(&token)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "a revoked token is refused");
    let (st, _) = w
        .call(Method::DELETE, &format!("/api/tokens/{id}"), &admin, None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
