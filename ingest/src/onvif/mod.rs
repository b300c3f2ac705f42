//! ONVIF: find partner cameras (WS-Discovery), learn what they are and how to stream them
//! (device information, profiles, RTSP URIs), and measure their clock, so partners enroll a
//! camera with an address and a password instead of hunting for RTSP paths.
//!
//! Layout follows the crate's sans-IO habit: [`soap`] builds requests and parses responses from
//! bytes, [`clock`] turns a time report into an offset, [`select`] picks profiles and repairs
//! addresses, [`discovery`] parses probe answers — all pure and unit-tested against captured
//! vendor responses in `ingest/testdata/onvif/`. The I/O is in two drivers only: the HTTP
//! exchange (`http`, used by [`OnvifClient`]) and the discovery sockets
//! ([`discovery::discover`], [`discovery::probe_unicast`]).
//!
//! Authentication is WS-UsernameToken with a password digest dated on the camera's clock
//! (cameras reject skewed tokens), plus HTTP Digest when a device challenges for it. Passwords
//! stay in [`Secret`](crate::Secret) and never reach a log line or an error message.
//!
//! The supervisor calls [`resolve_stream_uri`] with the [`StreamLocator`] saved at enrollment
//! when a camera's RTSP session keeps failing: cameras change their URIs after a reboot or a
//! firmware update.

pub mod clock;
pub mod discovery;
mod http;

/// A URL fit for logs: no user info and no query (cameras take credentials in either).
pub(crate) use http::redact as redact_url;
pub mod select;
pub mod soap;
mod xml;

#[cfg(test)]
mod tests;

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use tracing::Instrument as _;
use url::Url;

use crate::camera::{CameraConfig, Credentials};

pub use clock::{ClockOffset, ClockQuirk, ClockSource};
pub use discovery::{DiscoveredDevice, DiscoveryOptions};
pub use soap::{DeviceInfo, Fault, MediaUri, MediaVersion, Profile, SystemDateTime, VideoCodec};
pub use xml::QValue;

/// Everything that can go wrong talking ONVIF, for the pure parsers and the drivers alike.
#[derive(Debug, thiserror::Error)]
pub enum OnvifError {
    #[error("invalid device address {0:?}: {1}")]
    BadAddress(String, String),
    #[error("unsupported URL scheme {0:?} (only http for ONVIF, rtsp for streams)")]
    UnsupportedScheme(String),
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: String, error: std::io::Error },
    /// The address resolves only to destinations partner addresses may not reach (issue 22 F3).
    #[error("this address is not allowed for partner cameras")]
    Refused,
    #[error("{what} timed out after {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("HTTP error: {0}")]
    Http(String),
    #[error("HTTP status {status} for {operation}: {snippet}")]
    Status {
        status: u16,
        operation: &'static str,
        snippet: String,
    },
    #[error("response larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("more than {0} redirects (redirect loop?)")]
    TooManyRedirects(u8),
    #[error("device redirected to another host ({0}); refused so credentials stay put")]
    RedirectOffHost(String),
    #[error("device refused the credentials ({0})")]
    NotAuthorized(String),
    #[error("SOAP fault: {0}")]
    Fault(Fault),
    #[error("malformed XML at byte {pos}: {msg}")]
    Xml { pos: u64, msg: String },
    #[error("unexpected response: {0}")]
    Unexpected(String),
    #[error("response lacks {0}")]
    Missing(&'static str),
    #[error("bad {field}: {value}")]
    BadValue { field: &'static str, value: String },
    #[error("device offers no H.264 or H.265 video profile")]
    NoUsableProfile,
    #[error("no such network interface {0:?}")]
    NoInterface(String),
    #[error("discovery: {0}")]
    Discovery(String),
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// Context: which step of a multi-step operation failed. The inner error is part of the
    /// message (not a separate `source`), so chains print it once.
    #[error("{step}: {inner}")]
    Step {
        step: &'static str,
        inner: Box<OnvifError>,
    },
}

// By hand rather than `#[from]`, which would also make it the `source` and print it twice in
// error chains.
impl From<std::io::Error> for OnvifError {
    fn from(e: std::io::Error) -> Self {
        OnvifError::Io(e)
    }
}

impl OnvifError {
    /// The underlying error, through any [`OnvifError::Step`] context.
    pub fn root(&self) -> &OnvifError {
        match self {
            OnvifError::Step { inner, .. } => inner.root(),
            e => e,
        }
    }

    pub fn is_not_authorized(&self) -> bool {
        matches!(self.root(), OnvifError::NotAuthorized(_))
    }

    fn step(self, step: &'static str) -> OnvifError {
        match self {
            e @ OnvifError::Step { .. } => e,
            e => OnvifError::Step {
                step,
                inner: Box::new(e),
            },
        }
    }
}

/// Bounds on every exchange with a device.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole HTTP exchange (connect, request, response, redirects).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Larger responses are refused (the biggest real GetProfiles answers are ~200 KiB).
    pub max_response_bytes: usize,
    pub max_redirects: u8,
    /// Where the client may connect; unrestricted by default (the operator's CLI and
    /// config-file cameras), restricted for anything a partner typed.
    pub destinations: crate::destinations::Destinations,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            destinations: crate::destinations::Destinations::unrestricted(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 1 << 20,
            max_redirects: 3,
        }
    }
}

/// A media service endpoint: which version, at which (repaired) address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaEndpoint {
    pub version: MediaVersion,
    pub url: Url,
}

/// Service addresses after repair (see [`select::service_url`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Services {
    pub media: Option<Url>,
    pub media2: Option<Url>,
    pub notes: Vec<String>,
}

impl Services {
    /// Media2 first (it lists H.265 and is what Profile T devices keep current), then Media1.
    pub fn media_endpoints(&self) -> Vec<MediaEndpoint> {
        let mut v = Vec::new();
        if let Some(u) = &self.media2 {
            v.push(MediaEndpoint {
                version: MediaVersion::Media2,
                url: u.clone(),
            });
        }
        if let Some(u) = &self.media {
            v.push(MediaEndpoint {
                version: MediaVersion::Media1,
                url: u.clone(),
            });
        }
        v
    }
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// First bytes of a non-SOAP answer, printable, for error messages.
fn snippet(body: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&body[..body.len().min(120)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    s.trim().to_owned()
}

/// A client for one device. Cheap to create; holds the measured clock offset and any HTTP
/// Digest state between calls.
#[derive(Debug)]
pub struct OnvifClient {
    device_url: Url,
    credentials: Option<Credentials>,
    limits: http::Limits,
    /// Offset used to date tokens, and its fallbacks; set by [`OnvifClient::clock`].
    clock: Mutex<Option<ClockOffset>>,
    /// Set when a token dated with a fallback offset was accepted: use it from then on.
    token_offset_ms: Mutex<Option<i64>>,
    digest: Mutex<Option<http_auth::PasswordClient>>,
    notes: Mutex<Vec<String>>,
}

impl OnvifClient {
    /// `address`: host, host:port, or the device service URL. No I/O happens here.
    pub fn new(
        address: &str,
        credentials: Option<Credentials>,
        opts: &ClientOptions,
    ) -> Result<Self, OnvifError> {
        Ok(Self::with_url(
            select::device_url(address)?,
            credentials,
            opts,
        ))
    }

    pub fn with_url(
        device_url: Url,
        credentials: Option<Credentials>,
        opts: &ClientOptions,
    ) -> Self {
        OnvifClient {
            device_url,
            credentials,
            limits: http::Limits {
                destinations: opts.destinations.clone(),
                connect_timeout: opts.connect_timeout,
                timeout: opts.timeout,
                max_body: opts.max_response_bytes,
                max_redirects: opts.max_redirects,
            },
            clock: Mutex::new(None),
            token_offset_ms: Mutex::new(None),
            digest: Mutex::new(None),
            notes: Mutex::new(Vec::new()),
        }
    }

    pub fn device_url(&self) -> &Url {
        &self.device_url
    }

    /// Notes about quirks met so far (repairs, fallbacks), for the operator.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    fn note(&self, s: impl Into<String>) {
        let s = s.into();
        tracing::debug!(note = %s, "device quirk");
        if let Ok(mut n) = self.notes.lock()
            && !n.contains(&s)
        {
            n.push(s);
        }
    }

    fn token_offsets(&self) -> Vec<i64> {
        if let Ok(Some(o)) = self.token_offset_ms.lock().map(|g| *g) {
            return vec![o];
        }
        match self.clock.lock().ok().and_then(|c| c.clone()) {
            Some(c) => c.token_offsets(),
            None => vec![0],
        }
    }

    fn token(&self, offset_ms: i64) -> Option<soap::UsernameToken> {
        let c = self.credentials.as_ref()?;
        let nonce: [u8; 16] = rand::rng().random();
        let created = (now_unix_ms() + offset_ms).div_euclid(1000);
        Some(soap::UsernameToken::new(
            &c.username,
            c.password.expose(),
            &nonce,
            created,
        ))
    }

    fn digest_header(&self, url: &Url, envelope: &str) -> Option<String> {
        let c = self.credentials.as_ref()?;
        let mut g = self.digest.lock().ok()?;
        let client = g.as_mut()?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        client
            .respond(&http_auth::PasswordParams {
                username: &c.username,
                password: c.password.expose(),
                uri: &path,
                method: "POST",
                body: Some(envelope.as_bytes()),
            })
            .ok()
    }

    /// Takes an HTTP 401 challenge. Returns true if a retry with HTTP Digest makes sense.
    fn accept_challenge(&self, challenges: &[String]) -> Result<bool, OnvifError> {
        if self.credentials.is_none() || challenges.is_empty() {
            return Ok(false);
        }
        let joined = challenges.join(", ");
        match http_auth::PasswordClient::try_from(joined.as_str()) {
            Ok(http_auth::PasswordClient::Digest(d)) => {
                if let Ok(mut g) = self.digest.lock() {
                    *g = Some(http_auth::PasswordClient::Digest(d));
                }
                self.note("device requires HTTP Digest authentication");
                Ok(true)
            }
            Ok(_) => Err(OnvifError::NotAuthorized(
                "device demands HTTP Basic authentication over plain HTTP; refused to send the password in clear"
                    .into(),
            )),
            Err(_) => Ok(false),
        }
    }

    /// One request and its parsed answer. Tokens are dated with the measured clock offset and,
    /// if the device refuses them, with its fallbacks (see [`ClockOffset::token_offsets`]).
    async fn exchange<T>(
        &self,
        url: &Url,
        req: soap::Request<'_>,
        authenticate: bool,
        parse: fn(&[u8]) -> Result<T, OnvifError>,
    ) -> Result<T, OnvifError> {
        let span = tracing::info_span!(
            "onvif",
            device = %self.device_url.host_str().unwrap_or("?"),
            op = req.name()
        );
        async {
            let offsets = if authenticate && self.credentials.is_some() {
                self.token_offsets()
            } else {
                vec![0]
            };
            let n = offsets.len();
            let with_token = authenticate && self.credentials.is_some();
            for (i, off) in offsets.into_iter().enumerate() {
                match self.exchange_once(url, &req, authenticate, off, parse).await {
                    Err(e) if e.is_not_authorized() && with_token && i + 1 < n => {
                        tracing::warn!(offset_ms = off, "token refused; retrying with another clock offset");
                    }
                    Ok(v) => {
                        if i > 0 {
                            if let Ok(mut g) = self.token_offset_ms.lock() {
                                *g = Some(off);
                            }
                            self.note(format!(
                                "device accepted tokens dated {off:+} ms from the server clock, not by its reported time"
                            ));
                        }
                        return Ok(v);
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(OnvifError::NotAuthorized("no clock offset was accepted".into()))
        }
        .instrument(span)
        .await
    }

    async fn exchange_once<T>(
        &self,
        url: &Url,
        req: &soap::Request<'_>,
        authenticate: bool,
        offset_ms: i64,
        parse: fn(&[u8]) -> Result<T, OnvifError>,
    ) -> Result<T, OnvifError> {
        let action = req.action();
        let token = if authenticate {
            self.token(offset_ms)
        } else {
            None
        };
        let envelope = soap::envelope(req, token.as_ref());
        let auth = self.digest_header(url, &envelope);
        let mut reply =
            http::post_soap(url, &action, &envelope, auth.as_deref(), &self.limits).await?;
        if reply.status == 401 && self.accept_challenge(&reply.www_authenticate)? {
            // A fresh token too: devices may refuse a nonce they have seen.
            let token = if authenticate {
                self.token(offset_ms)
            } else {
                None
            };
            let envelope = soap::envelope(req, token.as_ref());
            let auth = self.digest_header(&reply.url, &envelope);
            reply = http::post_soap(
                &reply.url,
                &action,
                &envelope,
                auth.as_deref(),
                &self.limits,
            )
            .await?;
        }
        interpret(reply.status, &reply.body, req.name(), parse)
    }

    /// GetSystemDateAndTime, unauthenticated as ONVIF requires devices to allow, then with
    /// credentials for devices that insist. Remembers the offset for dating tokens.
    pub async fn clock(&self) -> Result<ClockOffset, OnvifError> {
        let sent = now_unix_ms();
        let res = self
            .exchange(
                &self.device_url,
                soap::Request::GetSystemDateAndTime,
                false,
                soap::parse_system_date_time,
            )
            .await;
        let (dt, sent, received) = match res {
            Ok(dt) => (dt, sent, now_unix_ms()),
            Err(e) if e.is_not_authorized() && self.credentials.is_some() => {
                self.note("GetSystemDateAndTime requires credentials (ONVIF says it should not)");
                let sent = now_unix_ms();
                let dt = self
                    .exchange(
                        &self.device_url,
                        soap::Request::GetSystemDateAndTime,
                        true,
                        soap::parse_system_date_time,
                    )
                    .await?;
                (dt, sent, now_unix_ms())
            }
            Err(e) => return Err(e),
        };
        let c = clock::clock_offset(&dt, sent, received)?;
        for q in &c.quirks {
            self.note(format!("clock: {q}"));
        }
        if let Ok(mut g) = self.clock.lock() {
            *g = Some(c.clone());
        }
        Ok(c)
    }

    pub async fn device_information(&self) -> Result<DeviceInfo, OnvifError> {
        self.exchange(
            &self.device_url,
            soap::Request::GetDeviceInformation,
            true,
            soap::parse_device_information,
        )
        .await
    }

    /// GetServices, falling back to GetCapabilities (ONVIF 1.x devices, or a fault), with the
    /// addresses repaired to the host that answered.
    pub async fn services(&self) -> Result<Services, OnvifError> {
        let reported = match self
            .exchange(
                &self.device_url,
                soap::Request::GetServices,
                true,
                soap::parse_services,
            )
            .await
        {
            Ok(s) if s.media.is_some() || s.media2.is_some() => s,
            Ok(_)
            | Err(OnvifError::Fault(_) | OnvifError::Unexpected(_) | OnvifError::Status { .. }) => {
                self.note("GetServices unusable; used GetCapabilities");
                self.exchange(
                    &self.device_url,
                    soap::Request::GetCapabilities,
                    true,
                    soap::parse_capabilities,
                )
                .await?
            }
            Err(e) => return Err(e),
        };
        let mut notes = Vec::new();
        let media = reported
            .media
            .as_deref()
            .and_then(|x| select::service_url(x, &self.device_url, &mut notes));
        let media2 = reported
            .media2
            .as_deref()
            .and_then(|x| select::service_url(x, &self.device_url, &mut notes));
        for n in &notes {
            self.note(n.clone());
        }
        Ok(Services {
            media,
            media2,
            notes,
        })
    }

    pub async fn profiles(&self, media: &MediaEndpoint) -> Result<Vec<Profile>, OnvifError> {
        self.exchange(
            &media.url,
            soap::Request::GetProfiles(media.version),
            true,
            soap::parse_profiles,
        )
        .await
    }

    /// GetStreamUri (RTP unicast over RTSP), repaired with [`select::media_url`].
    pub async fn stream_uri(
        &self,
        media: &MediaEndpoint,
        profile_token: &str,
    ) -> Result<(Url, MediaUri), OnvifError> {
        let m = self
            .exchange(
                &media.url,
                soap::Request::GetStreamUri(media.version, profile_token),
                true,
                soap::parse_media_uri,
            )
            .await?;
        let mut notes = Vec::new();
        let url = select::media_url(&m.uri, &self.device_url, &["rtsp"], &mut notes)?;
        for n in notes {
            self.note(n);
        }
        Ok((url, m))
    }

    pub async fn snapshot_uri(
        &self,
        media: &MediaEndpoint,
        profile_token: &str,
    ) -> Result<Url, OnvifError> {
        let m = self
            .exchange(
                &media.url,
                soap::Request::GetSnapshotUri(media.version, profile_token),
                true,
                soap::parse_media_uri,
            )
            .await?;
        let mut notes = Vec::new();
        let url = select::media_url(&m.uri, &self.device_url, &["http", "https"], &mut notes)?;
        for n in notes {
            self.note(n);
        }
        Ok(url)
    }

    /// Profiles from the first media service that answers with a usable one (Media2, then
    /// Media1), with the choice of main and sub.
    async fn profiles_and_choice(
        &self,
        services: &Services,
    ) -> Result<(MediaEndpoint, Vec<Profile>, select::Choice), OnvifError> {
        let endpoints = services.media_endpoints();
        if endpoints.is_empty() {
            return Err(OnvifError::Missing("a media service address"));
        }
        let mut last = None;
        for ep in endpoints {
            match self.profiles(&ep).await {
                Ok(p) => match select::choose_profiles(&p) {
                    Ok(c) => return Ok((ep, p, c)),
                    Err(e) => last = Some(e),
                },
                Err(e) if e.is_not_authorized() => return Err(e),
                Err(e) => {
                    self.note(format!("{:?} GetProfiles failed: {e}", ep.version));
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(OnvifError::NoUsableProfile))
    }
}

/// Maps an HTTP answer to the parsed value or the most useful error.
fn interpret<T>(
    status: u16,
    body: &Bytes,
    operation: &'static str,
    parse: fn(&[u8]) -> Result<T, OnvifError>,
) -> Result<T, OnvifError> {
    let ok = (200..300).contains(&status);
    match parse(body) {
        Ok(v) if ok => Ok(v),
        Ok(_) => Err(OnvifError::Status {
            status,
            operation,
            snippet: "(a well-formed answer with an error status)".into(),
        }),
        Err(OnvifError::Fault(f)) if f.is_not_authorized() => {
            Err(OnvifError::NotAuthorized(f.to_string()))
        }
        Err(OnvifError::Fault(f)) if status == 401 || status == 403 => {
            Err(OnvifError::NotAuthorized(f.to_string()))
        }
        Err(e @ OnvifError::Fault(_)) => Err(e),
        Err(_) if status == 401 || status == 403 => {
            Err(OnvifError::NotAuthorized(format!("HTTP {status}")))
        }
        Err(_) if !ok => Err(OnvifError::Status {
            status,
            operation,
            snippet: snippet(body),
        }),
        Err(OnvifError::Xml { .. } | OnvifError::Unexpected(_)) if looks_like_html(body) => {
            Err(OnvifError::Unexpected(format!(
                "{operation} was answered with an HTML page, not SOAP (is ONVIF enabled on the device?)"
            )))
        }
        Err(e) => Err(e),
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

/// Enough to find a camera's stream again after it changed: saved at enrollment, handed to
/// [`resolve_stream_uri`] when the RTSP session keeps failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamLocator {
    pub device_url: Url,
    pub media: MediaVersion,
    pub profile_token: String,
    /// Used to find the profile again if the device regenerated its tokens.
    pub profile_name: Option<String>,
    /// Main (highest resolution) or sub (smallest) stream.
    pub role: StreamRole,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRole {
    Main,
    Sub,
}

/// A stream picked at enrollment.
#[derive(Clone, Debug, PartialEq)]
pub struct ChosenStream {
    pub profile: Profile,
    /// RTSP URI, credentials removed.
    pub uri: Url,
    /// The device says the URI changes on reboot.
    pub invalid_after_reboot: bool,
    pub locator: StreamLocator,
}

/// What enrollment learned about a device.
#[derive(Clone, Debug)]
pub struct Enrollment {
    pub device_url: Url,
    pub device: DeviceInfo,
    /// Camera − server; store it with the run for the evidence manifest.
    pub clock: ClockOffset,
    pub media: MediaEndpoint,
    pub profiles: Vec<Profile>,
    /// Highest-resolution H.264 profile: what to record.
    pub main: ChosenStream,
    /// Smallest H.264 profile, for live grids, if the device has a smaller one.
    pub sub: Option<ChosenStream>,
    pub snapshot_uri: Option<Url>,
    /// Quirks met and repairs made, for the operator.
    pub notes: Vec<String>,
}

impl Enrollment {
    /// The camera configuration for the recorder: the main stream with the same credentials.
    pub fn camera_config(&self, name: &str, credentials: Option<Credentials>) -> CameraConfig {
        let mut c = CameraConfig::new(name, self.main.uri.clone());
        c.credentials = credentials;
        c
    }
}

/// Enrolls a device by ONVIF address and credentials: measures its clock, reads its identity,
/// finds its media service, picks main and sub profiles and resolves their RTSP URIs.
pub async fn enroll(
    address: &str,
    credentials: Option<Credentials>,
    opts: &ClientOptions,
) -> Result<Enrollment, OnvifError> {
    let client = OnvifClient::new(address, credentials, opts)?;
    let span = tracing::info_span!("onvif_enroll", device = %http::redact(client.device_url()));
    async {
        let clock = client
            .clock()
            .await
            .map_err(|e| e.step("GetSystemDateAndTime"))?;
        let device = client
            .device_information()
            .await
            .map_err(|e| e.step("GetDeviceInformation"))?;
        let services = client
            .services()
            .await
            .map_err(|e| e.step("finding the media service"))?;
        let (media, profiles, choice) = client
            .profiles_and_choice(&services)
            .await
            .map_err(|e| e.step("GetProfiles"))?;
        for n in &choice.notes {
            client.note(n.clone());
        }
        let pick = |i: usize, role: StreamRole| {
            let client = &client;
            let media = &media;
            let profile = profiles[i].clone();
            async move {
                let (uri, m) = client
                    .stream_uri(media, &profile.token)
                    .await
                    .map_err(|e| e.step("GetStreamUri"))?;
                Ok::<_, OnvifError>(ChosenStream {
                    invalid_after_reboot: m.invalid_after_reboot,
                    locator: StreamLocator {
                        device_url: client.device_url().clone(),
                        media: media.version,
                        profile_token: profile.token.clone(),
                        profile_name: profile.name.clone(),
                        role,
                    },
                    profile,
                    uri,
                })
            }
        };
        let main = pick(choice.main, StreamRole::Main).await?;
        let sub = match choice.sub {
            Some(i) => match pick(i, StreamRole::Sub).await {
                Ok(s) => Some(s),
                Err(e) => {
                    client.note(format!("sub stream unavailable: {e}"));
                    None
                }
            },
            None => None,
        };
        let snapshot_uri = match client.snapshot_uri(&media, &main.profile.token).await {
            Ok(u) => Some(u),
            Err(e) => {
                client.note(format!("no snapshot URI: {e}"));
                None
            }
        };
        tracing::info!(
            main = %main.profile.token,
            sub = ?sub.as_ref().map(|s| &s.profile.token),
            offset_ms = clock.offset_ms,
            "enrolled"
        );
        Ok(Enrollment {
            device_url: client.device_url().clone(),
            device,
            clock,
            media,
            profiles,
            main,
            sub,
            snapshot_uri,
            notes: client.notes(),
        })
    }
    .instrument(span)
    .await
}

/// The outcome of [`resolve_stream_uri`].
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub uri: Url,
    /// The locator to save: its token changes if the device regenerated its profiles.
    pub locator: StreamLocator,
    /// Measured again: a rebooted camera may have lost its time.
    pub clock: ClockOffset,
}

/// Asks the device again for the stream URI of a saved [`StreamLocator`]. If the profile token
/// is gone (the device regenerated profiles), the profile with the same name is used, else the
/// same role (main/sub) is chosen again. Bounded by `opts` per exchange (a handful of
/// exchanges in all).
pub async fn resolve_stream_uri(
    locator: &StreamLocator,
    credentials: Option<Credentials>,
    opts: &ClientOptions,
) -> Result<Resolved, OnvifError> {
    let client = OnvifClient::with_url(locator.device_url.clone(), credentials, opts);
    let span = tracing::info_span!("onvif_resolve", device = %http::redact(&locator.device_url), token = %locator.profile_token);
    async {
        let clock = client
            .clock()
            .await
            .map_err(|e| e.step("GetSystemDateAndTime"))?;
        let services = client
            .services()
            .await
            .map_err(|e| e.step("finding the media service"))?;
        let endpoints = services.media_endpoints();
        let media = endpoints
            .iter()
            .find(|m| m.version == locator.media)
            .or(endpoints.first())
            .cloned()
            .ok_or_else(|| OnvifError::Missing("a media service address").step("GetServices"))?;
        if media.version == locator.media {
            match client.stream_uri(&media, &locator.profile_token).await {
                Ok((uri, _)) => {
                    return Ok(Resolved {
                        uri,
                        locator: locator.clone(),
                        clock,
                    });
                }
                Err(OnvifError::Fault(f)) if f.is_no_profile() => {
                    tracing::warn!("profile token gone; choosing again");
                }
                Err(e) => return Err(e.step("GetStreamUri")),
            }
        }
        let profiles = client
            .profiles(&media)
            .await
            .map_err(|e| e.step("GetProfiles"))?;
        let by_name = locator
            .profile_name
            .as_ref()
            .and_then(|n| profiles.iter().position(|p| p.name.as_ref() == Some(n)));
        let idx = match by_name {
            Some(i) => i,
            None => {
                let c =
                    select::choose_profiles(&profiles).map_err(|e| e.step("choosing a profile"))?;
                match locator.role {
                    StreamRole::Main => c.main,
                    StreamRole::Sub => c.sub.unwrap_or(c.main),
                }
            }
        };
        let p = &profiles[idx];
        let (uri, _) = client
            .stream_uri(&media, &p.token)
            .await
            .map_err(|e| e.step("GetStreamUri"))?;
        Ok(Resolved {
            uri,
            locator: StreamLocator {
                device_url: locator.device_url.clone(),
                media: media.version,
                profile_token: p.token.clone(),
                profile_name: p.name.clone(),
                role: locator.role,
            },
            clock,
        })
    }
    .instrument(span)
    .await
}
