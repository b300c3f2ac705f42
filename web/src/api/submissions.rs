//! Community submissions over HTTP, apart from the upload protocol (`tus`): submission links
//! for investigators, the submitter's page and statement, a case's submissions, and the
//! received originals. The rules are `vms_program::submissions`; the bytes are
//! `vms_storage::intake`'s.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vms_program::submissions::NewLink;
use vms_storage::intake::{LinkRow, UploadRow};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::server::PeerIp;
use crate::state::AppState;

/// The header a submission link's token travels in (on the submitter's page and every tus
/// request: tus clients send custom headers on every call).
pub const TOKEN_HEADER: &str = "submission-token";

pub(super) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The link the request's token opens (within the source address's and the link's request
/// budgets).
pub(super) async fn link_of(
    st: &AppState,
    h: &HeaderMap,
    remote: String,
) -> Result<LinkRow, ApiError> {
    if !st.take_submission_request(&remote) {
        return Err(ApiError::TooManyRequests(format!(
            "too many requests from this address (at most {} a minute); wait a minute and try again",
            st.settings.submission_requests_per_minute
        )));
    }
    let token = header_str(h, TOKEN_HEADER).unwrap_or_default().to_owned();
    let link = st
        .blocking(move |st| Ok(st.program.link_for_token(&token, &remote)?))
        .await?;
    if !st.take_link_request(link.id) {
        return Err(ApiError::TooManyRequests(format!(
            "too many requests with this link (at most {} a minute); wait a minute and try again",
            st.settings.requests_per_link_per_minute
        )));
    }
    Ok(link)
}

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

/// `POST /api/requests/{id}/submission-link`: a partner answers its footage request with
/// files — a link of its own for the request, opened at once in the partner's browser.
pub(crate) async fn partner_link(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<(StatusCode, Json<LinkOut>)> {
    st.blocking(move |st| {
        let (link, token) = st.program.partner_link(&s, id)?;
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

/// A file as its case's investigators see it: what the submitter sees, and the review, the
/// working copy, and where its examination stands.
#[derive(Serialize)]
pub(crate) struct CaseFileOut {
    #[serde(flatten)]
    file: FileOut,
    review: Option<vms_storage::intake::Review>,
    working_copy: Option<WorkingCopyOut>,
    examination: Option<crate::intake::Stage>,
    deleted: Option<vms_storage::intake::Deleted>,
    archive: Option<ArchiveOut>,
}

#[derive(Serialize)]
pub(crate) struct ArchiveOut {
    refused: Option<String>,
    entries: Vec<EntryOut>,
}

#[derive(Serialize)]
pub(crate) struct EntryOut {
    index: u32,
    name: String,
    size: u64,
    extracted: bool,
    sha256: Option<String>,
    what: Option<String>,
    browser_playable: bool,
    skipped: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct WorkingCopyOut {
    length: u64,
    sha256: String,
    tool: String,
    made_us: i64,
}

fn case_file_out(st: &AppState, u: &UploadRow) -> CaseFileOut {
    CaseFileOut {
        file: file_out(u),
        review: u.review.clone(),
        working_copy: u.working_copy.as_ref().map(|w| WorkingCopyOut {
            length: w.length,
            sha256: hex::encode(w.sha256),
            tool: w.tool.clone(),
            made_us: w.made_us,
        }),
        examination: st.examinations.stage(u.id),
        deleted: u.deleted.clone(),
        archive: u.archive.as_ref().map(|a| ArchiveOut {
            refused: a.refused.clone(),
            entries: a
                .entries
                .iter()
                .map(|e| EntryOut {
                    index: e.entry.index,
                    name: e.entry.name.clone(),
                    size: e.entry.size,
                    extracted: e.file.is_some(),
                    sha256: e.sha256.map(hex::encode),
                    what: e.identified.as_ref().map(|i| i.summary.clone()),
                    browser_playable: e.identified.as_ref().is_some_and(|i| i.browser_playable),
                    skipped: e.entry.skipped.clone(),
                })
                .collect(),
        }),
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
pub(crate) async fn submission(State(st): State<AppState>, peer: PeerIp, h: HeaderMap) -> Response {
    let from = peer.text();
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
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
    peer: PeerIp,
    h: HeaderMap,
    ApiJson(b): ApiJson<StatementBody>,
) -> Response {
    let from = peer.text();
    let link = match link_of(&st, &h, from.clone()).await {
        Ok(l) => l,
        Err(e) => return e.into_response(),
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
    files: Vec<CaseFileOut>,
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
    // Files received while examination could not run (a restart) are examined now.
    for u in uploads
        .iter()
        .filter(|u| crate::examine::needs_examining(&st, u))
    {
        crate::examine::examine_later(&st, u.id);
    }
    st.blocking(move |st| {
        Ok(Json(
            links
                .into_iter()
                .map(|l| CaseSubmissionOut {
                    files: uploads
                        .iter()
                        .filter(|u| u.link == l.id)
                        .map(|u| case_file_out(st, u))
                        .collect(),
                    statement: l.statement.clone(),
                    link: link_out(l, None),
                })
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    accepted: bool,
    #[serde(default)]
    reason: String,
}

/// `POST /api/submissions/{id}/review`: accept a received file into its case, or reject it
/// with a reason (audited).
pub(crate) async fn review(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(b): ApiJson<ReviewBody>,
) -> ApiResult<Json<CaseFileOut>> {
    st.blocking(move |st| {
        let up = st.program.review_upload(&s, id, b.accepted, &b.reason)?;
        Ok(Json(case_file_out(st, &up)))
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
    let playable = up
        .identified
        .as_ref()
        .filter(|i| i.browser_playable)
        .map(media_type);
    let inline = q.get("inline").is_some_and(|v| v == "1");
    serve_file(
        &path,
        up.length,
        playable.filter(|_| inline),
        &up.declared.filename,
        &h,
    )
}

/// `GET /api/submissions/{id}/entries/{index}`: an entry extracted from a submitted archive
/// (audited as a view): an attachment, or with `?inline=1` and only when identified by its
/// content as browser-playable, its media type with byte ranges.
pub(crate) async fn entry(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath((id, index)): ApiPath<(u64, u32)>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    h: HeaderMap,
) -> ApiResult<Response> {
    let up = st
        .blocking(move |st| Ok(st.program.open_entry(&s, id, index)?))
        .await?;
    let path = st.store.entry_path(&up, index).ok_or(ApiError::NotFound)?;
    let e = up
        .archive
        .as_ref()
        .and_then(|a| a.entries.iter().find(|e| e.entry.index == index))
        .ok_or(ApiError::NotFound)?;
    let playable = e
        .identified
        .as_ref()
        .filter(|i| i.browser_playable)
        .map(media_type);
    let inline = q.get("inline").is_some_and(|v| v == "1");
    let name = e
        .entry
        .name
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    serve_file(&path, e.entry.size, playable.filter(|_| inline), &name, &h)
}

/// `GET /api/submissions/{id}/working-copy`: the derived MP4 a browser plays (audited as a
/// view of the submission); `?download=1` as an attachment.
pub(crate) async fn working_copy(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    h: HeaderMap,
) -> ApiResult<Response> {
    let up = st
        .blocking(move |st| Ok(st.program.open_working_copy(&s, id)?))
        .await?;
    let path = st.store.working_copy_path(&up).ok_or(ApiError::NotFound)?;
    let len = up.working_copy.as_ref().map_or(0, |w| w.length);
    let download = q.get("download").is_some_and(|v| v == "1");
    let stem = up
        .declared
        .filename
        .rsplit_once('.')
        .map_or(up.declared.filename.as_str(), |(stem, _)| stem);
    serve_file(
        &path,
        len,
        (!download).then_some("video/mp4"),
        &format!("{stem} (working copy).mp4"),
        &h,
    )
}

/// The media type a browser gets for a file identified as playable.
fn media_type(i: &vms_media::Identified) -> &'static str {
    if i.format.contains("webm") {
        "video/webm"
    } else if i.format.starts_with("png") {
        "image/png"
    } else if i.format.contains("jpeg") || i.format == "image2" {
        "image/jpeg"
    } else {
        "video/mp4"
    }
}

/// Serves a stored file: inline as `media_type` with byte ranges when given, else as an
/// attachment of type `application/octet-stream` named `name` (sanitised).
fn serve_file(
    path: &std::path::Path,
    len: u64,
    media_type: Option<&'static str>,
    name: &str,
    h: &HeaderMap,
) -> ApiResult<Response> {
    let range = if media_type.is_some() {
        header_str(h, "range")
            .map(|v| super::parse_range(v, len))
            .transpose()
            .map_err(|_| ApiError::BadRequest("Range: one range of bytes within the file".into()))?
            .and_then(|r| r.into_iter().next())
    } else {
        None
    };
    let (start, end) = range.as_ref().map_or((0, len), |r| (r.start, r.end));
    let file = std::fs::File::open(path)
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
    match media_type {
        Some(t) => {
            set(hm, header::CONTENT_TYPE, t.into());
            set(hm, header::CONTENT_DISPOSITION, "inline".into());
        }
        None => {
            let name: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || " ._-()".contains(*c))
                .collect();
            set(hm, header::CONTENT_TYPE, "application/octet-stream".into());
            set(
                hm,
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            );
        }
    }
    Ok(r)
}
