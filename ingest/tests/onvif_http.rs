//! The ONVIF client over real HTTP against a small device stand-in on 127.0.0.1 that serves the
//! captured vendor responses in `ingest/testdata/onvif/` — and misbehaves on cue: never answers,
//! answers forever, redirects in a loop, sends HTML or broken XML, demands HTTP Digest, lies
//! about its clock. Everything binds 127.0.0.1 only.
//!
//! The stand-in checks every WS-Security token it receives (digest, and `Created` within five
//! minutes of its own clock, as cameras do), so a client that dated tokens wrongly would fail
//! here too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use vms_ingest::onvif::{self, ClientOptions, MediaVersion, OnvifClient, OnvifError};
use vms_ingest::{Credentials, Secret};

fn capture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/onvif")
            .join(name),
    )
    .unwrap()
}

/// A request as the stand-in saw it.
#[derive(Clone, Debug, Default)]
struct Req {
    path: String,
    /// The SOAP action from the content type.
    action: String,
    authorization: Option<String>,
    body: String,
}

impl Req {
    fn op(&self) -> &str {
        self.action.rsplit('/').next().unwrap_or("")
    }
    fn between(&self, open_prefix: &str, close: &str) -> Option<String> {
        let start = self.body.find(open_prefix)?;
        let after = &self.body[start..];
        let gt = after.find('>')? + 1;
        let end = after.find(close)?;
        Some(after[gt..end].to_owned())
    }
}

enum Resp {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the request, never answer.
    Hang,
    /// Status line and headers, then body bytes forever (chunked).
    Endless,
    /// Claim a body of this many bytes, send none.
    Declared(u64),
}

fn ok(body: String) -> Resp {
    Resp::Reply {
        status: 200,
        headers: vec![],
        body,
    }
}

fn status(status: u16, body: String) -> Resp {
    Resp::Reply {
        status,
        headers: vec![],
        body,
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Req>>>,
}

async fn read_request(s: &mut TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let mut req = Req {
        path,
        ..Req::default()
    };
    let mut len = 0usize;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.parse().ok()?,
            "content-type" => {
                req.action = v
                    .split("action=\"")
                    .nth(1)
                    .and_then(|a| a.split('"').next())
                    .unwrap_or("")
                    .to_owned();
            }
            "authorization" => req.authorization = Some(v.to_owned()),
            _ => {}
        }
    }
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    req.body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    Some(req)
}

async fn serve_one(mut s: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Req>>>) {
    let Some(req) = read_request(&mut s).await else {
        return;
    };
    log.lock().unwrap().push(req.clone());
    match handler(&req) {
        Resp::Reply {
            status,
            headers,
            body,
        } => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            out.push_str(&body);
            let _ = s.write_all(out.as_bytes()).await;
        }
        Resp::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Resp::Endless => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!(
                "10000\r\n{}\r\n",
                "<a>".repeat(65536 / 3 + 1)[..65536].to_owned()
            );
            for _ in 0..10_000 {
                if s.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        Resp::Declared(n) => {
            let _ = s
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes())
                .await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    }
}

async fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handler: Handler = Arc::new(handler);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(serve_one(s, handler.clone(), log.clone()));
        }
    });
    Server { port, requests }
}

fn creds() -> Credentials {
    Credentials {
        username: "admin".into(),
        password: Secret::new("Sup3r secret"),
    }
}

fn opts() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn parse_created(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

/// What a camera checks: the digest, and `Created` within five minutes of its own clock
/// (`camera_now`). Returns a NotAuthorized fault when the token is missing or wrong.
fn check_token(req: &Req, password: &str, camera_now: i64) -> Result<(), Resp> {
    let refuse = || Err(status(400, capture("fault_not_authorized.xml")));
    let (Some(nonce), Some(created), Some(digest)) = (
        req.between("<wsse:Nonce", "</wsse:Nonce>"),
        req.between("<wsu:Created", "</wsu:Created>"),
        req.between("<wsse:Password", "</wsse:Password>"),
    ) else {
        return refuse();
    };
    let nonce = base64::engine::general_purpose::STANDARD
        .decode(nonce)
        .unwrap();
    let mut h = Sha1::new();
    h.update(&nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    let expect = base64::engine::general_purpose::STANDARD.encode(h.finalize());
    if expect != digest || (parse_created(&created) - camera_now).abs() > 300 {
        return refuse();
    }
    Ok(())
}

/// GetSystemDateAndTime for a camera whose clock reads `camera_now`.
fn gsdt(camera_now: i64, utc_field_offset_secs: i64, tz: &str) -> String {
    let field = |t: i64| {
        let z = jiff::Timestamp::from_second(t)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC);
        format!(
            "<tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time><tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date>",
            z.hour(),
            z.minute(),
            z.second(),
            z.year(),
            z.month(),
            z.day()
        )
    };
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>{tz}</tt:TZ></tt:TimeZone><tt:UTCDateTime>{}</tt:UTCDateTime><tt:LocalDateTime>{}</tt:LocalDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"#,
        field(camera_now + utc_field_offset_secs),
        field(camera_now + 8 * 3600),
    )
}

/// A Profile S+T camera behind a NAT, 20 minutes fast: every XAddr and the stream URIs name
/// addresses we cannot reach, Media2 lists an H.265 4K main. Captures: services_media2_nat,
/// profiles_media2_h265_main, stream_uri_media2, snapshot_uri_media2, device_info_milesight.
#[tokio::test]
async fn enrolls_media2_camera_behind_nat_from_captures() {
    let skew = 1200;
    let srv = start(move |r| {
        let cam_now = unix_now() + skew;
        if r.op() == "GetSystemDateAndTime" {
            assert!(
                !r.body.contains("UsernameToken"),
                "GetSystemDateAndTime is pre-auth"
            );
            return ok(gsdt(cam_now, 0, "CST-8"));
        }
        if let Err(refusal) = check_token(r, "Sup3r secret", cam_now) {
            return refusal;
        }
        match (r.path.as_str(), r.op()) {
            ("/onvif/device_service", "GetDeviceInformation") => {
                ok(capture("device_info_milesight.xml"))
            }
            ("/onvif/device_service", "GetServices") => ok(capture("services_media2_nat.xml")),
            ("/onvif/Media2", "GetProfiles") => {
                assert!(r.body.contains("<Type>All</Type>"));
                ok(capture("profiles_media2_h265_main.xml"))
            }
            ("/onvif/Media2", "GetStreamUri") => {
                let token = r.between("<ProfileToken", "</ProfileToken>").unwrap();
                ok(capture("stream_uri_media2.xml").replace("{{PROFILE}}", &token))
            }
            ("/onvif/Media2", "GetSnapshotUri") => ok(capture("snapshot_uri_media2.xml")),
            other => panic!("unexpected {other:?}"),
        }
    })
    .await;

    let e = onvif::enroll(&format!("127.0.0.1:{}", srv.port), Some(creds()), &opts())
        .await
        .unwrap();
    assert!(
        (e.clock.offset_ms - skew * 1000).abs() < 2_000,
        "{:?}",
        e.clock
    );
    assert_eq!(e.clock.camera_utc_offset_secs, Some(8 * 3600));
    assert_eq!(e.device.model.as_deref(), Some("MS-C8165-PE"));
    assert_eq!(e.media.version, MediaVersion::Media2);
    assert_eq!(
        e.media.url.as_str(),
        format!("http://127.0.0.1:{}/onvif/Media2", srv.port)
    );
    assert_eq!(e.profiles.len(), 4);
    assert_eq!(e.main.profile.token, "prof_1080");
    assert_eq!(e.main.uri.as_str(), "rtsp://127.0.0.1:8554/live/prof_1080");
    assert_eq!(e.main.locator.media, MediaVersion::Media2);
    let sub = e.sub.as_ref().unwrap();
    assert_eq!(sub.uri.as_str(), "rtsp://127.0.0.1:8554/live/prof_sub");
    assert_eq!(
        e.snapshot_uri.as_ref().unwrap().as_str(),
        format!(
            "http://127.0.0.1:{}/onvif/snapshot?token=prof_1080",
            srv.port
        )
    );
    assert!(
        e.notes.iter().any(|n| n.contains("192.168.1.64")),
        "{:?}",
        e.notes
    );
    let log = srv.requests.lock().unwrap();
    assert!(
        log.iter().all(|r| !r.body.contains("Sup3r secret")),
        "the password itself never goes on the wire"
    );
}

/// An ONVIF 1.x camera: GetServices is a SOAP 1.1 fault, so GetCapabilities is used; Media1
/// profiles; the stream URI carries credentials and a private address; no snapshot support.
#[tokio::test]
async fn onvif1_camera_falls_back_to_capabilities_and_media1() {
    let port = Arc::new(AtomicUsize::new(0));
    let p2 = port.clone();
    let srv = start(move |r| {
        if r.op() != "GetSystemDateAndTime"
            && let Err(refusal) = check_token(r, "Sup3r secret", unix_now())
        {
            return refusal;
        }
        match r.op() {
            "GetSystemDateAndTime" => ok(gsdt(unix_now(), 0, "CST-8")),
            "GetDeviceInformation" => ok(capture("device_info_missing_fields.xml")),
            "GetServices" => status(500, capture("fault_soap11_not_supported.xml")),
            "GetCapabilities" => ok(capture("capabilities_media1.xml")
                .replace("{{PORT}}", &p2.load(Ordering::Relaxed).to_string())),
            "GetProfiles" => {
                assert_eq!(r.path, "/onvif/media");
                ok(capture("profiles_media1_hikvision.xml"))
            }
            "GetStreamUri" => {
                assert!(r.body.contains("RTP-Unicast") && r.body.contains("<Protocol>RTSP"));
                ok(capture("stream_uri_media1_credentials.xml"))
            }
            "GetSnapshotUri" => status(500, capture("fault_soap11_not_supported.xml")),
            other => panic!("unexpected {other}"),
        }
    })
    .await;
    port.store(srv.port as usize, Ordering::Relaxed);

    let e = onvif::enroll(&format!("127.0.0.1:{}", srv.port), Some(creds()), &opts())
        .await
        .unwrap();
    assert_eq!(e.media.version, MediaVersion::Media1);
    assert_eq!(e.main.profile.token, "Profile_1");
    assert_eq!(e.sub.as_ref().unwrap().profile.token, "Profile_2");
    assert_eq!(
        e.main.uri.as_str(),
        "rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"
    );
    assert!(e.main.invalid_after_reboot);
    assert_eq!(e.snapshot_uri, None);
    let notes = e.notes.join("\n");
    assert!(notes.contains("GetCapabilities"), "{notes}");
    assert!(notes.contains("carried credentials"), "{notes}");
    assert!(!notes.contains("hunter2"), "{notes}");
    assert!(notes.contains("no snapshot URI"), "{notes}");
}

/// A camera whose "UTC" field holds local time (UTC+8) refuses tokens dated by it; the client
/// falls back to the TZ-corrected time and sticks with it.
#[tokio::test]
async fn camera_lying_about_utc_gets_tokens_dated_by_the_corrected_clock() {
    let srv = start(|r| {
        let now = unix_now();
        if r.op() == "GetSystemDateAndTime" {
            return ok(gsdt(now, 8 * 3600, "CST-8"));
        }
        if let Err(refusal) = check_token(r, "Sup3r secret", now) {
            return refusal;
        }
        ok(capture("device_info_milesight.xml"))
    })
    .await;
    let client =
        OnvifClient::new(&format!("127.0.0.1:{}", srv.port), Some(creds()), &opts()).unwrap();
    let clock = client.clock().await.unwrap();
    assert!((clock.offset_ms - 8 * 3_600_000).abs() < 2_000);
    assert!(
        clock
            .quirks
            .iter()
            .any(|q| matches!(q, onvif::ClockQuirk::UtcLooksLikeLocal { .. }))
    );
    client.device_information().await.unwrap();
    client.device_information().await.unwrap();
    let n = srv.requests.lock().unwrap().len();
    // GSDT, refused + accepted, then straight to the accepted offset.
    assert_eq!(n, 4);
    assert!(
        client
            .notes()
            .iter()
            .any(|n| n.contains("accepted tokens dated")),
        "{:?}",
        client.notes()
    );
}

#[tokio::test]
async fn device_that_never_answers_times_out() {
    let srv = start(|_| Resp::Hang).await;
    let o = ClientOptions {
        timeout: Duration::from_millis(300),
        ..opts()
    };
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &o).unwrap();
    let t = Instant::now();
    let err = client.clock().await.unwrap_err();
    assert!(matches!(err, OnvifError::Timeout { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn huge_responses_are_capped() {
    let o = ClientOptions {
        max_response_bytes: 64 * 1024,
        ..opts()
    };
    // Declared too large: refused before reading a byte of it.
    let srv = start(|_| Resp::Declared(10 << 30)).await;
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &o).unwrap();
    let err = client.clock().await.unwrap_err();
    assert!(
        matches!(err, OnvifError::TooLarge { limit: 65536 }),
        "{err}"
    );
    // Streamed without end: cut at the limit.
    let srv = start(|_| Resp::Endless).await;
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &o).unwrap();
    let t = Instant::now();
    let err = client.clock().await.unwrap_err();
    assert!(matches!(err, OnvifError::TooLarge { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redirects_are_bounded_and_stay_on_the_device() {
    // A loop.
    let srv = start(|r| Resp::Reply {
        status: 302,
        headers: vec![("Location".into(), r.path.clone())],
        body: String::new(),
    })
    .await;
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &opts()).unwrap();
    let err = client.clock().await.unwrap_err();
    assert!(matches!(err, OnvifError::TooManyRedirects(3)), "{err}");
    assert_eq!(srv.requests.lock().unwrap().len(), 4);

    // Off to another host: refused (the envelope may carry a credential digest).
    let srv = start(|_| Resp::Reply {
        status: 307,
        headers: vec![(
            "Location".into(),
            "http://192.0.2.1/onvif/device_service".into(),
        )],
        body: String::new(),
    })
    .await;
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &opts()).unwrap();
    let err = client.clock().await.unwrap_err();
    assert!(matches!(err, OnvifError::RedirectOffHost(_)), "{err}");

    // One legitimate redirect on the same device is followed.
    let srv = start(|r| {
        if r.path == "/onvif/device_service" {
            Resp::Reply {
                status: 301,
                headers: vec![("Location".into(), "/onvif2/device".into())],
                body: String::new(),
            }
        } else {
            ok(gsdt(unix_now(), 0, "UTC0"))
        }
    })
    .await;
    let client = OnvifClient::new(&format!("127.0.0.1:{}", srv.port), None, &opts()).unwrap();
    client.clock().await.unwrap();
}

#[tokio::test]
async fn broken_answers_are_clear_errors() {
    let truncated = capture("device_info_milesight.xml");
    let truncated = truncated[..truncated.len() / 2].to_owned();
    let srv = start(move |r| match r.path.as_str() {
        "/html" => ok(capture("not_soap_login_page.html")),
        "/broken" => ok(truncated.clone()),
        "/404" => status(404, "<html>Not Found</html>".into()),
        _ => ok(String::new()),
    })
    .await;
    let at = |p: &str| {
        OnvifClient::new(&format!("http://127.0.0.1:{}{p}", srv.port), None, &opts()).unwrap()
    };
    let err = at("/html").device_information().await.unwrap_err();
    assert!(err.to_string().contains("HTML page"), "{err}");
    let err = at("/broken").device_information().await.unwrap_err();
    assert!(matches!(err, OnvifError::Xml { .. }), "{err}");
    let err = at("/404").device_information().await.unwrap_err();
    assert!(
        matches!(err, OnvifError::Status { status: 404, .. }),
        "{err}"
    );
    let err = at("/empty").device_information().await.unwrap_err();
    assert!(err.to_string().contains("empty document"), "{err}");
    // Nothing listening.
    let dead = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let err = OnvifClient::new(&format!("127.0.0.1:{port}"), None, &opts())
        .unwrap()
        .clock()
        .await
        .unwrap_err();
    assert!(matches!(err, OnvifError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn refused_credentials_are_not_authorized() {
    let srv = start(|r| match r.path.as_str() {
        "/fault" => status(400, capture("fault_not_authorized.xml")),
        _ => status(401, String::new()),
    })
    .await;
    for path in ["/fault", "/bare401"] {
        let client = OnvifClient::new(
            &format!("http://127.0.0.1:{}{path}", srv.port),
            Some(creds()),
            &opts(),
        )
        .unwrap();
        let err = client.device_information().await.unwrap_err();
        assert!(err.is_not_authorized(), "{path}: {err}");
        assert!(!format!("{err:?}").contains("Sup3r"), "{err:?}");
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Devices that require HTTP Digest (RFC 7616, qop=auth) in addition to WS-Security get it;
/// devices that ask for Basic over plain HTTP do not get the password.
#[tokio::test]
async fn http_digest_is_answered_and_basic_is_refused() {
    let srv = start(|r| {
        if r.path == "/basic" {
            return Resp::Reply {
                status: 401,
                headers: vec![("WWW-Authenticate".into(), "Basic realm=\"cam\"".into())],
                body: String::new(),
            };
        }
        let challenge = || Resp::Reply {
            status: 401,
            headers: vec![(
                "WWW-Authenticate".into(),
                "Digest realm=\"IP Camera\", qop=\"auth\", nonce=\"4e6f6e6365\", opaque=\"x\""
                    .into(),
            )],
            body: String::new(),
        };
        let Some(auth) = r.authorization.as_deref() else {
            return challenge();
        };
        let field = |k: &str| {
            auth.split([',', ' '])
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let ha1 = md5_hex("admin:IP Camera:Sup3r secret");
        let ha2 = md5_hex(&format!("POST:{}", r.path));
        let expect = md5_hex(&format!(
            "{ha1}:4e6f6e6365:{}:{}:auth:{ha2}",
            field("nc"),
            field("cnonce")
        ));
        if !auth.starts_with("Digest ") || field("response") != expect || field("uri") != r.path {
            return challenge();
        }
        ok(capture("device_info_milesight.xml"))
    })
    .await;
    let client =
        OnvifClient::new(&format!("127.0.0.1:{}", srv.port), Some(creds()), &opts()).unwrap();
    client.device_information().await.unwrap();
    // The digest client is kept: the next request authenticates at once.
    client.device_information().await.unwrap();
    assert_eq!(srv.requests.lock().unwrap().len(), 3);

    let client = OnvifClient::new(
        &format!("http://127.0.0.1:{}/basic", srv.port),
        Some(creds()),
        &opts(),
    )
    .unwrap();
    let err = client.device_information().await.unwrap_err();
    assert!(err.to_string().contains("Basic"), "{err}");
    let log = srv.requests.lock().unwrap();
    assert!(log.iter().all(|r| {
        r.authorization
            .as_deref()
            .is_none_or(|a| !a.starts_with("Basic"))
    }));
}

/// After a reboot the device regenerated its profile tokens: the saved token is gone
/// (ter:NoProfile), so the profile with the same name is found again.
#[tokio::test]
async fn resolve_stream_uri_survives_regenerated_profile_tokens() {
    let srv = start(|r| match r.op() {
        "GetSystemDateAndTime" => ok(gsdt(unix_now(), 0, "UTC0")),
        "GetServices" => ok(capture("services_media2_nat.xml")),
        "GetStreamUri" => {
            let token = r.between("<ProfileToken", "</ProfileToken>").unwrap();
            if token == "old_token" {
                status(400, capture("fault_no_profile_unbound_prefix.xml"))
            } else {
                ok(capture("stream_uri_media2.xml").replace("{{PROFILE}}", &token))
            }
        }
        "GetProfiles" => ok(capture("profiles_media2_h265_main.xml")),
        other => panic!("unexpected {other}"),
    })
    .await;
    let locator = onvif::StreamLocator {
        device_url: format!("http://127.0.0.1:{}/onvif/device_service", srv.port)
            .parse()
            .unwrap(),
        media: MediaVersion::Media2,
        profile_token: "old_token".into(),
        profile_name: Some("Sub".into()),
        role: onvif::StreamRole::Sub,
    };
    let r = onvif::resolve_stream_uri(&locator, None, &opts())
        .await
        .unwrap();
    assert_eq!(r.locator.profile_token, "prof_sub");
    assert_eq!(r.uri.as_str(), "rtsp://127.0.0.1:8554/live/prof_sub");
}

/// A camera enrolled by ONVIF address is recorded: the session asks the device for its stream
/// URI (and measures its clock) before connecting; when the camera moves its stream (after a
/// reboot, say) and the old URI keeps failing, the session asks again and streams from the new
/// one — without anyone re-enrolling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onvif_camera_session_resolves_its_stream_and_follows_a_moved_one() {
    use vms_sim::{SimOptions, SimServer};
    let sim = SimServer::start(SimOptions::new(2)).await.unwrap();
    let urls = [sim.url(0).to_string(), sim.url(1).to_string()];
    let current = Arc::new(AtomicUsize::new(0));
    let skew = 90;
    let cur = current.clone();
    let srv = start(move |r| match r.op() {
        "GetSystemDateAndTime" => ok(gsdt(unix_now() + skew, 0, "UTC0")),
        "GetDeviceInformation" => ok(capture("device_info_milesight.xml")),
        "GetServices" => ok(capture("services_media2_nat.xml")),
        "GetProfiles" => ok(capture("profiles_media2_h265_main.xml")),
        "GetSnapshotUri" => ok(capture("snapshot_uri_media2.xml")),
        "GetStreamUri" => ok(capture("stream_uri_media2.xml").replace(
            "rtsp://0.0.0.0:8554/live/{{PROFILE}}",
            &urls[cur.load(Ordering::SeqCst)],
        )),
        other => panic!("unexpected {other}"),
    })
    .await;

    let mut cfg = vms_ingest::CameraConfig::onvif("porch", format!("127.0.0.1:{}", srv.port));
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(100);
    cfg.connect_timeout = Duration::from_secs(2);
    if let Some(o) = cfg.onvif.as_mut() {
        o.options = opts();
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let cam = vms_ingest::spawn_camera(cfg, tx);
    async fn next(rx: &mut tokio::sync::mpsc::Receiver<vms_ingest::Frame>) -> vms_ingest::Frame {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a frame within 10 s")
            .expect("session alive")
    }
    let f = next(&mut rx).await;
    let offset = f.params.clock_offset_us.expect("offset measured");
    assert!((offset - skew * 1_000_000).abs() < 2_000_000, "{offset}");
    assert_eq!(cam.health.snapshot().clock_offset_us, Some(offset));
    assert_eq!(sim.stats(0).active_sessions, 1);
    let first_session = f.session;

    // The camera "reboots" with its stream elsewhere: the old URI answers 503 from now on.
    current.store(1, Ordering::SeqCst);
    sim.set_online(0, false);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = next(&mut rx).await;
        if f.session != first_session && sim.stats(1).frames_sent > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never moved to the new stream");
    }
    let resolves = cam
        .health
        .onvif_resolves
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(resolves >= 2, "asked the device again: {resolves}");
    assert_eq!(sim.stats(1).active_sessions, 1);
    cam.stop().await;
    sim.shutdown().await;
}
