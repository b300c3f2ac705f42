//! Playback: a camera's recording over a UTC range as one virtual MP4
//! ([`vms_storage::vmp4`]), served with HTTP range requests (RFC 9110 §14): single and
//! multiple ranges, `ETag`, `If-Range`, `If-None-Match`, `Last-Modified`, exact
//! `Content-Length`. Every request passes the footage policy and is audited.
//!
//! Bytes are produced on the blocking pool and streamed through a small bounded channel, so a
//! slow client holds at most a few chunks in memory however long the range.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use vms_storage::vmp4::{Reader, VirtualMp4};

use crate::api::footage::RangeQuery;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;
use vms_program::audit::AuditAction;
use vms_program::policy::Action;

/// Bytes per chunk sent to the client.
const CHUNK: u64 = 256 * 1024;
/// Chunks buffered ahead of a slow client.
const AHEAD: usize = 4;
/// More ranges than this in one request is refused (RFC 9110 §14.2 lets a server refuse
/// many small or overlapping ranges: they cost far more than they are worth).
const MAX_RANGES: usize = 16;

/// Why a `Range` header cannot be served.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeError {
    /// Not `bytes=` followed by valid range specs.
    Malformed,
    /// Valid, but no range overlaps the representation.
    Unsatisfiable,
    /// More than [`MAX_RANGES`] ranges.
    TooMany,
}

/// Parses a `Range` header value against a representation of `len` bytes into half-open byte
/// ranges, each clipped to the length (RFC 9110 §14.1.2). Pure.
pub fn parse_range(value: &str, len: u64) -> Result<Vec<Range<u64>>, RangeError> {
    let specs = value
        .trim()
        .strip_prefix("bytes=")
        .ok_or(RangeError::Malformed)?;
    let mut out = Vec::new();
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue; // RFC 9110 list syntax allows empty elements.
        }
        let (a, b) = spec.split_once('-').ok_or(RangeError::Malformed)?;
        let num = |s: &str| -> Result<u64, RangeError> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(RangeError::Malformed);
            }
            s.parse().map_err(|_| RangeError::Malformed)
        };
        let r = if a.is_empty() {
            // Suffix: the last `b` bytes.
            let n = num(b)?;
            if n == 0 {
                continue;
            }
            len.saturating_sub(n)..len
        } else {
            let first = num(a)?;
            let last = if b.is_empty() { u64::MAX } else { num(b)? };
            if last < first {
                return Err(RangeError::Malformed);
            }
            if first >= len {
                continue;
            }
            first..last.saturating_add(1).min(len)
        };
        if !r.is_empty() {
            out.push(r);
        }
        if out.len() > MAX_RANGES {
            return Err(RangeError::TooMany);
        }
    }
    if specs.split(',').all(|s| s.trim().is_empty()) {
        return Err(RangeError::Malformed);
    }
    if out.is_empty() {
        return Err(RangeError::Unsatisfiable);
    }
    Ok(out)
}

/// `GET /api/cameras/{id}/video.mp4?start=&end=&reason=[&case_number=]`.
pub(crate) async fn video(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiQuery(q): ApiQuery<RangeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (start, end) = (q.start, q.end);
    let mp4 = st
        .blocking(move |st| {
            // The camera under the terms the footage was recorded under (F9).
            let c = st.program.footage_access(
                &s,
                id,
                q.range(),
                Action::Playback,
                AuditAction::VideoPlayback,
            )?;
            // Footage an approval covers exactly: nothing before its start leaves (F17).
            let within = c.sharing == vms_storage::SharingMode::OnRequest;
            let built = if within {
                VirtualMp4::build_within(&st.store, id, start, end)
            } else {
                VirtualMp4::build(&st.store, id, start, end)
            };
            match built {
                Ok(v) => Ok(Arc::new(v)),
                Err(vms_storage::Error::NotFound(_)) => Err(ApiError::NotFoundMsg(
                    "nothing was recorded in that range".into(),
                )),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    Ok(respond(mp4, &headers, &format!("camera-{id}-{start}.mp4")))
}

/// Builds the response for `mp4` given the request's conditional and range headers.
pub(crate) fn respond(mp4: Arc<VirtualMp4>, req: &HeaderMap, filename: &str) -> Response {
    let len = mp4.len();
    let etag = mp4.etag().to_owned();
    let last_modified =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + micros(mp4.last_sample_utc()));
    let mut h = HeaderMap::new();
    let mut put = |k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(header::ACCEPT_RANGES, "bytes");
    put(header::ETAG, &etag);
    put(header::LAST_MODIFIED, &last_modified);
    put(
        header::CONTENT_DISPOSITION,
        &format!("inline; filename=\"{filename}\""),
    );

    let header_str = |k: header::HeaderName| req.get(k).and_then(|v| v.to_str().ok());
    if header_str(header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    // If-Range: ranges apply only to the representation the client already has part of.
    let ranges_apply = match header_str(header::IF_RANGE) {
        None => true,
        Some(v) => v.trim() == etag,
    };
    let ranges = match header_str(header::RANGE) {
        Some(v) if ranges_apply => match parse_range(v, len) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::debug!(range = v, error = ?e, "range not satisfiable");
                put(header::CONTENT_RANGE, &format!("bytes */{len}"));
                put(header::CONTENT_TYPE, "application/json");
                let msg = match e {
                    RangeError::Malformed => "malformed Range header",
                    RangeError::Unsatisfiable => "range outside the file",
                    RangeError::TooMany => "too many ranges",
                };
                return (
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    h,
                    axum::Json(serde_json::json!({ "error": msg })),
                )
                    .into_response();
            }
        },
        _ => None,
    };

    let (status, parts) = match ranges.as_deref() {
        None => {
            put(header::CONTENT_TYPE, "video/mp4");
            (StatusCode::OK, vec![Part::File(0..len)])
        }
        Some([r]) => {
            put(header::CONTENT_TYPE, "video/mp4");
            put(
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{len}", r.start, r.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, vec![Part::File(r.clone())])
        }
        Some(rs) => {
            let boundary = format!("vms-{}", &etag.trim_matches('"')[..12]);
            put(
                header::CONTENT_TYPE,
                &format!("multipart/byteranges; boundary={boundary}"),
            );
            let mut parts = Vec::with_capacity(rs.len() * 2 + 1);
            for r in rs {
                parts.push(Part::Static(Bytes::from(format!(
                    "\r\n--{boundary}\r\nContent-Type: video/mp4\r\nContent-Range: bytes {}-{}/{len}\r\n\r\n",
                    r.start,
                    r.end - 1
                ))));
                parts.push(Part::File(r.clone()));
            }
            parts.push(Part::Static(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
            (StatusCode::PARTIAL_CONTENT, parts)
        }
    };
    let body_len: u64 = parts.iter().map(Part::len).sum();
    put(header::CONTENT_LENGTH, &body_len.to_string());
    (status, h, stream(mp4, parts)).into_response()
}

fn micros(us: i64) -> std::time::Duration {
    std::time::Duration::from_micros(us.max(0) as u64)
}

/// A piece of a response body.
enum Part {
    Static(Bytes),
    File(Range<u64>),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Static(b) => b.len() as u64,
            Part::File(r) => r.end - r.start,
        }
    }
}

/// The sending side of a [`blocking_body`].
pub(crate) type ChunkSender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

/// A response body produced on the blocking pool: `produce` sends chunks through a channel of
/// [`AHEAD`] chunks, so a slow client holds back the reader instead of growing a buffer. A
/// failed send means the client went away; `produce` should stop.
pub(crate) fn blocking_body(produce: impl FnOnce(&ChunkSender) + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        produce(&tx);
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Streams bytes `range` of `f` in 256 KiB chunks (evidence package files, submitted
/// originals). A read error ends the body early, never with wrong bytes.
pub(crate) fn stream_file(mut f: std::fs::File, range: Range<u64>) -> Body {
    use std::io::{Read, Seek};
    blocking_body(move |tx| {
        if let Err(e) = f.seek(std::io::SeekFrom::Start(range.start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut f = f.take(range.end - range.start);
        loop {
            let mut buf = vec![0; 256 * 1024];
            match f.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    })
}

/// Streams `parts`, reading file parts a chunk at a time. A read error after the headers went
/// out can only end the connection: it is logged, and the client sees a body shorter than its
/// `Content-Length`, never wrong bytes.
fn stream(mp4: Arc<VirtualMp4>, parts: Vec<Part>) -> Body {
    blocking_body(move |tx| {
        let mut reader = Reader::new(mp4);
        for part in parts {
            match part {
                Part::Static(b) => {
                    if tx.blocking_send(Ok(b)).is_err() {
                        return;
                    }
                }
                Part::File(r) => {
                    let mut pos = r.start;
                    while pos < r.end {
                        let to = (pos + CHUNK).min(r.end);
                        let mut buf = Vec::with_capacity((to - pos) as usize);
                        if let Err(e) = reader.read(pos..to, &mut buf) {
                            tracing::error!(error = %e, camera = reader.mp4().camera(), "playback read failed");
                            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                            return;
                        }
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return;
                        }
                        pos = to;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    // The parser returns a list of ranges; a list holding one range is what is meant here.
    #[allow(clippy::single_range_in_vec_init)]
    fn ranges_parse_per_rfc_9110() {
        let p = |v| parse_range(v, 1000);
        assert_eq!(p("bytes=0-499"), Ok(vec![0..500]));
        assert_eq!(p("bytes=500-"), Ok(vec![500..1000]));
        assert_eq!(p("bytes=-100"), Ok(vec![900..1000]));
        assert_eq!(p("bytes=-5000"), Ok(vec![0..1000]));
        assert_eq!(p("bytes=990-5000"), Ok(vec![990..1000]));
        assert_eq!(p("bytes=0-0, 10-19 ,"), Ok(vec![0..1, 10..20]));
        assert_eq!(p("bytes=1000-"), Err(RangeError::Unsatisfiable));
        assert_eq!(p("bytes=-0"), Err(RangeError::Unsatisfiable));
        for bad in [
            "",
            "bytes",
            "bytes=",
            "items=0-1",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=1",
            "bytes=+1-2",
            "bytes=0x1-2",
            "bytes=,",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(p(bad), Err(RangeError::Malformed), "{bad:?}");
        }
        let many = format!("bytes={}", vec!["0-0"; 17].join(","));
        assert_eq!(p(&many), Err(RangeError::TooMany));
    }
}
