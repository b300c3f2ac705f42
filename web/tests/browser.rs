//! The web UI in real headless Chromium (Debian's `chromium` driven through `chromedriver`):
//! a partner signs in and approves a footage request; an investigator signs in with a TOTP code
//! and sees the camera list. The server is the real router on a real loopback socket.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::browser::sign_in;
use fantoccini::Locator;
use serde_json::json;
use vms_program::auth::{self, totp};
use vms_storage::{
    CameraInfo, CameraSource, PartnerRow, PartnerStatus, RequestRow, RequestStatus, Role,
    SecretBox, SharingMode, Store, StoreOptions,
};
use vms_testkit::browser::start_browser;
use vms_web::{AppState, Settings};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_approves_a_request_and_investigator_signs_in_with_totp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let secrets = Arc::new(SecretBox::new(&[3; 32]));
    let now = store.clock().now_utc_micros();
    let p = store
        .create_partner(PartnerRow {
            id: 0,
            pseudonym: "P-0001".into(),
            contact_name: "Bakery".into(),
            contact_email: String::new(),
            contact_phone: String::new(),
            address: "1 Main St".into(),
            terms_version: Some("2026-1".into()),
            terms_accepted_us: Some(now),
            status: PartnerStatus::Active,
            created_us: now,
        })
        .unwrap();
    let cam = store
        .enroll_camera(CameraInfo {
            id: 0,
            name: "back-door".into(),
            partner: p.id,
            source: CameraSource::Rtsp {
                url: "rtsp://127.0.0.1:9/x".into(),
            },
            credentials: None,
            sharing: SharingMode::OnRequest,
            retention_days: 30,
            address: "alley behind 1 Main St".into(),
            placed: None,
            kind: None,
            owner_keeps_days: None,
            paused: false,
            masks: vec![],
            created_us: now,
        })
        .unwrap();
    // Refused once already: the new request for the same footage must say so (issue 22 F15).
    let denied = store
        .create_request(RequestRow {
            id: 0,
            investigator: "investigator".into(),
            cameras: vec![cam.id],
            start_us: now - 3_600_000_000,
            end_us: now - 1_800_000_000,
            case_number: "2026-004211".into(),
            offence: "burglary".into(),
            reason: "first ask".into(),
            status: RequestStatus::Denied,
            decided_by: Some("bakery".into()),
            decided_us: Some(now),
            decision_note: None,
            created_us: now,
        })
        .unwrap();
    let req = store
        .create_request(RequestRow {
            id: 0,
            investigator: "investigator".into(),
            cameras: vec![cam.id],
            start_us: now - 3_600_000_000,
            end_us: now,
            case_number: "2026-004211".into(),
            offence: "burglary".into(),
            reason: "break-in reported at 02:10".into(),
            status: RequestStatus::Pending,
            decided_by: None,
            decided_us: None,
            decision_note: None,
            created_us: now,
        })
        .unwrap();
    // Stores an account; returns its TOTP secret when it was given one.
    let add = |name: &str, role: Role, partner: Option<u64>, with_totp: bool| {
        let (row, totp) =
            auth::new_user(name, role, partner, PASSWORD, with_totp, &secrets, now).unwrap();
        store.put_user(&row).unwrap();
        totp.map(|t| t.0)
    };
    add("bakery", Role::Partner, Some(p.id), false);
    let inv_secret = add("investigator", Role::Investigator, None, true).unwrap();
    // An account whose owner has yet to enrol a second factor (issue 22 F5).
    add("sgt-new", Role::Supervisor, None, false);

    let state = AppState::new(
        store.clone(),
        secrets,
        Settings {
            secure_cookie: false,
            ..Settings::default()
        },
    );
    let (addr, _server) = vms_web::serve(
        "127.0.0.1:0".parse().unwrap(),
        state,
        std::future::pending(),
    )
    .await
    .unwrap();

    let (_driver, c, _profile) = start_browser(&[]).await;
    let base = format!("http://{addr}/");
    let run = async {
        // Partner: sign in (no second factor for partners), approve the pending request.
        sign_in(&c, &base, "bakery", None).await?;
        // A partner starts on its cameras; the requests are one link away in the navigation.
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("nav a[href='/portal/requests']"))
            .await?
            .click()
            .await?;
        // The page re-renders its lists every few seconds: read and click inside one script so
        // no element goes stale between finding it and using it.
        let js = |script: &'static str| c.execute(script, vec![]);
        let mut row = serde_json::Value::Null;
        for _ in 0..100 {
            row = js("const b = document.querySelector('#partner-requests button.approve'); \
                      if (!b) return null; const t = b.closest('tr').textContent; b.click(); return t;")
            .await?;
            if !row.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let row = row.as_str().unwrap_or_default().to_owned();
        assert!(
            row.contains("2026-004211") && row.contains("pending"),
            "{row}"
        );
        assert!(
            row.contains(&format!("follows denied request #{}", denied.id)),
            "the partner sees that this footage was refused before: {row}"
        );
        for _ in 0..100 {
            let status = js(
                "const s = document.querySelector('#partner-requests td.status'); \
                             return s ? s.textContent : null;",
            )
            .await?;
            if status.as_str().is_some_and(|s| s.starts_with("approved")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let png = c.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("vms-partner-portal.png"), png).ok();
        // Investigator: a wrong code is refused, the right one works.
        sign_out_and_type(&c, "investigator", PASSWORD).await?;
        c.find(Locator::Id("totp"))
            .await?
            .send_keys("000000")
            .await?;
        c.find(Locator::Id("login-button")).await?.click().await?;
        // The refusal takes a password hash to come back: wait for it (a loaded machine is
        // slow), rather than for a fixed time.
        let mut err = String::new();
        for _ in 0..100 {
            err = c.find(Locator::Id("login-error")).await?.text().await?;
            if !err.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(err.starts_with("sign-in refused"), "{err}");
        let code = totp(
            &inv_secret,
            vms_storage::clock::system_now_micros() / 1_000_000,
        );
        let pw = c.find(Locator::Id("password")).await?;
        pw.clear().await?;
        pw.send_keys(PASSWORD).await?;
        let t = c.find(Locator::Id("totp")).await?;
        t.clear().await?;
        t.send_keys(&code).await?;
        c.find(Locator::Id("login-button")).await?.click().await?;
        // An investigator starts on Cases; the camera list is in the navigation.
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("nav a[href='/cameras']"))
            .await?
            .click()
            .await?;
        let mut text = String::new();
        for _ in 0..100 {
            let t = js("const r = document.querySelector('#cameras tbody tr'); \
                        return r ? r.textContent : null;")
            .await?;
            if let Some(t) = t.as_str() {
                text = t.to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            text.contains("back-door") && text.contains("on-request"),
            "{text}"
        );

        // A new supervisor's first sign-in: the page shows a secret to enrol, the owner
        // answers with its code and a password of their own, by keyboard, and is signed in.
        sign_out_and_type(&c, "sgt-new", &format!("{PASSWORD}\u{E007}")).await?;
        let mut b32 = String::new();
        for _ in 0..100 {
            let t = js(
                "const e = document.querySelector('#enrol:not(.hidden) #enrol-secret'); \
                        return e ? e.textContent : null;",
            )
            .await?;
            if let Some(t) = t.as_str().filter(|t| !t.is_empty()) {
                b32 = t.to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let secret = data_encoding::BASE32_NOPAD
            .decode(b32.as_bytes())
            .unwrap_or_else(|e| panic!("enrolment secret {b32:?}: {e}"));
        let code = totp(&secret, vms_storage::clock::system_now_micros() / 1_000_000);
        c.find(Locator::Id("enrol-code"))
            .await?
            .send_keys(&code)
            .await?;
        c.find(Locator::Id("enrol-password"))
            .await?
            .send_keys("my own password 1")
            .await?;
        c.find(Locator::Id("enrol-password2"))
            .await?
            .send_keys("my own password 1\u{E007}")
            .await?;
        let mut who = String::new();
        for _ in 0..100 {
            who = c.find(Locator::Id("who")).await?.text().await?;
            if who.contains("sgt-new") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(who.contains("sgt-new (supervisor)"), "{who}");
        Ok::<_, fantoccini::error::CmdError>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(60), run).await;
    if !matches!(result, Ok(Ok(()))) {
        // Leave evidence for whoever reads the failure.
        if let Ok(png) = c.screenshot().await {
            let path = std::env::temp_dir().join("vms-browser-failure.png");
            std::fs::write(&path, png).ok();
            eprintln!("screenshot of the failing page: {}", path.display());
        }
        for id in ["login-error", "error"] {
            if let Ok(e) = c.find(Locator::Id(id)).await {
                eprintln!("#{id}: {:?}", e.text().await);
            }
        }
    }
    let _ = c.close().await;
    result
        .expect("browser steps timed out")
        .expect("browser steps");

    let r = store.request(req.id).unwrap().unwrap();
    assert_eq!(r.status, RequestStatus::Approved);
    assert_eq!(r.decided_by.as_deref(), Some("bakery"));
    let events = store
        .audit_search(&vms_storage::AuditFilter::default())
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event.action == "request.approve" && e.event.actor == "bakery")
    );
    assert!(events.iter().any(|e| e.event.action == "login"
        && e.event.actor == "investigator"
        && e.event.outcome == "ok"));
}

/// An investigator opens a deep link to a camera's day at a moment, gives the reason, and the
/// recording plays in the page's MP4 player from that moment to the end of its recorded span:
/// the video element decodes it (`readyState >= 2`), its duration is the span's rest (±1
/// frame), the timeline shows the one recorded span, and the clock shows the UTC time of the
/// frame on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn investigator_plays_back_a_recording() {
    let w = common::world();
    let b = common::T0 - 3_600_000_000;
    let times = common::record_clip(
        &w.store,
        w.cams[0],
        &[common::ClipRun {
            clip: vms_sim::Clip::builtin(),
            start_us: b,
            frames: 600,
        }],
        4,
    )
    .await;
    let frame_us = times[1] - times[0];
    let span_end = times[times.len() - 1] + frame_us;
    let at = b + 2_000_000;
    let addr = common::serve(&w.state).await;
    let (_driver, c, _profile) = start_browser(&[]).await;
    let code = w.code("investigator").unwrap();
    let run = async {
        let link = format!(
            "http://{addr}/recordings?cameras={cam}&at={at}",
            cam = w.cams[0]
        );
        sign_in(&c, &link, "investigator", Some(&code)).await?;
        // The link chose the camera, day and moment; it never supplies the reason.
        let reason = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#pb-reason"))
            .await?;
        assert_eq!(reason.prop("value").await?.unwrap_or_default(), "");
        reason.send_keys("browser test\u{E007}").await?;
        let mut state = serde_json::Value::Null;
        for _ in 0..150 {
            state = c
                .execute(
                    "const v = document.getElementById('player'); \
                     return { ready: v.readyState, duration: v.duration, \
                              error: v.error ? v.error.message || v.error.code : null, \
                              spans: document.querySelectorAll('.timeline .span').length };",
                    vec![],
                )
                .await?;
            if state["ready"].as_u64().unwrap_or(0) >= 2 || !state["error"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(state["error"].is_null(), "{state}");
        assert!(state["ready"].as_u64().unwrap_or(0) >= 2, "{state}");
        let duration = state["duration"].as_f64().unwrap_or(0.0);
        let want = (span_end - at) as f64 / 1e6;
        assert!(
            (duration - want).abs() <= 1.0 / 30.0 + 0.001,
            "{state} want {want}"
        );
        assert_eq!(state["spans"], 1, "{state}");
        // The frame on screen 5 s in is the one recorded at `at` + 5 s (UTC clock).
        c.execute(
            "const v = document.getElementById('player'); v.pause(); v.currentTime = 5; v.scrollIntoView();",
            vec![],
        )
        .await?;
        let want_clock = c
            .execute(
                "return new Date(arguments[0]).toISOString().replace('T', ' ').slice(0, 19);",
                vec![json!((at + 5_000_000) / 1000)],
            )
            .await?;
        let want_clock = want_clock.as_str().unwrap_or_default().to_owned();
        let clock = vms_testkit::browser::poll(
            &c,
            Duration::from_secs(10),
            "the UTC clock after seeking",
            "const t = document.getElementById('pb-clock').textContent; return t.includes(' UTC') ? t : null;",
        )
        .await?;
        assert!(
            clock.as_str().unwrap_or_default().starts_with(&want_clock),
            "{clock} want {want_clock}"
        );
        vms_testkit::browser::screenshot(&c, "browser", "recordings").await?;
        Ok::<_, fantoccini::error::CmdError>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(60), run).await;
    let _ = c.close().await;
    result
        .expect("browser steps timed out")
        .expect("browser steps");
    let ev = w
        .store
        .audit_search(&vms_storage::AuditFilter {
            actor: Some("investigator".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(
        ev.iter()
            .any(|e| e.event.action == "video.playback" && e.event.outcome == "allow")
    );
}

/// Signs out and types `username` and `password` (with `\u{E007}`, Enter, to submit) into the
/// sign-in form once it is back.
async fn sign_out_and_type(
    c: &fantoccini::Client,
    username: &str,
    password: &str,
) -> Result<(), fantoccini::error::CmdError> {
    c.find(Locator::Id("logout")).await?.click().await?;
    let user = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#login:not(.hidden) #username"))
        .await?;
    user.clear().await?;
    user.send_keys(username).await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    Ok(())
}

/// A session that idles out while a page is open: the next thing the user does shows the
/// sign-in prompt with the reason, and signing in returns to the same page (a deep link to a
/// case), not to the start page. Unknown paths and pages of other roles say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_asks_to_sign_in_and_returns_to_the_same_page() {
    let w = common::world();
    let addr = common::serve(&w.state).await;
    let (_driver, c, _profile) = start_browser(&[]).await;
    let page = format!("http://{addr}/cases/2026-000077");
    let run = async {
        sign_in(&c, &page, "supervisor", w.code("supervisor").as_deref()).await?;
        let title = vms_testkit::browser::poll(
            &c,
            Duration::from_secs(10),
            "the case page",
            "const t = document.getElementById('page-title'); return t ? t.textContent : null;",
        )
        .await?;
        assert_eq!(title, "Case 2026-000077");
        // Half an hour without a user's request (the page's own refreshes do not count).
        w.clock.advance_secs(31 * 60);
        c.find(Locator::Css("nav a[href='/audit']"))
            .await?
            .click()
            .await?;
        let msg = vms_testkit::browser::poll(
            &c,
            Duration::from_secs(10),
            "the sign-in prompt",
            "const l = document.querySelector('#login:not(.hidden)'); \
             return l ? document.getElementById('login-error').textContent : null;",
        )
        .await?;
        assert!(
            msg.as_str()
                .unwrap_or_default()
                .contains("session has ended"),
            "{msg}"
        );
        // Signing in again returns to the page the user was going to.
        let code = w.code("supervisor").unwrap();
        let user = c.find(Locator::Id("username")).await?;
        user.clear().await?;
        user.send_keys("supervisor").await?;
        c.find(Locator::Id("password"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        c.find(Locator::Id("totp"))
            .await?
            .send_keys(&format!("{code}\u{E007}"))
            .await?;
        let back = vms_testkit::browser::poll(
            &c,
            Duration::from_secs(10),
            "the same page again",
            "const t = document.getElementById('page-title'); const e = document.getElementById('login-error').textContent; \
             if (e && !e.includes('session has ended')) return ['error', e]; \
             return t && !document.getElementById('app').hidden ? [location.pathname, t.textContent] : null;",
        )
        .await?;
        assert_eq!(back, json!(["/audit", "Audit log"]));
        // A page this role may not open, and one that does not exist.
        for (path, want) in [
            ("/users", "Your account cannot open this page."),
            ("/no-such-page", "There is no such page."),
        ] {
            c.goto(&format!("http://{addr}{path}")).await?;
            let text = vms_testkit::browser::poll(
                &c,
                Duration::from_secs(10),
                path,
                "const t = document.getElementById('page-title'); return t ? document.getElementById('view').textContent : null;",
            )
            .await?;
            assert!(
                text.as_str().unwrap_or_default().contains(want),
                "{path}: {text}"
            );
        }
        Ok::<_, fantoccini::error::CmdError>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(60), run).await;
    let _ = c.close().await;
    result
        .expect("browser steps timed out")
        .expect("browser steps");
}

/// The keyboard alone: from a page's title (where the focus lands when a page opens), every page
/// of the navigation is reached by Shift+Tab and opened by Enter, with the focus moved to the
/// new page's title; the skip link before the navigation moves the focus to the content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_reached_with_the_keyboard_alone() {
    const ENTER: char = '\u{E007}';
    // A key pressed on whatever has the focus (the page itself included), as a user does.
    async fn press(c: &fantoccini::Client, key: char) -> Result<(), fantoccini::error::CmdError> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        c.perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: key })
                .then(KeyAction::Up { value: key }),
        )
        .await
    }
    async fn back_tab(c: &fantoccini::Client) -> Result<(), fantoccini::error::CmdError> {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        const SHIFT: char = '\u{E008}';
        const TAB: char = '\u{E004}';
        c.perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down { value: SHIFT })
                .then(KeyAction::Down { value: TAB })
                .then(KeyAction::Up { value: TAB })
                .then(KeyAction::Up { value: SHIFT }),
        )
        .await
    }
    let w = common::world();
    let addr = common::serve(&w.state).await;
    let (_driver, c, _profile) = start_browser(&[]).await;
    let run = async {
        let base = format!("http://{addr}/");
        sign_in(&c, &base, "supervisor", w.code("supervisor").as_deref()).await?;
        let focused = |c: &fantoccini::Client| {
            let c = c.clone();
            async move {
                c.execute(
                    "const a = document.activeElement; return [a.tagName, a.id, a.getAttribute('href')];",
                    vec![],
                )
                .await
            }
        };
        vms_testkit::browser::poll(
            &c,
            Duration::from_secs(10),
            "the start page",
            "return document.activeElement.id === 'page-title';",
        )
        .await?;
        let hrefs = c
            .execute(
                "return [...document.querySelectorAll('nav a')].map((a) => a.getAttribute('href'));",
                vec![],
            )
            .await?;
        let hrefs: Vec<String> = serde_json::from_value(hrefs).unwrap();
        assert_eq!(
            hrefs,
            [
                "/cases",
                "/recordings",
                "/live",
                "/cameras",
                "/map",
                "/holds",
                "/audit",
                "/system"
            ]
        );
        for href in &hrefs {
            // From the page's title: back through the header to the link, then Enter.
            let mut found = false;
            for _ in 0..20 {
                back_tab(&c).await?;
                let f = focused(&c).await?;
                if f[2] == json!(href) {
                    found = true;
                    break;
                }
            }
            assert!(found, "Shift+Tab never reached {href}");
            press(&c, ENTER).await?;
            let at = vms_testkit::browser::poll(
                &c,
                Duration::from_secs(10),
                href,
                "return document.activeElement.id === 'page-title' ? location.pathname : null;",
            )
            .await?;
            assert_eq!(at, json!(href));
        }
        // The skip link comes before the navigation and moves the focus to the content.
        let mut found = false;
        for _ in 0..20 {
            back_tab(&c).await?;
            if focused(&c).await?[2] == json!("#main") {
                found = true;
                break;
            }
        }
        assert!(found, "Shift+Tab never reached the skip link");
        press(&c, ENTER).await?;
        assert_eq!(focused(&c).await?[1], json!("main"));
        Ok::<_, fantoccini::error::CmdError>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(60), run).await;
    let _ = c.close().await;
    result
        .expect("browser steps timed out")
        .expect("browser steps");
}
