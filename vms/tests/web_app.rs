//! The web app as its users run it: the `vms` binary (real RocksDB, real recorder, real HTTP
//! server) driven through headless Chromium, one flow per role, clicking through the pages.
//!
//! An administrator signs in for the first time (reads the authenticator QR code as a phone
//! would), signs a partner up and creates an investigator and a supervisor. The partner accepts
//! the terms, enrols an ONVIF camera (a stand-in device answering with captured responses,
//! whose stream is a simulated camera) and an RTSP camera after probing, and sees both recorded.
//! The investigator files a request picking the camera from the list; the partner approves it;
//! the investigator plays it on the timeline and exports it, the progress bar reaching 100 %.
//! The supervisor searches the audit log for the case; the public transparency page shows the
//! month's counts. axe-core checks every page (no serious or critical violations), and a
//! screenshot of each is saved under `<target>/ui-screenshots/web_app/` for a reviewer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, Locator, error::CmdError};
use serde_json::{Value, json};
use vms_sim::{SimOptions, SimServer};
use vms_testkit::browser::{
    axe, click, poll, read_qr, screenshot, sign_in_form as sign_in, sign_out, start_browser,
    type_into,
};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const CASE: &str = "2026-0042";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_vms(dir: &Path, port: u16) -> Server {
    let data = dir.join("data");
    let mut init = Command::new(VMS)
        .args(["init", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    init.stdin
        .take()
        .unwrap()
        .write_all(b"admin initial pw 1\n")
        .unwrap();
    assert!(init.wait().unwrap().success());
    let cfg = format!(
        r#"
[storage]
data_dir = "{data}"
segment_secs = 4

[web]
listen = "127.0.0.1:{port}"
secure_cookie = false

[partner_network]
allow = ["127.0.0.0/8"]

[submissions]
public_calls = true

[defaults]
backoff_initial_ms = 100
backoff_max_ms = 500
"#,
        data = data.display(),
    );
    let path = dir.join("vms.toml");
    std::fs::write(&path, cfg).unwrap();
    Server(
        Command::new(VMS)
            .arg("run")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// The status code of a GET with a bearer token (an API client, not the browser).
fn http_status(port: u16, path: &str, token: &str) -> u16 {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// Checks the page with axe-core and saves its screenshot; violations are collected.
struct Pages {
    violations: Vec<String>,
    n: usize,
}

impl Pages {
    async fn check(&mut self, c: &Client, name: &str) -> Result<(), CmdError> {
        // Let the page finish drawing (its title is focused once it has).
        poll(
            c,
            Duration::from_secs(10),
            name,
            "return document.querySelector('#page-title, #enrol:not(.hidden), #login:not(.hidden)') !== null;",
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.n += 1;
        screenshot(c, "web_app", &format!("{:02}-{name}", self.n)).await?;
        for v in axe(c).await? {
            self.violations.push(format!("{name}: {v}"));
        }
        Ok(())
    }
}

/// Goes to a page through the navigation, as a user would.
async fn nav(c: &Client, path: &str) -> Result<(), CmdError> {
    click(c, &format!("nav a[href='{path}']")).await?;
    poll(
        c,
        Duration::from_secs(10),
        path,
        &format!("return location.pathname === '{path}' && document.getElementById('page-title') !== null;"),
    )
    .await
    .map(|_| ())
}

/// An authenticator: the secret read from the QR code, and the last time step used (a code
/// is accepted once, so a second sign-in in the same 30 s waits for the next one).
struct Authenticator {
    secret: Vec<u8>,
    last_step: i64,
}

impl Authenticator {
    fn from_uri(uri: &str) -> Self {
        let url = url::Url::parse(uri).unwrap();
        assert_eq!(url.scheme(), "otpauth", "{uri}");
        let b32 = url
            .query_pairs()
            .find(|(k, _)| k == "secret")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        Authenticator {
            secret: data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap(),
            last_step: 0,
        }
    }

    async fn code(&mut self) -> String {
        loop {
            let now = vms_storage::clock::system_now_micros() / 1_000_000;
            if now / 30 > self.last_step {
                self.last_step = now / 30;
                return vms_program::auth::totp(&self.secret, now);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A first sign-in: the password, then the enrolment page's QR code read with jsQR, a code from
/// it and a password of the owner's own.
async fn first_sign_in(
    c: &Client,
    pages: &mut Pages,
    user: &str,
    initial: &str,
    own: &str,
) -> Result<Authenticator, CmdError> {
    type_into(c, "#login:not(.hidden) #username", user).await?;
    type_into(c, "#password", initial).await?;
    click(c, "#login-button").await?;
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("#enrol:not(.hidden)"))
        .await?;
    pages.check(c, &format!("enrol-{user}")).await?;
    let uri = read_qr(c, "enrol-qr").await?.expect("the QR code decodes");
    let link = c
        .find(Locator::Id("enrol-link"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    assert_eq!(uri, link, "the QR code holds the enrolment link");
    let mut auth = Authenticator::from_uri(&uri);
    type_into(c, "#enrol-code", &auth.code().await).await?;
    type_into(c, "#enrol-password", own).await?;
    type_into(c, "#enrol-password2", &format!("{own}\u{E007}")).await?;
    poll(
        c,
        Duration::from_secs(15),
        "enrolment done",
        &format!("return document.getElementById('who').textContent.includes('{user} (');"),
    )
    .await?;
    Ok(auth)
}

/// Presses "Play <what>" on the case page's submitted footage and waits for that player to
/// have a picture; its duration in seconds.
async fn play_submitted(c: &Client, what: &str) -> Result<f64, CmdError> {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("//button[text()='Play {what}']")))
        .await?
        .click()
        .await?;
    let state = poll(
        c,
        Duration::from_secs(20),
        &format!("{what} plays"),
        &format!(
            "const v = document.querySelector('#submissions video[aria-label=\"Submitted video: {what}\"]'); \
             if (!v) return null; if (v.error) return 'error ' + v.error.code; \
             return v.readyState >= 2 ? v.duration : null;"
        ),
    )
    .await?;
    Ok(state.as_f64().unwrap_or(0.0))
}

/// The submission page's file picker, once the statement is made and it is shown (it is in
/// the page, hidden, before).
async fn files_input(c: &Client) -> Result<fantoccini::elements::Element, CmdError> {
    poll(
        c,
        Duration::from_secs(10),
        "the file picker shown",
        "const f = document.getElementById('files'); return f !== null && f.closest('[hidden]') === null;",
    )
    .await?;
    c.find(Locator::Id("files")).await
}

/// Fills and submits one of the app's forms: `fields` are `(css, value)`.
async fn submit(c: &Client, form: &str, fields: &[(&str, &str)]) -> Result<(), CmdError> {
    for (css, v) in fields {
        type_into(c, &format!("{form} {css}"), v).await?;
    }
    click(c, &format!("{form} button[type=submit]")).await
}

/// Ticks the picker entry whose label mentions `text`, after filtering the list by it.
async fn pick(c: &Client, picker: &str, text: &str) -> Result<(), CmdError> {
    type_into(c, &format!("#pick-{picker}-filter"), text).await?;
    let picked = c
        .execute(
            "const row = [...document.querySelectorAll(`#pick-${arguments[0]}-list .pick`)].find((r) => !r.hidden && r.textContent.includes(arguments[1])); \
             if (!row) return false; const i = row.querySelector('input'); if (!i.checked) i.click(); return i.checked;",
            vec![json!(picker), json!(text)],
        )
        .await?;
    assert_eq!(picked, Value::Bool(true), "{text} in the {picker} picker");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_runs_the_program_from_the_web_app() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimServer::start(SimOptions::new(2)).await.unwrap();
    let onvif_port = vms_testkit::onvif::stand_in_device(Some(sim.url(1).to_string())).await;
    let discovery_port = vms_testkit::onvif::discovery_responder().await;
    let port = vms_testkit::free_port();
    let _vms = start_vms(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    vms_testkit::wait_for(Duration::from_secs(30), "the web server", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;

    // Two clips a resident might export (order of upload = order on the case page).
    // One is H.265 in Matroska, which no browser plays as it is (it gets a working copy).
    let clips: Vec<std::path::PathBuf> = [
        (
            "front door.mkv",
            ["-c:v", "libx265", "-x265-params", "log-level=error"],
        ),
        ("yard.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        // What the partner exports from its own recorder to answer the request.
        ("nvr export.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, codec))| {
        let path = dir.path().join(name);
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "lavfi", "-i"])
            .arg(format!("testsrc=size=320x240:rate=25:duration={}", 2 + i))
            .args(codec)
            .arg("-y")
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        path
    })
    .collect();
    // The partner's recorder exports a ZIP (written by Python's zipfile) holding its clip.
    let nvr_zip = dir.path().join("nvr export.zip");
    let ok = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\nz.write(sys.argv[2], arcname='CH01/nvr export.mp4')\nz.close()\n",
        ])
        .arg(&nvr_zip)
        .arg(&clips[2])
        .status()
        .unwrap();
    assert!(ok.success());
    let clips = [clips[0].clone(), clips[1].clone(), nvr_zip];
    vms_testkit::browser::clear_screenshots("web_app");
    let (_driver, c, _profile) = start_browser(&[]).await;
    let mut pages = Pages {
        violations: Vec::new(),
        n: 0,
    };
    let run = async {
        // ---- administrator ----
        c.goto(&format!("{base}/")).await?;
        pages.check(&c, "sign-in").await?;
        first_sign_in(
            &c,
            &mut pages,
            "admin",
            "admin initial pw 1",
            "admin own password",
        )
        .await?;
        pages.check(&c, "admin-home").await?;
        nav(&c, "/partners").await?;
        submit(
            &c,
            "#partner-form",
            &[
                ("[name=contact_name]", "Corner Bakery"),
                ("[name=contact_email]", "owner@bakery.example"),
                ("[name=address]", "1 Main St"),
                ("[name=username]", "bakery"),
                ("[name=password]", "bakery initial pw"),
            ],
        )
        .await?;
        poll(&c, Duration::from_secs(10), "partner created",
            "return document.getElementById('partner-created').textContent.includes('Corner Bakery');").await?;
        pages.check(&c, "partners").await?;
        nav(&c, "/users").await?;
        for (user, role) in [("ivan", "investigator"), ("sara", "supervisor")] {
            c.execute(
                "document.getElementById('nu-role').value = arguments[0];",
                vec![json!(role)],
            )
            .await?;
            submit(
                &c,
                "#user-form",
                &[
                    ("#nu-username", user),
                    ("#nu-password", &format!("{user} initial pw")),
                ],
            )
            .await?;
            poll(&c, Duration::from_secs(10), &format!("{user} is a {role}"),
                &format!("const u = [...document.querySelectorAll('#users tbody tr')].find((r) => r.cells[0].textContent === '{user}'); \
                          return u && u.querySelector('select').value === '{role}' && u.textContent.includes('awaits first sign-in');")).await?;
        }
        pages.check(&c, "users").await?;
        // An API token for a program: shown once, works as a bearer credential, revoked here.
        c.execute("document.getElementById('tk-user').value = 'ivan';", vec![])
            .await?;
        submit(&c, "#token-form", &[("#tk-label", "prometheus")]).await?;
        let token = poll(&c, Duration::from_secs(10), "the new token",
            "const t = document.getElementById('new-token-value'); return t ? t.textContent : null;").await?;
        let token = token.as_str().unwrap().to_owned();
        assert_eq!(http_status(port, "/api/health", &token), 200);
        let id = c
            .execute(
                "return document.querySelector('#tokens tbody code').textContent;",
                vec![],
            )
            .await?;
        click(&c, "#tokens button").await?;
        c.accept_alert().await?;
        poll(&c, Duration::from_secs(10), "token revoked",
            &format!("return document.getElementById('tokens-status').textContent === 'Token {} revoked.';", id.as_str().unwrap())).await?;
        assert_eq!(http_status(port, "/api/health", &token), 401);
        // Finding an ONVIF camera by one address, and taking it into the enrolment form.
        nav(&c, "/cameras").await?;
        click(&c, "#dm-unicast").await?;
        submit(
            &c,
            "#discover-form",
            &[("#dm-target", &format!("127.0.0.1:{discovery_port}"))],
        )
        .await?;
        c.wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::XPath("//button[text()='Enroll Corner Store Cam']"))
            .await?
            .click()
            .await?;
        let addr = c
            .execute("return document.getElementById('en-onvif').value;", vec![])
            .await?;
        assert_eq!(addr, "192.168.1.87:2000");
        pages.check(&c, "admin-cameras").await?;
        for page in ["/audit", "/system"] {
            nav(&c, page).await?;
            pages
                .check(&c, &format!("admin{}", page.replace('/', "-")))
                .await?;
        }
        sign_out(&c).await?;

        // ---- partner: terms, two cameras, both recorded ----
        sign_in(&c, "bakery", "bakery initial pw", None).await?;
        pages.check(&c, "portal-cameras-empty").await?;
        nav(&c, "/portal/participation").await?;
        click(&c, "#accept-terms").await?;
        poll(
            &c,
            Duration::from_secs(10),
            "terms accepted",
            "return document.getElementById('terms-state').textContent.startsWith('You accepted');",
        )
        .await?;
        pages.check(&c, "portal-participation").await?;
        nav(&c, "/portal/cameras").await?;
        type_into(&c, "#en-name", "front").await?;
        type_into(&c, "#en-location", "shop front, Main St").await?;
        type_into(&c, "#en-onvif", &format!("127.0.0.1:{onvif_port}")).await?;
        click(&c, "#probe").await?;
        let clock = poll(&c, Duration::from_secs(15), "the probe result",
            "const e = document.getElementById('probe-clock'); const x = document.getElementById('probe-error').textContent; \
             return e ? e.textContent : (x ? 'error: ' + x : null);").await?;
        assert!(
            !clock.as_str().unwrap_or_default().starts_with("error"),
            "{clock}"
        );
        pages.check(&c, "portal-probe").await?;
        click(&c, "#enroll-form button[type=submit]").await?;
        poll(
            &c,
            Duration::from_secs(10),
            "front enrolled",
            "return document.getElementById('enroll-done').textContent.includes('front');",
        )
        .await?;
        click(&c, "#how-rtsp").await?;
        type_into(&c, "#en-name", "yard").await?;
        type_into(&c, "#en-rtsp", sim.url(0).as_str()).await?;
        c.execute(
            "document.getElementById('en-sharing').value = 'on-request';",
            vec![],
        )
        .await?;
        click(&c, "#enroll-form button[type=submit]").await?;
        poll(
            &c,
            Duration::from_secs(10),
            "yard enrolled",
            "return document.getElementById('enroll-done').textContent.includes('yard');",
        )
        .await?;
        // Both are recorded: the list shows frames for each (the page refreshes itself).
        poll(&c, Duration::from_secs(40), "both cameras recorded",
            "const rows = [...document.querySelectorAll('#my-cameras tbody tr')]; \
             const n = (name) => { const r = rows.find((r) => r.cells[0].textContent === name); return r ? Number(r.cells[4].textContent || 0) : 0; }; \
             return n('front') > 30 && n('yard') > 30;").await?;
        pages.check(&c, "portal-cameras").await?;
        // A change of sharing is saved with the row's button, and survives the page's refresh.
        c.execute(
            "document.querySelector('select[aria-label=\"Sharing of front\"]').value = 'live';",
            vec![],
        )
        .await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath("//button[text()='Save front']"))
            .await?
            .click()
            .await?;
        poll(
            &c,
            Duration::from_secs(10),
            "front saved",
            "return document.getElementById('cameras-status').textContent === 'front: saved.';",
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let sharing = c
            .execute(
                "return document.querySelector('select[aria-label=\"Sharing of front\"]').value;",
                vec![],
            )
            .await?;
        assert_eq!(sharing, "live");
        sign_out(&c).await?;

        // ---- investigator files a request, picked from the list ----
        let mut ivan = first_sign_in(
            &c,
            &mut pages,
            "ivan",
            "ivan initial pw",
            "ivan own password",
        )
        .await?;
        assert_eq!(
            c.current_url().await?.path(),
            "/cases",
            "an investigator starts on Cases"
        );
        pages.check(&c, "cases").await?;
        pick(&c, "cameras", "yard").await?;
        submit(
            &c,
            "#request-form",
            &[
                ("#rq-case", CASE),
                ("#rq-offence", "burglary"),
                ("#rq-reason", "break-in at the bakery's yard"),
            ],
        )
        .await?;
        poll(&c, Duration::from_secs(10), "the case page",
            &format!("return location.pathname === '/cases/{CASE}' && document.querySelector('#requests td.status') !== null;")).await?;
        pages.check(&c, "case-pending").await?;
        sign_out(&c).await?;

        // ---- partner approves ----
        sign_in(&c, "bakery", "bakery initial pw", None).await?;
        nav(&c, "/portal/requests").await?;
        click(&c, "#partner-requests button.approve").await?;
        poll(&c, Duration::from_secs(10), "approved",
            "const s = document.querySelector('#partner-requests td.status'); return s && s.textContent.startsWith('approved');").await?;
        pages.check(&c, "portal-requests").await?;
        // It also answers with a file from its own recorder, through the same upload page.
        click(&c, "#partner-requests button.send-files").await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("statement-form"))
            .await?;
        type_into(&c, "#st-location", "bakery back door camera").await?;
        type_into(&c, "#st-shows", "the alley").await?;
        type_into(&c, "#st-when", "the requested hour").await?;
        click(&c, "#st-attest").await?;
        click(&c, "#statement-send").await?;
        files_input(&c)
            .await?
            .send_keys(&clips[2].display().to_string())
            .await?;
        click(&c, "#files-send").await?;
        poll(&c, Duration::from_secs(60), "the partner's file received",
            "const s = [...document.querySelectorAll('#file-list .upload-status')].map((e) => e.textContent); \
             return s.length === 1 && s[0] === 'received';").await?;
        c.goto(&format!("{base}/portal/receipts")).await?;
        poll(&c, Duration::from_secs(10), "its receipt lists the file",
            "return [...document.querySelectorAll('#receipts td')].some((t) => t.textContent === 'submission.received');").await?;
        pages.check(&c, "portal-receipts").await?;
        sign_out(&c).await?;

        // ---- investigator plays the footage on the timeline and exports it ----
        sign_in(&c, "ivan", "ivan own password", Some(ivan.code().await)).await?;
        click(&c, &format!("#cases a[href='/cases/{CASE}']")).await?;
        click(&c, "#requests a[href^='/recordings']").await?;
        type_into(&c, "#pb-reason", "review of the approved request\u{E007}").await?;
        let state = poll(&c, Duration::from_secs(20), "the player decodes",
            "const v = document.getElementById('player'); \
             if (v.error) return 'error: ' + (v.error.message || v.error.code); \
             return v.readyState >= 2 ? document.querySelectorAll('.timeline .span').length : null;").await?;
        assert!(state.as_u64().unwrap_or(0) >= 1, "{state}");
        click(&c, "#frame-forward").await?;
        poll(
            &c,
            Duration::from_secs(10),
            "the UTC clock",
            "return document.getElementById('pb-clock').textContent.endsWith(' UTC');",
        )
        .await?;
        pages.check(&c, "recordings").await?;
        c.back().await?;
        poll(&c, Duration::from_secs(10), "back to the case",
            &format!("return location.pathname === '/cases/{CASE}' && document.querySelector('#export-form') !== null;")).await?;
        type_into(&c, "#ex-reason", "evidence for the case file").await?;
        click(&c, "#export-form button[type=submit]").await?;
        poll(&c, Duration::from_secs(60), "the export reaches 100 %",
            "const p = document.querySelector('#exports progress'); const a = document.querySelectorAll('#exports a[download]'); \
             return p && p.value === 100 && a.length > 0;").await?;
        pages.check(&c, "case-exported").await?;
        // A link for someone with footage; they send two files through it (no account).
        type_into(&c, "#lk-recipient", "owner of the 12 Elm St doorbell").await?;
        click(&c, "#link-form button[type=submit]").await?;
        let link = poll(
            &c,
            Duration::from_secs(10),
            "the link",
            "const u = document.getElementById('new-link-url'); return u ? u.textContent : null;",
        )
        .await?;
        let link = link.as_str().unwrap().to_owned();
        assert!(link.contains("/submit#"), "{link}");
        c.goto(&link).await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("statement-form"))
            .await?;
        assert_eq!(c.current_url().await?.path(), "/submit");
        assert!(
            c.current_url().await?.fragment().is_none(),
            "the token leaves the address bar"
        );
        pages.check(&c, "submit-statement").await?;
        type_into(&c, "#st-location", "doorbell, 12 Elm St, facing the street").await?;
        type_into(&c, "#st-shows", "the street and the bus stop").await?;
        type_into(&c, "#st-when", "3 Dec 02:00-02:30").await?;
        type_into(&c, "#st-offset", "7").await?;
        click(&c, "#st-attest").await?;
        click(&c, "#statement-send").await?;
        let input = files_input(&c).await?;
        input
            .send_keys(&format!("{}\n{}", clips[0].display(), clips[1].display()))
            .await?;
        click(&c, "#files-send").await?;
        poll(&c, Duration::from_secs(60), "both files received",
            "const s = [...document.querySelectorAll('#file-list .upload-status')].map((e) => e.textContent); \
             return s.length === 2 && s.every((t) => t === 'received') && [...document.querySelectorAll('#file-list progress')].every((p) => p.value === 100);").await?;
        pages.check(&c, "submit-sent").await?;
        // The investigator sees the statement and both files with their SHA-256.
        c.goto(&format!("{base}/cases/{CASE}")).await?;
        let hashes = poll(&c, Duration::from_secs(15), "the submitted files",
            "const h = [...document.querySelectorAll('#submissions td.hash .sha')].map((e) => e.textContent).filter(Boolean); \
             return h.length === 3 ? h : null;").await?;
        // The partner's file and the two sent through the link: compare as sets.
        let mut got: Vec<&str> = hashes
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut want: Vec<String> = clips
            .iter()
            .map(|clip| {
                let out = Command::new("sha256sum").arg(clip).output().unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        got.sort();
        want.sort();
        assert_eq!(
            got, want,
            "the stored hashes are sha256sum's of the files sent"
        );
        let facts = c
            .find(Locator::Css("#submissions .card[data-link='2'] dl"))
            .await?
            .text()
            .await?;
        assert!(facts.contains("7 min fast (declared)"), "{facts}");
        // Identified by content; the MP4 plays in the page as it was received, the H.265 file
        // through its derived working copy.
        poll(&c, Duration::from_secs(60), "both files identified, a working copy made",
            "const w = [...document.querySelectorAll('#submissions td.what')].map((e) => e.textContent); \
             return w.length === 3 && w.some((t) => t.startsWith('h264 video 320×240')) \
               && w.some((t) => t.startsWith('hevc video 320×240')) \
               && w.some((t) => t.startsWith('ZIP archive of 1 entries, 1 extracted') && t.includes('CH01/nvr export.mp4') && t.includes('h264 video 320×240')) \
               && [...document.querySelectorAll('#submissions button')].some((b) => b.textContent === 'Play working copy of front door.mkv');").await?;
        let secs = play_submitted(&c, "yard.mp4").await?;
        assert!((secs - 3.0).abs() < 0.2, "{secs}");
        let secs = play_submitted(&c, "working copy of front door.mkv").await?;
        assert!((secs - 2.0).abs() < 0.2, "{secs}");
        pages.check(&c, "case-submissions").await?;
        // The investigator accepts one file and rejects the other with a reason.
        c.find(Locator::XPath("//button[text()='Accept yard.mp4']"))
            .await?
            .click()
            .await?;
        poll(&c, Duration::from_secs(10), "the acceptance",
            "return [...document.querySelectorAll('#submissions td.review')].some((t) => t.textContent.startsWith('accepted by'));").await?;
        c.find(Locator::XPath("//button[text()='Reject front door.mkv…']"))
            .await?
            .click()
            .await?;
        type_into(&c, "input.reason", "shows another street").await?;
        c.find(Locator::XPath("//button[text()='Reject front door.mkv']"))
            .await?
            .click()
            .await?;
        poll(&c, Duration::from_secs(10), "the rejection",
            "return [...document.querySelectorAll('#submissions td.review')].some((t) => t.textContent.includes(': shows another street'));").await?;
        pages.check(&c, "case-submissions-reviewed").await?;
        // The accepted file goes into an evidence package, which `vms verify` checks offline.
        type_into(&c, "#sx-reason", "bundle for the prosecutor").await?;
        click(&c, "#sub-export-form button[type=submit]").await?;
        let files = poll(&c, Duration::from_secs(60), "the export of the accepted file",
            "const row = [...document.querySelectorAll('#exports tbody tr')].find((r) => r.textContent.includes('submitted files only')); \
             if (!row) return null; const p = row.querySelector('progress'); const a = [...row.querySelectorAll('a[download]')].map((e) => e.textContent); \
             return p && p.value === 100 && a.length ? a : null;").await?;
        let files: Vec<&str> = files
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            files
                .iter()
                .any(|f| f.starts_with("submission-") && f.ends_with(".mp4"))
                && !files.iter().any(|f| f.contains("working-copy")),
            "the accepted MP4 only, as received: {files:?}"
        );
        let exports = dir.path().join("data/exports");
        let mut packages: Vec<_> = std::fs::read_dir(&exports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        packages.sort();
        let out = Command::new(VMS)
            .arg("verify")
            .arg(packages.last().unwrap())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("submitted master"), "{text}");
        // A public call for video: opened on the case page, its public page starts a
        // submission of the visitor's own.
        type_into(&c, "#pc-title", "Collision at Elm St and 3rd").await?;
        type_into(&c, "#pc-window", "Tue 3 Dec, 01:30-02:30").await?;
        type_into(&c, "#pc-area", "Elm St between 2nd and 4th").await?;
        click(&c, "#call-form button[type=submit]").await?;
        let call = poll(&c, Duration::from_secs(10), "the call's page address",
            "const c = document.querySelector('#calls tbody code'); return c ? c.textContent : null;").await?;
        pages.check(&c, "case-public-call").await?;
        c.goto(call.as_str().unwrap()).await?;
        poll(&c, Duration::from_secs(10), "the public call page",
            "const t = document.getElementById('page-title'); return t !== null && t.textContent.includes('Collision at Elm St');").await?;
        pages.check(&c, "public-call").await?;
        click(&c, "#call-start").await?;
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("statement-form"))
            .await?;
        assert_eq!(c.current_url().await?.path(), "/submit");
        c.goto(&format!("{base}/cases/{CASE}")).await?;
        sign_out(&c).await?;

        // ---- supervisor searches the audit log for the case ----
        first_sign_in(
            &c,
            &mut pages,
            "sara",
            "sara initial pw",
            "sara own password",
        )
        .await?;
        nav(&c, "/audit").await?;
        submit(&c, "#audit-form", &[("#au-case", CASE)]).await?;
        let actions = poll(
            &c,
            Duration::from_secs(10),
            "audit results",
            "const rows = [...document.querySelectorAll('#audit tbody tr:not(.empty)')]; \
             return rows.length ? rows.map((r) => r.cells[3].textContent) : null;",
        )
        .await?;
        let actions: Vec<&str> = actions
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for want in ["request.file", "video.playback", "video.export"] {
            assert!(actions.contains(&want), "{want} in {actions:?}");
        }
        pages.check(&c, "audit").await?;
        for page in ["/holds", "/cases", "/live"] {
            nav(&c, page).await?;
            pages
                .check(&c, &format!("supervisor{}", page.replace('/', "-")))
                .await?;
        }
        sign_out(&c).await?;

        // ---- the public ----
        c.goto(&format!("{base}/transparency")).await?;
        let counts = poll(&c, Duration::from_secs(10), "the month's counts",
            "const v = (k) => { const e = document.querySelector(`[data-count=${k}] strong`); return e ? Number(e.textContent) : null; }; \
             return v('requests_filed') === null ? null : { filed: v('requests_filed'), approved: v('requests_approved'), exports: v('exports'), partners: v('partners_active'), links: v('submission_links'), received: v('submissions_received'), accepted: v('submissions_accepted'), rejected: v('submissions_rejected') };").await?;
        // Exports: the camera's and the accepted file's. Links: the partner's own, the
        // investigator's and the public call's; files: one and two.
        assert_eq!(
            counts,
            json!({"filed": 1, "approved": 1, "exports": 2, "partners": 1, "links": 3, "received": 3, "accepted": 1, "rejected": 1})
        );
        pages.check(&c, "transparency").await?;
        // The accessibility check itself can fail: an unlabelled field is reported.
        c.execute(
            "const i = document.createElement('input'); i.id = 'axe-canary'; document.getElementById('view').append(i);",
            vec![],
        )
        .await?;
        let canary = axe(&c).await?;
        assert!(
            canary.iter().any(|v| v.starts_with("label: #axe-canary")),
            "{canary:?}"
        );
        Ok::<_, CmdError>(())
    };
    let result = tokio::time::timeout(Duration::from_secs(300), run).await;
    if !matches!(result, Ok(Ok(()))) {
        if let Ok(p) = screenshot(&c, "web_app", "failure").await {
            eprintln!("screenshot of the failing page: {}", p.display());
        }
        if let Ok(v) = c
            .execute(
                "return [location.href, document.body.innerText.slice(0, 3000)];",
                vec![],
            )
            .await
        {
            eprintln!("{v}");
        }
    }
    let _ = c.close().await;
    result
        .expect("browser steps timed out")
        .expect("browser steps");
    assert!(
        pages.violations.is_empty(),
        "axe-core: {:#?}",
        pages.violations
    );
    assert!(pages.n >= 20, "pages checked: {}", pages.n);
}
