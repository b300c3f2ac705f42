//! ONVIF SOAP messages, pure: request envelopes (with the WS-Security UsernameToken) are built
//! as strings and responses are parsed from bytes into plain structs.
//!
//! Nothing here does I/O, so every vendor quirk is a unit test over a captured response (see
//! `ingest/testdata/onvif/`) and the fuzz target drives exactly these functions. Lookups go by
//! resolved namespace for the SOAP envelope and fault, and by local name below the response
//! element: cameras put the same field in `tt:`, `tr2:` or no namespace, and the response
//! element already fixes its meaning.

use base64::Engine as _;
use quick_xml::escape::escape;
use sha1::{Digest as _, Sha1};

use super::OnvifError;
use super::xml::{self, Element, QValue};

pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
pub const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
pub const NS_MEDIA2: &str = "http://www.onvif.org/ver20/media/wsdl";
pub const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
pub const NS_ERROR: &str = "http://www.onvif.org/ver10/error";
pub const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// Which media service a profile or URI request belongs to. Media2 (ONVIF Profile T) is the
/// only one that lists H.265 profiles on many cameras; Media1 (Profile S) is what older ones
/// have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaVersion {
    Media1,
    Media2,
}

impl MediaVersion {
    fn ns(self) -> &'static str {
        match self {
            MediaVersion::Media1 => NS_MEDIA,
            MediaVersion::Media2 => NS_MEDIA2,
        }
    }
}

/// The requests this client sends.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    GetSystemDateAndTime,
    GetDeviceInformation,
    GetCapabilities,
    GetServices,
    GetProfiles(MediaVersion),
    GetStreamUri(MediaVersion, &'a str),
    GetSnapshotUri(MediaVersion, &'a str),
}

impl Request<'_> {
    /// The operation name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Request::GetSystemDateAndTime => "GetSystemDateAndTime",
            Request::GetDeviceInformation => "GetDeviceInformation",
            Request::GetCapabilities => "GetCapabilities",
            Request::GetServices => "GetServices",
            Request::GetProfiles(_) => "GetProfiles",
            Request::GetStreamUri(..) => "GetStreamUri",
            Request::GetSnapshotUri(..) => "GetSnapshotUri",
        }
    }

    fn ns(&self) -> &'static str {
        match self {
            Request::GetProfiles(m)
            | Request::GetStreamUri(m, _)
            | Request::GetSnapshotUri(m, _) => m.ns(),
            _ => NS_DEVICE,
        }
    }

    /// The SOAP action URI (sent as the `action` parameter of the SOAP 1.2 content type).
    pub fn action(&self) -> String {
        format!("{}/{}", self.ns(), self.name())
    }

    fn body(&self) -> String {
        let ns = self.ns();
        match *self {
            Request::GetSystemDateAndTime
            | Request::GetDeviceInformation
            | Request::GetProfiles(MediaVersion::Media1) => {
                format!(r#"<{} xmlns="{ns}"/>"#, self.name())
            }
            Request::GetCapabilities => format!(
                r#"<GetCapabilities xmlns="{ns}"><Category>All</Category></GetCapabilities>"#
            ),
            Request::GetServices => format!(
                r#"<GetServices xmlns="{ns}"><IncludeCapability>false</IncludeCapability></GetServices>"#
            ),
            Request::GetProfiles(MediaVersion::Media2) => {
                format!(r#"<GetProfiles xmlns="{ns}"><Type>All</Type></GetProfiles>"#)
            }
            Request::GetStreamUri(MediaVersion::Media1, token) => format!(
                r#"<GetStreamUri xmlns="{ns}"><StreamSetup><Stream xmlns="{NS_SCHEMA}">RTP-Unicast</Stream><Transport xmlns="{NS_SCHEMA}"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>{}</ProfileToken></GetStreamUri>"#,
                escape(token)
            ),
            Request::GetStreamUri(MediaVersion::Media2, token) => format!(
                r#"<GetStreamUri xmlns="{ns}"><Protocol>RTSP</Protocol><ProfileToken>{}</ProfileToken></GetStreamUri>"#,
                escape(token)
            ),
            Request::GetSnapshotUri(_, token) => format!(
                r#"<GetSnapshotUri xmlns="{ns}"><ProfileToken>{}</ProfileToken></GetSnapshotUri>"#,
                escape(token)
            ),
        }
    }
}

/// A WS-Security UsernameToken with a password digest (WS-Security UsernameToken Profile 1.0,
/// section 3.1; ONVIF Core 5.12.2.1). Only the digest, never the password, goes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsernameToken {
    pub username: String,
    pub digest: String,
    pub nonce_b64: String,
    pub created: String,
}

/// `Base64(SHA-1(nonce ‖ created ‖ password))`, nonce as raw bytes.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// `Created` as cameras accept it: UTC, whole seconds, `Z` suffix. `unix_secs` must already be
/// on the camera's clock (server time plus the measured offset), or skew-checking cameras
/// reject the token.
pub fn format_created(unix_secs: i64) -> String {
    match jiff::Timestamp::from_second(unix_secs) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Out of jiff's range (year ±9999): cannot happen with a sane offset; the device
        // will reject it and say so.
        Err(_) => "1970-01-01T00:00:00Z".to_owned(),
    }
}

impl UsernameToken {
    pub fn new(username: &str, password: &str, nonce: &[u8], created_unix_secs: i64) -> Self {
        let created = format_created(created_unix_secs);
        UsernameToken {
            username: username.to_owned(),
            digest: password_digest(nonce, &created, password),
            nonce_b64: base64::engine::general_purpose::STANDARD.encode(nonce),
            created,
        }
    }
}

/// The full SOAP 1.2 envelope for `req`, with a Security header when `token` is given.
pub fn envelope(req: &Request<'_>, token: Option<&UsernameToken>) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    s.push_str(&format!(r#"<s:Envelope xmlns:s="{NS_SOAP12}">"#));
    if let Some(t) = token {
        s.push_str(&format!(
            concat!(
                r#"<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="{wsse}" xmlns:wsu="{wsu}">"#,
                r#"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"#,
                r#"<wsse:Password Type="{pd}">{digest}</wsse:Password>"#,
                r#"<wsse:Nonce EncodingType="{b64}">{nonce}</wsse:Nonce>"#,
                r#"<wsu:Created>{created}</wsu:Created>"#,
                r#"</wsse:UsernameToken></wsse:Security></s:Header>"#
            ),
            wsse = NS_WSSE,
            wsu = NS_WSU,
            user = escape(&t.username),
            pd = PASSWORD_DIGEST,
            digest = t.digest,
            b64 = BASE64_BINARY,
            nonce = t.nonce_b64,
            created = t.created,
        ));
    }
    s.push_str("<s:Body>");
    s.push_str(&req.body());
    s.push_str("</s:Body></s:Envelope>");
    s
}

/// A SOAP fault, SOAP 1.2 (`Code`/`Subcode`/`Reason`) or SOAP 1.1 (`faultcode`/`faultstring`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// `env:Sender`, `env:Receiver`, …
    pub code: Option<QValue>,
    /// ONVIF puts the real reason here: `ter:NotAuthorized`, `ter:ActionNotSupported`, …
    pub subcodes: Vec<QValue>,
    pub reason: String,
}

impl Fault {
    /// True when the device refused the credentials. ONVIF says `ter:NotAuthorized`
    /// (Core 5.11.2.4); WS-Security says `wsse:FailedAuthentication`; some devices only say so
    /// in the reason text.
    pub fn is_not_authorized(&self) -> bool {
        let by_code = self.subcodes.iter().chain(self.code.iter()).any(|q| {
            q.is(NS_ERROR, "NotAuthorized")
                || q.is(NS_WSSE, "FailedAuthentication")
                || q.is(NS_WSSE, "InvalidSecurityToken")
        });
        let r = self.reason.to_ascii_lowercase();
        by_code
            || r.contains("not authorized")
            || r.contains("unauthorized")
            || r.contains("authentication fail")
    }

    /// True when the device does not implement the operation (`ter:ActionNotSupported`), the
    /// cue to fall back (GetServices → GetCapabilities, Media2 → Media1).
    pub fn is_not_supported(&self) -> bool {
        self.subcodes
            .iter()
            .chain(self.code.iter())
            .any(|q| q.is(NS_ERROR, "ActionNotSupported") || q.is(NS_ERROR, "NotSupported"))
    }

    /// True when a profile token is unknown (`ter:InvalidArgVal`/`ter:NoProfile`), as after a
    /// reboot that regenerated profiles.
    pub fn is_no_profile(&self) -> bool {
        self.subcodes
            .iter()
            .any(|q| q.is(NS_ERROR, "NoProfile") || q.is(NS_ERROR, "InvalidArgVal"))
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{}", c.local)?,
            None => f.write_str("fault")?,
        }
        for s in &self.subcodes {
            write!(f, "/{}", s.local)?;
        }
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// Finds the SOAP Body, turning a Fault into [`OnvifError::Fault`].
fn soap_body(root: &Element) -> Result<&Element, OnvifError> {
    let ns = match root.ns.as_deref() {
        Some(ns @ (NS_SOAP12 | NS_SOAP11)) if root.local == "Envelope" => ns,
        _ => {
            return Err(OnvifError::Unexpected(format!(
                "root element {} is not a SOAP envelope",
                root.local
            )));
        }
    };
    let body = root
        .children
        .iter()
        .find(|c| c.is(ns, "Body"))
        .ok_or(OnvifError::Missing("SOAP Body"))?;
    if let Some(f) = body.children.iter().find(|c| c.is(ns, "Fault")) {
        return Err(OnvifError::Fault(parse_fault_element(f)));
    }
    Ok(body)
}

fn parse_fault_element(f: &Element) -> Fault {
    // SOAP 1.2: Code/Value, Code/Subcode/Value, Code/Subcode/Subcode/Value …
    if let Some(code) = f.child("Code") {
        let qv = |e: &Element| -> Option<QValue> {
            let v = e.child("Value")?;
            v.qnames.first().cloned().or_else(|| {
                let t = v.text.trim();
                (!t.is_empty()).then(|| QValue {
                    ns: None,
                    local: t.rsplit(':').next().unwrap_or(t).to_owned(),
                })
            })
        };
        let mut subcodes = Vec::new();
        let mut cur = code.child("Subcode");
        while let Some(sc) = cur {
            if subcodes.len() >= 8 {
                break;
            }
            if let Some(q) = qv(sc) {
                subcodes.push(q);
            }
            cur = sc.child("Subcode");
        }
        let reason = f
            .child("Reason")
            .and_then(|r| r.child("Text"))
            .map(|t| t.text.trim().to_owned())
            .unwrap_or_default();
        return Fault {
            code: qv(code),
            subcodes,
            reason,
        };
    }
    // SOAP 1.1: unqualified faultcode / faultstring.
    let code = f.child("faultcode").and_then(|c| {
        c.qnames.first().cloned().or_else(|| {
            let t = c.text.trim();
            (!t.is_empty()).then(|| QValue {
                ns: None,
                local: t.rsplit(':').next().unwrap_or(t).to_owned(),
            })
        })
    });
    Fault {
        code,
        subcodes: Vec::new(),
        reason: f
            .child("faultstring")
            .map(|t| t.text.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// Parses `bytes` as a SOAP envelope and returns the body's child named `response`.
fn response<'a>(root: &'a Element, response: &'static str) -> Result<&'a Element, OnvifError> {
    let body = soap_body(root)?;
    body.child(response).ok_or_else(|| {
        OnvifError::Unexpected(format!(
            "expected {response}, got {}",
            body.children
                .first()
                .map(|c| c.local.as_str())
                .unwrap_or("an empty Body")
        ))
    })
}

/// If `bytes` is a SOAP fault, returns it. Used on error statuses, where the body may be a
/// fault, an HTML page or nothing.
pub fn parse_fault(bytes: &[u8]) -> Option<Fault> {
    let root = xml::parse(bytes).ok()?;
    match soap_body(&root) {
        Err(OnvifError::Fault(f)) => Some(f),
        _ => None,
    }
}

/// GetDeviceInformation: every field is required by the specification and every one is
/// missing on some camera, so all are optional here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    pub serial_number: Option<String>,
    pub hardware_id: Option<String>,
}

pub fn parse_device_information(bytes: &[u8]) -> Result<DeviceInfo, OnvifError> {
    let root = xml::parse(bytes)?;
    let r = response(&root, "GetDeviceInformationResponse")?;
    let f = |n: &str| r.text_at(&[n]).map(str::to_owned);
    Ok(DeviceInfo {
        manufacturer: f("Manufacturer"),
        model: f("Model"),
        firmware_version: f("FirmwareVersion"),
        serial_number: f("SerialNumber"),
        hardware_id: f("HardwareId"),
    })
}

/// Service addresses (XAddrs) as the device reports them, before any rewriting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAddrs {
    pub device: Option<String>,
    pub media: Option<String>,
    pub media2: Option<String>,
}

/// GetServices (ONVIF 2.x devices).
pub fn parse_services(bytes: &[u8]) -> Result<ServiceAddrs, OnvifError> {
    let root = xml::parse(bytes)?;
    let r = response(&root, "GetServicesResponse")?;
    let mut out = ServiceAddrs::default();
    for s in r.children_named("Service") {
        let (Some(ns), Some(xaddr)) = (s.text_at(&["Namespace"]), s.text_at(&["XAddr"])) else {
            continue;
        };
        let slot = match ns {
            NS_DEVICE => &mut out.device,
            NS_MEDIA => &mut out.media,
            NS_MEDIA2 => &mut out.media2,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(xaddr.to_owned());
        }
    }
    Ok(out)
}

/// GetCapabilities (every device; the only option on ONVIF 1.x). It has no Media2 entry.
pub fn parse_capabilities(bytes: &[u8]) -> Result<ServiceAddrs, OnvifError> {
    let root = xml::parse(bytes)?;
    let r = response(&root, "GetCapabilitiesResponse")?;
    let caps = r
        .child("Capabilities")
        .ok_or(OnvifError::Missing("GetCapabilitiesResponse/Capabilities"))?;
    Ok(ServiceAddrs {
        device: caps.text_at(&["Device", "XAddr"]).map(str::to_owned),
        media: caps.text_at(&["Media", "XAddr"]).map(str::to_owned),
        media2: None,
    })
}

/// Video codec of a profile's encoder, from the `Encoding` field (Media1 uses `H264`, Media2
/// the MIME subtype such as `H264`/`H265`, some firmwares `video/H264` or `HEVC`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
    Jpeg,
    Mpeg4,
    Other,
}

impl VideoCodec {
    pub fn from_encoding(s: &str) -> VideoCodec {
        let s = s.trim();
        let s = s.rsplit('/').next().unwrap_or(s).to_ascii_uppercase();
        match s.replace(['.', '-', '_'], "").as_str() {
            "H264" | "AVC" => VideoCodec::H264,
            "H265" | "HEVC" => VideoCodec::H265,
            "JPEG" | "MJPEG" => VideoCodec::Jpeg,
            "MPEG4" | "MPV4ES" | "MP4VES" => VideoCodec::Mpeg4,
            _ => VideoCodec::Other,
        }
    }
}

/// A profile's video encoder settings, what stream choice needs.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoEncoder {
    pub codec: VideoCodec,
    /// As the device wrote it.
    pub encoding: String,
    /// Width and height, when present and positive.
    pub resolution: Option<(u32, u32)>,
    pub fps: Option<f64>,
    pub bitrate_kbps: Option<u32>,
}

/// One media profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub token: String,
    pub name: Option<String>,
    pub media: MediaVersion,
    /// The video source (sensor / channel) token, to pair main and sub of one channel.
    pub video_source: Option<String>,
    /// `None` for profiles without a video encoder (audio- or metadata-only).
    pub video: Option<VideoEncoder>,
}

fn parse_u32(s: Option<&str>) -> Option<u32> {
    s.and_then(|s| s.trim().parse::<u32>().ok())
}

fn parse_encoder(e: &Element) -> VideoEncoder {
    let encoding = e.text_at(&["Encoding"]).unwrap_or("").to_owned();
    let w = parse_u32(e.text_at(&["Resolution", "Width"]));
    let h = parse_u32(e.text_at(&["Resolution", "Height"]));
    let resolution = match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w, h)),
        _ => None,
    };
    let fps = e
        .text_at(&["RateControl", "FrameRateLimit"])
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0);
    VideoEncoder {
        codec: VideoCodec::from_encoding(&encoding),
        encoding,
        resolution,
        fps,
        bitrate_kbps: parse_u32(e.text_at(&["RateControl", "BitrateLimit"])),
    }
}

/// GetProfiles, Media1 (`trt:Profiles` with `VideoEncoderConfiguration`) or Media2
/// (`tr2:Profiles` with `Configurations/VideoEncoder`), told apart by the response element's
/// namespace. Profiles without a token are skipped: nothing could be asked about them.
pub fn parse_profiles(bytes: &[u8]) -> Result<Vec<Profile>, OnvifError> {
    let root = xml::parse(bytes)?;
    let r = response(&root, "GetProfilesResponse")?;
    let media = if r.ns.as_deref() == Some(NS_MEDIA2) {
        MediaVersion::Media2
    } else {
        MediaVersion::Media1
    };
    let mut out = Vec::new();
    for p in r.children_named("Profiles") {
        let Some(token) = p.attr("token").map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        let (source, encoder) = match p.child("Configurations") {
            Some(c) => (c.child("VideoSource"), c.child("VideoEncoder")),
            None => (
                p.child("VideoSourceConfiguration"),
                p.child("VideoEncoderConfiguration"),
            ),
        };
        out.push(Profile {
            token: token.to_owned(),
            name: p.text_at(&["Name"]).map(str::to_owned),
            media,
            video_source: source.and_then(|s| s.text_at(&["SourceToken"]).map(str::to_owned)),
            video: encoder.map(parse_encoder),
        });
    }
    Ok(out)
}

/// A stream or snapshot URI as the device returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaUri {
    pub uri: String,
    /// The device says the URI stops working after one connection (Media1 only).
    pub invalid_after_connect: bool,
    /// The device says the URI changes when it reboots (Media1 only): re-resolve on failure.
    pub invalid_after_reboot: bool,
}

fn parse_bool(s: Option<&str>) -> bool {
    matches!(s.map(str::trim), Some("true" | "1"))
}

/// GetStreamUri / GetSnapshotUri, Media1 (`MediaUri/Uri`) or Media2 (`Uri`).
pub fn parse_media_uri(bytes: &[u8]) -> Result<MediaUri, OnvifError> {
    let root = xml::parse(bytes)?;
    let body = soap_body(&root)?;
    let r = body
        .children
        .iter()
        .find(|c| c.local == "GetStreamUriResponse" || c.local == "GetSnapshotUriResponse")
        .ok_or_else(|| {
            OnvifError::Unexpected(format!(
                "expected GetStreamUriResponse or GetSnapshotUriResponse, got {}",
                body.children
                    .first()
                    .map(|c| c.local.as_str())
                    .unwrap_or("an empty Body")
            ))
        })?;
    let (uri, holder) = match r.child("MediaUri") {
        Some(m) => (m.text_at(&["Uri"]), Some(m)),
        None => (r.text_at(&["Uri"]), None),
    };
    let uri = uri.ok_or(OnvifError::Missing("Uri"))?;
    Ok(MediaUri {
        uri: uri.to_owned(),
        invalid_after_connect: parse_bool(holder.and_then(|m| m.text_at(&["InvalidAfterConnect"]))),
        invalid_after_reboot: parse_bool(holder.and_then(|m| m.text_at(&["InvalidAfterReboot"]))),
    })
}

/// A calendar date and time as the device reports it (no zone attached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// GetSystemDateAndTime, as reported. [`super::clock`] turns it into an offset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemDateTime {
    /// `NTP` or `Manual`.
    pub date_time_type: Option<String>,
    /// "Informative indicator whether daylight savings is currently on/off" — often wrong.
    pub daylight_savings: Option<bool>,
    /// POSIX 1003.1 TZ string, e.g. `CST-8` or `EST5EDT,M3.2.0,M11.1.0`.
    pub tz: Option<String>,
    pub utc: Option<CivilTime>,
    pub local: Option<CivilTime>,
    /// Fields that were present but unusable (e.g. month 13), for the evidence notes.
    pub problems: Vec<String>,
}

fn parse_civil(e: &Element, what: &str, problems: &mut Vec<String>) -> Option<CivilTime> {
    let num = |p: &[&str]| -> Option<i64> { e.text_at(p).and_then(|s| s.parse::<i64>().ok()) };
    let fields = (
        num(&["Date", "Year"]),
        num(&["Date", "Month"]),
        num(&["Date", "Day"]),
        num(&["Time", "Hour"]),
        num(&["Time", "Minute"]),
        num(&["Time", "Second"]),
    );
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = fields else {
        problems.push(format!("{what} is incomplete"));
        return None;
    };
    let ok = (1..=9999).contains(&y)
        && (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..=23).contains(&h)
        && (0..=59).contains(&mi)
        && (0..=60).contains(&s);
    if !ok {
        problems.push(format!(
            "{what} out of range: {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"
        ));
        return None;
    }
    // The ranges above were checked, so these narrowing conversions cannot truncate.
    Some(CivilTime {
        year: y as i32,
        month: mo as u8,
        day: d as u8,
        hour: h as u8,
        minute: mi as u8,
        second: s as u8,
    })
}

pub fn parse_system_date_time(bytes: &[u8]) -> Result<SystemDateTime, OnvifError> {
    let root = xml::parse(bytes)?;
    let r = response(&root, "GetSystemDateAndTimeResponse")?;
    let sdt = r.child("SystemDateAndTime").ok_or(OnvifError::Missing(
        "GetSystemDateAndTimeResponse/SystemDateAndTime",
    ))?;
    let mut problems = Vec::new();
    let utc = sdt
        .child("UTCDateTime")
        .and_then(|e| parse_civil(e, "UTCDateTime", &mut problems));
    let local = sdt
        .child("LocalDateTime")
        .and_then(|e| parse_civil(e, "LocalDateTime", &mut problems));
    Ok(SystemDateTime {
        date_time_type: sdt.text_at(&["DateTimeType"]).map(str::to_owned),
        daylight_savings: sdt
            .text_at(&["DaylightSavings"])
            .map(|s| matches!(s, "true" | "1")),
        tz: sdt.text_at(&["TimeZone", "TZ"]).map(str::to_owned),
        utc,
        local,
        problems,
    })
}
