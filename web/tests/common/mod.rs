//! The test world shared by the web integration tests: a real RocksDB store with two
//! partners, four cameras (one per sharing mode, plus another partner's live camera), a user
//! per role with TOTP, the real router, and helpers to sign in and call it.
#![allow(dead_code, clippy::unwrap_used)]

pub mod browser;
pub mod smtp;
pub mod tus;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;
use vms_program::auth::{self, totp};
use vms_program::policy::role_needs_mfa;
use vms_storage::{
    CameraInfo, CameraSource, ManualClock, PartnerRow, PartnerStatus, Role, SecretBox, SharingMode,
    Store, StoreOptions,
};
use vms_web::routes::RouteSpec;
use vms_web::{AppState, Settings, app_with_table};

pub use vms_testkit::T0;
pub const PASSWORD: &str = "correct horse battery";

pub struct World {
    pub _dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub store: Arc<Store>,
    pub app: Router,
    pub state: AppState,
    pub table: Vec<RouteSpec>,
    /// username → TOTP secret
    pub totp: Vec<(String, Vec<u8>)>,
    /// camera ids: (partner 1 live, partner 1 on-request, partner 1 registry, partner 2 live)
    pub cams: [u32; 4],
}

#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn world() -> World {
    world_with(|_| {})
}

/// A world whose settings `f` adjusts first.
pub fn world_with(f: impl FnOnce(&mut Settings)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let store = Store::open(
        dir.path(),
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let secrets = Arc::new(SecretBox::new(&[9; 32]));
    let mut partners = Vec::new();
    for i in 1..=2 {
        let p = store
            .create_partner(PartnerRow {
                id: 0,
                pseudonym: format!("P-{i:04}"),
                contact_name: format!("Partner {i} Name"),
                contact_email: String::new(),
                contact_phone: String::new(),
                address: format!("{i} Secret Street"),
                terms_version: Some("2026-1".into()),
                terms_accepted_us: Some(T0),
                status: PartnerStatus::Active,
                created_us: T0,
            })
            .unwrap();
        partners.push(p.id);
    }
    let mut cams = [0u32; 4];
    for (i, (partner, mode)) in [
        (partners[0], SharingMode::Live),
        (partners[0], SharingMode::OnRequest),
        (partners[0], SharingMode::Registry),
        (partners[1], SharingMode::Live),
    ]
    .into_iter()
    .enumerate()
    {
        cams[i] = store
            .enroll_camera(CameraInfo {
                id: 0,
                name: format!("cam-{i}"),
                partner,
                source: CameraSource::Rtsp {
                    url: "rtsp://127.0.0.1:9/x".into(),
                },
                credentials: Some(secrets.seal(b"u\0camera-password")),
                sharing: mode,
                retention_days: 30,
                address: format!("location {i}"),
                placed: None,
                kind: None,
                owner_keeps_days: None,
                paused: false,
                masks: vec![],
                created_us: T0,
            })
            .unwrap()
            .id;
    }
    let mut totp_secrets = Vec::new();
    for (name, role, partner) in [
        ("admin", Role::Admin, None),
        ("supervisor", Role::Supervisor, None),
        ("investigator", Role::Investigator, None),
        ("viewer", Role::Viewer, None),
        ("partner1", Role::Partner, Some(partners[0])),
        ("partner2", Role::Partner, Some(partners[1])),
    ] {
        let (row, t) = auth::new_user(
            name,
            role,
            partner,
            PASSWORD,
            role_needs_mfa(role),
            &secrets,
            T0,
        )
        .unwrap();
        store.put_user(&row).unwrap();
        if let Some((secret, _)) = t {
            totp_secrets.push((name.to_owned(), secret));
        }
    }
    let mut settings = Settings {
        secure_cookie: false,
        // The tests' cameras and ONVIF devices listen on loopback.
        destinations: vms_ingest::destinations::Destinations::loopback_allowed(),
        // The clock stands still in tests, so every sign-in falls in one minute: only the
        // sign-in flood test turns the per-minute budgets on.
        login: vms_program::login_guard::LoginLimits {
            per_account_per_minute: 0,
            per_source_per_minute: 0,
            ..vms_program::login_guard::LoginLimits::default()
        },
        ..Settings::default()
    };
    f(&mut settings);
    let state = AppState::new(store.clone(), secrets, settings);
    let (app, table) = app_with_table(state.clone());
    World {
        _dir: dir,
        clock,
        store,
        app,
        state,
        table,
        totp: totp_secrets,
        cams,
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, v, headers)
}

pub fn request(
    method: Method,
    path: &str,
    s: Option<&Session>,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(s) = s {
        b = b
            .header(header::COOKIE, &s.cookie)
            .header("x-csrf-token", &s.csrf);
    }
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

impl World {
    pub fn code(&self, user: &str) -> Option<String> {
        self.totp.iter().find(|(u, _)| u == user).map(|(_, s)| {
            totp(
                s,
                vms_storage::Clock::now_utc_micros(&*self.clock) / 1_000_000,
            )
        })
    }

    pub async fn login(&self, user: &str) -> Session {
        let (status, v, headers) = send(
            &self.app,
            request(
                Method::POST,
                "/api/login",
                None,
                Some(json!({"username": user, "password": PASSWORD, "totp": self.code(user)})),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "login {user}: {v}");
        let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        Session {
            cookie: cookie.split(';').next().unwrap().to_owned(),
            csrf: v["csrf"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        s: &Session,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (st, v, _) = send(&self.app, request(method, path, Some(s), body)).await;
        assert_ne!(st, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {v}");
        (st, v)
    }

    /// Adds an account (with a second factor when its role needs one) that `login` can use.
    pub fn add_user(&mut self, name: &str, role: Role) {
        let (row, totp) = auth::new_user(
            name,
            role,
            None,
            PASSWORD,
            role_needs_mfa(role),
            &self.state.secrets,
            T0,
        )
        .unwrap();
        self.store.put_user(&row).unwrap();
        if let Some((secret, _)) = totp {
            self.totp.push((name.to_owned(), secret));
        }
    }

    pub fn last_audit(&self) -> vms_storage::AuditEvent {
        self.store
            .audit_search(&vms_storage::AuditFilter {
                limit: 1,
                ..Default::default()
            })
            .unwrap()
            .remove(0)
    }
}

/// Track parameters of a simulator clip (real H.264, with its real `avc1` sample entry).
pub fn clip_track(clip: &vms_sim::Clip) -> Arc<vms_storage::TrackParams> {
    Arc::new(vms_storage::TrackParams {
        codec: clip.rfc6381_codec(),
        width: clip.width(),
        height: clip.height(),
        sample_entry: clip.sample_entry().clone(),
    })
}

/// One camera session to record: `frames` frames of `clip` (looped) from `start_us`.
pub struct ClipRun {
    pub clip: Arc<vms_sim::Clip>,
    pub start_us: i64,
    pub frames: usize,
}

/// Records runs of real H.264 through the real recorder into `camera`, faster than real time
/// (wall-clock times are those a camera would have produced). Segments roll every
/// `segment_secs`. Returns the capture UTC of every recorded frame, in order.
pub async fn record_clip(
    store: &Arc<Store>,
    camera: u32,
    runs: &[ClipRun],
    segment_secs: u32,
) -> Vec<i64> {
    let mut rec = store
        .recorder(
            camera,
            vms_storage::RecorderOptions {
                segment_target_secs: segment_secs,
                ..Default::default()
            },
        )
        .unwrap();
    let mut times = Vec::new();
    for run in runs {
        let track = clip_track(&run.clip);
        let frames = run.clip.frames();
        let mut pts: i64 = 0;
        for i in 0..run.frames {
            let f = &frames[i % frames.len()];
            let wall = run.start_us + pts * 100 / 9;
            times.push(wall);
            rec.push(vms_storage::RecFrame {
                new_run: (i == 0).then(|| track.clone()),
                pts_90k: pts,
                wall_us: wall,
                keyframe: f.keyframe,
                data: f.data.clone(),
            })
            .await
            .unwrap();
            pts += i64::from(f.duration_90k);
        }
        rec.end_run().await.unwrap();
    }
    rec.close().await.unwrap();
    times
}

/// A GET with the session cookie and extra headers, returning the raw body.
pub async fn get_raw(
    app: &Router,
    path: &str,
    s: &Session,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::COOKIE, &s.cookie);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let h = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 30)
        .await
        .unwrap()
        .to_vec();
    (status, h, body)
}

/// A 3-second H.264 clip (1 s GOPs, no B-frames) of an ffmpeg `lavfi` source, encoded by
/// libx264 with `x264_args` added (e.g. a profile).
pub fn encoded_clip(source: &str, x264_args: &[&str]) -> Arc<vms_sim::Clip> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", source])
        .args(["-t", "3", "-c:v", "libx264", "-g", "30", "-bf", "0"])
        .args(x264_args)
        .args(["-pix_fmt", "yuv420p", "-f", "mp4"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs (scripts/install-deps --test)");
    assert!(st.success());
    Arc::new(vms_sim::Clip::from_mp4(&std::fs::read(&path).unwrap()).unwrap())
}

/// Records camera `id` from `url` with a real session (fast reconnects) and puts its view,
/// live feed included, into the world's camera list. Frames for the recorder are discarded.
pub fn live_camera(w: &World, id: u32, name: &str, url: url::Url) -> vms_ingest::CameraHandle {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mut cfg = vms_ingest::CameraConfig::new(name, url);
    cfg.backoff_initial = std::time::Duration::from_millis(100);
    cfg.backoff_max = std::time::Duration::from_millis(300);
    let cam = vms_ingest::spawn_camera(cfg, tx);
    w.state.cameras.write().unwrap().push(vms_web::CameraView {
        name: name.into(),
        id,
        health: cam.health.clone(),
        stats: Arc::default(),
        live: cam.live().clone(),
    });
    cam
}

/// Serves `state` on a loopback port until the test's runtime ends; returns the address.
pub async fn serve(state: &AppState) -> std::net::SocketAddr {
    let (addr, _task) = vms_web::serve(
        "127.0.0.1:0".parse().unwrap(),
        state.clone(),
        std::future::pending(),
    )
    .await
    .unwrap();
    addr
}

/// Export `id` once it is no longer running (within 12 s).
pub async fn wait_export(w: &World, s: &Session, id: u64) -> Value {
    for _ in 0..600 {
        let (st, v) = w
            .call(Method::GET, &format!("/api/exports/{id}"), s, None)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["status"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("export {id} did not finish");
}
