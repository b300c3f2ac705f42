//! Owners told about an area request by email, through a real SMTP server (aiosmtpd, run by the
//! test on 127.0.0.1) that the test reads back: the canvass is sent while the server is down
//! (nothing is lost: each owner's email waits, the progress shows the failures), the server
//! comes up and one message per owner goes out with a working submission link and nothing
//! the owner should not see; an address the server refuses is marked failed, not retried; a
//! reminder goes out before the owner's recorder drops the window; an owner who opts out gets
//! no more email.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::smtp::{SmtpPeer, messages};
use common::tus::go;
use common::*;
use serde_json::{Value, json};
use vms_web::mailer::{MailSettings, MailTls};

const LAT: f64 = 45.5231;
const LON: f64 = -122.6765;
const DEG_PER_M: f64 = 1.0 / 111_195.0;

/// The canvass's progress once `ready` holds (the mailer works in the background), within
/// 20 s; the mailer is woken each round.
async fn progress_when(w: &World, s: &Session, id: u64, ready: impl Fn(&Value) -> bool) -> Value {
    let mut p = Value::Null;
    for _ in 0..200 {
        w.state.mail_due.notify_one();
        let (st, v) = w
            .call(Method::GET, &format!("/api/canvasses/{id}"), s, None)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        p = v;
        if ready(&p) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("canvass {id} not as expected within 20 s: {p:#}");
}

/// Email through the test's SMTP peer on `port` (plain SMTP: loopback).
fn loopback_mail(port: u16) -> MailSettings {
    MailSettings {
        host: "127.0.0.1".into(),
        port,
        tls: MailTls::None,
        username: None,
        password: None,
        from: "Camera program <cameras@police.example.org>".into(),
        public_url: "https://vms.police.example.org".into(),
    }
}

fn owner<'a>(p: &'a Value, pseudonym: &str) -> &'a Value {
    p["per_owner"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == pseudonym)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_emailed_through_a_real_smtp_server_that_was_down_at_first() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = world_with(|s| {
        s.mail = Some(loopback_mail(port));
    });
    for (id, email) in [(1u64, "owner1@example.org"), (2, "bounce@example.org")] {
        let mut p = w.store.partner(id).unwrap().unwrap();
        p.contact_email = email.into();
        w.store.put_partner(&p).unwrap();
    }
    let _server = serve(&w.state).await;
    // Each partner registers a doorbell near the scene; partner 1's recorder keeps 3 days.
    for (who, north, keeps) in [("partner1", -20.0, 3), ("partner2", 30.0, 30)] {
        let s = w.login(who).await;
        let (st, v) = w
            .call(
                Method::POST,
                "/api/cameras",
                &s,
                Some(json!({"name": "doorbell", "sharing": "registry", "lat": LAT + north * DEG_PER_M,
                    "lon": LON, "kind": "doorbell", "owner_keeps_days": keeps})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }

    // Sent while the SMTP server is down: both emails wait and say why.
    let inv = w.login("investigator").await;
    let hour = 3_600_000_000i64;
    let (st, sent) = w
        .call(
            Method::POST,
            "/api/canvasses",
            &inv,
            Some(
                json!({"lat": LAT, "lon": LON, "radius_m": 200, "start_us": T0 - hour,
                "end_us": T0, "case_number": "2026-0301", "offence": "robbery",
                "reason": "a robbery at the corner shop at 23:40"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sent}");
    let id = sent["id"].as_u64().unwrap();
    let p = progress_when(&w, &inv, id, |p| p["delivery_problems"] == 2).await;
    for o in p["per_owner"].as_array().unwrap() {
        assert_eq!(o["email"], "queued", "{o}");
        assert!(
            o["email_detail"].as_str().unwrap().contains("retrying"),
            "{o}"
        );
    }

    // The server comes up; the retry falls due (the clock moves past the backoff).
    let maildir = tempfile::tempdir().unwrap();
    let peer = SmtpPeer::start(port, maildir.path());
    w.clock.advance_secs(120);
    let p = progress_when(&w, &inv, id, |p| {
        owner(p, "P-0001")["email"] == "sent" && owner(p, "P-0002")["email"] == "failed"
    })
    .await;
    assert_eq!(p["notified"], 1);
    let refused = owner(&p, "P-0002")["email_detail"].as_str().unwrap();
    assert!(
        refused.contains("refused the address"),
        "the refusal is shown: {p}"
    );
    // ... in the system's words: a server's answer often repeats the owner's address.
    assert!(
        !refused.contains("bounce@") && !refused.contains("550"),
        "{refused}"
    );
    let mail = messages(maildir.path());
    assert_eq!(
        mail.len(),
        1,
        "one message, to the owner whose address works"
    );
    let m = &mail[0];
    assert!(m.contains("To: owner1@example.org"), "{m}");
    assert!(m.contains("<cameras@police.example.org>"), "{m}");
    assert!(m.contains("2026-0301") && m.contains("robbery"), "{m}");
    for secret in [
        "45.52",
        "122.67",
        "P-0002",
        "Partner 2",
        "bounce",
        "Secret Street",
    ] {
        assert!(!m.contains(secret), "{secret:?} in the message: {m}");
    }
    let token = common::smtp::token_after(m, "https://vms.police.example.org/submit#");

    // A refused address is not tried again.
    w.clock.advance_secs(7200);
    w.state.mail_due.notify_one();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A day later the window is two days from falling out of the owner's 3-day retention and
    // the request is unanswered: a reminder.
    w.clock.advance_secs(86_400);
    let inv = w.login("investigator").await;
    progress_when(&w, &inv, id, |_| messages(maildir.path()).len() == 2).await;
    let mail = messages(maildir.path());
    assert!(
        mail[1].contains("Subject: Reminder: Footage request, case 2026-0301"),
        "{}",
        mail[1]
    );
    assert!(mail[1].contains("To: owner1@example.org"));
    assert_eq!(
        mail.iter().filter(|m| m.contains("bounce@")).count(),
        0,
        "the refused address was not tried again"
    );

    // The emailed link opens the request's submission page.
    let (st, _, v) = go(
        &w.app,
        axum::http::Request::builder()
            .uri("/api/submission")
            .header("submission-token", &token)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["case_number"], "2026-0301", "{v}");
    let p = progress_when(&w, &inv, id, |p| p["opened"] == 1).await;
    assert_eq!(owner(&p, "P-0001")["opened"], true);

    // Partner 1 opts out: the next canvass reaches it through the portal only.
    let p1 = w.login("partner1").await;
    let (st, v) = w
        .call(
            Method::PUT,
            "/api/partner/notices",
            &p1,
            Some(json!({"email": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, me) = w.call(Method::GET, "/api/partner", &p1, None).await;
    assert_eq!(me["email_notices"], false);
    let now = T0 + 86_400_000_000 + 7_320_000_000;
    let (st, again) = w
        .call(
            Method::POST,
            "/api/canvasses",
            &inv,
            Some(
                json!({"lat": LAT, "lon": LON, "radius_m": 200, "start_us": now - hour,
                "end_us": now, "case_number": "2026-0302", "offence": "robbery",
                "reason": "the same robbers seen again"}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(owner(&again, "P-0001")["email"], "portal");

    let stats = &w.state.mail_stats;
    assert_eq!(stats.sent.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(stats.failed.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    drop(peer);
}

/// A resident signs up on the public page: refused without the terms, with old terms, a bad
/// address, a weak password or a taken username; an address the server refuses, or a server
/// that is down, is said at once; the link in the real email makes the partner (terms kept)
/// and its account, which signs in; the link works once; a flood from one address is cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_sign_up_and_confirm_their_address_through_a_real_smtp_server() {
    let port = common::smtp::free_port();
    let w = world_with(|s| {
        s.mail = Some(loopback_mail(port));
        s.signups_per_hour = 12;
    });
    let signup = |body: Value| {
        go(
            &w.app,
            common::request(Method::POST, "/api/signup", None, Some(body)),
        )
    };
    let (st, _, info) = go(
        &w.app,
        common::request(Method::GET, "/api/signup", None, None),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(info["available"], true);
    let good = json!({"contact_name": "Elm St Bakery", "contact_email": "Bakery@Example.org",
        "username": "elm-bakery", "password": "a long enough password", "address": "3 Elm St",
        "terms_version": info["terms_version"], "accept_terms": true});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    // The SMTP server is down: said at once, nothing made.
    let (st, _, v) = signup(good.clone()).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    let maildir = tempfile::tempdir().unwrap();
    let _peer = SmtpPeer::start(port, maildir.path());
    for (body, status) in [
        (with("accept_terms", json!(false)), StatusCode::BAD_REQUEST),
        (with("terms_version", json!("1999-1")), StatusCode::CONFLICT),
        (
            with("contact_email", json!("not an address")),
            StatusCode::BAD_REQUEST,
        ),
        (with("password", json!("short")), StatusCode::BAD_REQUEST),
        (
            with("username", json!("Elm Bakery!")),
            StatusCode::BAD_REQUEST,
        ),
        (
            with("contact_email", json!("bounce@example.org")),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
    ] {
        let (st, _, v) = signup(body.clone()).await;
        assert_eq!(st, status, "{body}: {v}");
    }
    // The department imported this owner earlier (no account): signing up joins its record.
    let imported = w
        .store
        .create_partner(vms_storage::PartnerRow {
            id: 0,
            pseudonym: "P-0042".into(),
            contact_name: String::new(),
            contact_email: "bakery@example.org".into(),
            contact_phone: String::new(),
            address: String::new(),
            terms_version: None,
            terms_accepted_us: None,
            status: vms_storage::PartnerStatus::Active,
            created_us: T0,
        })
        .unwrap();
    let (st, _, v) = signup(good.clone()).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["sent_to"], "bakery@example.org");
    assert!(
        w.store.user("elm-bakery").unwrap().is_none(),
        "nothing until verified"
    );
    let mail = messages(maildir.path());
    assert_eq!(mail.len(), 1);
    assert!(mail[0].contains("To: bakery@example.org"), "{}", mail[0]);
    assert!(!mail[0].contains("a long enough password"));
    let token = common::smtp::token_after(&mail[0], "https://vms.police.example.org/join#");
    let verify = |t: String| {
        go(
            &w.app,
            common::request(
                Method::POST,
                "/api/signup/verify",
                None,
                Some(json!({"token": t})),
            ),
        )
    };
    let (st, _, v) = verify("not-the-token".into()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, _, v) = verify(token.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let pseudonym = v["pseudonym"].as_str().unwrap().to_owned();
    assert_eq!(
        pseudonym, "P-0042",
        "the imported owner's record, not a second owner"
    );
    assert_eq!(
        w.store
            .partners()
            .unwrap()
            .iter()
            .filter(|p| p.contact_email == "bakery@example.org")
            .count(),
        1
    );
    let _ = imported;
    let (st, _, _) = verify(token).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a link works once");
    let p = w
        .store
        .partners()
        .unwrap()
        .into_iter()
        .find(|p| p.pseudonym == pseudonym)
        .unwrap();
    assert_eq!(p.contact_email, "bakery@example.org");
    assert_eq!(p.terms_version.as_deref(), info["terms_version"].as_str());
    assert!(p.terms_accepted_us.is_some());
    // The account signs in (a partner: no second factor) and sees its own account.
    let (st, v, _) = send(
        &w.app,
        common::request(
            Method::POST,
            "/api/login",
            None,
            Some(json!({"username": "elm-bakery", "password": "a long enough password"})),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // A taken name is not told to the public form (it would say which accounts exist), only
    // to whoever verified the address.
    let (st, _, v) = signup(
        json!({"contact_name": "Someone", "contact_email": "someone@example.org",
        "username": "admin", "password": "another long password",
        "terms_version": info["terms_version"], "accept_terms": true}),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let mail = messages(maildir.path());
    let token =
        common::smtp::token_after(mail.last().unwrap(), "https://vms.police.example.org/join#");
    let (st, _, v) = verify(token).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("taken"), "{v}");

    // A flood from one address: the budget (12 an hour here) is spent.
    let mut last = StatusCode::OK;
    for i in 0..12 {
        let (st, _, _) = signup(with("username", json!(format!("flood-{i}")))).await;
        last = st;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}
