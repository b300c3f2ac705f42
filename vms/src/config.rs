//! The operator's configuration file (`vms run --config vms.toml`): strict TOML (unknown keys
//! are errors), every key documented in `docs/config.md`, credentials kept out of URLs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use vms_ingest::{CameraConfig, Credentials, Secret, Transport};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub storage: StorageConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub live: LiveConfig,
    #[serde(default)]
    pub defaults: CameraDefaults,
    #[serde(default)]
    pub partner_network: PartnerNetwork,
    #[serde(default)]
    pub submissions: SubmissionsConfig,
    #[serde(default)]
    pub map: MapConfig,
    /// No `[mail]`: owners see area requests in the portal only.
    pub mail: Option<MailConfig>,
    /// TOML file with `[name] username = "…" password = "…"` tables; camera `credentials`
    /// name a table in it. Relative paths are relative to the config file.
    pub credentials_file: Option<PathBuf>,
    /// 32-byte key (64 hex characters) sealing camera credentials and TOTP secrets in the
    /// index; created on first start if missing. Default: `<data_dir>/secret.key`.
    pub secret_key_file: Option<PathBuf>,
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraEntry>,
}

/// `[map]`: the registry map's tiles and starting view, and the area-request bound.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// Tile URL template with `{z}`, `{x}` and `{y}` (http or https); none: a plain
    /// background.
    pub tile_url: Option<String>,
    #[serde(default)]
    pub attribution: String,
    /// Where the map opens (both or neither); default: the middle of the placed cameras.
    pub center_lat: Option<f64>,
    pub center_lon: Option<f64>,
    pub zoom: Option<u8>,
    /// Largest area-request radius, metres (at most the program's 800).
    pub max_radius_m: Option<u32>,
}

impl MapConfig {
    /// Checks and applies the section to the web settings.
    pub fn apply(&self, settings: &mut vms_web::Settings) -> anyhow::Result<()> {
        if let Some(t) = &self.tile_url {
            let u = url::Url::parse(t).map_err(|e| anyhow::anyhow!("map.tile_url: {e}"))?;
            if !matches!(u.scheme(), "http" | "https")
                || !["{z}", "{x}", "{y}"].iter().all(|p| t.contains(p))
            {
                bail!("map.tile_url must be an http(s) URL template with {{z}}, {{x}} and {{y}}");
            }
            settings.map.tile_url = Some(t.clone());
        }
        if self.attribution.len() > 300 || self.attribution.chars().any(char::is_control) {
            bail!("map.attribution must be one line of at most 300 characters");
        }
        settings.map.attribution = self.attribution.clone();
        settings.map.center = match (self.center_lat, self.center_lon) {
            (Some(lat), Some(lon)) => {
                vms_storage::geo::Point::new(lat, lon)
                    .map_err(|e| anyhow::anyhow!("map.center: {e}"))?;
                Some((lat, lon))
            }
            (None, None) => None,
            _ => bail!("map: give both center_lat and center_lon, or neither"),
        };
        if let Some(z) = self.zoom {
            if !(1..=19).contains(&z) {
                bail!("map.zoom must be 1..=19");
            }
            settings.map.zoom = z;
        }
        if let Some(r) = self.max_radius_m {
            let bound = vms_program::ProgramSettings::default().max_canvass_radius_m;
            if r == 0 || r > bound {
                bail!("map.max_radius_m must be 1..={bound} (the program's bound)");
            }
            settings.program.max_canvass_radius_m = r;
        }
        Ok(())
    }
}

/// `[mail]`: the SMTP server owners are emailed through about area requests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub smtp_host: String,
    /// Default: 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub smtp_port: Option<u16>,
    /// `starttls` (default), `tls`, or `none` (a server on this machine only).
    #[serde(default = "default_mail_tls")]
    pub tls: String,
    pub username: Option<String>,
    /// A file holding the SMTP password (first line), readable by the service only.
    pub password_file: Option<PathBuf>,
    pub from: String,
    /// The address owners open links at (`https://vms.police.example.org`).
    pub public_url: String,
    /// Self-service sign-ups one source address may make per hour (sign-up is open only with
    /// `[mail]`: the address is what is verified). 0: no limit.
    #[serde(default = "default_signups_per_hour")]
    pub signups_per_source_per_hour: u32,
    /// The owners' email about an area request; `{case}`, `{offence}`, `{start}`, `{end}`,
    /// `{reason}`, `{cameras}`, `{link}`, `{portal}`, `{expires}`. Default: the program's words.
    pub request_subject: Option<String>,
    /// Must contain `{link}` and `{portal}`.
    pub request_body: Option<String>,
}

fn default_signups_per_hour() -> u32 {
    5
}

fn default_mail_tls() -> String {
    "starttls".into()
}

impl MailConfig {
    /// The owners' email template: the configured words, or the program's.
    pub fn template(&self) -> anyhow::Result<vms_program::notices::NoticeTemplate> {
        let d = vms_program::notices::NoticeTemplate::default();
        let t = vms_program::notices::NoticeTemplate {
            subject: self.request_subject.clone().unwrap_or(d.subject),
            body: self.request_body.clone().unwrap_or(d.body),
        };
        t.validate().map_err(|e| anyhow::anyhow!("mail.{e}"))?;
        Ok(t)
    }

    /// The checked mail settings (the password read from its file).
    pub fn settings(&self) -> anyhow::Result<vms_web::mailer::MailSettings> {
        use vms_web::mailer::MailTls;
        let (tls, port) = match self.tls.as_str() {
            "starttls" => (MailTls::StartTls, 587),
            "tls" => (MailTls::Tls, 465),
            "none" => (MailTls::None, 25),
            t => bail!("mail.tls must be starttls, tls or none, not {t:?}"),
        };
        let password = match &self.password_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("mail.password_file {}: {e}", p.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ),
            None => None,
        };
        let m = vms_web::mailer::MailSettings {
            host: self.smtp_host.clone(),
            port: self.smtp_port.unwrap_or(port),
            tls,
            username: self.username.clone(),
            password,
            from: self.from.clone(),
            public_url: self.public_url.clone(),
        };
        m.validate().map_err(|e| anyhow::anyhow!("mail: {e}"))?;
        self.template()?;
        Ok(m)
    }
}

/// `[submissions]`: bounds on community submissions (defaults: the program's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionsConfig {
    #[serde(default = "default_link_hours")]
    pub link_hours: u32,
    #[serde(default = "default_files_per_link")]
    pub files_per_link: u32,
    #[serde(default = "default_bytes_per_file")]
    pub bytes_per_file: ByteSize,
    #[serde(default = "default_bytes_per_link")]
    pub bytes_per_link: ByteSize,
    #[serde(default = "default_submissions_quota")]
    pub quota: ByteSize,
    #[serde(default = "default_upload_hours")]
    pub upload_hours: u32,
    /// Days a rejected file is kept after its rejection.
    #[serde(default = "default_rejected_days")]
    pub rejected_days: u32,
    /// Days a received file nobody reviewed is kept after its receipt.
    #[serde(default = "default_unclaimed_days")]
    pub unclaimed_days: u32,
    /// Requests to the submission endpoints one source address may make per minute.
    #[serde(default = "default_submission_rate")]
    pub requests_per_source_per_minute: u32,
    /// Requests one submission link may make per minute, from anywhere.
    #[serde(default = "default_link_rate")]
    pub requests_per_link_per_minute: u32,
    /// Public calls for video may be opened (off by default).
    #[serde(default)]
    pub public_calls: bool,
    /// Submissions one source address may start through public calls per hour.
    #[serde(default = "default_public_rate")]
    pub public_submissions_per_source_per_hour: u32,
}

fn default_link_rate() -> u32 {
    vms_web::Settings::default().requests_per_link_per_minute
}

fn default_public_rate() -> u32 {
    vms_web::Settings::default().public_submissions_per_hour
}

fn default_submission_rate() -> u32 {
    vms_web::Settings::default().submission_requests_per_minute
}

fn submission_defaults() -> vms_program::submissions::SubmissionLimits {
    vms_program::submissions::SubmissionLimits::default()
}
fn default_link_hours() -> u32 {
    submission_defaults().link_hours
}
fn default_files_per_link() -> u32 {
    submission_defaults().files_per_link
}
fn default_bytes_per_file() -> ByteSize {
    ByteSize(submission_defaults().bytes_per_file)
}
fn default_bytes_per_link() -> ByteSize {
    ByteSize(submission_defaults().bytes_per_link)
}
fn default_submissions_quota() -> ByteSize {
    ByteSize(submission_defaults().quota_bytes)
}
fn default_upload_hours() -> u32 {
    submission_defaults().upload_hours
}
fn default_rejected_days() -> u32 {
    submission_defaults().rejected_days
}
fn default_unclaimed_days() -> u32 {
    submission_defaults().unclaimed_days
}

impl Default for SubmissionsConfig {
    fn default() -> Self {
        SubmissionsConfig {
            link_hours: default_link_hours(),
            files_per_link: default_files_per_link(),
            bytes_per_file: default_bytes_per_file(),
            bytes_per_link: default_bytes_per_link(),
            quota: default_submissions_quota(),
            upload_hours: default_upload_hours(),
            rejected_days: default_rejected_days(),
            unclaimed_days: default_unclaimed_days(),
            requests_per_source_per_minute: default_submission_rate(),
            requests_per_link_per_minute: default_link_rate(),
            public_calls: false,
            public_submissions_per_source_per_hour: default_public_rate(),
        }
    }
}

impl SubmissionsConfig {
    /// The limits, checked to make sense together.
    pub fn limits(&self) -> anyhow::Result<vms_program::submissions::SubmissionLimits> {
        if !(1..=24 * 30).contains(&self.link_hours) {
            bail!("submissions.link_hours must be 1..=720");
        }
        if !(1..=24 * 7).contains(&self.upload_hours) {
            bail!("submissions.upload_hours must be 1..=168");
        }
        if self.files_per_link == 0 || self.bytes_per_file.0 == 0 {
            bail!("submissions.files_per_link and bytes_per_file must be more than 0");
        }
        if self.bytes_per_file.0 > self.bytes_per_link.0 || self.bytes_per_link.0 > self.quota.0 {
            bail!("submissions: bytes_per_file <= bytes_per_link <= quota");
        }
        // Shorter than a week would delete footage before anyone could look at it.
        if !(7..=3650).contains(&self.rejected_days) || !(7..=3650).contains(&self.unclaimed_days) {
            bail!("submissions.rejected_days and unclaimed_days must be 7..=3650");
        }
        Ok(vms_program::submissions::SubmissionLimits {
            link_hours: self.link_hours,
            files_per_link: self.files_per_link,
            bytes_per_file: self.bytes_per_file.0,
            bytes_per_link: self.bytes_per_link.0,
            quota_bytes: self.quota.0,
            upload_hours: self.upload_hours,
            rejected_days: self.rejected_days,
            unclaimed_days: self.unclaimed_days,
            public_calls: self.public_calls,
        })
    }
}

/// `[partner_network]`: where addresses partners type (cameras, ONVIF probes) may lead.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerNetwork {
    /// Allow private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7): partner
    /// cameras reached over a VPN.
    #[serde(default)]
    pub allow_private: bool,
    /// Networks allowed regardless, e.g. `["10.20.0.0/16"]` for one camera VLAN.
    #[serde(default)]
    pub allow: Vec<String>,
}

impl PartnerNetwork {
    pub fn destinations(&self) -> anyhow::Result<vms_ingest::destinations::Destinations> {
        let allow = self
            .allow
            .iter()
            .map(|n| {
                n.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "partner_network.allow: {n:?} is not a network like \"10.20.0.0/16\""
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(vms_ingest::destinations::Destinations {
            unrestricted: false,
            allow_private: self.allow_private,
            allow,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Total bytes of video to keep, e.g. "500GiB"; oldest unheld video goes first.
    pub quota: Option<ByteSize>,
    /// Deleting for the quota stops at this size (default: 90 % of `quota`).
    pub low_watermark: Option<ByteSize>,
    #[serde(default = "default_sync")]
    pub sync: String,
    #[serde(default = "default_writer_threads")]
    pub writer_threads: usize,
    #[serde(default = "default_segment_secs")]
    pub segment_secs: u32,
    #[serde(default = "default_retention_interval")]
    pub retention_interval_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// Mark the session cookie `Secure`; turn off only behind no TLS on loopback.
    #[serde(default = "yes")]
    pub secure_cookie: bool,
    /// Longest footage request in hours (at most the program's 12).
    #[serde(default = "default_request_hours")]
    pub max_request_hours: u32,
    /// Require a second factor for every account, not only those that see video.
    #[serde(default)]
    pub mfa_for_all: bool,
    /// Version string of the program terms partners must accept.
    #[serde(default = "default_terms")]
    pub terms_version: String,
    /// The agency's Ed25519 evidence-signing key (32 raw bytes); created on the first export
    /// if missing. Default: `<data_dir>/keys/export-ed25519.key`.
    pub export_key_file: Option<PathBuf>,
    /// See [`vms_web::server::ServerLimits`].
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_secs: u64,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// See [`vms_program::login_guard::LoginLimits::per_source_per_minute`].
    #[serde(default = "default_login_per_source")]
    pub login_attempts_per_source_per_minute: u32,
}

fn default_login_per_source() -> u32 {
    vms_program::login_guard::LoginLimits::default().per_source_per_minute
}

fn default_header_read_timeout() -> u64 {
    vms_web::server::ServerLimits::default()
        .header_read_timeout
        .as_secs()
}

fn default_max_connections() -> usize {
    vms_web::server::ServerLimits::default().max_connections
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: default_listen(),
            secure_cookie: true,
            max_request_hours: default_request_hours(),
            mfa_for_all: false,
            terms_version: default_terms(),
            export_key_file: None,
            header_read_timeout_secs: default_header_read_timeout(),
            max_connections: default_max_connections(),
            login_attempts_per_source_per_minute: default_login_per_source(),
        }
    }
}

fn default_request_hours() -> u32 {
    12
}
fn default_terms() -> String {
    vms_program::ProgramSettings::default().terms_version
}

impl WebConfig {
    /// The web policy settings; privacy defaults may only be made stricter.
    pub fn settings(&self) -> anyhow::Result<vms_web::Settings> {
        let d = vms_web::Settings::default();
        let bound = d.program.max_request_hours;
        if self.max_request_hours == 0 || self.max_request_hours > bound {
            bail!("web.max_request_hours must be 1..={bound} (the program's bound)");
        }
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            bail!("web.header_read_timeout_secs must be 1..=300");
        }
        if self.max_connections == 0 {
            bail!("web.max_connections must be at least 1");
        }
        Ok(vms_web::Settings {
            login: vms_program::login_guard::LoginLimits {
                per_source_per_minute: self.login_attempts_per_source_per_minute,
                ..vms_program::login_guard::LoginLimits::default()
            },
            server: vms_web::server::ServerLimits {
                header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
                max_connections: self.max_connections,
            },
            program: vms_program::ProgramSettings {
                max_request_hours: self.max_request_hours,
                mfa_for_all: self.mfa_for_all,
                terms_version: self.terms_version.clone(),
                ..d.program.clone()
            },
            secure_cookie: self.secure_cookie,
            export_key_file: self.export_key_file.clone(),
            ..d
        })
    }
}

/// `[live]`: WebRTC live view.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// UDP ports for viewers' media, `"40000-40999"`; default: any free port.
    pub udp_ports: Option<String>,
    /// Extra addresses offered to browsers (e.g. a 1:1 NAT's public address).
    #[serde(default)]
    pub public_ips: Vec<std::net::IpAddr>,
    /// STUN/TURN servers handed to browsers.
    #[serde(default)]
    pub ice_servers: Vec<vms_web::live::IceServer>,
    #[serde(default = "default_max_viewers")]
    pub max_viewers: usize,
    #[serde(default = "default_max_per_user")]
    pub max_views_per_user: usize,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    #[serde(default = "default_live_timeout")]
    pub peer_timeout_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            udp_ports: None,
            public_ips: Vec::new(),
            ice_servers: Vec::new(),
            max_viewers: default_max_viewers(),
            max_views_per_user: default_max_per_user(),
            connect_timeout_secs: default_connect_timeout(),
            peer_timeout_secs: default_live_timeout(),
        }
    }
}

fn default_max_viewers() -> usize {
    vms_web::live::LiveSettings::default().max_viewers
}
fn default_max_per_user() -> usize {
    vms_web::live::LiveSettings::default().max_per_user
}
fn default_connect_timeout() -> u64 {
    vms_web::live::LiveSettings::default()
        .connect_timeout
        .as_secs()
}
fn default_live_timeout() -> u64 {
    15
}

impl LiveConfig {
    pub fn settings(&self) -> anyhow::Result<vms_web::live::LiveSettings> {
        let udp_ports = match &self.udp_ports {
            None => None,
            Some(r) => {
                let parsed = r.split_once('-').and_then(|(a, b)| {
                    Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
                });
                match parsed {
                    Some((lo, hi)) if lo > 0 && lo <= hi => Some((lo, hi)),
                    _ => bail!(
                        "live.udp_ports must be \"LOW-HIGH\" with 1 <= LOW <= HIGH <= 65535, not {r:?}"
                    ),
                }
            }
        };
        if self.max_viewers == 0 || self.max_views_per_user == 0 {
            bail!("live.max_viewers and live.max_views_per_user must be at least 1");
        }
        for s in &self.ice_servers {
            if s.urls.is_empty()
                || !s.urls.iter().all(|u| {
                    u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:")
                })
            {
                bail!("live.ice_servers: every entry needs urls starting stun:, turn: or turns:");
            }
        }
        if !(1..=300).contains(&self.connect_timeout_secs)
            || !(1..=300).contains(&self.peer_timeout_secs)
        {
            bail!("live.connect_timeout_secs and live.peer_timeout_secs must be 1..=300");
        }
        Ok(vms_web::live::LiveSettings {
            udp_ports,
            public_ips: self.public_ips.clone(),
            ice_servers: self.ice_servers.clone(),
            max_viewers: self.max_viewers,
            max_per_user: self.max_views_per_user,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            peer_timeout: Duration::from_secs(self.peer_timeout_secs),
            pass_b_frames: false,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDefaults {
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    #[serde(default = "default_transport")]
    pub transport: String,
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    #[serde(default = "default_stall")]
    pub stall_timeout_secs: u64,
    /// See [`vms_ingest::CameraConfig::read_batch`]; 0 disables.
    #[serde(default = "default_read_batch")]
    pub read_batch_ms: u64,
    /// See [`vms_ingest::CameraConfig::port_probe`]; 0 disables.
    #[serde(default = "default_port_probe")]
    pub port_probe_ms: u64,
}

impl Default for CameraDefaults {
    fn default() -> Self {
        CameraDefaults {
            retention_days: default_retention_days(),
            transport: default_transport(),
            backoff_initial_ms: default_backoff_initial(),
            backoff_max_ms: default_backoff_max(),
            stall_timeout_secs: default_stall(),
            read_batch_ms: default_read_batch(),
            port_probe_ms: default_port_probe(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEntry {
    pub name: String,
    pub url: String,
    /// Name of a table in `credentials_file`.
    pub credentials: Option<String>,
    pub transport: Option<String>,
    pub retention_days: Option<u32>,
    /// Where the camera is and what it sees, shown to staff (the camera is the agency's own).
    #[serde(default)]
    pub location: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_port_probe() -> u64 {
    u64::try_from(vms_ingest::camera::DEFAULT_PORT_PROBE.as_millis()).unwrap_or(200)
}

fn yes() -> bool {
    true
}
fn default_sync() -> String {
    "always".into()
}
fn default_writer_threads() -> usize {
    vms_storage::StoreOptions::default().writer_threads
}
fn default_segment_secs() -> u32 {
    60
}
fn default_retention_interval() -> u64 {
    60
}
fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_retention_days() -> u32 {
    30
}
fn default_transport() -> String {
    "tcp".into()
}
fn default_backoff_initial() -> u64 {
    1000
}
fn default_backoff_max() -> u64 {
    5000
}
fn default_stall() -> u64 {
    10
}
fn default_read_batch() -> u64 {
    u64::try_from(vms_ingest::camera::DEFAULT_READ_BATCH.as_millis()).unwrap_or(100)
}

/// A byte count written with a unit: `"500GiB"`, `"1.5TB"`, `"1048576"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_bytes(&s)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}

pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected a number with a unit like \"500GiB\""))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("bad size unit {u:?} in {s:?}")),
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("size {s:?} out of range"));
    }
    Ok(v as u64)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialEntry {
    username: String,
    password: String,
}

/// A camera ready for the supervisor, with its retention.
#[derive(Debug)]
pub struct ResolvedCamera {
    pub config: CameraConfig,
    pub retention_days: u32,
    pub location: String,
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<(Config, Vec<ResolvedCamera>)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let cfg: Config =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let cams = cfg.resolve(base)?;
        Ok((cfg, cams))
    }

    /// Validates cameras and resolves credential references.
    pub fn resolve(&self, base: &Path) -> anyhow::Result<Vec<ResolvedCamera>> {
        self.storage
            .sync
            .parse::<vms_storage::SyncPolicy>()
            .map_err(anyhow::Error::msg)?;
        if let (Some(q), Some(lw)) = (self.storage.quota, self.storage.low_watermark)
            && lw.0 > q.0
        {
            bail!(
                "storage.low_watermark ({}) is above storage.quota ({})",
                lw.0,
                q.0
            );
        }
        if self.storage.segment_secs == 0 || self.storage.segment_secs > 3600 {
            bail!("storage.segment_secs must be 1..=3600");
        }
        if self.defaults.read_batch_ms > 1000 {
            bail!("defaults.read_batch_ms must be 0..=1000 (0 reads every frame as it arrives)");
        }
        let creds: HashMap<String, CredentialEntry> = match &self.credentials_file {
            None => HashMap::new(),
            Some(p) => {
                let p = base.join(p);
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("reading credentials file {}", p.display()))?;
                // Never echo the file's contents: the error names the file only.
                toml::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("parsing credentials file {}: {}", p.display(), e.message())
                })?
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for c in &self.cameras {
            if !valid_name(&c.name) {
                bail!(
                    "camera name {:?}: use 1-64 characters from a-z, 0-9, '-', '_'",
                    c.name
                );
            }
            if !seen.insert(c.name.clone()) {
                bail!("camera {:?} is listed twice", c.name);
            }
            let url =
                url::Url::parse(&c.url).with_context(|| format!("camera {:?}: bad url", c.name))?;
            if url.scheme() != "rtsp" {
                bail!("camera {:?}: url must be rtsp://", c.name);
            }
            if !url.username().is_empty() || url.password().is_some() {
                bail!(
                    "camera {:?}: credentials must not be in the url; put them in credentials_file",
                    c.name
                );
            }
            let credentials = match &c.credentials {
                None => None,
                Some(key) => {
                    let e = creds.get(key).with_context(|| {
                        format!(
                            "camera {:?}: credentials {key:?} not in credentials_file",
                            c.name
                        )
                    })?;
                    Some(Credentials {
                        username: e.username.clone(),
                        password: Secret::new(e.password.clone()),
                    })
                }
            };
            let transport: Transport = c
                .transport
                .as_deref()
                .unwrap_or(&self.defaults.transport)
                .parse()
                .map_err(|e: String| anyhow::anyhow!("camera {:?}: {e}", c.name))?;
            if c.location.chars().count() > 200 || c.location.chars().any(char::is_control) {
                bail!(
                    "camera {:?}: location must be at most 200 characters on one line",
                    c.name
                );
            }
            if !c.enabled {
                continue;
            }
            let mut config = CameraConfig::new(c.name.clone(), url);
            config.credentials = credentials;
            config.transport = transport;
            config.backoff_initial = Duration::from_millis(self.defaults.backoff_initial_ms);
            config.backoff_max = Duration::from_millis(
                self.defaults
                    .backoff_max_ms
                    .max(self.defaults.backoff_initial_ms),
            );
            config.stall_timeout = Duration::from_secs(self.defaults.stall_timeout_secs.max(1));
            config.read_batch = Duration::from_millis(self.defaults.read_batch_ms);
            config.port_probe = Duration::from_millis(self.defaults.port_probe_ms.min(60_000));
            out.push(ResolvedCamera {
                config,
                retention_days: c.retention_days.unwrap_or(self.defaults.retention_days),
                location: c.location.clone(),
            });
        }
        Ok(out)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Vec<ResolvedCamera>> {
        let cfg: Config = toml::from_str(s)?;
        cfg.resolve(Path::new("."))
    }

    #[test]
    fn minimal_config_parses() {
        let cams = parse(
            r#"
            [storage]
            data_dir = "/tmp/x"
            quota = "10GiB"
            [[camera]]
            name = "front-door"
            url = "rtsp://127.0.0.1:8554/cam/0"
            "#,
        )
        .unwrap();
        assert_eq!(cams.len(), 1);
        assert_eq!(cams[0].retention_days, 30);
    }

    #[test]
    fn live_section_parses_and_rejects_nonsense() {
        let live = |body: &str| -> anyhow::Result<vms_web::live::LiveSettings> {
            let cfg: Config =
                toml::from_str(&format!("[storage]\ndata_dir = \"/x\"\n[live]\n{body}"))?;
            cfg.live.settings()
        };
        let s = live(
            "udp_ports = \"40000-40099\"\npublic_ips = [\"203.0.113.7\"]\n\
             ice_servers = [{ urls = [\"stun:stun.example.org:3478\"] }]\nmax_viewers = 8\n",
        )
        .unwrap();
        assert_eq!(s.udp_ports, Some((40000, 40099)));
        assert_eq!(s.max_viewers, 8);
        assert_eq!(s.ice_servers.len(), 1);
        for (bad, says) in [
            ("udp_ports = \"40099-40000\"", "udp_ports"),
            ("udp_ports = \"0-10\"", "udp_ports"),
            ("udp_ports = \"many\"", "udp_ports"),
            ("max_viewers = 0", "max_viewers"),
            ("ice_servers = [{ urls = [\"http://x\"] }]", "ice_servers"),
            ("ice_servers = [{ urls = [] }]", "ice_servers"),
            ("peer_timeout_secs = 0", "peer_timeout_secs"),
            ("bogus = 1", "unknown field"),
        ] {
            let e = format!("{:#}", live(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn mail_section_parses_and_rejects_nonsense() {
        let mail = |body: &str| -> anyhow::Result<vms_web::mailer::MailSettings> {
            let cfg: Config =
                toml::from_str(&format!("[storage]\ndata_dir = \"/x\"\n[mail]\n{body}"))?;
            cfg.mail.expect("a [mail] section").settings()
        };
        let base = "from = \"Cameras <cameras@police.example.org>\"\npublic_url = \"https://vms.example.org\"\n";
        let m = mail(&format!("smtp_host = \"smtp.example.org\"\n{base}")).unwrap();
        assert_eq!((m.port, m.tls), (587, vms_web::mailer::MailTls::StartTls));
        let m = mail(&format!(
            "smtp_host = \"127.0.0.1\"\nsmtp_port = 2525\ntls = \"none\"\n{base}"
        ))
        .unwrap();
        assert_eq!(m.port, 2525);
        for (body, want) in [
            (
                format!("smtp_host = \"smtp.example.org\"\ntls = \"none\"\n{base}"),
                "this machine",
            ),
            (
                format!("smtp_host = \"smtp.example.org\"\ntls = \"ssl\"\n{base}"),
                "mail.tls",
            ),
            (
                "smtp_host = \"x\"\nfrom = \"not an address\"\npublic_url = \"https://v\"\n"
                    .to_owned(),
                "from",
            ),
            (
                "smtp_host = \"x\"\nfrom = \"a@b.org\"\npublic_url = \"vms.example.org\"\n"
                    .to_owned(),
                "public_url",
            ),
            (
                format!("smtp_host = \"x\"\nusername = \"u\"\n{base}"),
                "password_file",
            ),
        ] {
            let e = mail(&body).unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn map_section_parses_and_rejects_nonsense() {
        let apply = |body: &str| -> anyhow::Result<vms_web::Settings> {
            let cfg: Config =
                toml::from_str(&format!("[storage]\ndata_dir = \"/x\"\n[map]\n{body}"))?;
            let mut s = vms_web::Settings::default();
            cfg.map.apply(&mut s)?;
            Ok(s)
        };
        let s = apply(
            "tile_url = \"https://tiles.example.org/{z}/{x}/{y}.png\"\nattribution = \"© OSM\"\ncenter_lat = 45.5\ncenter_lon = -122.6\nzoom = 15\nmax_radius_m = 500\n",
        )
        .unwrap();
        assert_eq!(
            s.map.tile_origin().as_deref(),
            Some("https://tiles.example.org")
        );
        assert_eq!((s.map.center, s.map.zoom), (Some((45.5, -122.6)), 15));
        assert_eq!(s.program.max_canvass_radius_m, 500);
        let d = apply("").unwrap();
        assert_eq!(
            (d.map.tile_url, d.map.center),
            (None, None),
            "plain background"
        );
        assert_eq!(d.program.max_canvass_radius_m, 800);
        for (body, want) in [
            ("tile_url = \"ftp://x/{z}/{x}/{y}\"\n", "tile_url"),
            ("tile_url = \"https://x/tiles.png\"\n", "{z}"),
            ("center_lat = 91.0\ncenter_lon = 0.0\n", "latitude"),
            ("center_lat = 45.0\n", "both"),
            ("zoom = 30\n", "zoom"),
            ("max_radius_m = 5000\n", "max_radius_m"),
        ] {
            let e = apply(body).unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn submissions_section_parses_and_rejects_nonsense() {
        let limits = |body: &str| -> anyhow::Result<vms_program::submissions::SubmissionLimits> {
            let cfg: Config = toml::from_str(&format!(
                "[storage]\ndata_dir = \"/x\"\n[submissions]\n{body}"
            ))?;
            cfg.submissions.limits()
        };
        let l = limits("link_hours = 24\nbytes_per_file = \"2GiB\"\nquota = \"50GiB\"\n").unwrap();
        assert_eq!(l.link_hours, 24);
        assert_eq!(l.bytes_per_file, 2 << 30);
        assert_eq!(l.bytes_per_link, 10 << 30, "defaults fill the rest");
        assert_eq!(l.quota_bytes, 50 << 30);
        let d = limits("").unwrap();
        assert_eq!(d.files_per_link, 16);
        assert_eq!((d.rejected_days, d.unclaimed_days), (30, 90));
        assert!(!d.public_calls, "public calls are off unless turned on");
        assert!(limits("public_calls = true\n").unwrap().public_calls);
        for (body, want) in [
            ("link_hours = 0\n", "link_hours"),
            (
                "bytes_per_file = \"20GiB\"\n",
                "bytes_per_file <= bytes_per_link",
            ),
            ("files_per_link = 0\n", "more than 0"),
            ("quota = \"lots\"\n", "bad size"),
            ("rejected_days = 1\n", "rejected_days"),
        ] {
            let e = limits(body).unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let cases = [
            ("[storage]\ndata_dir = \"/x\"\nbogus = 1\n", "unknown field"),
            (
                "[storage]\ndata_dir = \"/x\"\n[[camera]]\nname = \"a\"\nurl = \"rtsp://u:p@h/\"\n",
                "credentials must not be in the url",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\n[[camera]]\nname = \"A B\"\nurl = \"rtsp://h/\"\n",
                "camera name",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\nquota = \"12 parsecs\"\n",
                "bad size",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\n[[camera]]\nname = \"a\"\nurl = \"http://h/\"\n",
                "rtsp://",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\n[[camera]]\nname = \"a\"\nurl = \"rtsp://h/\"\ntransport = \"carrier-pigeon\"\n",
                "unknown transport",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\nsync = \"sometimes\"\n",
                "unknown sync policy",
            ),
            (
                "[storage]\ndata_dir = \"/x\"\n[defaults]\nread_batch_ms = 5000\n",
                "read_batch_ms must be 0..=1000",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5KB").unwrap(), 1500);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert!(parse_bytes("-1GB").is_err());
        assert!(parse_bytes("GB").is_err());
    }
}
