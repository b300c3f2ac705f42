//! Headless Chromium for the browser tests: Debian's `chromium` driven through `chromedriver`,
//! a new profile per session; and the independent tools the tests inject into a page — axe-core
//! (accessibility rules) and jsQR (reads a QR code as a phone would), installed by
//! `scripts/install-npm-test-deps`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::CmdError;
use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::free_port;

/// The chromedriver process; killed when dropped.
#[derive(Debug)]
pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver and a headless Chromium session (a new profile each time).
pub async fn start_browser(extra_args: &[&str]) -> (Driver, fantoccini::Client, tempfile::TempDir) {
    let port = free_port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver; see scripts/install-deps --test)"),
    );
    let profile = tempfile::tempdir().expect("a temporary profile directory");
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ]
    .iter()
    .chain(extra_args)
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": "/usr/bin/chromium", "args": args }),
    );
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    let mut client = None;
    for _ in 0..50 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    (driver, client.expect("chromedriver session"), profile)
}

/// Clicks the element `css` once it is there (within 15 s).
pub async fn click(c: &fantoccini::Client, css: &str) -> Result<(), CmdError> {
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await?
        .click()
        .await
}

/// Replaces the text of the input `css` once it is there (within 15 s).
pub async fn type_into(c: &fantoccini::Client, css: &str, text: &str) -> Result<(), CmdError> {
    let e = c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await?;
    e.clear().await?;
    e.send_keys(text).await
}

/// Signs in through the sign-in form the page shows now (password, then the TOTP `code` if
/// any) and waits until the header names the user; a refusal comes back as the page's words.
pub async fn sign_in_form(
    c: &fantoccini::Client,
    user: &str,
    password: &str,
    code: Option<String>,
) -> Result<(), CmdError> {
    type_into(c, "#login:not(.hidden) #username", user).await?;
    type_into(c, "#password", password).await?;
    if let Some(code) = code {
        type_into(c, "#totp", &code).await?;
    }
    click(c, "#login-button").await?;
    let v = poll(
        c,
        Duration::from_secs(15),
        &format!("{user} signed in"),
        &format!(
            "const w = document.getElementById('who').textContent; \
             const e = document.getElementById('login-error').textContent; \
             return w.includes('{user} (') ? true : (e ? 'error: ' + e : null);"
        ),
    )
    .await?;
    assert_eq!(v, Value::Bool(true), "{user}: {v}");
    Ok(())
}

/// Signs out from the header and checks nobody's name or pages are left on screen.
pub async fn sign_out(c: &fantoccini::Client) -> Result<(), CmdError> {
    click(c, "#logout").await?;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#login:not(.hidden) #username"))
        .await?;
    let left = c
        .execute(
            "return document.getElementById('who').textContent + document.getElementById('nav').textContent;",
            vec![],
        )
        .await?;
    assert_eq!(left, Value::from(""), "after signing out");
    Ok(())
}

/// Opens `url` and signs in through the page's form (password, then the TOTP `code` if any).
pub async fn sign_in(
    c: &fantoccini::Client,
    url: &str,
    user: &str,
    password: &str,
    code: Option<&str>,
) -> Result<(), CmdError> {
    c.goto(url).await?;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#login:not(.hidden) #username"))
        .await?
        .send_keys(user)
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    if let Some(code) = code {
        c.find(Locator::Id("totp")).await?.send_keys(code).await?;
    }
    c.find(Locator::Id("login-button")).await?.click().await
}

/// Runs `script` (a function body that returns a value or `null`) until it returns something
/// other than `null`/`false`, for at most `limit`; returns that value, or
/// [`CmdError::WaitTimeout`] (saying what it waited for on stderr).
pub async fn poll(
    c: &fantoccini::Client,
    limit: Duration,
    what: &str,
    script: &str,
) -> Result<Value, CmdError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let v = c.execute(script, vec![]).await?;
        if !v.is_null() && v != Value::Bool(false) {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            // An error, not a panic, so the caller can still look at the page.
            eprintln!("timed out after {limit:?} waiting for {what}");
            return Err(CmdError::WaitTimeout);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where the npm test tools are (`VMS_NPM`, default `~/.cache/vms-npm`).
fn npm_dir() -> PathBuf {
    std::env::var_os("VMS_NPM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vms-npm")
        })
        .join("node_modules")
}

fn npm_file(rel: &str) -> String {
    let p = npm_dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (install with scripts/install-deps --test)",
            p.display()
        )
    })
}

/// Runs axe-core's WCAG 2.0/2.1 A and AA rules on the current page; returns the serious and
/// critical violations as `"rule: target (summary)"` lines.
pub async fn axe(c: &fantoccini::Client) -> Result<Vec<String>, CmdError> {
    let present = c
        .execute("return typeof window.axe !== 'undefined';", vec![])
        .await?;
    if present != Value::Bool(true) {
        c.execute(&npm_file("axe-core/axe.min.js"), vec![]).await?;
    }
    let v = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
               .then((r) => done(r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
                 .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${n.failureSummary.replace(/\\s+/g, ' ')})`))))
               .catch((e) => done([`axe failed: ${e}`]));",
            vec![],
        )
        .await?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Reads the QR code drawn on canvas `#id` with jsQR; `None` if it does not decode.
pub async fn read_qr(c: &fantoccini::Client, id: &str) -> Result<Option<String>, CmdError> {
    let present = c
        .execute("return typeof window.jsQR !== 'undefined';", vec![])
        .await?;
    if present != Value::Bool(true) {
        // jsQR's bundle is UMD: given a CommonJS `module`, it exports there, whatever globals
        // the page has (an AMD `define`, say).
        let src = npm_file("jsqr/dist/jsQR.js");
        c.execute(
            &format!(
                "const module = {{ exports: {{}} }}; \
                 (function (module, exports) {{ {src} }}).call(window, module, module.exports); \
                 window.jsQR = module.exports.default || module.exports; return true;"
            ),
            vec![],
        )
        .await?;
    }
    let v = c
        .execute(
            "const cv = document.getElementById(arguments[0]);
             const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height);
             const r = jsQR(d.data, d.width, d.height);
             return r ? r.data : null;",
            vec![json!(id)],
        )
        .await?;
    Ok(v.as_str().map(str::to_owned))
}

/// Where a run's screenshots go: `<target>/ui-screenshots/<run>/`.
fn screenshot_dir(run: &str) -> PathBuf {
    // The test binary is `<target>/debug/deps/<name>`.
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(|t| t.to_path_buf()))
        .unwrap_or_else(std::env::temp_dir)
        .join("ui-screenshots")
        .join(run)
}

/// Empties a run's screenshot directory, so a reviewer sees this run's pages only.
pub fn clear_screenshots(run: &str) {
    let _ = std::fs::remove_dir_all(screenshot_dir(run));
}

/// Saves a screenshot of the page as `<target>/ui-screenshots/<run>/<name>.png` for a
/// reviewer to look at (not committed); returns the path.
pub async fn screenshot(
    c: &fantoccini::Client,
    run: &str,
    name: &str,
) -> Result<PathBuf, CmdError> {
    let png = c.screenshot().await?;
    let dir = screenshot_dir(run);
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).ok();
    Ok(path)
}
