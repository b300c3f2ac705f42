//! Community submissions over HTTP: submission links for investigators, and resumable uploads
//! for their holders over the tus 1.0 protocol (core, creation, termination, expiration,
//! checksum). The link's token, sent as `Submission-Token` on every tus request, is the
//! credential; the rules are `vms_program::submissions`, the bytes go to `vms_storage::intake`.
//!
//! A PATCH streams its body to the part file in chunks on the blocking pool (nothing holds a
//! whole file in memory), hashing as it goes; the offset is acknowledged only after `fsync`. The
//! running SHA-256 of each upload is kept in memory between PATCHes and rebuilt from the bytes
//! on disk when it is missing (after a restart).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vms_program::submissions::{NewLink, NewUpload};
use vms_storage::intake::{Declared, LinkRow, UploadRow};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::server::PeerAddr;
use crate::state::AppState;

const TUS_VERSION: &str = "1.0.0";
/// The header a submission link's token travels in.
pub const TOKEN_HEADER: &str = "submission-token";
/// Bytes written per trip to the blocking pool.
const CHUNK: usize = 4 << 20;

// ---- links (investigators) ----

#[derive(Serialize)]
pub(crate) struct LinkOut {
    id: u64,
    case_number: String,
    request_id: Option<u64>,
    recipient: String,
    created_by: String,
    created_us: i64,
    expires_us: i64,
    revoked_us: Option<i64>,
    /// Only when created: the token, and the page that takes it (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

fn link_out(l: LinkRow, token: Option<String>) -> LinkOut {
    LinkOut {
        url: token.as_ref().map(|t| format!("/submit#{t}")),
        token,
        id: l.id,
        case_number: l.case_number,
        request_id: l.request_id,
        recipient: l.recipient,
        created_by: l.created_by,
        created_us: l.created_us,
        expires_us: l.expires_us,
        revoked_us: l.revoked_us,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewLinkBody {
    recipient: String,
    #[serde(default)]
    request_id: Option<u64>,
    #[serde(default)]
    hours: Option<u32>,
}

pub(crate) async fn create_link(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(b): ApiJson<NewLinkBody>,
) -> ApiResult<(StatusCode, Json<LinkOut>)> {
    st.blocking(move |st| {
        let (link, token) = st.program.create_link(
            &s,
            NewLink {
                case_number: &case,
                request_id: b.request_id,
                recipient: &b.recipient,
                hours: b.hours,
            },
        )?;
        Ok((StatusCode::CREATED, Json(link_out(link, Some(token)))))
    })
    .await
}

pub(crate) async fn list_links(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(case): ApiPath<String>,
) -> ApiResult<Json<Vec<LinkOut>>> {
    st.blocking(move |st| {
        let links = st.program.links(&s, &case)?;
        Ok(Json(links.into_iter().map(|l| link_out(l, None)).collect()))
    })
    .await
}

pub(crate) async fn revoke_link(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        st.program.revoke_link(&s, id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

// ---- tus ----

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

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
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

fn remote(peer: &Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>) -> String {
    peer.as_ref()
        .map(|axum::Extension(axum::extract::ConnectInfo(p))| p.0.ip().to_string())
        .unwrap_or_default()
}

/// The link the request's token opens (within the source address's request budget).
async fn link_of(st: &AppState, h: &HeaderMap, remote: String) -> Result<LinkRow, Response> {
    if !st.take_submission_request(&remote) {
        return Err(refuse(ApiError::TooManyRequests(format!(
            "too many requests from this address (at most {} a minute); wait a minute and try again",
            st.settings.submission_requests_per_minute
        ))));
    }
    let token = header_str(h, TOKEN_HEADER).unwrap_or_default().to_owned();
    st.blocking(move |st| Ok(st.program.link_for_token(&token, &remote)?))
        .await
        .map_err(refuse)
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
    let link = link_of(st, h, remote).await?;
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
pub(crate) async fn create(
    State(st): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    let from = remote(&peer);
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(r) => return r,
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
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
    ApiPath(id): ApiPath<u64>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    match upload_of(&st, &h, id, remote(&peer), false).await {
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
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
    ApiPath(id): ApiPath<u64>,
    h: HeaderMap,
) -> Response {
    if let Some(r) = wrong_version(&h) {
        return r;
    }
    if let Err(r) = upload_of(&st, &h, id, remote(&peer), true).await {
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

/// How long a PATCH body may stay silent before the request counts as interrupted.
const BODY_IDLE: Duration = Duration::from_secs(60);

/// `PATCH /api/uploads/{id}`: bytes at `Upload-Offset`.
pub(crate) async fn patch(
    State(st): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
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
    if let Err(r) = upload_of(&st, &h, id, remote(&peer), false).await {
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
    let (mut writer, mut hash) = match prepared {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => return refuse(e),
        Err(e) => return refuse(ApiError::Internal(e.to_string())),
    };
    let start = writer.row().offset;
    let hash_before = hash.clone();

    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
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
            let data = std::mem::take(&mut buf);
            if let Some(c) = checksum.as_mut() {
                c.update(&data);
            }
            let b = busy.clone();
            let r = tokio::task::spawn_blocking(move || {
                let _busy = b;
                let r = writer.write(&data).map(|()| hash.update(&data));
                (writer, hash, r, data)
            })
            .await;
            let (w, hsh, r, mut data) = match r {
                Ok(x) => x,
                Err(e) => return refuse(ApiError::Internal(e.to_string())),
            };
            writer = w;
            hash = hsh;
            data.clear();
            buf = data;
            if let Some(p) = pending {
                buf.extend_from_slice(&p);
            }
            if let Err(e) = r {
                failed = Some(match e {
                    vms_storage::Error::Invalid(m) => ApiError::LimitExceeded(m),
                    vms_storage::Error::Io { source, .. } if source.raw_os_error() == Some(28) => {
                        ApiError::InsufficientStorage(
                            "the server's disk is full; what was received before is kept".into(),
                        )
                    }
                    e => e.into(),
                });
            }
        }
        if end || interrupted || failed.is_some() {
            break;
        }
    }
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
                identify_later(&st, row.id);
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
// ---- the submitter's page ----

#[derive(Serialize)]
pub(crate) struct FileOut {
    id: u64,
    filename: String,
    length: u64,
    offset: u64,
    received_us: Option<i64>,
    sha256: Option<String>,
    /// What the file is by its content, once identified.
    what: Option<String>,
    browser_playable: bool,
}

fn file_out(u: &UploadRow) -> FileOut {
    FileOut {
        id: u.id,
        filename: u.declared.filename.clone(),
        length: u.length,
        offset: u.offset,
        received_us: u.received.as_ref().map(|r| r.received_us),
        sha256: u.received.as_ref().map(|r| hex::encode(r.sha256)),
        what: u.identified.as_ref().map(|i| i.summary.clone()),
        browser_playable: u.identified.as_ref().is_some_and(|i| i.browser_playable),
    }
}

/// Identifies a received file by its content (ffprobe, bounded) in the background and records
/// what it is.
fn identify_later(st: &AppState, id: u64) {
    if !st.uploads.begin_identifying(id) {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        identify(&st, id).await;
        st.uploads.end_identifying(id);
    });
}

async fn identify(st: &AppState, id: u64) {
    let Ok(Some(row)) = st.store.upload(id) else {
        return;
    };
    let Some(path) = st.store.original_path(&row) else {
        return;
    };
    match vms_media::identify(&path, vms_media::ProbeLimits::default()).await {
        Ok(what) => {
            let r = st
                .blocking(move |st| Ok(st.store.set_identified(id, what)?))
                .await;
            if let Err(e) = r {
                tracing::error!(upload = id, error = %e, "could not record what a file is");
            }
        }
        Err(e) => {
            tracing::warn!(upload = id, error = %e, "a submitted file was not identified")
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SubmissionOut {
    case_number: String,
    recipient: String,
    expires_us: i64,
    statement_made: bool,
    attestation_version: &'static str,
    attestation_text: &'static str,
    files_per_link: u32,
    bytes_per_file: u64,
    files: Vec<FileOut>,
}

/// `GET /api/submission`: what the link's page shows (the token opens it; audited).
pub(crate) async fn submission(
    State(st): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
    h: HeaderMap,
) -> Response {
    let from = remote(&peer);
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let r = st
        .blocking(move |st| {
            st.program.link_opened(&link, &from)?;
            let files = st
                .store
                .uploads()?
                .iter()
                .filter(|u| u.link == link.id)
                .map(file_out)
                .collect();
            let limits = &st.settings.program.submissions;
            Ok(Json(SubmissionOut {
                case_number: link.case_number,
                recipient: link.recipient,
                expires_us: link.expires_us,
                statement_made: link.statement.is_some(),
                attestation_version: vms_program::submissions::ATTESTATION_VERSION,
                attestation_text: vms_program::submissions::ATTESTATION_TEXT,
                files_per_link: limits.files_per_link,
                bytes_per_file: limits.bytes_per_file,
                files,
            }))
        })
        .await;
    match r {
        Ok(j) => j.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    contact: String,
    camera_location: String,
    shows: String,
    recorded_when: String,
    #[serde(default)]
    clock_offset_secs: Option<i64>,
    attest: bool,
}

/// `POST /api/submission/statement`: the submitter's account of the footage and attestation.
pub(crate) async fn statement(
    State(st): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<PeerAddr>>>,
    h: HeaderMap,
    ApiJson(b): ApiJson<StatementBody>,
) -> Response {
    let from = remote(&peer);
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let r = st
        .blocking(move |st| {
            st.program.make_statement(
                &link,
                vms_program::submissions::NewStatement {
                    name: b.name,
                    contact: b.contact,
                    camera_location: b.camera_location,
                    shows: b.shows,
                    recorded_when: b.recorded_when,
                    clock_offset_secs: b.clock_offset_secs,
                    attest: b.attest,
                    remote_addr: from,
                },
            )?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await;
    match r {
        Ok(s) => s.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Serialize)]
pub(crate) struct CaseSubmissionOut {
    link: LinkOut,
    statement: Option<vms_storage::intake::Statement>,
    files: Vec<FileOut>,
}

/// `GET /api/cases/{case}/submissions`: each link of the case with its statement and files.
pub(crate) async fn case_submissions(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(case): ApiPath<String>,
) -> ApiResult<Json<Vec<CaseSubmissionOut>>> {
    let (links, uploads) = st
        .blocking(move |st| {
            Ok((
                st.program.links(&s, &case)?,
                st.program.case_uploads(&s, &case)?,
            ))
        })
        .await?;
    // Files received while identification could not run (a restart) are identified now.
    for u in uploads
        .iter()
        .filter(|u| u.received.is_some() && u.identified.is_none())
    {
        identify_later(&st, u.id);
    }
    st.blocking(move |_| {
        Ok(Json(
            links
                .into_iter()
                .map(|l| CaseSubmissionOut {
                    files: uploads
                        .iter()
                        .filter(|u| u.link == l.id)
                        .map(file_out)
                        .collect(),
                    statement: l.statement.clone(),
                    link: link_out(l, None),
                })
                .collect(),
        ))
    })
    .await
}

/// `GET /api/submissions/{id}/original`: a received original, exactly as received (audited).
/// Only a file identified *by its content* as browser-playable video or a still is served for
/// the browser to show (`?inline=1`, with its media type and byte ranges); anything else is an
/// attachment of type `application/octet-stream`, so a page renamed `.mp4` is never rendered.
pub(crate) async fn original(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    h: HeaderMap,
) -> ApiResult<Response> {
    let up = st
        .blocking(move |st| Ok(st.program.open_original(&s, id)?))
        .await?;
    let path = st.store.original_path(&up).ok_or(ApiError::NotFound)?;
    let len = up.length;
    let media_type = up
        .identified
        .as_ref()
        .filter(|i| i.browser_playable)
        .map(|i| {
            if i.format.contains("webm") {
                "video/webm"
            } else if i.format.starts_with("png") {
                "image/png"
            } else if i.format.contains("jpeg") || i.format == "image2" {
                "image/jpeg"
            } else {
                "video/mp4"
            }
        });
    let inline = q.get("inline").is_some_and(|v| v == "1") && media_type.is_some();
    let range = if inline {
        header_str(&h, "range")
            .map(|v| super::parse_range(v, len))
            .transpose()
            .map_err(|_| ApiError::BadRequest("Range: one range of bytes within the file".into()))?
            .and_then(|r| r.into_iter().next())
    } else {
        None
    };
    let (start, end) = range.as_ref().map_or((0, len), |r| (r.start, r.end));
    let file = std::fs::File::open(&path)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let body = super::playback::stream_file(file, start..end);
    let mut r = body.into_response();
    *r.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let hm = r.headers_mut();
    let set = |hm: &mut HeaderMap, k: header::HeaderName, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            hm.insert(k, v);
        }
    };
    set(hm, header::CONTENT_LENGTH, (end - start).to_string());
    set(hm, header::ACCEPT_RANGES, "bytes".into());
    if range.is_some() {
        set(
            hm,
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    let name: String = up
        .declared
        .filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ._-".contains(*c))
        .collect();
    if inline {
        set(
            hm,
            header::CONTENT_TYPE,
            media_type.unwrap_or_default().into(),
        );
        set(hm, header::CONTENT_DISPOSITION, "inline".into());
    } else {
        set(hm, header::CONTENT_TYPE, "application/octet-stream".into());
        set(
            hm,
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        );
    }
    Ok(r)
}
