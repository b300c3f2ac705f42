//! Issue 22's findings, each as the attack itself through real HTTP requests against the real
//! router and a real RocksDB. Races run their requests concurrently on a multi-threaded
//! runtime (Argon2 and RocksDB work on the blocking pool, so the attempts truly overlap);
//! every test here failed on the code before its fix.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use futures::future::join_all;
use serde_json::json;

/// One `POST /api/login` whose outcome the caller checks (`World::login` asserts success).
fn login_attempt<'a>(
    w: &'a World,
    username: &str,
    password: &str,
    totp: Option<String>,
) -> impl std::future::Future<Output = (StatusCode, serde_json::Value, axum::http::HeaderMap)> + use<'a>
{
    let body = json!({"username": username, "password": password, "totp": totp});
    send(
        &w.app,
        request(Method::POST, "/api/login", None, Some(body)),
    )
}

fn enroll_body(name: &str) -> serde_json::Value {
    json!({"name": name, "rtsp_url": "rtsp://127.0.0.1:9/x", "sharing": "live"})
}

/// F1, C3, F19: enrolling under a configured (agency) camera's name used to return that
/// camera's id, so pausing or leaving stopped its recording and let retention delete it; two
/// partners enrolling one new name at once got one id; a taken name revealed another partner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_never_reaches_another_owners_camera() {
    let w = world();
    let agency = w.store.camera_id("porch").unwrap();
    let p1 = w.login("partner1").await;
    let p2 = w.login("partner2").await;

    let (st, v) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(enroll_body("porch")),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let taken = u32::try_from(v["id"].as_u64().unwrap()).unwrap();
    assert_ne!(
        taken, agency,
        "a partner's camera got the agency camera's id"
    );
    assert_eq!(
        w.store.camera_id("porch").unwrap(),
        agency,
        "the configured name still leads to the agency camera"
    );

    // Names are unique per owner only: partner 1 may use partner 2's camera name (and learns
    // nothing about it), but not its own twice.
    let (st, v) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(enroll_body("cam-3")),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = w
        .call(
            Method::POST,
            "/api/cameras",
            &p1,
            Some(enroll_body("porch")),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("you already have"),
        "{v}"
    );

    // Two partners enrolling one new name at the same moment get two cameras.
    for round in 0..5 {
        let name = format!("gate-{round}");
        let (a, b) = tokio::join!(
            w.call(Method::POST, "/api/cameras", &p1, Some(enroll_body(&name))),
            w.call(Method::POST, "/api/cameras", &p2, Some(enroll_body(&name))),
        );
        assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
        assert_ne!(a.1["id"], b.1["id"], "round {round}: one id for two owners");
    }
    let ids: std::collections::HashSet<u32> = w
        .store
        .cameras_info()
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids.len(), w.store.cameras_info().unwrap().len());
    assert!(!ids.contains(&agency));
}

/// F2: concurrent wrong passwords each read `failed_logins = 0` and wrote back 1, so the
/// account never locked and the right password then succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_lock_the_account() {
    let w = world();
    let attempts = (0..20).map(|i| {
        login_attempt(
            &w,
            "investigator",
            &format!("wrong {i}"),
            w.code("investigator"),
        )
    });
    let results = join_all(attempts).await;
    assert!(
        results
            .iter()
            .all(|(st, _, _)| *st == StatusCode::UNAUTHORIZED),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let user = w.store.user("investigator").unwrap().unwrap();
    assert!(
        user.locked_until_us > T0,
        "20 concurrent failures did not lock the account"
    );
    let (st, v, _) = login_attempt(&w, "investigator", PASSWORD, w.code("investigator")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(w.last_audit().event.rule, "account-locked");
}

/// F7: one TOTP code used by several concurrent logins opened a session each, because the
/// used step was written after the (slow) password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_totp_code_opens_one_session() {
    let w = world();
    let code = w.code("supervisor").unwrap();
    let attempts = (0..8).map(|_| login_attempt(&w, "supervisor", PASSWORD, Some(code.clone())));
    let ok = join_all(attempts)
        .await
        .iter()
        .filter(|(st, _, _)| *st == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one code must open exactly one session");
}

/// F4: ten holds placed at once were all answered 201 and audited, but ids were `last + 1`
/// read without a lock, so most overwrote each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_legal_holds_are_all_kept() {
    let w = world();
    let sup = w.login("supervisor").await;
    let holds = (0..10).map(|i| {
        w.call(
            Method::POST,
            "/api/holds",
            &sup,
            Some(json!({"camera": w.cams[0], "start_us": T0 - 1_000_000 - i, "end_us": T0, "case_number": format!("C-{i}"), "reason": "evidence"})),
        )
    });
    for (st, v) in join_all(holds).await {
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    assert_eq!(w.store.holds().unwrap().len(), 10, "holds were lost");
}

/// F8: `end - start` on caller-supplied microseconds overflowed (a panic and 500 in debug; in
/// release it would wrap and pass the 24 h bound).
#[tokio::test]
async fn extreme_ranges_are_refused_not_overflowed() {
    let w = world();
    let inv = w.login("investigator").await;
    let (st, v) = w
        .call(
            Method::GET,
            &format!(
                "/api/cameras/{}/recordings?start={}&end={}&reason=x",
                w.cams[0],
                i64::MIN,
                i64::MAX
            ),
            &inv,
            None,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = w
        .call(
            Method::POST,
            "/api/requests",
            &inv,
            Some(json!({"cameras": [w.cams[1]], "start_us": i64::MIN, "end_us": i64::MAX, "reason": "x", "offence": "burglary", "case_number": "C-1"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

/// F14: a request racing a logout wrote the session row back, so the logged-out session
/// came back to life.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logged_out_session_stays_dead() {
    let w = world();
    for _ in 0..20 {
        w.clock.advance_secs(30); // a fresh TOTP step for each sign-in
        let s = w.login("viewer").await;
        let polls = (0..4).map(|_| send(&w.app, request(Method::GET, "/api/me", Some(&s), None)));
        let logout = send(&w.app, request(Method::POST, "/api/logout", Some(&s), None));
        let (_, (st, _, _)) = tokio::join!(join_all(polls), logout);
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _, _) = send(&w.app, request(Method::GET, "/api/me", Some(&s), None)).await;
        assert_eq!(
            st,
            StatusCode::UNAUTHORIZED,
            "the session came back after logout"
        );
    }
}

/// F10: five failed logins by anyone locked the account *and* ended its existing sessions, so
/// guessing was enough to sign a user out. A lock stops new sign-ins only.
#[tokio::test]
async fn a_lockout_does_not_sign_out_the_account_holder() {
    let w = world();
    let inv = w.login("investigator").await;
    for i in 0..5 {
        let (st, _, _) = login_attempt(&w, "investigator", &format!("guess {i}"), None).await;
        assert_ne!(st, StatusCode::OK);
    }
    assert!(
        w.store
            .user("investigator")
            .unwrap()
            .unwrap()
            .locked_until_us
            > T0
    );
    let (st, v) = w.call(Method::GET, "/api/me", &inv, None).await;
    assert_eq!(st, StatusCode::OK, "the lock signed the holder out: {v}");
    w.clock.advance_secs(30);
    let (st, _, _) = login_attempt(&w, "investigator", PASSWORD, w.code("investigator")).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a locked account still signs in"
    );
    assert_eq!(w.last_audit().event.rule, "account-locked");
}

/// F5/F15: a supervisor could file a request and grant it exigent themselves, overriding the
/// partner's consent alone. An exigent grant now needs a second supervisor.
#[tokio::test]
async fn an_exigent_grant_needs_a_second_supervisor() {
    let mut w = world();
    w.add_user("supervisor2", vms_storage::Role::Supervisor);
    let sup = w.login("supervisor").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/requests",
            &sup,
            Some(json!({"cameras": [w.cams[1]], "start_us": T0 - 3_600_000_000i64, "end_us": T0, "reason": "robbery in progress nearby", "offence": "robbery", "case_number": "C-9"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_u64().unwrap();
    let grant = json!({"justification": "armed suspect fled toward this camera minutes ago"});
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{id}/exigent"),
            &sup,
            Some(grant.clone()),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "self-granted exigent access: {v}"
    );
    assert_eq!(
        w.last_audit().event.rule,
        "exigent-needs-another-supervisor"
    );

    let other = w.login("supervisor2").await;
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{id}/exigent"),
            &other,
            Some(grant),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["exigent"], true);
}

/// C4: an export could cite any request id as its legal basis, even one that was never
/// granted or names other cameras.
#[tokio::test]
async fn an_export_cites_only_a_request_that_grants_it() {
    let w = world();
    let inv = w.login("investigator").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/requests",
            &inv,
            Some(json!({"cameras": [w.cams[1]], "start_us": T0 - 3_600_000_000i64, "end_us": T0, "reason": "burglary next door", "offence": "burglary", "case_number": "C-4"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let pending = v["id"].as_u64().unwrap();
    let (st, v) = w
        .call(
            Method::POST,
            "/api/exports",
            &inv,
            Some(json!({"cameras": [w.cams[0]], "start_us": T0 - 60_000_000, "end_us": T0, "case_number": "C-4", "reason": "evidence", "request_id": pending})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::BAD_REQUEST,
        "cited a request that grants nothing: {v}"
    );
    assert!(w.store.exports().unwrap().is_empty());
}

/// F22: any partner could list every legal hold on its cameras, with case number and reason,
/// at any time by pausing. A partner learns of holds only when leaving, as ids and ranges.
#[tokio::test]
async fn partners_see_hold_ranges_only_and_only_when_leaving() {
    let w = world();
    let sup = w.login("supervisor").await;
    let (st, v) = w
        .call(Method::POST, "/api/holds", &sup, Some(json!({"camera": w.cams[0], "start_us": T0 - 1_000_000, "end_us": T0, "case_number": "C-SECRET-77", "reason": "suspect identified as neighbour"})))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let p1 = w.login("partner1").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/partner/status",
            &p1,
            Some(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["legal_holds"].as_array().unwrap().len(), 0, "{v}");
    let (st, v) = w
        .call(
            Method::POST,
            "/api/partner/status",
            &p1,
            Some(json!({"status": "left"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["legal_holds"].as_array().unwrap().len(), 1, "{v}");
    let text = v.to_string();
    assert!(
        !text.contains("C-SECRET-77") && !text.contains("neighbour"),
        "a hold's case and reason reached the partner: {text}"
    );
}

/// C2: the UI's 3 s polling counted as activity, so an open tab never idled out, and an
/// active session never ended. Background refreshes no longer count; a session ends 12 h after
/// sign-in however active.
#[tokio::test]
async fn sessions_idle_out_despite_polling_and_end_after_twelve_hours() {
    let w = world();
    let poll = |s: &Session| {
        let mut r = request(Method::GET, "/api/cameras", Some(s), None);
        r.headers_mut().insert(
            "x-vms-background",
            axum::http::HeaderValue::from_static("1"),
        );
        send(&w.app, r)
    };
    let s = w.login("viewer").await;
    w.clock.advance_secs(20 * 60);
    assert_eq!(poll(&s).await.0, StatusCode::OK);
    w.clock.advance_secs(15 * 60);
    assert_eq!(
        poll(&s).await.0,
        StatusCode::UNAUTHORIZED,
        "polling kept an unused session alive"
    );

    w.clock.advance_secs(30);
    let s = w.login("viewer").await;
    for _ in 0..28 {
        w.clock.advance_secs(25 * 60);
        let (st, v) = w.call(Method::GET, "/api/me", &s, None).await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    w.clock.advance_secs(25 * 60); // 12 h 5 min after sign-in
    let (st, _, _) = send(&w.app, request(Method::GET, "/api/me", Some(&s), None)).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a session outlived its 12 h lifetime"
    );
}

/// F21: a partner row was committed before its user's password and name were checked, so
/// every refused sign-up left an orphan partner (counted in the public report).
#[tokio::test]
async fn a_refused_partner_account_leaves_no_partner_behind() {
    let w = world();
    let admin = w.login("admin").await;
    let before = w.store.partners().unwrap().len();
    for (username, password) in [("newshop", "short"), ("Bad Name!", PASSWORD)] {
        let (st, v) = w
            .call(
                Method::POST,
                "/api/partners",
                &admin,
                Some(
                    json!({"contact_name": "New Shop", "username": username, "password": password}),
                ),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{username}: {v}");
    }
    assert_eq!(
        w.store.partners().unwrap().len(),
        before,
        "orphan partner rows"
    );
    let (st, v) = w
        .call(
            Method::POST,
            "/api/partners",
            &admin,
            Some(json!({"contact_name": "New Shop", "username": "newshop", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let user = w.store.user("newshop").unwrap().unwrap();
    assert_eq!(user.partner, Some(before as u64 + 1));
}

/// C5: reading partner contacts, accounts, holds and the audit log itself is on the record,
/// and lifting a hold records the camera and range it stopped protecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_reads_and_hold_lifts_are_audited() {
    let w = world();
    let admin = w.login("admin").await;
    let sup = w.login("supervisor").await;
    for (session, path, action) in [
        (&admin, "/api/partners", "partners.read"),
        (&admin, "/api/users", "users.read"),
        (&sup, "/api/holds", "holds.read"),
        (&sup, "/api/audit?user=investigator", "audit.read"),
    ] {
        let (st, v) = w.call(Method::GET, path, session, None).await;
        assert_eq!(st, StatusCode::OK, "{path}: {v}");
        let ev = w.last_audit();
        assert_eq!(ev.event.action, action, "{path}");
        assert_eq!(ev.event.outcome, "ok");
        let who = if std::ptr::eq(session, &admin) {
            "admin"
        } else {
            "supervisor"
        };
        assert_eq!(ev.event.actor, who);
    }

    let (st, v) = w
        .call(
            Method::POST,
            "/api/holds",
            &sup,
            Some(json!({"camera": w.cams[1], "start_us": T0 - 5_000_000, "end_us": T0, "case_number": "C-9", "reason": "evidence"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_u64().unwrap();
    // A hold is lifted only for a stated reason (issue 16): without one it stays.
    let (st, v) = w
        .call(Method::DELETE, &format!("/api/holds/{id}"), &sup, None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(w.store.holds().unwrap().len(), 1);
    let (st, v) = w
        .call(
            Method::DELETE,
            &format!("/api/holds/{id}?reason=case%20closed"),
            &sup,
            None,
        )
        .await;
    assert!(st.is_success(), "{st} {v}");
    assert!(w.store.holds().unwrap().is_empty());
    let ev = w.last_audit();
    assert_eq!(ev.event.action, "hold.lift");
    assert_eq!(ev.event.reason.as_deref(), Some("case closed"));
    assert!(
        ev.event.detail.ends_with("placed for: case C-9: evidence"),
        "{}",
        ev.event.detail
    );
    assert_eq!(ev.event.camera, Some(w.cams[1]));
    assert_eq!(ev.event.range, Some((T0 - 5_000_000, T0)));
}

/// F20: a socket that never sends a request is closed after the header-read timeout, and past
/// the connection cap new sockets are closed at once, while a real request still gets through
/// once the idle ones are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_closed_and_connections_are_capped() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let w = world_with(|s| {
        s.server = vms_web::server::ServerLimits {
            header_read_timeout: Duration::from_millis(800),
            max_connections: 3,
        };
    });
    let (addr, _server) = vms_web::serve(
        "127.0.0.1:0".parse().unwrap(),
        w.state.clone(),
        std::future::pending(),
    )
    .await
    .unwrap();
    /// Reads until the server closes the socket; how long that took.
    async fn closed_within(s: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(limit, s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => {}
                Err(_) => return None,
            }
        }
    }

    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Give the server a moment to accept all three, then the fourth is over the cap.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = over
        .write_all(b"GET /api/transparency HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let took = closed_within(&mut over, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_millis(700)),
        "over the cap: {took:?}"
    );

    // A byte of a request line, then nothing: still the header timeout.
    idle[0].write_all(b"G").await.unwrap();
    for s in &mut idle {
        let took = closed_within(s, Duration::from_secs(5)).await;
        assert!(took.is_some(), "an idle socket was held open");
    }

    // The server frees a slot just after closing its socket: allow it a moment.
    let mut head = String::new();
    for _ in 0..10 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut body = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut body))
            .await
            .unwrap()
            .unwrap();
        head = String::from_utf8_lossy(&body).into_owned();
        if !head.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// A loopback "internal service" for F3: answers every connection with an HTTP 500 carrying a
/// secret, and counts connections.
async fn internal_service() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "SECRET-INTERNAL-TOKEN admin console";
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 500 Oops\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (port, hits)
}

/// F3: a partner cannot make the server connect to loopback, link-local or private hosts
/// (probe or enrollment), never reads another service's reply back, and cannot probe without
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_addresses_cannot_reach_internal_hosts() {
    use std::sync::atomic::Ordering::SeqCst;
    let (port, hits) = internal_service().await;

    // Production rules: loopback, link-local and private destinations are refused.
    let w = world_with(|s| s.destinations = vms_ingest::destinations::Destinations::default());
    let p = w.login("partner1").await;
    for address in [
        format!("127.0.0.1:{port}"),
        format!("http://localhost:{port}/onvif/device_service"),
        "169.254.169.254".to_owned(),
        "10.0.0.1:80".to_owned(),
        "[::1]:80".to_owned(),
    ] {
        let (st, v) = w
            .call(
                Method::POST,
                "/api/onvif/probe",
                &p,
                Some(json!({"address": address})),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{address}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("not allowed"),
            "{address}: {v}"
        );
    }
    for body in [
        json!({"name": "a", "rtsp_url": format!("rtsp://127.0.0.1:{port}/x"), "sharing": "live"}),
        json!({"name": "b", "onvif_address": "169.254.169.254", "sharing": "live"}),
        json!({"name": "c", "rtsp_url": "rtsp://192.168.1.20/stream", "sharing": "live"}),
    ] {
        let (st, v) = w
            .call(Method::POST, "/api/cameras", &p, Some(body.clone()))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains("not allowed"), "{v}");
    }
    assert_eq!(
        hits.load(SeqCst),
        0,
        "the server connected to an internal host"
    );

    // Where loopback is allowed (the tests' cameras live there), a non-camera's answer is
    // never echoed, and probing is rate-limited.
    let w = world();
    let p = w.login("partner1").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/onvif/probe",
            &p,
            Some(json!({"address": format!("127.0.0.1:{port}")})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(hits.load(SeqCst) >= 1);
    let text = v.to_string();
    assert!(!text.contains("SECRET") && !text.contains("500"), "{text}");
    assert_eq!(v["error"], "no ONVIF device answered at this address");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (st, _) = w
            .call(
                Method::POST,
                "/api/onvif/probe",
                &p,
                Some(json!({"address": format!("127.0.0.1:{port}")})),
            )
            .await;
        statuses.push(st);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        3,
        "10 probes a minute: {statuses:?}"
    );
}

/// F11: a sign-in flood runs at most `max_hashing` password checks at once (each ~19 MiB), turns
/// the overflow away at once instead of queueing it on blocking threads, and each account name
/// takes a bounded number of attempts a minute, existing or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_flood_is_bounded() {
    let w = world_with(|s| {
        s.login = vms_program::login_guard::LoginLimits {
            max_hashing: 2,
            max_waiting: 4,
            per_account_per_minute: 1000,
            per_source_per_minute: 0,
        };
    });
    let attempts = (0..40).map(|i| login_attempt(&w, &format!("nobody{i}"), "guess", None));
    let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(|r| r.0).collect();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let denied = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(busy + denied, 40, "{statuses:?}");
    assert!(busy >= 30, "the overflow is turned away: {statuses:?}");
    assert!(w.state.login_guard.peak_hashing() <= 2);

    // Per account name, whether it exists or not: 10 a minute, then 429 for both alike.
    let w = world_with(|s| s.login = vms_program::login_guard::LoginLimits::default());
    for user in ["ghost", "viewer"] {
        let mut got = Vec::new();
        for _ in 0..12 {
            got.push(login_attempt(&w, user, "wrong", None).await.0);
        }
        assert_eq!(
            got.iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count(),
            2,
            "{user}: {got:?}"
        );
    }
    // A new minute, a new budget.
    w.clock.advance_secs(60);
    let (st, _, _) = login_attempt(&w, "ghost", "wrong", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// F18: a wrong name, a wrong password, a right password without the code, a disabled and a
/// locked account all get the same status and the same words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sign_ins_all_look_alike() {
    let w = world();
    let mut answers = Vec::new();
    answers.push(login_attempt(&w, "no-such-user", PASSWORD, None).await);
    answers.push(login_attempt(&w, "supervisor", "wrong password", w.code("supervisor")).await);
    answers.push(login_attempt(&w, "supervisor", PASSWORD, None).await);
    w.store
        .update_user("viewer", |u| {
            u.disabled = true;
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap()
        .unwrap();
    answers.push(login_attempt(&w, "viewer", PASSWORD, w.code("viewer")).await);
    w.store
        .update_user("investigator", |u| {
            u.locked_until_us = T0 + 60_000_000;
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap()
        .unwrap();
    answers.push(login_attempt(&w, "investigator", PASSWORD, w.code("investigator")).await);
    let first = (&answers[0].0, &answers[0].1);
    assert_eq!(*first.0, StatusCode::UNAUTHORIZED);
    for (i, (st, body, _)) in answers.iter().enumerate() {
        assert_eq!((st, body), first, "answer {i} differs");
    }
}

/// F9: a partner who starts sharing an on-request camera live did not thereby open what was
/// recorded while it was on-request: that footage still needs an approved request, also in a
/// range that spans the switch; what is recorded after the switch is live footage. Tightening
/// the terms covers the past too (consent withdrawn).
#[tokio::test]
async fn footage_keeps_the_terms_it_was_recorded_under() {
    let w = world();
    let cam = w.cams[1];
    const MIN: i64 = 60_000_000;
    w.clock.advance_secs(60 * 60);
    let switched = T0 + 60 * MIN;
    let patch = |sharing: &'static str| {
        let w = &w;
        async move {
            let p1 = w.login("partner1").await;
            let (st, v) = w
                .call(
                    Method::PATCH,
                    &format!("/api/cameras/{cam}"),
                    &p1,
                    Some(json!({ "sharing": sharing })),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    };
    patch("live").await;
    w.clock.advance_secs(60 * 60);
    let inv = w.login("investigator").await;
    let timeline = |start: i64, end: i64| {
        let inv = inv.clone();
        let w = &w;
        async move {
            let path =
                format!("/api/cameras/{cam}/recordings?start={start}&end={end}&reason=canvass");
            w.call(Method::GET, &path, &inv, None).await.0
        }
    };
    assert_eq!(
        timeline(T0 + MIN, T0 + 10 * MIN).await,
        StatusCode::FORBIDDEN,
        "recorded while on-request"
    );
    assert_eq!(
        timeline(switched - 10 * MIN, switched + 10 * MIN).await,
        StatusCode::FORBIDDEN,
        "spans the switch"
    );
    assert_eq!(
        timeline(switched + MIN, switched + 10 * MIN).await,
        StatusCode::OK,
        "recorded after the switch"
    );
    // Back to on-request: what was recorded while live is closed again.
    patch("on-request").await;
    assert_eq!(
        timeline(switched + MIN, switched + 10 * MIN).await,
        StatusCode::FORBIDDEN,
        "consent withdrawn"
    );
}

/// F15: a request for footage its partner already refused is shown with the denial it follows
/// — to the partner deciding it and to a supervisor asked for exigent access — and a request
/// for other footage is not.
#[tokio::test]
async fn a_request_after_a_denial_is_shown_with_it() {
    let mut w = world();
    w.add_user("investigator2", vms_storage::Role::Investigator);
    let cam = w.cams[1];
    const H: i64 = 3_600_000_000;
    w.clock.advance_secs(24 * 3600);
    let inv = w.login("investigator").await;
    let file = |start: i64, end: i64| {
        let inv = inv.clone();
        let w = &w;
        async move {
            let (st, v) = w
                .call(
                    Method::POST,
                    "/api/requests",
                    &inv,
                    Some(json!({"cameras": [cam], "start_us": start, "end_us": end,
                        "case_number": "C-15", "offence": "burglary", "reason": "canvass"})),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            v["id"].as_u64().unwrap()
        }
    };
    let first = file(T0 + H, T0 + 3 * H).await;
    let p1 = w.login("partner1").await;
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/requests/{first}/decision"),
            &p1,
            Some(json!({"approve": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let again = file(T0 + 2 * H, T0 + 4 * H).await;
    let other = file(T0 + 5 * H, T0 + 6 * H).await;
    for who in ["partner1", "supervisor"] {
        let s = w.login(who).await;
        let (st, list) = w.call(Method::GET, "/api/requests", &s, None).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let earlier = |id: u64| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .map(|r| r["earlier_denied"].clone())
        };
        assert_eq!(earlier(again), Some(json!([first])), "{who}: {list}");
        assert_eq!(earlier(other), Some(json!([])), "{who}: {list}");
        assert_eq!(earlier(first), Some(json!([])), "{who}: {list}");
    }
    // Another investigator asking for the same footage is not told about this investigation.
    let inv2 = w.login("investigator2").await;
    let (st, v) = w
        .call(
            Method::POST,
            "/api/requests",
            &inv2,
            Some(
                json!({"cameras": [cam], "start_us": T0 + 2 * H, "end_us": T0 + 3 * H,
                "case_number": "C-16", "offence": "theft", "reason": "canvass"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["earlier_denied"], json!([]), "{v}");
    let p1 = w.login("partner1").await;
    let (_, list) = w.call(Method::GET, "/api/requests", &p1, None).await;
    let theirs = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == v["id"])
        .cloned();
    assert_eq!(
        theirs.map(|r| r["earlier_denied"].clone()),
        Some(json!([first])),
        "the partner, who saw both, is: {list}"
    );
}

/// The secret bytes behind an enrolment answer's base32 text.
fn enrolment_secret(v: &serde_json::Value) -> Vec<u8> {
    let b32 = v["enrol"]["secret"].as_str().unwrap();
    assert!(
        v["enrol"]["otpauth_uri"]
            .as_str()
            .unwrap()
            .contains(&format!("secret={b32}")),
        "{v}"
    );
    data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap()
}

/// F5: an administrator creating a supervisor received its TOTP URI, so one person held both
/// factors of an account that reaches video. Now the creator gets no second factor; the
/// owner, with the password they were given, enrols one at first sign-in and must choose a
/// password of their own in the same step, after which the creator's password is useless.
#[tokio::test]
async fn a_new_accounts_owner_enrols_its_second_factor() {
    let w = world();
    let admin = w.login("admin").await;
    let given = "initial password 1";
    let (st, v) = w
        .call(
            Method::POST,
            "/api/users",
            &admin,
            Some(json!({"username": "sgt-ng", "role": "supervisor", "password": given})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert!(
        !v.to_string().contains("otpauth"),
        "the creator got a second factor: {v}"
    );
    assert_eq!(v["awaits_second_factor"], true);
    assert!(
        w.store
            .user("sgt-ng")
            .unwrap()
            .unwrap()
            .totp_secret
            .is_none()
    );

    // The right password earns a secret to enrol, and no session.
    let (st, first, headers) = login_attempt(&w, "sgt-ng", given, None).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    assert!(headers.get(axum::http::header::SET_COOKIE).is_none());
    assert!(first["csrf"].is_null(), "{first}");
    let secret = enrolment_secret(&first);
    // Asked again (a reload), the same pending secret is shown.
    let (_, again, _) = login_attempt(&w, "sgt-ng", given, None).await;
    assert_eq!(enrolment_secret(&again), secret);
    // A wrong password earns nothing.
    let (st, _, _) = login_attempt(&w, "sgt-ng", "wrong password 12", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    let code = vms_program::auth::totp(&secret, T0 / 1_000_000);
    let finish = |code: &str, new_password: &str| {
        send(
            &w.app,
            request(
                Method::POST,
                "/api/login",
                None,
                Some(
                    json!({"username": "sgt-ng", "password": given, "totp": code, "new_password": new_password}),
                ),
            ),
        )
    };
    // The given password cannot be kept, and a weak one is refused with its reason.
    let (st, v, _) = finish(&code, given).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v, _) = finish(&code, "short").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("12 characters"),
        "{v}"
    );
    // A code from another secret fails and counts as a failed sign-in (as the wrong
    // password above did).
    let (st, _, _) = finish("000000", "my own password 1").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(w.store.user("sgt-ng").unwrap().unwrap().failed_logins, 2);

    let (st, v, headers) = finish(&code, "my own password 1").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(headers.get(axum::http::header::SET_COOKIE).is_some());
    assert_eq!(v["mfa"], true, "{v}");
    assert_eq!(w.last_audit().event.rule, "second-factor-enrolled");
    let u = w.store.user("sgt-ng").unwrap().unwrap();
    assert!(u.totp_secret.is_some() && u.totp_pending.is_none());

    // The creator's password no longer opens anything; the owner's does, with a code.
    w.clock.advance_secs(30);
    let now = T0 / 1_000_000 + 30;
    let (st, v, _) = login_attempt(&w, "sgt-ng", given, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    let code = vms_program::auth::totp(&secret, now);
    let (st, v, _) = login_attempt(&w, "sgt-ng", "my own password 1", Some(code)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["mfa"], true, "{v}");

    // A lost phone: the administrator resets the factor, and the owner enrols a new one.
    let (st, v) = w
        .call(
            Method::PATCH,
            "/api/users/sgt-ng",
            &admin,
            Some(json!({"reset_second_factor": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["awaits_second_factor"], true);
    let (st, v, _) = login_attempt(&w, "sgt-ng", "my own password 1", None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_ne!(enrolment_secret(&v), secret, "a reset makes a new secret");
}
