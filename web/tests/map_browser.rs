//! The registry map and an area request in real headless Chromium: a partner registers its
//! doorbell by clicking the map; an investigator finds it on the registry map, draws the
//! canvass circle by clicking, previews and sends; the partner approves and answers with a
//! file through the link; the investigator's progress shows each step. axe-core checks each
//! screen (no serious or critical violations).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator, error::CmdError};
use vms_program::auth::{self, totp};
use vms_storage::{Role, SecretBox, Store, StoreOptions};
use vms_testkit::browser::{
    axe, click, poll, screenshot, sign_in_form, sign_out, start_browser, type_into,
};
use vms_web::state::MapSettings;
use vms_web::{AppState, Settings};

const PASSWORD: &str = "correct horse battery";
const LAT: f64 = 45.5231;
const LON: f64 = -122.6765;

/// axe-core's serious and critical violations on the page, with a screenshot.
async fn check(c: &Client, name: &str, violations: &mut Vec<String>) -> Result<(), CmdError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(c, "map_browser", name).await?;
    violations.extend(axe(c).await?.into_iter().map(|v| format!("{name}: {v}")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_registers_on_the_map_and_an_investigator_canvasses_around_an_incident() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let secrets = Arc::new(SecretBox::new(&[5; 32]));
    let now = store.clock().now_utc_micros();
    // The resident signs up through the public page; its email arrives at a real SMTP server.
    let smtp_port = common::smtp::free_port();
    let maildir = tempfile::tempdir().unwrap();
    let _smtp = common::smtp::SmtpPeer::start(smtp_port, maildir.path());
    let (row, t) = auth::new_user(
        "investigator",
        Role::Investigator,
        None,
        PASSWORD,
        true,
        &secrets,
        now,
    )
    .unwrap();
    store.put_user(&row).unwrap();
    let inv_secret = t.unwrap().0;
    let (row, t) =
        auth::new_user("admin", Role::Admin, None, PASSWORD, true, &secrets, now).unwrap();
    store.put_user(&row).unwrap();
    let admin_secret = t.unwrap().0;
    let registry_csv = dir.path().join("old registry.csv");
    std::fs::write(
        &registry_csv,
        format!(
            "owner_email,camera_name,lat,lon,kind\nneighbour@example.org,gate,{LAT},{},fixed\nbroken@example.org,gate,north,0,fixed\n",
            LON + 0.001
        ),
    )
    .unwrap();
    // A code is good once (replay protection): a second sign-in in the same 30-second step
    // waits for the next one, as a person would.
    let last_step = std::sync::atomic::AtomicU64::new(0);
    let code = || async {
        loop {
            let secs = vms_storage::clock::system_now_micros() / 1_000_000;
            let step = u64::try_from(secs / 30).unwrap();
            if last_step.swap(step, std::sync::atomic::Ordering::SeqCst) != step {
                return Some(totp(&inv_secret, secs));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let state = AppState::new(
        store.clone(),
        secrets,
        Settings {
            secure_cookie: false,
            // No tile server: the plain background an air-gapped site gets.
            map: MapSettings {
                center: Some((LAT, LON)),
                zoom: 17,
                ..MapSettings::default()
            },
            mail: Some(vms_web::mailer::MailSettings {
                host: "127.0.0.1".into(),
                port: smtp_port,
                tls: vms_web::mailer::MailTls::None,
                username: None,
                password: None,
                from: "Camera program <cameras@police.example.org>".into(),
                public_url: "http://vms.invalid".into(),
            }),
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
    let upload = dir.path().join("doorbell clip.mp4");
    std::fs::write(&upload, b"the doorbell's own export").unwrap();

    let (_driver, c, _profile) = start_browser(&[]).await;
    let base = format!("http://{addr}");
    let mut violations = Vec::new();
    let run = async {
        // ---- a resident signs up from the sign-in page and confirms its address ----
        c.goto(&format!("{base}/")).await?;
        click(&c, "#login a[href='/join']").await?;
        type_into(&c, "#jn-name", "Corner Bakery").await?;
        type_into(&c, "#jn-email", "bakery@example.org").await?;
        type_into(&c, "#jn-username", "bakery").await?;
        type_into(&c, "#jn-password", PASSWORD).await?;
        click(&c, "#jn-accept").await?;
        check(&c, "join", &mut violations).await?;
        click(&c, "#join-form button[type=submit]").await?;
        poll(&c, Duration::from_secs(15), "the sign-up sent",
            "return document.getElementById('join-status').textContent.includes('bakery@example.org');").await?;
        let mail = common::smtp::messages(maildir.path());
        let token = common::smtp::token_after(&mail[0], "http://vms.invalid/join#");
        // Opened from the email: a fresh page load (not a fragment change of the open page).
        c.goto("about:blank").await?;
        c.goto(&format!("{base}/join#{token}")).await?;
        poll(&c, Duration::from_secs(15), "confirmed",
            "const t = document.getElementById('join-confirmed'); return t && t.textContent.includes('registered as P-0001');").await?;
        check(&c, "join-confirmed", &mut violations).await?;
        click(&c, "#join-confirmed a").await?;
        // ---- the partner registers its doorbell by clicking the map ----
        sign_in_form(&c, "bakery", PASSWORD, None).await?;
        poll(
            &c,
            Duration::from_secs(15),
            "the placing map",
            "return document.querySelector('#place-map .leaflet-pane') !== null;",
        )
        .await?;
        // A click in the middle of the map puts the camera at the map's centre.
        click(&c, "#place-map").await?;
        let lat = poll(&c, Duration::from_secs(5), "the position from the click",
            "const v = document.getElementById('pl-lat').value; return v === '' ? null : Number(v);").await?;
        assert!((lat.as_f64().unwrap() - LAT).abs() < 0.001, "{lat}");
        type_into(&c, "#pl-name", "porch doorbell").await?;
        type_into(&c, "#pl-address", "3 Elm St").await?;
        type_into(&c, "#pl-bearing", "90").await?;
        type_into(&c, "#pl-keeps", "14").await?;
        check(&c, "portal-place", &mut violations).await?;
        click(&c, "#place-form button[type=submit]").await?;
        poll(
            &c,
            Duration::from_secs(10),
            "registered",
            "return document.getElementById('place-status').textContent.includes('registered at');",
        )
        .await?;
        poll(&c, Duration::from_secs(10), "listed",
            "return [...document.querySelectorAll('#my-cameras td')].some((t) => t.textContent === 'registered (no video)');").await?;
        sign_out(&c).await?;

        // ---- the investigator finds it and canvasses around the point ----
        sign_in_form(&c, "investigator", PASSWORD, code().await).await?;
        click(&c, "nav a[href='/map']").await?;
        poll(&c, Duration::from_secs(15), "the camera on the map",
            "const t = document.getElementById('map-count'); return t && t.textContent.startsWith('1 camera');").await?;
        // Keyboard users pan the map and press "Use the map centre"; here: a click.
        click(&c, "#registry-map").await?;
        poll(
            &c,
            Duration::from_secs(5),
            "the incident position",
            "return document.getElementById('cv-lat').value !== '';",
        )
        .await?;
        type_into(&c, "#cv-radius", "200").await?;
        type_into(&c, "#cv-case", "2026-0188").await?;
        type_into(&c, "#cv-offence", "burglary").await?;
        type_into(
            &c,
            "#cv-reason",
            "break-in at the corner; looking for the getaway car",
        )
        .await?;
        click(&c, "#canvass-form button[type=submit]").await?;
        let row = poll(&c, Duration::from_secs(10), "the preview",
            "const r = document.querySelector('#preview-list tbody tr'); return r && r.textContent.includes('porch doorbell') ? r.textContent : null;").await?;
        assert!(row.as_str().unwrap().contains("P-0001"), "{row}");
        assert!(!row.as_str().unwrap().contains("Corner Bakery"), "{row}");
        check(&c, "map-preview", &mut violations).await?;
        click(&c, "#send-canvass").await?;
        poll(&c, Duration::from_secs(10), "the canvass progress",
            "const r = document.querySelector('#progress-owners tbody tr'); return r && r.textContent.includes('pending');").await?;
        check(&c, "map-progress", &mut violations).await?;
        sign_out(&c).await?;

        // ---- the partner approves and answers with a file ----
        sign_in_form(&c, "bakery", PASSWORD, None).await?;
        click(&c, "nav a[href='/portal/requests']").await?;
        click(&c, "#partner-requests button.approve").await?;
        poll(&c, Duration::from_secs(10), "approved",
            "const s = document.querySelector('#partner-requests td.status'); return s && s.textContent.startsWith('approved');").await?;
        click(&c, "#partner-requests button.send-files").await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("statement-form"))
            .await?;
        type_into(&c, "#st-location", "porch doorbell").await?;
        type_into(&c, "#st-shows", "the street").await?;
        type_into(&c, "#st-when", "the requested hour").await?;
        click(&c, "#st-attest").await?;
        click(&c, "#statement-send").await?;
        poll(&c, Duration::from_secs(10), "the file picker",
            "const f = document.getElementById('files'); return f !== null && f.closest('[hidden]') === null;").await?;
        c.find(Locator::Id("files"))
            .await?
            .send_keys(&upload.display().to_string())
            .await?;
        click(&c, "#files-send").await?;
        poll(&c, Duration::from_secs(30), "the file received",
            "const s = [...document.querySelectorAll('#file-list .upload-status')].map((e) => e.textContent); return s.length === 1 && s[0] === 'received';").await?;
        c.goto(&format!("{base}/")).await?;
        sign_out(&c).await?;

        // ---- the investigator's progress has moved ----
        sign_in_form(&c, "investigator", PASSWORD, code().await).await?;
        click(&c, "nav a[href='/map']").await?;
        click(&c, "#canvass-list button").await?;
        let counts = poll(&c, Duration::from_secs(10), "the counts",
            "const n = (k) => { const e = document.querySelector(`#progress-counts [data-count=${k}] strong`); return e ? e.textContent : null; }; \
             const v = ['opened', 'approved', 'submitted', 'declined'].map(n); return v.every((x) => x !== null) ? v.join(',') : null;").await?;
        assert_eq!(
            counts.as_str(),
            Some("1,1,1,0"),
            "opened, approved, submitted, declined"
        );
        check(&c, "map-progress-answered", &mut violations).await?;
        sign_out(&c).await?;

        // ---- an administrator imports an older registry ----
        let admin_code = Some(totp(
            &admin_secret,
            vms_storage::clock::system_now_micros() / 1_000_000,
        ));
        sign_in_form(&c, "admin", PASSWORD, admin_code).await?;
        click(&c, "nav a[href='/map']").await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("import-file"))
            .await?
            .send_keys(&registry_csv.display().to_string())
            .await?;
        click(&c, "#import-send").await?;
        let said = poll(&c, Duration::from_secs(15), "the import's outcome",
            "const t = document.getElementById('import-status').textContent; return t.includes('rows') ? t : null;").await?;
        assert!(
            said.as_str().unwrap().contains("2 rows")
                && said.as_str().unwrap().contains("1 refused"),
            "{said}"
        );
        poll(&c, Duration::from_secs(5), "the row error",
            "const r = document.querySelector('#import-errors tbody tr'); return r && r.textContent.startsWith('3');").await?;
        assert!(
            c.find(Locator::Id("canvass-form")).await.is_err(),
            "administrators do not canvass"
        );
        check(&c, "map-import", &mut violations).await?;
        // ... and registers one camera on a resident's behalf, on the cameras page.
        click(&c, "nav a[href='/cameras']").await?;
        poll(
            &c,
            Duration::from_secs(15),
            "the placing map",
            "return document.querySelector('#place-map .leaflet-pane') !== null;",
        )
        .await?;
        c.execute("const s = document.getElementById('pl-partner'); s.value = [...s.options].find((o) => o.text.startsWith('P-0001')).value;", vec![]).await?;
        click(&c, "#place-map").await?;
        type_into(&c, "#pl-name", "back gate").await?;
        click(&c, "#place-form button[type=submit]").await?;
        poll(&c, Duration::from_secs(10), "registered for the partner",
            "return document.getElementById('place-status').textContent.includes('back gate registered at');").await?;
        check(&c, "cameras-register-for-partner", &mut violations).await?;
        Ok::<_, CmdError>(())
    };
    let result = run.await;
    if result.is_err() {
        screenshot(&c, "map_browser", "failure").await.ok();
        let page = c
            .execute("return location.pathname + ' ' + document.getElementById('view').innerHTML.slice(0, 3000);", vec![])
            .await;
        eprintln!("page at the failure: {page:?}");
        let probe = c
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 Promise.all(['/api/map', '/api/canvasses', '/api/registry?lat=45.5&lon=-122.6&radius_m=300'].map((u) => fetch(u).then(async (r) => u + ' ' + r.status + ' ' + (await r.text()).slice(0, 200)))).then((v) => done(v.join(' | ')));",
                vec![],
            )
            .await;
        eprintln!("API at the failure: {probe:?}");
        for e in store
            .audit_search(&vms_storage::AuditFilter {
                limit: 6,
                ..Default::default()
            })
            .unwrap_or_default()
        {
            eprintln!(
                "audit: {} {} {} {} {}",
                e.event.actor, e.event.action, e.event.outcome, e.event.rule, e.event.detail
            );
        }
    }
    c.close().await.ok();
    result.unwrap();
    assert!(violations.is_empty(), "axe-core: {violations:#?}");
}
