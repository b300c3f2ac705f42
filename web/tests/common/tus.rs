//! Helpers for the submission tests: tus 1.0 requests with a link's token, links with a
//! statement made, and raw responses.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use super::*;

/// A tus request with the link's token.
pub fn tus(
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("tus-resumable", "1.0.0")
        .header("submission-token", token);
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(Body::from(body)).unwrap()
}

pub async fn go(app: &Router, r: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (st, v, h) = send(app, r).await;
    (st, h, v)
}

pub fn hdr(h: &axum::http::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A new link for `case`, made in session `s`: its id and token.
pub async fn new_link(w: &World, s: &Session, case: &str) -> (u64, String) {
    let (st, v) = w
        .call(
            Method::POST,
            &format!("/api/cases/{case}/links"),
            s,
            Some(json!({"recipient": "owner of the Elm St doorbell"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let id = v["id"].as_u64().unwrap();
    assert_eq!(v["url"], format!("/submit#{token}"));
    assert!(token.len() >= 43, "at least 256 bits: {token}");
    let (st, _, v) = go(&w.app, statement(&token, true)).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    (id, token)
}

/// The submitter's statement, agreeing to the attestation or not.
pub fn statement(token: &str, attest: bool) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/submission/statement")
        .header("submission-token", token)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({
                "name": "R. Resident", "contact": "555-0100",
                "camera_location": "doorbell, 12 Elm St", "shows": "the street and the bus stop",
                "recorded_when": "last night 02:00-02:30", "clock_offset_secs": 420,
                "attest": attest,
            })
            .to_string(),
        ))
        .unwrap()
}

pub async fn create(
    app: &Router,
    token: &str,
    len: usize,
    name: &str,
) -> (StatusCode, String, Value) {
    let (st, h, v) = go(
        app,
        tus(
            Method::POST,
            "/api/uploads",
            token,
            &[
                ("upload-length", len.to_string()),
                (
                    "upload-metadata",
                    format!(
                        "filename {},filetype {}",
                        b64(name.as_bytes()),
                        b64(b"video/mp4")
                    ),
                ),
            ],
            vec![],
        ),
    )
    .await;
    (st, hdr(&h, "location"), v)
}

pub async fn patch(
    app: &Router,
    token: &str,
    at: &str,
    offset: usize,
    data: &[u8],
    checksum: Option<String>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut headers = vec![
        ("upload-offset", offset.to_string()),
        ("content-type", "application/offset+octet-stream".to_owned()),
    ];
    if let Some(c) = checksum {
        headers.push(("upload-checksum", c));
    }
    go(app, tus(Method::PATCH, at, token, &headers, data.to_vec())).await
}

/// A PATCH whose body arrives as `chunks` (an `Err` is a connection that breaks there).
pub fn patch_stream(
    at: &str,
    token: &str,
    offset: usize,
    checksum: Option<String>,
    chunks: Vec<Result<bytes::Bytes, std::io::Error>>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::PATCH)
        .uri(at)
        .header("tus-resumable", "1.0.0")
        .header("submission-token", token)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream");
    if let Some(c) = checksum {
        b = b.header("upload-checksum", c);
    }
    b.body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap()
}

pub fn broken() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone")
}

pub async fn offset(app: &Router, token: &str, at: &str) -> u64 {
    let (st, h, _) = go(app, tus(Method::HEAD, at, token, &[], vec![])).await;
    assert_eq!(st, StatusCode::OK);
    hdr(&h, "upload-offset").parse().unwrap()
}

/// Status and headers of a request (the body is not JSON).
pub async fn raw(app: &Router, r: Request<Body>) -> (StatusCode, axum::http::HeaderMap) {
    use tower::ServiceExt;
    let resp = app.clone().oneshot(r).await.unwrap();
    (resp.status(), resp.headers().clone())
}

/// Uploads `data` as `name` through the link in one PATCH; the upload's id.
pub async fn upload_file(app: &Router, token: &str, name: &str, data: &[u8]) -> u64 {
    let (st, at, v) = create(app, token, data.len(), name).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, _, v) = patch(app, token, &at, 0, data, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    at.rsplit('/').next().unwrap().parse().unwrap()
}

/// A one-second FFmpeg test picture in `dir` made with `args` (codec, container).
pub fn ffmpeg_clip(dir: &std::path::Path, name: &str, args: &[&str]) -> Vec<u8> {
    let path = dir.join(name);
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10:duration=1")
        .args(args)
        .arg("-y")
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg made {name}");
    std::fs::read(&path).unwrap()
}
