//! Live view (WHEP) with a WebRTC client that is not a browser (`str0m`, through
//! `vms_web::live::client`), over real HTTP and real UDP on loopback, fed by the RTSP simulator
//! through the real ingest session: frames arrive, instant start, a camera restart mid-view,
//! ending and cleanup, and bad input.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vms_ingest::CameraHandle;
use vms_sim::{SimOptions, SimServer};
use vms_web::CameraView;
use vms_web::live::client::WhepClient;

use common::{Session, World};

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

struct Live {
    w: World,
    sim: SimServer,
    cam: CameraHandle,
    addr: SocketAddr,
    viewer: Session,
}

/// The world's live camera (`cams[0]`) recorded from a simulated camera by a real session;
/// the web server on a real loopback port.
async fn live_world(f: impl FnOnce(&mut vms_web::Settings)) -> Live {
    let w = common::world_with(f);
    let sim = SimServer::start(SimOptions::new(1)).await.unwrap();
    let cam = common::live_camera(&w, w.cams[0], "cam-0", sim.url(0));
    let (addr, _) = vms_web::serve(
        "127.0.0.1:0".parse().unwrap(),
        w.state.clone(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let viewer = w.login("viewer").await;
    Live {
        w,
        sim,
        cam,
        addr,
        viewer,
    }
}

/// One HTTP/1.1 request as `s`; returns status, headers (lower-case names) and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    s: &Session,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let h = [
        ("cookie", s.cookie.as_str()),
        ("x-csrf-token", s.csrf.as_str()),
        ("content-type", content_type),
    ];
    let r = vms_web::live::client::http1(addr, method, path, &h, body)
        .await
        .unwrap();
    (r.status, r.headers, r.body)
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Offers, posts, and applies the answer; returns the client and the session's location.
async fn watch(l: &Live, camera: u32) -> (WhepClient, String) {
    let (c, location, _) = watch_answer(l, camera).await;
    (c, location)
}

/// [`watch`], then waits (up to 10 s) for the first frame to arrive.
async fn watch_until_frame(l: &Live, camera: u32) -> (WhepClient, String) {
    let (mut client, location) = watch(l, camera).await;
    client
        .next_frame(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("a frame within 10 s");
    (client, location)
}

/// [`watch`], also returning the SDP answer.
async fn watch_answer(l: &Live, camera: u32) -> (WhepClient, String, String) {
    let (mut client, offer) = WhepClient::offer(LOOPBACK, true).await.unwrap();
    let (status, h, body) = http(
        l.addr,
        "POST",
        &format!("/api/cameras/{camera}/whep?reason=incident%2024-1187"),
        &l.viewer,
        "application/sdp",
        offer.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&h, "content-type"), Some("application/sdp"));
    let location = header(&h, "location").unwrap().to_owned();
    assert!(location.starts_with("/api/live/"), "{location}");
    assert!(
        body.contains("a=ice-lite") && body.contains("127.0.0.1"),
        "{body}"
    );
    client.accept_answer(&body).unwrap();
    (client, location, body)
}

async fn wait_streaming(l: &Live) {
    for _ in 0..100 {
        if !l.cam.live().subscribe().0.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the simulated camera never streamed");
}

async fn wait_sessions(w: &World, n: usize, within: Duration) {
    let until = Instant::now() + within;
    while w.state.live.sessions() != n {
        assert!(
            Instant::now() < until,
            "{} live sessions, want {n}",
            w.state.live.sessions()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_client_sees_the_camera_at_once_and_across_a_camera_restart() {
    let l = live_world(|_| {}).await;
    wait_streaming(&l).await;
    // "At once" means without waiting for the camera's next keyframe: ask while that keyframe
    // is still at least 10 frames away, and check the camera has not sent it by the time the
    // viewer decodes its first frame — so that frame can only be the held GOP's keyframe.
    let clip = vms_sim::Clip::builtin();
    let frames_to_keyframe = |sent: u64| {
        (sent..)
            .take(clip.frame_count())
            .position(|n| clip.frames()[(n % clip.frame_count() as u64) as usize].keyframe)
            .unwrap_or(0) as u64
    };
    while frames_to_keyframe(l.sim.stats(0).frames_sent) < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_at_offer = l.sim.stats(0).frames_sent;
    let next_keyframe_at = sent_at_offer + frames_to_keyframe(sent_at_offer);
    let t0 = Instant::now();
    let (mut client, location) = watch(&l, l.w.cams[0]).await;

    // Instant start: the first access unit is the held GOP's keyframe, with SPS/PPS in band.
    let first = client
        .next_frame(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("a frame within 10 s");
    let sent_at_first = l.sim.stats(0).frames_sent;
    assert!(
        first.keyframe && first.has_sps,
        "first frame must start a decoder"
    );
    assert!(
        sent_at_first < next_keyframe_at,
        "the first frame came only after the camera's next keyframe (frame {sent_at_first} \
         of the camera, keyframe at {next_keyframe_at}): not from the held GOP"
    );
    let first_ms = t0.elapsed().as_millis();
    let mut frames = 1u32;
    let mut last_rtp = first.rtp_time;
    while frames < 60 {
        let f = client
            .next_frame(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("frames keep coming");
        assert!(f.rtp_time > last_rtp, "RTP time moves forward");
        last_rtp = f.rtp_time;
        frames += 1;
    }
    eprintln!("first frame after {first_ms} ms (POST to decodable keyframe)");

    // Many viewers share one camera session: a second viewer adds no RTSP connection.
    let connections_before = l.sim.stats(0).connections;
    let (second, second_loc) = watch_until_frame(&l, l.w.cams[0]).await;
    assert_eq!(l.sim.stats(0).connections, connections_before);
    assert_eq!(l.sim.stats(0).active_sessions, 1);

    // The camera restarts: the same WebRTC session carries on from its next keyframe.
    l.sim.set_online(0, false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Drain whatever was in flight.
    while client
        .next_frame(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {}
    l.sim.set_online(0, true);
    let after = client
        .next_frame(Duration::from_secs(15))
        .await
        .unwrap()
        .expect("frames resume after the camera comes back");
    assert!(after.keyframe && after.has_sps, "resumes at a keyframe");
    assert!(after.rtp_time > last_rtp, "RTP time still moves forward");
    for _ in 0..10 {
        client
            .next_frame(Duration::from_secs(5))
            .await
            .unwrap()
            .expect("frames keep coming after the restart");
    }

    // Metrics count the viewers and what they were sent.
    let (status, _, text) = http(l.addr, "GET", "/metrics", &l.viewer, "text/plain", b"").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        metric(&text, "vms_live_viewers{camera=\"cam-0\"}"),
        2.0,
        "{text}"
    );
    assert!(metric(&text, "vms_live_frames_total{camera=\"cam-0\"}") >= 70.0);
    assert!(metric(&text, "vms_live_packets_total{camera=\"cam-0\"}") >= 70.0);
    assert!(
        metric(
            &text,
            "vms_live_forward_latency_seconds_count{camera=\"cam-0\"}"
        ) > 0.0
    );

    // Every view was audited as live video access with its reason.
    let ev = l.w.last_audit();
    assert_eq!(
        (ev.event.action.as_str(), ev.event.outcome.as_str()),
        ("video.live", "allow")
    );
    assert_eq!(ev.event.reason.as_deref(), Some("incident 24-1187"));

    // Ending: someone else cannot end my session; an administrator can (audited); I can.
    let other = l.w.login("investigator").await;
    let (status, _, _) = http(l.addr, "DELETE", &location, &other, "text/plain", b"").await;
    assert_eq!(status, 404);
    let admin = l.w.login("admin").await;
    let (status, _, body) = http(l.addr, "DELETE", &second_loc, &admin, "text/plain", b"").await;
    assert_eq!(status, 200, "{body}");
    let ev = l.w.last_audit();
    assert_eq!(
        (ev.event.actor.as_str(), ev.event.action.as_str()),
        ("admin", "live.end")
    );
    let (status, _, body) = http(l.addr, "DELETE", &location, &l.viewer, "text/plain", b"").await;
    assert_eq!(status, 200, "{body}");
    wait_sessions(&l.w, 0, Duration::from_secs(5)).await;
    assert_eq!(l.cam.live().receivers(), 0, "viewer tasks gone");
    let (_, _, text) = http(l.addr, "GET", "/metrics", &l.viewer, "text/plain", b"").await;
    assert_eq!(
        metric(&text, "vms_live_viewers{camera=\"cam-0\"}"),
        0.0,
        "{text}"
    );
    let (status, _, _) = http(l.addr, "DELETE", &location, &l.viewer, "text/plain", b"").await;
    assert_eq!(status, 404, "already ended");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_vanishes_or_never_connects_is_cleaned_up() {
    let l = live_world(|s| {
        s.live.connect_timeout = Duration::from_secs(1);
        s.live.peer_timeout = Duration::from_secs(2);
    })
    .await;
    wait_streaming(&l).await;
    // Connects, receives, then goes silent (tab closed without DELETE).
    let (client, _) = watch_until_frame(&l, l.w.cams[0]).await;
    drop(client);
    // Never connects at all (offer posted, answer never used).
    let (_silent, offer) = WhepClient::offer(LOOPBACK, true).await.unwrap();
    let (status, _, body) = http(
        l.addr,
        "POST",
        &format!("/api/cameras/{}/whep?reason=r", l.w.cams[0]),
        &l.viewer,
        "application/sdp",
        offer.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(l.w.state.live.sessions(), 2);
    wait_sessions(&l.w, 0, Duration::from_secs(6)).await;
    assert_eq!(l.cam.live().receivers(), 0);

    // The partner stops sharing live: a running view ends within a recheck (5 s).
    let (_viewer, _) = watch_until_frame(&l, l.w.cams[0]).await;
    let partner = l.w.login("partner1").await;
    let (status, v) =
        l.w.call(
            axum::http::Method::PATCH,
            &format!("/api/cameras/{}", l.w.cams[0]),
            &partner,
            Some(serde_json::json!({"sharing": "on-request"})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    wait_sessions(&l.w, 0, Duration::from_secs(8)).await;
    let (status, v) =
        l.w.call(
            axum::http::Method::PATCH,
            &format!("/api/cameras/{}", l.w.cams[0]),
            &partner,
            Some(serde_json::json!({"sharing": "live"})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");

    // The camera stops being recorded: its viewers end at once.
    let (_viewer, _) = watch_until_frame(&l, l.w.cams[0]).await;
    l.cam.stop().await;
    wait_sessions(&l.w, 0, Duration::from_secs(3)).await;
    let (_, _, text) = http(l.addr, "GET", "/metrics", &l.viewer, "text/plain", b"").await;
    assert_eq!(
        metric(&text, "vms_live_viewers{camera=\"cam-0\"}"),
        0.0,
        "{text}"
    );
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_refused_clearly_and_nothing_leaks() {
    let l = live_world(|s| s.live.max_viewers = 3).await;
    wait_streaming(&l).await;
    let cam = l.w.cams[0];
    let post = |path: String, ct: &'static str, body: Vec<u8>, s: Session| {
        let addr = l.addr;
        async move { http(addr, "POST", &path, &s, ct, &body).await }
    };
    let whep = format!("/api/cameras/{cam}/whep?reason=r");
    let (_, h264_offer) = WhepClient::offer(LOOPBACK, true).await.unwrap();
    let (_, vp8_offer) = WhepClient::offer(LOOPBACK, false).await.unwrap();

    let cases: Vec<(&str, String, &'static str, Vec<u8>, u16)> = vec![
        (
            "malformed SDP",
            whep.clone(),
            "application/sdp",
            b"v=0\r\nnonsense".to_vec(),
            400,
        ),
        (
            "not UTF-8",
            whep.clone(),
            "application/sdp",
            vec![0xff, 0xfe, 0],
            400,
        ),
        (
            "JSON instead of SDP",
            whep.clone(),
            "application/json",
            b"{}".to_vec(),
            415,
        ),
        (
            "offer without H.264",
            whep.clone(),
            "application/sdp",
            vp8_offer.clone().into_bytes(),
            422,
        ),
        (
            "no reason",
            format!("/api/cameras/{cam}/whep"),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            400,
        ),
        (
            "empty reason",
            format!("/api/cameras/{cam}/whep?reason="),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            400,
        ),
        (
            "unknown camera",
            "/api/cameras/999999/whep?reason=r".into(),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            404,
        ),
        (
            "camera shared on request only",
            format!("/api/cameras/{}/whep?reason=r", l.w.cams[1]),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            403,
        ),
        (
            "registry-only camera",
            format!("/api/cameras/{}/whep?reason=r", l.w.cams[2]),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            403,
        ),
        (
            "live camera not recorded now",
            format!("/api/cameras/{}/whep?reason=r", l.w.cams[3]),
            "application/sdp",
            h264_offer.clone().into_bytes(),
            503,
        ),
        (
            "too large",
            whep.clone(),
            "application/sdp",
            vec![b'a'; 40_000],
            413,
        ),
    ];
    for (what, path, ct, body, want) in &cases {
        let (status, _, text) = post(path.clone(), ct, body.clone(), l.viewer.clone()).await;
        assert_eq!(status, *want, "{what}: {text}");
        assert!(text.contains("\"error\""), "{what}: a JSON error: {text}");
    }
    // An H.265 camera: refused with what to change, not a session that never shows a picture.
    let h265 = vms_ingest::LiveFeed::default();
    h265.publish(vms_ingest::Frame {
        session: 1,
        new_params: None,
        params: Arc::new(vms_ingest::VideoParams {
            codec: vms_ingest::Codec::H265,
            rfc6381: "hvc1.1.6.L93.B0".into(),
            width: 1920,
            height: 1080,
            sample_entry: Default::default(),
            extra_data: Default::default(),
            clock_offset_us: None,
        }),
        pts_90k: 0,
        wall_us: 0,
        keyframe: true,
        data: Default::default(),
    });
    l.w.state.cameras.write().unwrap().push(CameraView {
        name: "cam-3".into(),
        id: l.w.cams[3],
        health: Arc::default(),
        stats: Arc::default(),
        live: h265,
    });
    let (status, _, text) = post(
        format!("/api/cameras/{}/whep?reason=r", l.w.cams[3]),
        "application/sdp",
        h264_offer.clone().into_bytes(),
        l.viewer.clone(),
    )
    .await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("needs H.264"), "{text}");

    // The policy's refusal is audited with the camera and the rule.
    let denied =
        l.w.store
            .audit_search(&vms_storage::AuditFilter {
                actor: Some("viewer".into()),
                ..Default::default()
            })
            .unwrap();
    assert!(denied.iter().any(|e| e.event.action == "video.live"
        && e.event.outcome == "deny"
        && e.event.camera == Some(l.w.cams[1])));
    // Roles that may not watch live are refused before anything else.
    let partner = l.w.login("partner1").await;
    let (status, _, _) = post(
        whep.clone(),
        "application/sdp",
        h264_offer.clone().into_bytes(),
        partner,
    )
    .await;
    assert_eq!(status, 403);

    // Capacity: the fourth concurrent viewer gets 503, not a degraded session.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(watch(&l, cam).await);
    }
    let (status, _, text) = post(
        whep.clone(),
        "application/sdp",
        h264_offer.clone().into_bytes(),
        l.viewer.clone(),
    )
    .await;
    assert_eq!(status, 503, "{text}");
    for (_, loc) in held.drain(..) {
        let (status, _, _) = http(l.addr, "DELETE", &loc, &l.viewer, "text/plain", b"").await;
        assert_eq!(status, 200);
    }
    wait_sessions(&l.w, 0, Duration::from_secs(5)).await;

    // 1000 offers in a loop (bounded, loopback): refused ones and accepted-then-ended ones.
    // Afterwards no session, task or socket is left behind.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds = open_fds();
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    for i in 0..1000 {
        let (status, h, text) = match i % 10 {
            0 => {
                post(
                    whep.clone(),
                    "application/sdp",
                    h264_offer.clone().into_bytes(),
                    l.viewer.clone(),
                )
                .await
            }
            1..=4 => {
                post(
                    whep.clone(),
                    "application/sdp",
                    b"v=0\r\nbroken".to_vec(),
                    l.viewer.clone(),
                )
                .await
            }
            _ => {
                post(
                    whep.clone(),
                    "application/sdp",
                    vp8_offer.clone().into_bytes(),
                    l.viewer.clone(),
                )
                .await
            }
        };
        if i % 10 == 0 {
            assert_eq!(status, 201, "{text}");
            let loc = header(&h, "location").unwrap().to_owned();
            let (status, _, _) = http(l.addr, "DELETE", &loc, &l.viewer, "text/plain", b"").await;
            assert_eq!(status, 200);
        } else {
            assert!(status == 400 || status == 422, "{status}: {text}");
        }
    }
    wait_sessions(&l.w, 0, Duration::from_secs(10)).await;
    let mut settled = false;
    for _ in 0..100 {
        let now_tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks();
        if open_fds() <= fds + 2 && now_tasks <= tasks + 2 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "leak: fds {fds} → {}, tasks {tasks} → {}",
        open_fds(),
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    );
}

/// An `avcC` record for the built-in clip's SPS/PPS.
fn avcc(clip: &vms_sim::Clip) -> bytes::Bytes {
    let (sps, pps) = (clip.sps(), clip.pps());
    let mut b = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    b.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    b.extend_from_slice(sps);
    b.push(1);
    b.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    b.extend_from_slice(pps);
    bytes::Bytes::from(b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_falls_behind_skips_to_the_next_keyframe() {
    let l = live_world(|s| s.live.udp_ports = Some((47_310, 47_329))).await;
    // A feed this test drives itself, as fast as it likes: far faster than a viewer drains.
    let clip = vms_sim::Clip::builtin();
    let params = Arc::new(vms_ingest::VideoParams {
        codec: vms_ingest::Codec::H264,
        rfc6381: clip.rfc6381_codec(),
        width: clip.width(),
        height: clip.height(),
        sample_entry: clip.sample_entry().clone(),
        extra_data: avcc(&clip),
        clock_offset_us: None,
    });
    let feed = vms_ingest::LiveFeed::default();
    let mut pts = 0i64;
    let mut publish = |n: usize| {
        for f in clip.frames().iter().cycle().take(n) {
            feed.publish(vms_ingest::Frame {
                session: 1,
                new_params: None,
                params: params.clone(),
                pts_90k: pts,
                wall_us: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_micros() as i64,
                keyframe: f.keyframe,
                data: f.data.clone(),
            });
            pts += i64::from(f.duration_90k);
        }
    };
    publish(30);
    l.w.state.cameras.write().unwrap().push(CameraView {
        name: "cam-3".into(),
        id: l.w.cams[3],
        health: Arc::default(),
        stats: Arc::default(),
        live: feed.clone(),
    });
    let (mut client, location, answer) = watch_answer(&l, l.w.cams[3]).await;
    // The answer's candidate uses the configured port range.
    let port: u16 = answer
        .lines()
        .find(|l| l.starts_with("a=candidate:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert!((47_310..=47_329).contains(&port), "{answer}");
    client
        .next_frame(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("a frame within 10 s");
    // Flood: 3000 frames (~100 s of video) at once; the broadcast holds 256.
    publish(3000);
    let mut got = 0;
    while client
        .next_frame(Duration::from_secs(2))
        .await
        .unwrap()
        .is_some()
    {
        got += 1;
    }
    let m = l.w.state.live.camera_metrics(l.w.cams[3]);
    let dropped = m.dropped_slow.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        dropped > 0,
        "the viewer fell behind ({got} frames received)"
    );
    assert!(got < 3000, "it skipped instead of buffering everything");
    assert!(m.keyframe_waits.load(std::sync::atomic::Ordering::Relaxed) > 0);
    // It carries on: the session survives the flood and new frames arrive.
    publish(60);
    client
        .next_frame(Duration::from_secs(10))
        .await
        .unwrap()
        .expect("frames after the flood");
    let (status, _, _) = http(l.addr, "DELETE", &location, &l.viewer, "text/plain", b"").await;
    assert_eq!(status, 200);
    wait_sessions(&l.w, 0, Duration::from_secs(10)).await;
}

/// Issue 22 F6: a running view used to recheck only the camera's terms, with the subject
/// captured at its start, so it kept streaming after its viewer signed out or was disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_ends_when_its_viewer_signs_out_or_is_disabled() {
    let mut l = live_world(|_| {}).await;
    wait_streaming(&l).await;

    let (_client, _) = watch_until_frame(&l, l.w.cams[0]).await;
    let (status, v) =
        l.w.call(axum::http::Method::POST, "/api/logout", &l.viewer, None)
            .await;
    assert_eq!(status, axum::http::StatusCode::NO_CONTENT, "{v}");
    wait_sessions(&l.w, 0, Duration::from_secs(8)).await;

    l.w.clock.advance_secs(30); // a fresh TOTP step for the next sign-in
    l.viewer = l.w.login("viewer").await;
    let (_client, _) = watch_until_frame(&l, l.w.cams[0]).await;
    let admin = l.w.login("admin").await;
    let (status, v) =
        l.w.call(
            axum::http::Method::PATCH,
            "/api/users/viewer",
            &admin,
            Some(serde_json::json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{v}");
    wait_sessions(&l.w, 0, Duration::from_secs(8)).await;
}

/// Issue 22 F12: one account cannot fill the live slots with offers it never completes (a
/// per-account cap), and an offer that never connects is not a view: nothing is audited as an
/// allowed live access until media can flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_that_never_connect_are_capped_per_account_and_not_counted() {
    let l = live_world(|s| s.live.max_per_user = 3).await;
    wait_streaming(&l).await;
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (client, offer) = WhepClient::offer(LOOPBACK, true).await.unwrap();
        let (status, _, body) = http(
            l.addr,
            "POST",
            &format!("/api/cameras/{}/whep?reason=flood", l.w.cams[0]),
            &l.viewer,
            "application/sdp",
            offer.as_bytes(),
        )
        .await;
        statuses.push((status, body));
        held.push(client);
    }
    let codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
    assert_eq!(codes, [201, 201, 201, 429], "{statuses:?}");
    assert_eq!(l.w.state.live.sessions(), 3);
    let views =
        l.w.store
            .audit_search(&vms_storage::AuditFilter {
                actor: Some("viewer".into()),
                ..Default::default()
            })
            .unwrap();
    assert!(
        !views
            .iter()
            .any(|e| e.event.action == "video.live" && e.event.outcome == "allow"),
        "an offer that never connected was audited as a view"
    );
    // Another account is not affected by this one's cap.
    let other = l.w.login("investigator").await;
    let (_, offer) = WhepClient::offer(LOOPBACK, true).await.unwrap();
    let (status, _, body) = http(
        l.addr,
        "POST",
        &format!("/api/cameras/{}/whep?reason=own", l.w.cams[0]),
        &other,
        "application/sdp",
        offer.as_bytes(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    drop(held);
}

/// Issue 15 (honest health): a streaming camera whose recorder is dropping frames shows as
/// `degraded`, with the rate and a reason, in `/api/health` and the metrics — not "streaming"
/// with no error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_dropping_frames_is_degraded_not_streaming() {
    use std::sync::atomic::Ordering::Relaxed;
    let l = live_world(|_| {}).await;
    wait_streaming(&l).await;
    let admin = l.w.login("admin").await;
    let health = |v: &serde_json::Value| v["cameras"][0].clone();
    let (st, v) =
        l.w.call(axum::http::Method::GET, "/api/health", &admin, None)
            .await;
    assert_eq!(st, axum::http::StatusCode::OK, "{v}");
    assert_eq!(health(&v)["state"], "streaming", "{v}");

    // What the recorder reports for a camera with B-frames (issue 15): most frames dropped.
    let stats = l.w.state.cameras.read().unwrap()[0].stats.clone();
    stats.drop_ppm.store(960_000, Relaxed);
    stats.frames_dropped_resync.store(960, Relaxed);
    let (_, v) =
        l.w.call(axum::http::Method::GET, "/api/health", &admin, None)
            .await;
    let h = health(&v);
    assert_eq!(h["state"], "degraded", "{v}");
    assert_eq!(h["drop_rate"], 0.96);
    assert_eq!(h["frames_dropped"], 960);
    assert!(h["last_error"].as_str().unwrap().contains("96 %"), "{h}");
    let (_, _, body) = common::get_raw(&l.w.app, "/metrics", &admin, &[]).await;
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("vms_recorder_frames_dropped_total{camera=\"cam-0\"} 960"),
        "{text}"
    );
}
