//! Headless Chromium for the browser tests: Debian's `chromium` driven through `chromedriver`,
//! a new profile per session.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::ClientBuilder;
use serde_json::json;

pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use vms_testkit::free_port;

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
    let profile = tempfile::tempdir().unwrap();
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

/// Opens `url` and signs in through the page's form (password, then the TOTP `code` if any).
pub async fn sign_in(
    c: &fantoccini::Client,
    url: &str,
    user: &str,
    code: Option<&str>,
) -> Result<(), fantoccini::error::CmdError> {
    use fantoccini::Locator;
    c.goto(url).await?;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#login:not(.hidden) #username"))
        .await?
        .send_keys(user)
        .await?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(super::PASSWORD)
        .await?;
    if let Some(code) = code {
        c.find(Locator::Id("totp")).await?.send_keys(code).await?;
    }
    c.find(Locator::Id("login-button")).await?.click().await
}
