//! Resumable uploads over the tus 1.0 protocol (core, creation, termination, expiration,
//! checksum) for the holders of submission links. The link's token, sent as
//! `Submission-Token` on every request, is the credential; the rules are
//! `vms_program::submissions`, the bytes go to `vms_storage::intake`.
//!
//! A PATCH streams its body to the part file in chunks on the blocking pool (nothing holds a
//! whole file in memory), hashing as it goes; the offset is acknowledged only after `fsync`. The
//! running SHA-256 of each upload is kept in memory between PATCHes and rebuilt from the bytes
//! on disk when it is missing (after a restart).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use vms_program::submissions::NewUpload;
use vms_storage::intake::{Declared, UploadRow};

use super::submissions::{header_str, link_of};
use crate::error::{ApiError, ApiPath};
use crate::server::PeerIp;
use crate::state::AppState;

const TUS_VERSION: &str = "1.0.0";
/// Bytes written per trip to the blocking pool.
const CHUNK: usize = 4 << 20;

/// A tus response: every one carries `Tus-Resumable`.
fn tus(status: StatusCode, headers: &[(&'static str, String)]) -> Response {
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    r
}

/// A refusal as tus clients expect it: the status, `Tus-Resumable`, and the message as JSON.
fn refuse(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    r
}

/// The refusal of a request whose protocol version is not ours (412 with the versions we
/// speak), if it is not.
fn wrong_version(h: &HeaderMap) -> Option<Response> {
    (header_str(h, "tus-resumable") != Some(TUS_VERSION)).then(|| {
        tus(
            StatusCode::PRECONDITION_FAILED,
            &[("tus-version", TUS_VERSION.into())],
        )
    })
}

fn http_date(us: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(us.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// The upload `id` if it belongs to the request's link, has not ended, and (unless
/// `expired_too`) has not expired unfinished.
async fn upload_of(
    st: &AppState,
    h: &HeaderMap,
    id: u64,
    remote: String,
    expired_too: bool,
) -> Result<UploadRow, Response> {
    let link = link_of(st, h, remote).await.map_err(refuse)?;
    let now = st.store.clock().now_utc_micros();
    st.blocking(move |st| {
        let up = st.store.upload(id)?.filter(|u| u.link == link.id);
        match up {
            Some(u) if u.terminated_us.is_some() => Err(ApiError::NotFound),
            Some(u) if !expired_too && u.received.is_none() && u.expires_us <= now => {
                Err(ApiError::NotFoundMsg(
                    "this upload expired before it was finished; start the file again".into(),
                ))
            }
            Some(u) => Ok(u),
            None => Err(ApiError::NotFound),
        }
    })
    .await
    .map_err(refuse)
}

/// `OPTIONS /api/uploads`: what this server speaks.
pub(crate) async fn options(State(st): State<AppState>) -> Response {
    tus(
        StatusCode::NO_CONTENT,
        &[
            ("tus-version", TUS_VERSION.into()),
            (
                "tus-extension",
                "creation,termination,expiration,checksum".into(),
            ),
            (
                "tus-max-size",
                st.settings.program.submissions.bytes_per_file.to_string(),
            ),
            ("tus-checksum-algorithm", "sha1,sha256".into()),
        ],
    )
}

/// Parses `Upload-Metadata`: comma-separated `key base64value` pairs.
fn metadata(h: &HeaderMap) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    let Some(v) = header_str(h, "upload-metadata") else {
        return Ok(out);
    };
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once(' ').unwrap_or((pair, ""));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(val.trim())
            .map_err(|_| ApiError::BadRequest(format!("Upload-Metadata: {k} is not base64")))?;
        out.insert(k.to_owned(), String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(out)
}

/// `POST /api/uploads` (creation): a new upload of `Upload-Length` bytes.
pub(crate) async fn create(State(st): State<AppState>, peer: PeerIp, h: HeaderMap) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    let from = peer.text();
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(e) => return refuse(e),
    };
    let length = match bytes_header(&h, "upload-length") {
        Some(n) => n,
        None => {
            return refuse(ApiError::BadRequest(
                "Upload-Length: give the file's size in bytes (deferred lengths are not taken)"
                    .into(),
            ));
        }
    };
    let meta = match metadata(&h) {
        Ok(m) => m,
        Err(e) => return refuse(e),
    };
    let declared = Declared {
        filename: meta.get("filename").cloned().unwrap_or_default(),
        filetype: meta.get("filetype").cloned().unwrap_or_default(),
        remote_addr: from,
        user_agent: header_str(&h, "user-agent").unwrap_or_default().to_owned(),
    };
    let created = st
        .blocking(move |st| {
            Ok(st
                .program
                .create_upload(&link, NewUpload { length, declared })?)
        })
        .await;
    match created {
        Ok(up) => tus(
            StatusCode::CREATED,
            &[
                ("location", format!("/api/uploads/{}", up.id)),
                ("upload-expires", http_date(up.expires_us)),
            ],
        ),
        Err(e) => refuse(e),
    }
}

/// `HEAD /api/uploads/{id}`: how much has been received.
pub(crate) async fn head(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiPath(id): ApiPath<u64>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    match upload_of(&st, &h, id, peer.text(), false).await {
        Ok(up) => tus(
            StatusCode::OK,
            &[
                ("upload-offset", up.offset.to_string()),
                ("upload-length", up.length.to_string()),
                ("upload-expires", http_date(up.expires_us)),
            ],
        ),
        Err(r) => r,
    }
}

/// `DELETE /api/uploads/{id}` (termination): an unfinished upload (expired or not) is
/// dropped; a received file is evidence and stays. Takes the upload exclusively and decides on
/// its current row, so a PATCH finishing the file at the same moment cannot be undone.
pub(crate) async fn terminate(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiPath(id): ApiPath<u64>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    if let Err(r) = upload_of(&st, &h, id, peer.text(), true).await {
        return r;
    }
    let Some(busy) = st.uploads.take(id) else {
        return refuse(ApiError::Conflict(
            "a request is writing to this upload; try again when it ends".into(),
        ));
    };
    st.uploads.forget(id);
    let r = st
        .blocking(move |st| {
            let _busy = busy;
            match st.store.upload(id)? {
                Some(u) if u.received.is_some() => Err(ApiError::Conflict(
                    "this file was received whole and is kept as evidence; it cannot be deleted"
                        .into(),
                )),
                Some(u) => Ok(st.program.end_upload(&u)?),
                None => Err(ApiError::NotFound),
            }
        })
        .await;
    match r {
        Ok(()) => tus(StatusCode::NO_CONTENT, &[]),
        Err(e) => refuse(e),
    }
}

/// The checksum a PATCH declares for its body (`Upload-Checksum: sha1 <base64>`).
enum Checksum {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl Checksum {
    fn parse(h: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
        let Some(v) = header_str(h, "upload-checksum") else {
            return Ok(None);
        };
        let (algo, b64) = v.split_once(' ').unwrap_or((v, ""));
        let want = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| ApiError::BadRequest("Upload-Checksum: not base64".into()))?;
        match (algo, want.len()) {
            ("sha1", 20) => Ok(Some(Checksum::Sha1(sha1::Sha1::new(), want))),
            ("sha256", 32) => Ok(Some(Checksum::Sha256(Sha256::new(), want))),
            ("sha1" | "sha256", n) => Err(ApiError::BadRequest(format!(
                "Upload-Checksum: a {algo} digest is not {n} bytes"
            ))),
            _ => Err(ApiError::BadRequest(format!(
                "Upload-Checksum: {algo} is not taken (sha1, sha256)"
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Checksum::Sha1(h, _) => h.update(data),
            Checksum::Sha256(h, _) => h.update(data),
        }
    }

    fn matches(self) -> bool {
        match self {
            Checksum::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Checksum::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

/// A byte count as tus sends it: decimal digits only.
fn bytes_header(h: &HeaderMap, name: &str) -> Option<u64> {
    header_str(h, name)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
}

/// A chunk's write coming back: the writer and running hash, the outcome, and the buffer.
type Written = (
    vms_storage::intake::UploadWriter,
    Sha256,
    Result<(), vms_storage::Error>,
    Vec<u8>,
);

/// Waits for the write in flight, if any: the writer and hash come back into `state`; its
/// buffer is returned for reuse, or why the write failed.
async fn settle(
    inflight: &mut Option<tokio::task::JoinHandle<Written>>,
    state: &mut Option<(vms_storage::intake::UploadWriter, Sha256)>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(task) = inflight.take() else {
        return Ok(None);
    };
    let (w, h, r, data) = task.await.map_err(|e| ApiError::Internal(e.to_string()))?;
    *state = Some((w, h));
    match r {
        Ok(()) => Ok(Some(data)),
        Err(vms_storage::Error::Invalid(m)) => Err(ApiError::LimitExceeded(m)),
        Err(vms_storage::Error::Io { source, .. }) if source.raw_os_error() == Some(28) => {
            Err(ApiError::InsufficientStorage(
                "the server's disk is full; what was received before is kept".into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// How long a PATCH body may stay silent before the request counts as interrupted.
const BODY_IDLE: Duration = Duration::from_secs(60);

/// `PATCH /api/uploads/{id}`: bytes at `Upload-Offset`.
pub(crate) async fn patch(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiPath(id): ApiPath<u64>,
    h: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    if header_str(&h, "content-type") != Some("application/offset+octet-stream") {
        return refuse(ApiError::UnsupportedMediaType(
            "Content-Type: application/offset+octet-stream".into(),
        ));
    }
    let Some(offset) = bytes_header(&h, "upload-offset") else {
        return refuse(ApiError::BadRequest(
            "Upload-Offset: a number of bytes".into(),
        ));
    };
    let mut checksum = match Checksum::parse(&h) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    // The link, then the upload exclusively, then its current row: what is checked is what
    // is written to.
    if let Err(r) = upload_of(&st, &h, id, peer.text(), false).await {
        return r;
    }
    let busy = match st.uploads.take_for_writing(id) {
        Ok(b) => b,
        Err(true) => {
            return refuse(ApiError::Unavailable(
                "the server is receiving too many files at once; try again in a minute".into(),
            ));
        }
        Err(false) => {
            return refuse(ApiError::Conflict(
                "another request is writing to this upload".into(),
            ));
        }
    };
    let store = st.store.clone();
    let uploads = st.uploads.clone();
    let b = busy.clone();
    let prepared = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let _busy = b;
        let row = store.upload(id)?.ok_or(ApiError::NotFound)?;
        let at = row.offset;
        if row.received.is_some() || offset != at {
            return Err(ApiError::Conflict(format!(
                "Upload-Offset {offset}: {at} bytes have been received; send from there"
            )));
        }
        let writer = store.upload_writer(id)?;
        // The running hash, or one rebuilt from the bytes on disk (after a restart).
        let hash = match uploads.running(id, at) {
            Some(h) => h,
            None => store.upload_prefix_hash(id, at)?,
        };
        Ok((writer, hash))
    })
    .await;
    let (writer, hash) = match prepared {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return refuse(e),
        Err(e) => return refuse(ApiError::Internal(e.to_string())),
    };
    let start = writer.row().offset;
    let hash_before = hash.clone();

    // Reading the body overlaps with writing and hashing the chunk before it: one write in
    // flight at most (the writer and the hash travel with it, so order is kept), two chunk
    // buffers per upload.
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut spare: Vec<u8> = Vec::new();
    let mut state = Some((writer, hash));
    let mut inflight: Option<tokio::task::JoinHandle<Written>> = None;
    let mut failed: Option<ApiError> = None;
    let mut interrupted = false;
    loop {
        let next = match tokio::time::timeout(BODY_IDLE, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                interrupted = true;
                None
            }
        };
        let end = next.is_none();
        let mut pending: Option<bytes::Bytes> = None;
        match next {
            Some(Ok(bytes)) if buf.len() + bytes.len() > CHUNK => pending = Some(bytes),
            Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
            // The client went away mid-body.
            Some(Err(_)) => interrupted = true,
            None => {}
        }
        if pending.is_some() || buf.len() >= CHUNK || end || interrupted {
            let data = std::mem::replace(&mut buf, std::mem::take(&mut spare));
            if let Some(c) = checksum.as_mut() {
                c.update(&data);
            }
            match settle(&mut inflight, &mut state).await {
                Ok(Some(mut old)) => {
                    old.clear();
                    spare = old;
                }
                Ok(None) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            if !data.is_empty()
                && let Some((mut w, mut h)) = state.take()
            {
                let b = busy.clone();
                inflight = Some(tokio::task::spawn_blocking(move || {
                    let _busy = b;
                    // Hashing and writing the chunk run side by side (two cores). A chunk
                    // that is not written is dropped whole by the caller, hash and all.
                    let r = std::thread::scope(|sc| {
                        let hashing = sc.spawn(|| h.update(&data));
                        let r = w.write(&data);
                        hashing
                            .join()
                            .unwrap_or_else(|p| std::panic::resume_unwind(p));
                        r
                    });
                    (w, h, r, data)
                }));
            }
            if let Some(p) = pending {
                buf.extend_from_slice(&p);
            }
        }
        if end || interrupted {
            break;
        }
    }
    if let Err(e) = settle(&mut inflight, &mut state).await {
        failed.get_or_insert(e);
    }
    let Some((writer, hash)) = state else {
        return refuse(ApiError::Internal("the upload's writer was lost".into()));
    };
    // Bytes the checksum cannot vouch for (a mismatch, or a body cut short while one was
    // declared) and refused bytes are not kept; the last acknowledged offset and its hash are.
    let mismatch = checksum.is_some_and(|c| interrupted || !c.matches());
    if failed.is_some() || mismatch {
        let b = busy.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _busy = b;
            writer.discard()
        })
        .await;
        st.uploads.keep(id, start, hash_before);
        if mismatch && failed.is_none() {
            let mut r = refuse(ApiError::BadRequest(
                "Upload-Checksum does not match the bytes received; send them again".into(),
            ));
            // The tus checksum extension's 460 Checksum Mismatch.
            *r.status_mut() = StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST);
            return r;
        }
        return refuse(failed.unwrap_or(ApiError::Internal(String::new())));
    }
    // Acknowledge what arrived: all of it, or up to an interruption.
    let complete = writer.written() == writer.row().length;
    let digest = complete.then(|| <[u8; 32]>::from(hash.clone().finalize()));
    let b = busy.clone();
    let committed = st
        .blocking(move |st| {
            let _busy = b;
            let now = st.store.clock().now_utc_micros();
            let row = writer.commit(&st.store, now, digest)?;
            if row.received.is_some() {
                st.program.upload_received(&row)?;
            }
            Ok(row)
        })
        .await;
    match committed {
        Ok(row) => {
            if row.received.is_none() {
                st.uploads.keep(id, row.offset, hash);
            } else {
                crate::examine::examine_later(&st, row.id);
            }
            tus(
                StatusCode::NO_CONTENT,
                &[
                    ("upload-offset", row.offset.to_string()),
                    ("upload-expires", http_date(row.expires_us)),
                ],
            )
        }
        Err(e) => refuse(e),
    }
}
