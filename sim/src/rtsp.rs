//! Pure RTSP/1.0 server-side protocol code: request framing and parsing, response building,
//! `Transport` and request-URI parsing, Digest/Basic authentication, and the SDP.
//!
//! Nothing here does I/O: the connection driver in `mod.rs` feeds bytes in and writes bytes out,
//! which keeps every malformed-input path testable without sockets.

use std::fmt::Write as _;

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// Largest request head (request line + headers) accepted before the connection is dropped.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted (GET_PARAMETER bodies are tiny in practice).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Realm of the Digest and Basic challenges.
pub(crate) const REALM: &str = "vms-sim";

/// The methods this server implements, for `Public` and `Allow`.
pub(crate) const PUBLIC: &str = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Options,
    Describe,
    Setup,
    Play,
    Teardown,
    GetParameter,
    /// A standard RTSP method the simulator does not support (answered 405).
    Unsupported,
    /// Anything else (answered 501).
    Unknown,
}

impl Method {
    fn parse(s: &str) -> Self {
        match s {
            "OPTIONS" => Self::Options,
            "DESCRIBE" => Self::Describe,
            "SETUP" => Self::Setup,
            "PLAY" => Self::Play,
            "TEARDOWN" => Self::Teardown,
            "GET_PARAMETER" => Self::GetParameter,
            "PAUSE" | "ANNOUNCE" | "RECORD" | "SET_PARAMETER" | "REDIRECT" => Self::Unsupported,
            _ => Self::Unknown,
        }
    }
}

/// A syntactically valid request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// The method token as sent (for Digest, which hashes it).
    pub(crate) method_str: String,
    pub(crate) uri: String,
    pub(crate) cseq: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One unit read from the client's byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Request(Request),
    /// Interleaved binary data (typically RTCP receiver reports); the simulator ignores it.
    Interleaved {
        channel: u8,
        len: usize,
    },
    /// Stray line endings between requests, which RFC 2326 tolerates.
    Blank,
    /// A request whose extent is known but which is not valid; answered 400 (or 505) and skipped.
    Malformed {
        status: u16,
        cseq: Option<String>,
        reason: &'static str,
    },
}

/// The stream can't be resynchronized: answer 400 and close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FatalParseError {
    #[error("request head exceeds {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("request body exceeds {MAX_BODY} bytes")]
    BodyTooLarge,
    #[error("bad Content-Length")]
    BadContentLength,
}

/// Parses the first message of `buf`.
///
/// Returns `Ok(None)` if more bytes are needed, otherwise the message and how many bytes it
/// occupied (including any body, which is skipped).
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Message, usize)>, FatalParseError> {
    if let Some(&b'$') = buf.first() {
        let Some(&[_, channel, hi, lo]) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if buf.len() < 4 + len {
            return Ok(None);
        }
        return Ok(Some((Message::Interleaved { channel, len }, 4 + len)));
    }
    // Some clients send a stray CRLF between requests (RFC 2326 allows it); skip it.
    let leading = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    if leading > 0 {
        return Ok(Some((Message::Blank, leading)));
    }
    let Some(head_len) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(FatalParseError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if head_len > MAX_HEAD {
        return Err(FatalParseError::HeadTooLarge);
    }
    let head = &buf[..head_len];
    let content_length = content_length(head)?;
    if content_length > MAX_BODY {
        return Err(FatalParseError::BodyTooLarge);
    }
    let total = head_len + content_length;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((parse_head(head), total)))
}

/// Length of the head including the blank line, accepting bare `\n` line endings too.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let line_end = i + nl + 1;
        let rest = &buf[line_end..];
        if rest.first() == Some(&b'\n') {
            return Some(line_end + 1);
        }
        if rest.starts_with(b"\r\n") {
            return Some(line_end + 2);
        }
        i = line_end;
    }
    None
}

fn content_length(head: &[u8]) -> Result<usize, FatalParseError> {
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(b"content-length")
        {
            return std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(FatalParseError::BadContentLength);
        }
    }
    Ok(0)
}

fn parse_head(head: &[u8]) -> Message {
    let malformed = |cseq, reason| Message::Malformed {
        status: 400,
        cseq,
        reason,
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return malformed(None, "request is not UTF-8");
    };
    let mut lines = head.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut headers = Vec::new();
    let mut bad_header = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() && !name.contains(' ') => {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            _ => bad_header = true,
        }
    }
    let cseq = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("CSeq"))
        .map(|(_, v)| v.clone());
    let cseq = match cseq {
        Some(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) => c,
        Some(_) => return malformed(None, "bad CSeq"),
        None => return malformed(None, "missing CSeq"),
    };
    if bad_header {
        return malformed(Some(cseq), "bad header line");
    }
    let mut parts = request_line.split(' ').filter(|p| !p.is_empty());
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return malformed(Some(cseq), "bad request line");
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        return malformed(Some(cseq), "bad method");
    }
    if version != "RTSP/1.0" {
        return Message::Malformed {
            status: 505,
            cseq: Some(cseq),
            reason: "RTSP version not supported",
        };
    }
    Message::Request(Request {
        method: Method::parse(method),
        method_str: method.to_owned(),
        uri: uri.to_owned(),
        cseq,
        headers,
    })
}

/// The standard reason phrase for the statuses this server sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        459 => "Aggregate Operation Not Allowed",
        461 => "Unsupported Transport",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "RTSP Version Not Supported",
        _ => "Unknown",
    }
}

/// A response under construction; [`Response::write`] serializes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<(&'static str, String)>,
}

impl Response {
    pub(crate) fn new(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, content_type: &'static str, body: String) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// Appends the serialized response, echoing `cseq` when the request had a valid one.
    pub(crate) fn write(&self, cseq: Option<&str>, out: &mut Vec<u8>) {
        let mut s = format!("RTSP/1.0 {} {}\r\n", self.status, reason(self.status));
        if let Some(cseq) = cseq {
            let _ = write!(s, "CSeq: {cseq}\r\n");
        }
        s.push_str("Server: vms-sim\r\n");
        for (name, value) in &self.headers {
            let _ = write!(s, "{name}: {value}\r\n");
        }
        match &self.body {
            Some((content_type, body)) => {
                let _ = write!(
                    s,
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            None => s.push_str("\r\n"),
        }
        out.extend_from_slice(s.as_bytes());
    }
}

/// Which camera (and whether the track rather than the presentation) a request URI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `*` or a URI outside `/cam/N`.
    None,
    /// `/cam/N` or `/cam/N/`.
    Presentation(usize),
    /// `/cam/N/trackID=0`.
    Track(usize),
    /// `/cam/...` with an unparseable index or unknown suffix.
    Invalid,
}

/// Maps a request URI (absolute `rtsp://host/path` or bare `/path`) to a [`Target`].
pub(crate) fn target(uri: &str) -> Target {
    let path = match uri.find("://") {
        Some(i) => {
            let after = &uri[i + 3..];
            after.find('/').map_or("/", |p| &after[p..])
        }
        None => uri,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let Some(rest) = path.strip_prefix("/cam/") else {
        return Target::None;
    };
    let (index, suffix) = rest.split_once('/').unwrap_or((rest, ""));
    if index.is_empty() || index.len() > 9 || !index.bytes().all(|b| b.is_ascii_digit()) {
        return Target::Invalid;
    }
    let Ok(index) = index.parse() else {
        return Target::Invalid;
    };
    match suffix {
        "" => Target::Presentation(index),
        "trackID=0" => Target::Track(index),
        _ => Target::Invalid,
    }
}

/// A transport the client asked for in SETUP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportRequest {
    Interleaved { rtp: u8, rtcp: u8 },
    Udp { rtp_port: u16, rtcp_port: u16 },
}

/// Picks the first supported unicast transport from a `Transport` header (RFC 2326 12.39).
pub(crate) fn parse_transport(header: &str) -> Option<TransportRequest> {
    header.split(',').find_map(|spec| {
        let mut params = spec.trim().split(';').map(str::trim);
        let proto = params.next()?;
        let params: Vec<&str> = params.collect();
        if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
            return None;
        }
        let value = |key: &str| {
            params.iter().find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
            })
        };
        let pair = |v: &str| -> Option<(u16, Option<u16>)> {
            match v.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
                None => Some((v.parse().ok()?, None)),
            }
        };
        match proto.to_ascii_uppercase().as_str() {
            "RTP/AVP/TCP" => {
                let (rtp, rtcp) = match value("interleaved") {
                    Some(v) => {
                        let (a, b) = pair(v)?;
                        let a = u8::try_from(a).ok()?;
                        let b = match b {
                            Some(b) => u8::try_from(b).ok()?,
                            None => a.checked_add(1)?,
                        };
                        (a, b)
                    }
                    None => (0, 1),
                };
                Some(TransportRequest::Interleaved { rtp, rtcp })
            }
            "RTP/AVP" | "RTP/AVP/UDP" => {
                let (a, b) = pair(value("client_port")?)?;
                let b = match b {
                    Some(b) => b,
                    None => a.checked_add(1)?,
                };
                (a != 0 && b != 0).then_some(TransportRequest::Udp {
                    rtp_port: a,
                    rtcp_port: b,
                })
            }
            _ => None,
        }
    })
}

/// The session identifier from a `Session` header, without `;timeout=`.
pub(crate) fn session_id(header: &str) -> &str {
    header.split(';').next().unwrap_or_default().trim()
}

/// Parameters needed to describe the stream.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SdpParams<'a> {
    pub(crate) session_id: u64,
    pub(crate) camera: usize,
    pub(crate) local_ip: std::net::IpAddr,
    pub(crate) profile_level_id: &'a str,
    pub(crate) sps: &'a [u8],
    pub(crate) pps: &'a [u8],
    pub(crate) fps: f64,
}

/// The SDP answered to DESCRIBE: one H.264 track, parameter sets inline, aggregate control.
pub(crate) fn sdp(p: &SdpParams<'_>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let ip_kind = if p.local_ip.is_ipv6() { "IP6" } else { "IP4" };
    format!(
        "v=0\r\n\
         o=- {id} 1 IN {ip_kind} {ip}\r\n\
         s=vms-sim camera {camera}\r\n\
         c=IN {ip_kind} {ip}\r\n\
         t=0 0\r\n\
         a=control:*\r\n\
         a=range:npt=now-\r\n\
         m=video 0 RTP/AVP 96\r\n\
         a=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 packetization-mode=1;profile-level-id={plid};sprop-parameter-sets={sps},{pps}\r\n\
         a=control:trackID=0\r\n\
         a=framerate:{fps}\r\n",
        id = p.session_id,
        ip = p.local_ip,
        camera = p.camera,
        plid = p.profile_level_id,
        sps = b64.encode(p.sps),
        pps = b64.encode(p.pps),
        fps = p.fps,
    )
}

/// What an `Authorization` header proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthResult {
    Ok,
    /// Missing, malformed or wrong; the client should be challenged (again).
    Denied,
}

/// Checks `authorization` against the expected credentials.
///
/// Digest (RFC 2617, MD5, with or without `qop=auth`) must use one of `nonces`, which the caller
/// issued on this connection; Basic is accepted too.
pub(crate) fn check_auth(
    authorization: Option<&str>,
    method: &str,
    (user, pass): (&str, &str),
    nonces: &[String],
) -> AuthResult {
    let Some(authorization) = authorization.map(str::trim) else {
        return AuthResult::Denied;
    };
    let (scheme, rest) = authorization.split_once(' ').unwrap_or((authorization, ""));
    let ok = if scheme.eq_ignore_ascii_case("Basic") {
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .is_some_and(|pair| pair.split_once(':') == Some((user, pass)))
    } else if scheme.eq_ignore_ascii_case("Digest") {
        check_digest(&auth_params(rest), method, user, pass, nonces)
    } else {
        false
    };
    if ok {
        AuthResult::Ok
    } else {
        AuthResult::Denied
    }
}

fn check_digest(
    params: &[(String, String)],
    method: &str,
    user: &str,
    pass: &str,
    nonces: &[String],
) -> bool {
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let (Some(username), Some(realm), Some(nonce), Some(uri), Some(response)) = (
        get("username"),
        get("realm"),
        get("nonce"),
        get("uri"),
        get("response"),
    ) else {
        return false;
    };
    if username != user
        || realm != REALM
        || !nonces.iter().any(|n| n == nonce)
        || get("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
    {
        return false;
    }
    let ha1 = md5_hex(&format!("{user}:{REALM}:{pass}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let expected = match get("qop") {
        None => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
        Some(qop) if qop.eq_ignore_ascii_case("auth") => {
            let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else {
                return false;
            };
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        Some(_) => return false,
    };
    expected.eq_ignore_ascii_case(response)
}

/// Parses `k=v, k="quoted, value"` authentication parameters.
fn auth_params(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = s.find('=') else {
            return out;
        };
        let key = s[..eq].trim().to_owned();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, c)) = chars.next() {
                            v.push(c);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            s = &quoted[end.min(quoted.len())..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_owned();
            s = &s[end..];
        }
        out.push((key, value));
    }
}

/// Lower-case hex MD5, as Digest uses everywhere.
pub(crate) fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .fold(String::with_capacity(32), |mut acc, b| {
            let _ = write!(acc, "{b:02x}");
            acc
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(s: &str) -> Message {
        let (m, n) = parse(s.as_bytes()).unwrap().unwrap();
        assert_eq!(n, s.len());
        m
    }

    #[test]
    fn parses_a_request_incrementally() {
        let full = "DESCRIBE rtsp://127.0.0.1:554/cam/3 RTSP/1.0\r\nCSeq: 2\r\n\
                    Accept: application/sdp\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(
                parse(&full.as_bytes()[..cut]).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        let Message::Request(r) = req(full) else {
            panic!()
        };
        assert_eq!(r.method, Method::Describe);
        assert_eq!(r.cseq, "2");
        assert_eq!(r.header("accept"), Some("application/sdp"));
        assert_eq!(target(&r.uri), Target::Presentation(3));
    }

    #[test]
    fn skips_body_and_accepts_bare_newlines() {
        let s = "GET_PARAMETER * RTSP/1.0\nCSeq: 9\nContent-Length: 4\n\nabcdOPTIONS";
        let (m, n) = parse(s.as_bytes()).unwrap().unwrap();
        assert_eq!(&s[n..], "OPTIONS");
        assert!(matches!(
            m,
            Message::Request(Request {
                method: Method::GetParameter,
                ..
            })
        ));
    }

    #[test]
    fn interleaved_frames_are_framed_by_length() {
        assert_eq!(parse(b"$\x01\x00\x03ab").unwrap(), None);
        assert_eq!(
            parse(b"$\x01\x00\x03abcX").unwrap(),
            Some((Message::Interleaved { channel: 1, len: 3 }, 7))
        );
    }

    #[test]
    fn malformed_requests_are_reported_not_panicked() {
        let bad = |s: &str| match req(s) {
            Message::Malformed { status, cseq, .. } => (status, cseq),
            m => panic!("{m:?}"),
        };
        assert_eq!(
            bad("OPTIONS * RTSP/1.0\r\n\r\n"),
            (400, None),
            "missing CSeq"
        );
        assert_eq!(bad("OPTIONS * RTSP/1.0\r\nCSeq: x\r\n\r\n"), (400, None));
        assert_eq!(bad("OPTIONS *\r\nCSeq: 1\r\n\r\n"), (400, Some("1".into())));
        assert_eq!(bad("OPTIONS * HTTP/1.1\r\nCSeq: 1\r\n\r\n").0, 505);
        assert_eq!(
            bad("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nno colon\r\n\r\n").0,
            400
        );
        assert_eq!(bad("\u{1}\u{2}garbage\r\nCSeq: 4\r\n\r\n").0, 400);
        let (m, _) = parse(b"\xff\xfe\r\n\r\n").unwrap().unwrap();
        assert!(matches!(m, Message::Malformed { status: 400, .. }));
        assert_eq!(
            parse(b"\r\n\r\nOPTIONS").unwrap(),
            Some((Message::Blank, 4))
        );
    }

    #[test]
    fn oversized_input_is_fatal() {
        let mut huge = b"OPTIONS * RTSP/1.0\r\nX: ".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse(&huge), Err(FatalParseError::HeadTooLarge));
        let big_body = format!(
            "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        assert_eq!(
            parse(big_body.as_bytes()),
            Err(FatalParseError::BodyTooLarge)
        );
        let neg = "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(
            parse(neg.as_bytes()),
            Err(FatalParseError::BadContentLength)
        );
    }

    #[test]
    fn targets() {
        assert_eq!(target("*"), Target::None);
        assert_eq!(target("rtsp://h:1/cam/0"), Target::Presentation(0));
        assert_eq!(target("rtsp://h:1/cam/12/"), Target::Presentation(12));
        assert_eq!(target("rtsp://h:1/cam/12/trackID=0"), Target::Track(12));
        assert_eq!(target("/cam/7?x=1"), Target::Presentation(7));
        assert_eq!(target("rtsp://h:1/cam/x"), Target::Invalid);
        assert_eq!(
            target("rtsp://h:1/cam/99999999999999999999"),
            Target::Invalid
        );
        assert_eq!(target("rtsp://h:1/cam/1/trackID=1"), Target::Invalid);
        assert_eq!(target("rtsp://h:1/other"), Target::None);
        assert_eq!(target("rtsp://h:1"), Target::None);
    }

    #[test]
    fn transports() {
        use TransportRequest::*;
        assert_eq!(
            parse_transport("RTP/AVP/TCP;unicast;interleaved=2-3"),
            Some(Interleaved { rtp: 2, rtcp: 3 })
        );
        assert_eq!(
            parse_transport("RTP/AVP;unicast;client_port=5000-5001"),
            Some(Udp {
                rtp_port: 5000,
                rtcp_port: 5001
            })
        );
        assert_eq!(
            parse_transport("RTP/AVP/UDP;unicast;client_port=6000"),
            Some(Udp {
                rtp_port: 6000,
                rtcp_port: 6001
            })
        );
        assert_eq!(
            parse_transport("RTP/AVP;multicast, RTP/AVP/TCP;unicast"),
            Some(Interleaved { rtp: 0, rtcp: 1 })
        );
        assert_eq!(parse_transport("RTP/AVP/TCP;interleaved=300-301"), None);
        assert_eq!(parse_transport("RTP/AVP;unicast"), None);
        assert_eq!(parse_transport("RAW/RAW/UDP;unicast"), None);
        assert_eq!(parse_transport(""), None);
    }

    #[test]
    fn response_serialization() {
        let mut out = Vec::new();
        Response::new(200)
            .header("Session", "abc;timeout=60")
            .body("application/sdp", "v=0\r\n".to_owned())
            .write(Some("5"), &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("RTSP/1.0 200 OK\r\nCSeq: 5\r\n"));
        assert!(s.contains("Session: abc;timeout=60\r\n"));
        assert!(s.ends_with("Content-Length: 5\r\n\r\nv=0\r\n"));
    }

    #[test]
    fn digest_rfc2617_example_and_basic() {
        // RFC 2617 section 3.5, with our realm substituted: compute the expected value the
        // long way, then check both success and every way it can fail.
        let nonces = vec!["dcd98b7102dd2f0e8b11d0f600bfb0c093".to_owned()];
        let ha1 = md5_hex("Mufasa:vms-sim:Circle Of Life");
        let ha2 = md5_hex("DESCRIBE:rtsp://h/cam/0");
        let resp = md5_hex(&format!("{ha1}:{}:{ha2}", nonces[0]));
        let hdr = |user: &str, nonce: &str, resp: &str| {
            format!(
                "Digest username=\"{user}\", realm=\"vms-sim\", nonce=\"{nonce}\", \
                 uri=\"rtsp://h/cam/0\", response=\"{resp}\""
            )
        };
        let creds = ("Mufasa", "Circle Of Life");
        let ok = hdr("Mufasa", &nonces[0], &resp);
        assert_eq!(
            check_auth(Some(&ok), "DESCRIBE", creds, &nonces),
            AuthResult::Ok
        );
        assert_eq!(
            check_auth(Some(&ok), "SETUP", creds, &nonces),
            AuthResult::Denied
        );
        assert_eq!(
            check_auth(Some(&ok), "DESCRIBE", ("Mufasa", "wrong"), &nonces),
            AuthResult::Denied
        );
        let stale = hdr("Mufasa", "othernonce", &resp);
        assert_eq!(
            check_auth(Some(&stale), "DESCRIBE", creds, &nonces),
            AuthResult::Denied
        );
        assert_eq!(
            check_auth(None, "DESCRIBE", creds, &nonces),
            AuthResult::Denied
        );
        assert_eq!(
            check_auth(Some("Digest"), "DESCRIBE", creds, &nonces),
            AuthResult::Denied
        );
        assert_eq!(
            check_auth(Some("Digest ,,=\""), "DESCRIBE", creds, &nonces),
            AuthResult::Denied
        );

        let qop_resp = md5_hex(&format!("{ha1}:{}:00000001:0a4f113b:auth:{ha2}", nonces[0]));
        let qop = format!(
            "Digest username=\"Mufasa\", realm=\"vms-sim\", nonce=\"{}\", uri=\"rtsp://h/cam/0\", \
             qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{qop_resp}\"",
            nonces[0]
        );
        assert_eq!(
            check_auth(Some(&qop), "DESCRIBE", creds, &nonces),
            AuthResult::Ok
        );

        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("Mufasa:Circle Of Life")
        );
        assert_eq!(check_auth(Some(&basic), "PLAY", creds, &[]), AuthResult::Ok);
        assert_eq!(
            check_auth(Some("Basic !!!"), "PLAY", creds, &[]),
            AuthResult::Denied
        );
    }

    #[test]
    fn known_md5() {
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn sdp_has_the_attributes_clients_need() {
        let s = sdp(&SdpParams {
            session_id: 1,
            camera: 4,
            local_ip: [127, 0, 0, 1].into(),
            profile_level_id: "4d401f",
            sps: &[0x67, 0x4d],
            pps: &[0x68],
            fps: 30.0,
        });
        assert!(s.contains("m=video 0 RTP/AVP 96\r\n"));
        assert!(s.contains("a=rtpmap:96 H264/90000\r\n"));
        assert!(s.contains(
            "a=fmtp:96 packetization-mode=1;profile-level-id=4d401f;sprop-parameter-sets=Z00=,aA==\r\n"
        ));
        assert!(s.contains("a=control:trackID=0\r\n"));
        assert!(s.contains("a=framerate:30\r\n"));
    }
}
