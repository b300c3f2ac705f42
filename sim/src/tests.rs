//! End-to-end tests of the simulator against independent clients: retina (TCP and UDP), ffprobe
//! and hand-written raw requests. All run in real time, each bounded by timeouts.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt as _;
use retina::client::{
    Credentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, VideoFrame};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::*;

const STEP: Duration = Duration::from_secs(3);

async fn server(cameras: usize) -> SimServer {
    SimServer::start(SimOptions::new(cameras)).await.unwrap()
}

async fn open(
    url: url::Url,
    creds: Option<Credentials>,
    transport: Transport,
) -> Result<Demuxed, retina::Error> {
    let opts = SessionOptions::default().creds(creds);
    let mut session = timeout(STEP, Session::describe(url, opts)).await.unwrap()?;
    let setup = SetupOptions::default()
        .frame_format(FrameFormat::MP4)
        .transport(transport);
    timeout(STEP, session.setup(0, setup)).await.unwrap()?;
    let playing = timeout(STEP, session.play(PlayOptions::default()))
        .await
        .unwrap()?;
    playing.demuxed()
}

async fn open_tcp(url: url::Url) -> Demuxed {
    open(url, None, Transport::default()).await.unwrap()
}

/// The next video frame; `Err` if the stream ended or failed, panics on timeout.
async fn next_frame(d: &mut Demuxed) -> Result<VideoFrame, String> {
    loop {
        match timeout(STEP, d.next())
            .await
            .expect("no frame within timeout")
        {
            Some(Ok(CodecItem::VideoFrame(f))) => return Ok(f),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("end of stream".to_owned()),
        }
    }
}

/// Waits (up to [`STEP`]) until camera `cam`'s counters satisfy `ok`, returning them. The
/// server counts a frame only after its write returns, so a client can read a frame a moment
/// before the counter moves: reading the counter once, right after, would race.
async fn stats_when(sim: &SimServer, cam: usize, ok: impl Fn(&CameraStats) -> bool) -> CameraStats {
    let deadline = Instant::now() + STEP;
    loop {
        let stats = sim.stats(cam);
        if ok(&stats) || Instant::now() >= deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Receives `n` frames checking that they are the clip's frames in order (looping), with
/// keyframe flags matching and timestamps exactly one frame duration apart.
async fn expect_clip_frames(d: &mut Demuxed, clip: &Clip, n: usize) {
    let mut prev_ts = None;
    for i in 0..n {
        let f = next_frame(d).await.unwrap();
        let expected = &clip.frames()[i % clip.frame_count()];
        assert_eq!(f.is_random_access_point(), expected.keyframe, "frame {i}");
        assert_eq!(f.data(), &expected.data[..], "frame {i} bytes");
        let ts = f.timestamp().timestamp();
        if let Some(prev) = prev_ts {
            assert_eq!(ts - prev, 3000, "frame {i} timestamp");
        }
        assert_eq!(f.loss(), 0);
        prev_ts = Some(ts);
    }
}

#[tokio::test]
async fn retina_receives_the_clip_in_real_time_with_sender_report() {
    let sim = server(2).await;
    let clip = Clip::builtin();
    let started = Instant::now();
    let mut d = open_tcp(sim.url(1)).await;
    let mut sr = None;
    let mut prev_ts = None;
    let mut first_ts = None;
    let mut i = 0;
    while i < 45 {
        match timeout(STEP, d.next()).await.unwrap() {
            Some(Ok(CodecItem::VideoFrame(f))) => {
                let expected = &clip.frames()[i];
                assert_eq!(f.is_random_access_point(), i % 30 == 0, "frame {i}");
                assert_eq!(f.data(), &expected.data[..], "frame {i} bytes");
                let ts = f.timestamp().timestamp();
                if let Some(prev) = prev_ts {
                    assert_eq!(ts - prev, 3000, "frame {i}");
                }
                first_ts.get_or_insert(ts);
                prev_ts = Some(ts);
                i += 1;
            }
            Some(Ok(CodecItem::Rtcp(rtcp))) => {
                let report = rtcp.pkts().next().unwrap().as_sender_report().unwrap();
                let report = report.expect("first RTCP packet is a sender report");
                sr = Some((
                    rtcp.rtp_timestamp().unwrap().timestamp(),
                    report.ntp_timestamp().0,
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1300),
        "paced in real time: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_millis(2900), "{elapsed:?}");

    // The SR goes out right after the first frame: its RTP time is the first frame's (give or
    // take scheduling delay) and its NTP time is now, minus the time since.
    let (sr_rtp, sr_ntp) = sr.expect("got a sender report");
    let delta = sr_rtp - first_ts.unwrap();
    assert!(
        (0..9000).contains(&delta),
        "SR rtp time {delta} ticks after frame 0"
    );
    let now_ntp = rtp::ntp_timestamp(SystemTime::now());
    let age_secs = now_ntp.wrapping_sub(sr_ntp) as f64 / (1u64 << 32) as f64;
    assert!((1.0..3.0).contains(&age_secs), "SR NTP age {age_secs}");

    let stats = stats_when(&sim, 1, |s| s.frames_sent >= 45).await;
    assert!(stats.frames_sent >= 45, "{stats:?}");
    assert_eq!((stats.connections, stats.active_sessions), (1, 1));
    assert_eq!(sim.stats(0), CameraStats::default());
    drop(d);
    let deadline = Instant::now() + STEP;
    while sim.stats(1).active_sessions != 0 {
        assert!(Instant::now() < deadline, "session not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn one_gop_clip_loops_with_continuous_timestamps() {
    let clip = Arc::new(Clip::builtin().truncated(1).unwrap());
    let sim = SimServer::start(SimOptions {
        clip: clip.clone(),
        ..SimOptions::new(1)
    })
    .await
    .unwrap();
    let mut d = open_tcp(sim.url(0)).await;
    // 65 frames cross the loop point twice (after frames 29 and 59).
    expect_clip_frames(&mut d, &clip, 65).await;
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn retina_over_udp() {
    let sim = server(1).await;
    let clip = Clip::builtin();
    let transport = Transport::Udp(Default::default());
    let mut d = open(sim.url(0), None, transport).await.unwrap();
    expect_clip_frames(&mut d, &clip, 12).await;
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn digest_auth() {
    let sim = SimServer::start(SimOptions {
        credentials: Some(("admin".to_owned(), "s3cret".to_owned())),
        ..SimOptions::new(1)
    })
    .await
    .unwrap();
    assert!(!sim.url(0).as_str().contains("admin"));
    assert!(!format!("{sim:?}").contains("s3cret"));
    let creds = |password: &str| {
        Some(Credentials {
            username: "admin".to_owned(),
            password: password.to_owned(),
        })
    };
    let mut d = open(sim.url(0), creds("s3cret"), Transport::default())
        .await
        .unwrap();
    expect_clip_frames(&mut d, &Clip::builtin(), 3).await;

    let err = open(sim.url(0), creds("wrong"), Transport::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.status_code(), Some(401), "{err}");
    let err = open(sim.url(0), None, Transport::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.status_code(), Some(401), "{err}");

    // Basic is accepted too, and OPTIONS needs no credentials.
    let mut raw = TcpStream::connect(sim.local_addr()).await.unwrap();
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "admin:s3cret");
    let url = sim.url(0);
    let describe =
        format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAuthorization: Basic {basic}\r\n\r\n");
    assert!(
        request(&mut raw, &describe)
            .await
            .starts_with("RTSP/1.0 200 OK")
    );
    let options = format!("OPTIONS {url} RTSP/1.0\r\nCSeq: 2\r\n\r\n");
    assert!(
        request(&mut raw, &options)
            .await
            .starts_with("RTSP/1.0 200 OK")
    );
    let unauth = format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 3\r\n\r\n");
    let resp = request(&mut raw, &unauth).await;
    assert!(resp.starts_with("RTSP/1.0 401"), "{resp}");
    assert!(resp.contains("WWW-Authenticate: Digest realm=\"vms-sim\", nonce=\""));
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn drop_connection_ends_the_stream_and_reconnect_works() {
    let sim = server(1).await;
    let mut d = open_tcp(sim.url(0)).await;
    next_frame(&mut d).await.unwrap();
    sim.inject(0, Fault::DropConnection);
    let mut ended = false;
    for _ in 0..10 {
        if next_frame(&mut d).await.is_err() {
            ended = true;
            break;
        }
    }
    assert!(ended, "stream still delivering frames after DropConnection");
    let mut d = open_tcp(sim.url(0)).await;
    next_frame(&mut d).await.unwrap();
    assert_eq!(sim.stats(0).connections, 2);
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn timestamp_jump_is_visible_to_the_client() {
    let sim = server(1).await;
    let mut d = open_tcp(sim.url(0)).await;
    let mut prev = next_frame(&mut d).await.unwrap().timestamp().timestamp();
    sim.inject(0, Fault::TimestampJump(900_000));
    let mut deltas = Vec::new();
    for _ in 0..6 {
        let ts = next_frame(&mut d).await.unwrap().timestamp().timestamp();
        deltas.push(ts - prev);
        prev = ts;
    }
    let jumps: Vec<i64> = deltas.iter().copied().filter(|&d| d != 3000).collect();
    assert_eq!(jumps, [903_000], "{deltas:?}");
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn stall_pauses_media_then_resumes_at_a_keyframe() {
    let sim = server(1).await;
    let mut d = open_tcp(sim.url(0)).await;
    let first = next_frame(&mut d).await.unwrap().timestamp().timestamp();
    let mut last = first;
    for _ in 0..2 {
        last = next_frame(&mut d).await.unwrap().timestamp().timestamp();
    }
    let stall_start = Instant::now();
    sim.inject(0, Fault::Stall(Duration::from_millis(600)));
    let f = next_frame(&mut d).await.unwrap();
    let gap = stall_start.elapsed();
    assert!(gap >= Duration::from_millis(550), "{gap:?}");
    assert!(f.is_random_access_point());
    // Resumes with frame 30 (the next keyframe after the stall), timestamped as such.
    assert_eq!(f.timestamp().timestamp() - first, 30 * 3000);
    assert!(f.timestamp().timestamp() - last > 3000);
    let next = next_frame(&mut d).await.unwrap();
    assert_eq!(
        next.timestamp().timestamp() - f.timestamp().timestamp(),
        3000
    );
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn garbage_is_survivable() {
    let sim = server(1).await;
    let mut d = open_tcp(sim.url(0)).await;
    next_frame(&mut d).await.unwrap();
    // Junk in an interleaved frame on an unused channel: a conforming client skips it.
    sim.inject(0, Fault::Garbage(5000));
    for _ in 0..3 {
        next_frame(&mut d).await.unwrap();
    }
    // Fewer than 4 bytes go out raw, which desynchronizes the client's framing.
    sim.inject(0, Fault::Garbage(3));
    let mut broke = false;
    for _ in 0..10 {
        if next_frame(&mut d).await.is_err() {
            broke = true;
            break;
        }
    }
    assert!(broke, "raw junk went unnoticed");
    // The server itself is unharmed.
    let mut d2 = open_tcp(sim.url(0)).await;
    expect_clip_frames(&mut d2, &Clip::builtin(), 3).await;
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn offline_camera_answers_503_and_comes_back() {
    let sim = server(2).await;
    let mut d = open_tcp(sim.url(0)).await;
    next_frame(&mut d).await.unwrap();
    sim.set_online(0, false);
    let mut ended = false;
    for _ in 0..10 {
        if next_frame(&mut d).await.is_err() {
            ended = true;
            break;
        }
    }
    assert!(ended, "offline camera kept streaming");
    let err = open(sim.url(0), None, Transport::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.status_code(), Some(503), "{err}");
    // Other cameras are unaffected.
    next_frame(&mut open_tcp(sim.url(1)).await).await.unwrap();
    sim.set_online(0, true);
    next_frame(&mut open_tcp(sim.url(0)).await).await.unwrap();
    timeout(STEP, sim.shutdown()).await.unwrap();
}

async fn ffprobe(url: &url::Url, transport: &str) -> String {
    let out = tokio::process::Command::new("/usr/bin/ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-select_streams",
            "v",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(url.as_str())
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(10), out)
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_h264_720p(json: &str) {
    let compact: String = json.split_whitespace().collect();
    assert!(compact.contains("\"codec_name\":\"h264\""), "{json}");
    assert!(compact.contains("\"width\":1280"), "{json}");
    assert!(compact.contains("\"height\":720"), "{json}");
}

#[tokio::test]
async fn ffprobe_over_tcp() {
    let sim = server(1).await;
    assert_h264_720p(&ffprobe(&sim.url(0), "tcp").await);
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn ffprobe_over_udp() {
    let sim = server(1).await;
    assert_h264_720p(&ffprobe(&sim.url(0), "udp").await);
    timeout(STEP, sim.shutdown()).await.unwrap();
}

/// Sends `req` and reads one response (head plus any body).
async fn request(s: &mut TcpStream, req: &str) -> String {
    timeout(STEP, s.write_all(req.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    read_response(s).await
}

async fn read_response(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match timeout(STEP, s.read(&mut byte)).await.unwrap() {
            Ok(1) => buf.push(byte[0]),
            _ => return String::from_utf8_lossy(&buf).into_owned(),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    timeout(STEP, s.read_exact(&mut body))
        .await
        .unwrap()
        .unwrap();
    head + &String::from_utf8(body).unwrap()
}

#[tokio::test]
async fn malformed_requests_get_errors_and_the_server_carries_on() {
    let sim = server(1).await;
    let url = sim.url(0);
    let mut s = TcpStream::connect(sim.local_addr()).await.unwrap();
    let resp = request(&mut s, "garbage\r\n\r\n").await;
    assert!(resp.starts_with("RTSP/1.0 400 "), "{resp}");
    let resp = request(&mut s, "OPTIONS * RTSP/1.0\r\n\r\n").await;
    assert!(resp.starts_with("RTSP/1.0 400 "), "missing CSeq: {resp}");
    let port = sim.local_addr().port();
    let resp = request(
        &mut s,
        &format!("DESCRIBE rtsp://127.0.0.1:{port}/cam/1 RTSP/1.0\r\nCSeq: 3\r\n\r\n"),
    )
    .await;
    assert!(
        resp.starts_with("RTSP/1.0 404 ") && resp.contains("CSeq: 3\r\n"),
        "{resp}"
    );
    let resp = request(
        &mut s,
        &format!("DESCRIBE rtsp://127.0.0.1:{port}/cam/x RTSP/1.0\r\nCSeq: 4\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("RTSP/1.0 404 "), "{resp}");
    let resp = request(&mut s, "BREW * RTSP/1.0\r\nCSeq: 5\r\n\r\n").await;
    assert!(resp.starts_with("RTSP/1.0 501 "), "{resp}");
    let resp = request(&mut s, &format!("PAUSE {url} RTSP/1.0\r\nCSeq: 6\r\n\r\n")).await;
    assert!(resp.starts_with("RTSP/1.0 405 "), "{resp}");
    let resp = request(
        &mut s,
        &format!("PLAY {url} RTSP/1.0\r\nCSeq: 7\r\nSession: nope\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("RTSP/1.0 454 "), "{resp}");
    let resp = request(
        &mut s,
        &format!(
            "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 8\r\nTransport: RTP/AVP;multicast\r\n\r\n"
        ),
    )
    .await;
    assert!(resp.starts_with("RTSP/1.0 461 "), "{resp}");
    let resp = request(
        &mut s,
        &format!("DESCRIBE {url} RTSP/1.0\r\nCSeq: 9\r\n\r\n"),
    )
    .await;
    assert!(
        resp.starts_with("RTSP/1.0 200 ") && resp.contains("sprop-parameter-sets="),
        "{resp}"
    );
    assert!(
        resp.contains(&format!("Content-Base: rtsp://127.0.0.1:{port}/cam/0/\r\n")),
        "{resp}"
    );

    // A head over 64 KiB: 400 then close (or a reset, if the close beats our read).
    let mut s = TcpStream::connect(sim.local_addr()).await.unwrap();
    let mut huge = b"OPTIONS * RTSP/1.0\r\nX-Junk: ".to_vec();
    huge.resize(70 * 1024, b'a');
    let _ = timeout(STEP, s.write_all(&huge)).await.unwrap();
    let mut rest = Vec::new();
    let _ = timeout(STEP, s.read_to_end(&mut rest)).await.unwrap();
    assert!(
        rest.is_empty() || rest.starts_with(b"RTSP/1.0 400 "),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );

    // Random binary junk, then hang up mid-request.
    let mut s = TcpStream::connect(sim.local_addr()).await.unwrap();
    let mut junk = vec![0u8; 4096];
    rand::fill(&mut junk[..]);
    let _ = s.write_all(&junk).await;
    let _ = s
        .write_all(b"DESCRIBE rtsp://x/cam/0 RTSP/1.0\r\nCSe")
        .await;
    drop(s);

    // The server still serves a proper client.
    let mut d = open_tcp(sim.url(0)).await;
    expect_clip_frames(&mut d, &Clip::builtin(), 2).await;
    timeout(STEP, sim.shutdown()).await.unwrap();
}

#[tokio::test]
async fn slow_reader_blocks_only_itself_and_shutdown_still_completes() {
    let sim = server(2).await;
    let url = sim.url(0);
    // A tiny receive window makes the server's writes block soon after we stop reading.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(sim.local_addr()).await.unwrap();
    let setup = format!(
        "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    );
    let resp = request(&mut s, &setup).await;
    assert!(
        resp.contains("Transport: RTP/AVP/TCP;unicast;interleaved=0-1;ssrc="),
        "{resp}"
    );
    let session = resp
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let play = format!("PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: {session}\r\n\r\n");
    let resp = request(&mut s, &play).await;
    assert!(
        resp.contains("RTP-Info: url=") && resp.contains(";rtptime="),
        "{resp}"
    );
    // Now never read again; camera 1 must be unaffected meanwhile.
    let mut d = open_tcp(sim.url(1)).await;
    expect_clip_frames(&mut d, &Clip::builtin(), 20).await;
    timeout(STEP, sim.shutdown())
        .await
        .expect("shutdown hung on a non-reading client");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_cameras_at_once() {
    const N: usize = 24;
    let sim = server(N).await;
    let clip = Clip::builtin();
    let sessions = (0..N).map(|cam| {
        let url = sim.url(cam);
        let clip = clip.clone();
        tokio::spawn(async move {
            let mut d = open_tcp(url).await;
            expect_clip_frames(&mut d, &clip, 10).await;
            d
        })
    });
    let sessions = futures::future::join_all(sessions).await;
    for cam in 0..N {
        let stats = stats_when(&sim, cam, |s| s.frames_sent >= 10).await;
        assert!(
            stats.frames_sent >= 10 && stats.active_sessions == 1,
            "{cam}: {stats:?}"
        );
    }
    timeout(STEP, sim.shutdown()).await.unwrap();
    for s in sessions {
        let mut d = s.unwrap();
        // Shut down: the stream ends (perhaps after frames already buffered).
        let mut ended = false;
        for _ in 0..40 {
            if next_frame(&mut d).await.is_err() {
                ended = true;
                break;
            }
        }
        assert!(ended);
    }
}
