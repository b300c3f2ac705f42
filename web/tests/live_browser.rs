//! Live view in real headless Chromium over WebRTC. Chromium gathers no ICE candidates with
//! only loopback, so the test re-runs itself in its own network namespace (`unshare -n`) with
//! `lo` and a veth pair (10.99.0.1/24, default route into it): server, simulated cameras and
//! browser all live there and no packet can leave it.
//!
//! Two simulated cameras: the built-in Main-profile clip, and a High-profile stream encoded by
//! ffmpeg here — Chromium's WebRTC offers no High profile, and the server must still get it
//! decoded. The grid is opened by URL (a wall display's way), frames are counted from
//! `RTCPeerConnection.getStats()`, a camera restarts mid-view, and ten page loads give the
//! median time to the first decoded frame.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;
use vms_sim::{Clip, SimOptions, SimServer};
use vms_testkit::browser::start_browser;
use vms_testkit::netns::in_netns;

/// A High-profile H.264 clip (no B-frames, 1 s GOPs), encoded by ffmpeg's libx264.
fn high_profile_clip() -> Arc<Clip> {
    let clip = common::encoded_clip("testsrc2=size=640x360:rate=30", &["-profile:v", "high"]);
    assert!(
        clip.profile_level_id()
            .to_ascii_lowercase()
            .starts_with("64"),
        "High profile"
    );
    clip
}

/// The tiles' state: per camera id, decoded frames (across reconnects), connects, first
/// frame time since page load (ms), and the tile's message.
const TILES: &str = "return [...document.querySelectorAll('#live-grid .tile')].map((t) => ({ \
    camera: Number(t.dataset.camera), frames: Number(t.dataset.framesDecoded || 0), \
    connects: Number(t.dataset.connects || 0), \
    first_ms: t.dataset.firstFrameMs === undefined ? null : Number(t.dataset.firstFrameMs), \
    msg: t.querySelector('.msg').textContent }));";

async fn tiles(c: &fantoccini::Client) -> Vec<Value> {
    match c.execute(TILES, vec![]).await {
        Ok(Value::Array(v)) => v,
        _ => Vec::new(),
    }
}

/// Waits until every tile decoded at least `n` frames more than `base` (by camera).
/// Loads the page on a 4-camera grid, types the reason and presses "Watch live".
async fn start_grid(c: &fantoccini::Client, base: &str) -> Result<(), fantoccini::error::CmdError> {
    c.goto(&format!("{base}live?layout=4")).await?;
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#live-section:not(.hidden)"))
        .await?;
    c.find(Locator::Css("#live-reason"))
        .await?
        .send_keys("browser test")
        .await?;
    c.find(Locator::Css("#live-start")).await?.click().await?;
    Ok(())
}

async fn wait_frames(c: &fantoccini::Client, base: &[(u64, u64)], n: u64, secs: u64) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..secs * 5 {
        last = tiles(c).await;
        let done = !last.is_empty()
            && last.iter().all(|t| {
                let cam = t["camera"].as_u64().unwrap_or(0);
                let b = base.iter().find(|(c, _)| *c == cam).map_or(0, |(_, f)| *f);
                t["frames"].as_u64().unwrap_or(0) >= b + n
            });
        if done {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = c
        .execute(
            "return { url: location.href, live_error: document.getElementById('live-error').textContent, \
              error: document.getElementById('error').textContent, \
              login_error: document.getElementById('login-error').textContent, \
              live_hidden: document.getElementById('live-section').className };",
            vec![],
        )
        .await
        .ok();
    let png = c.screenshot().await.unwrap_or_default();
    std::fs::write(std::env::temp_dir().join("vms-live-failed.png"), png).ok();
    panic!("tiles did not decode {n} more frames in {secs} s: {last:?}; page {page:?}");
}

/// Chromium as the live-view tests run it: video plays unprompted and host candidates are the
/// real addresses (not mDNS names the server cannot resolve).
const LIVE_ARGS: [&str; 2] = [
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
];

/// Runs `name` in its own network namespace with a veth pair (10.99.0.1/24, default route),
/// where Chromium gathers ICE candidates, on a two-worker runtime; false when this is the
/// outer call (the namespace ran it).
fn in_browser_netns(name: &str, limit: Duration) -> Option<tokio::runtime::Runtime> {
    let veth = [
        "ip link add vms-a type veth peer name vms-b",
        "ip addr add 10.99.0.1/24 dev vms-a",
        "ip link set vms-a up",
        "ip link set vms-b up",
        "ip route add default dev vms-a",
    ];
    if !in_netns(name, &veth, limit) {
        return None;
    }
    Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    )
}

#[test]
fn chromium_watches_live_cameras_over_webrtc() {
    let Some(rt) = in_browser_netns(
        "chromium_watches_live_cameras_over_webrtc",
        Duration::from_secs(300),
    ) else {
        return;
    };
    rt.block_on(async {
        let w = common::world();
        let sim_main = SimServer::start(SimOptions::new(1)).await.unwrap();
        let sim_high = SimServer::start(SimOptions {
            clip: high_profile_clip(),
            ..SimOptions::new(1)
        })
        .await
        .unwrap();
        let _main = common::live_camera(&w, w.cams[0], "cam-0", sim_main.url(0));
        let _high = common::live_camera(&w, w.cams[3], "cam-3", sim_high.url(0));
        let (addr, _server) = vms_web::serve(
            "10.99.0.1:0".parse().unwrap(),
            w.state.clone(),
            std::future::pending(),
        )
        .await
        .unwrap();
        let (_driver, c, _profile) = start_browser(&LIVE_ARGS).await;
        let code = w.code("viewer").unwrap();
        let base = format!("http://{addr}/");
        let run = async {
            common::browser::sign_in(&c, &base, "viewer", Some(&code)).await?;
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#live-section:not(.hidden)"))
                .await?;

            // A link cannot start a view or supply its reason (issue 22 C1): the page only
            // preselects the layout. The viewer types the reason and presses the button;
            // both cameras decode, the High-profile one included.
            c.goto(&format!("{base}live?layout=4&reason=attacker%20chosen"))
                .await?;
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#live-section:not(.hidden)"))
                .await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(w.state.live.sessions(), 0, "a link started a live view");
            let reason = c.find(Locator::Css("#live-reason")).await?;
            assert_eq!(reason.prop("value").await?.unwrap_or_default(), "");
            start_grid(&c, &base).await?;
            let t = wait_frames(&c, &[], 30, 20).await;
            assert_eq!(t.len(), 2, "{t:?}");
            let png = c.screenshot().await?;
            std::fs::write(std::env::temp_dir().join("vms-live.png"), png).ok();

            // Frames keep coming: no persistent freeze over 3 s.
            let before: Vec<(u64, u64)> = t
                .iter()
                .map(|t| (t["camera"].as_u64().unwrap(), t["frames"].as_u64().unwrap()))
                .collect();
            tokio::time::sleep(Duration::from_secs(3)).await;
            let after = tiles(&c).await;
            assert_eq!(after.len(), 2, "{after:?}");
            for t in &after {
                let cam = t["camera"].as_u64().unwrap();
                let b = before.iter().find(|(c, _)| *c == cam).unwrap().1;
                let f = t["frames"].as_u64().unwrap();
                assert!(f >= b + 60, "camera {cam}: {b} → {f} frames in 3 s");
            }

            // The Main-profile camera restarts: its tile recovers without a page reload.
            sim_main.set_online(0, false);
            tokio::time::sleep(Duration::from_secs(2)).await;
            let during: Vec<(u64, u64)> = tiles(&c)
                .await
                .iter()
                .map(|t| (t["camera"].as_u64().unwrap(), t["frames"].as_u64().unwrap()))
                .collect();
            sim_main.set_online(0, true);
            let recovered = wait_frames(&c, &during, 30, 20).await;
            println!("report: after camera restart {recovered:?}");

            // The server drops every live session (as a restart does): each tile notices its
            // dead connection, opens a new session by itself, and the picture comes back.
            let before: Vec<(u64, u64)> = recovered
                .iter()
                .map(|t| (t["camera"].as_u64().unwrap(), t["frames"].as_u64().unwrap()))
                .collect();
            w.state.live.stop_all();
            let back = wait_frames(&c, &before, 30, 40).await;
            assert!(
                back.iter().all(|t| t["connects"].as_u64().unwrap_or(0) >= 2),
                "tiles reconnected: {back:?}"
            );
            println!("report: after the server dropped the sessions {back:?}");

            // Time from page load to the first decoded frame, over ten loads (the reason typed
            // and the button pressed by the driver).
            let mut firsts = Vec::new();
            for _ in 0..10 {
                start_grid(&c, &base).await?;
                let t = wait_frames(&c, &[], 1, 20).await;
                firsts.extend(t.iter().filter_map(|t| t["first_ms"].as_f64()));
            }
            firsts.sort_by(|a, b| a.total_cmp(b));
            let median = firsts[firsts.len() / 2];
            println!(
                "report: live first decoded frame after page load, median of {} tiles over 10 loads: {median:.0} ms (min {:.0}, max {:.0})",
                firsts.len(),
                firsts[0],
                firsts[firsts.len() - 1]
            );
            Ok::<_, fantoccini::error::CmdError>(())
        };
        let result = tokio::time::timeout(Duration::from_secs(150), run).await;
        let _ = c.close().await;
        result
            .expect("browser steps timed out")
            .expect("browser steps");
        let ev = w
            .store
            .audit_search(&vms_storage::AuditFilter {
                actor: Some("viewer".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(ev.iter().any(|e| e.event.action == "video.live"
            && e.event.outcome == "allow"
            && e.event.reason.as_deref() == Some("browser test")));
    });
}

/// Issue 15: a camera with B-frames sends frames in decode order, each with its presentation
/// time. Sent to Chromium unchanged (the test-only `pass_b_frames`), each presented frame's RTP
/// timestamp is watched (`requestVideoFrameCallback`): Chromium presents only a frame or so a
/// second, so live view refuses such cameras with the reason, which the viewer's tile shows.
/// Should a Chromium release present them properly, the first assertion says to reconsider.
#[test]
fn chromium_cannot_present_b_frames_so_live_view_says_why() {
    let Some(rt) = in_browser_netns(
        "chromium_cannot_present_b_frames_so_live_view_says_why",
        Duration::from_secs(200),
    ) else {
        return;
    };
    rt.block_on(async {
        let mut camera = vms_testkit::gst::GstCamera::start(
            vms_testkit::free_port(),
            vms_testkit::gst::GstCodec::H264BFrames,
        )
        .await
        .unwrap();
        let url = url::Url::parse(&camera.url()).unwrap();
        // The same camera behind two servers: one passing B-frames through, one as shipped.
        let passing = common::world_with(|s| s.live.pass_b_frames = true);
        let shipped = common::world();
        let mut feeds = Vec::new();
        let mut bases = Vec::new();
        for w in [&passing, &shipped] {
            let cam = common::live_camera(w, w.cams[0], "cam-0", url.clone());
            vms_testkit::wait_for(Duration::from_secs(20), "the camera's B-frames seen", || {
                cam.live().reorders()
            })
            .await;
            let (addr, server) = vms_web::serve(
                "10.99.0.1:0".parse().unwrap(),
                w.state.clone(),
                std::future::pending(),
            )
            .await
            .unwrap();
            feeds.push((cam, server));
            bases.push(format!("http://{addr}/"));
        }
        let (_driver, c, _profile) = start_browser(&LIVE_ARGS).await;
        let cam0 = u64::from(passing.cams[0]);
        let tile = |cam: u64| {
            let c = &c;
            async move {
                for _ in 0..100 {
                    if let Some(t) = tiles(c)
                        .await
                        .into_iter()
                        .find(|t| t["camera"] == cam && (t["frames"].as_u64() >= Some(5) || t["msg"].as_str().is_some_and(|m| m.contains("B-frames"))))
                    {
                        return t;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                panic!("tile of camera {cam} shows neither video nor a reason: {:?}", tiles(c).await)
            }
        };
        let run = async {
            let code = passing.code("viewer").unwrap();
            common::browser::sign_in(&c, &bases[0], "viewer", Some(&code)).await?;
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#live-section:not(.hidden)"))
                .await?;
            start_grid(&c, &bases[0]).await?;
            tile(cam0).await;
            c.execute(
                &format!(
                    "window.rtp = []; \
                     const v = document.querySelector('#live-grid .tile[data-camera=\"{cam0}\"] video'); \
                     const cb = (now, m) => {{ window.rtp.push(m.rtpTimestamp); \
                     v.requestVideoFrameCallback(cb); }}; v.requestVideoFrameCallback(cb);"
                ),
                vec![],
            )
            .await?;
            tokio::time::sleep(Duration::from_secs(4)).await;
            let rtp: Vec<i64> = match c.execute("return window.rtp;", vec![]).await? {
                Value::Array(v) => v.iter().filter_map(Value::as_i64).collect(),
                _ => Vec::new(),
            };
            let in_order = rtp.windows(2).all(|w| w[1] > w[0]);
            println!(
                "report: a 30 fps B-frame camera passed to Chromium unchanged: {} frames presented in 4 s, in order: {in_order}",
                rtp.len()
            );
            assert!(
                rtp.len() < 60 || !in_order,
                "Chromium now presents B-frame streams ({} frames in 4 s, in order): reconsider \
                 refusing them in live view",
                rtp.len()
            );

            // As shipped: the viewer's tile says why there is no picture.
            let code = shipped.code("viewer").unwrap();
            common::browser::sign_in(&c, &bases[1], "viewer", Some(&code)).await?;
            c.wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#live-section:not(.hidden)"))
                .await?;
            start_grid(&c, &bases[1]).await?;
            let t = tile(u64::from(shipped.cams[0])).await;
            assert!(
                t["msg"].as_str().unwrap_or_default().contains("B-frames"),
                "{t:?}"
            );
            assert_eq!(t["frames"].as_u64(), Some(0), "{t:?}");
            Ok::<_, fantoccini::error::CmdError>(())
        };
        let result = tokio::time::timeout(Duration::from_secs(120), run).await;
        let _ = c.close().await;
        camera.kill().await;
        result.expect("in time").expect("browser");
    });
}
