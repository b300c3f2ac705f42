//! What every handler shares: the settings, the program, the store, the cameras being recorded
//! and the running exports and live views. Below the handlers: imports none of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use ed25519_dalek::SigningKey;
use vms_ingest::Health;
use vms_program::login_guard;
use vms_program::{Program, ProgramSettings};
use vms_storage::export::Progress;
use vms_storage::{RecorderStats, SecretBox, Store};

use crate::error::{ApiError, ApiResult};
use crate::live::sessions::{LiveSessions, LiveSettings};
use crate::server::ServerLimits;

/// One recorded camera as the web side sees it.
#[derive(Clone, Debug)]
pub struct CameraView {
    pub name: String,
    pub id: u32,
    pub health: Arc<Health>,
    pub stats: Arc<RecorderStats>,
    /// The camera's live frames, shared by all its live viewers.
    pub live: vms_ingest::LiveFeed,
}

/// Policy knobs (defaults are the program's; configurable only to be stricter).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The program's own bounds (request and range lengths, second factor, terms version).
    pub program: ProgramSettings,
    /// Mark the session cookie `Secure` (off only for plain-HTTP loopback demos and tests).
    pub secure_cookie: bool,
    /// The agency's Ed25519 export signing key (32 raw bytes; created on first export if
    /// missing). `None`: `keys/export-ed25519.key` under the data directory.
    pub export_key_file: Option<std::path::PathBuf>,
    /// WebRTC live view.
    pub live: LiveSettings,
    /// Header-read timeout and connection cap of the HTTP server.
    pub server: ServerLimits,
    /// Where addresses partners (and admins enrolling for them) type may lead: ONVIF probes,
    /// discovery, enrolled cameras' streams (issue 22 F3). Strict by default.
    pub destinations: vms_ingest::destinations::Destinations,
    /// ONVIF probes one account may make per minute.
    pub probes_per_minute: u32,
    /// Requests to the submission endpoints (link page, statement, tus) one source address
    /// may make per minute; checked before the link's token is looked up, so a flood of
    /// guesses costs neither index scans nor audit writes past it. 0: no limit.
    pub submission_requests_per_minute: u32,
    /// Requests one submission link may make per minute, whatever the address (a leaked link
    /// used from many places). 0: no limit.
    pub requests_per_link_per_minute: u32,
    /// Submissions one source address may start through public calls per hour (stricter than
    /// links: a public page is open to anyone). 0: no limit.
    pub public_submissions_per_hour: u32,
    /// Sign-in admission: concurrent password checks and attempt rates.
    pub login: login_guard::LoginLimits,
    /// The registry map's background and starting view.
    pub map: MapSettings,
    /// The SMTP server owners are emailed through; `None`: the portal only (and no
    /// self-service sign-up, which verifies an address by email).
    pub mail: Option<crate::mailer::MailSettings>,
    /// Sign-ups one source address may make per hour. 0: no limit.
    pub signups_per_hour: u32,
}

/// The registry map's background tiles and starting view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MapSettings {
    /// A tile server URL template (`https://tiles.example.org/{z}/{x}/{y}.png`); `None`: a
    /// plain background (air-gapped sites, tests). Its origin is allowed as an image source.
    pub tile_url: Option<String>,
    /// The tiles' attribution, shown on the map.
    pub attribution: String,
    /// Where the map opens; `None`: the middle of the placed cameras.
    pub center: Option<(f64, f64)>,
    pub zoom: u8,
}

impl MapSettings {
    /// The tile server's origin (`https://tiles.example.org`), for the content security
    /// policy.
    pub fn tile_origin(&self) -> Option<String> {
        let u = url::Url::parse(self.tile_url.as_deref()?).ok()?;
        Some(u.origin().ascii_serialization()).filter(|o| o != "null")
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            program: ProgramSettings::default(),
            secure_cookie: true,
            export_key_file: None,
            live: LiveSettings::default(),
            server: ServerLimits::default(),
            destinations: vms_ingest::destinations::Destinations::default(),
            map: MapSettings {
                zoom: 16,
                ..MapSettings::default()
            },
            mail: None,
            signups_per_hour: 5,
            probes_per_minute: 10,
            submission_requests_per_minute: 240,
            public_submissions_per_hour: 10,
            requests_per_link_per_minute: 120,
            login: login_guard::LoginLimits::default(),
        }
    }
}

/// Shared state of the web server.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The program's rules over the store.
    pub program: Program,
    pub store: Arc<Store>,
    pub secrets: Arc<SecretBox>,
    /// Cameras being recorded now; the camera manager updates this as partners change terms.
    pub cameras: Arc<RwLock<Vec<CameraView>>>,
    pub settings: Arc<Settings>,
    /// Signalled when enrollment or sharing terms change, so ingest reacts within seconds.
    pub changes: Arc<tokio::sync::Notify>,
    /// Running evidence exports.
    pub exports: Arc<ExportJobs>,
    /// Live-view sessions and their metrics.
    pub live: Arc<LiveSessions>,
    /// Sign-in admission (issue 22 F11).
    pub login_guard: Arc<login_guard::LoginGuard>,
    /// Running intake hashes of uploads in progress.
    pub(crate) uploads: Arc<crate::intake::UploadHashes>,
    /// Received files being identified or converted.
    pub(crate) examinations: Arc<crate::intake::Examinations>,
    /// Submission requests per source address in the current minute.
    pub(crate) submission_budget: Arc<std::sync::Mutex<login_guard::Window<String>>>,
    /// Requests per submission link in the current minute.
    pub(crate) link_budget: Arc<std::sync::Mutex<login_guard::Window<u64>>>,
    /// Submissions started through public calls per source address in the current hour.
    pub(crate) public_budget: Arc<std::sync::Mutex<login_guard::Window<String>>>,
    /// Sign-ups per source address in the current hour.
    pub(crate) signup_budget: Arc<std::sync::Mutex<login_guard::Window<String>>>,
    /// ONVIF probes per account in the current minute.
    pub(crate) probe_budget: Arc<std::sync::Mutex<login_guard::Window<String>>>,
    /// Signalled when email is queued (a canvass sent), so the mailer does not wait for its
    /// next round.
    pub mail_due: Arc<tokio::sync::Notify>,
    /// Email outcomes since start.
    pub mail_stats: Arc<crate::mailer::MailStats>,
}

impl AppState {
    pub fn new(store: Arc<Store>, secrets: Arc<SecretBox>, settings: Settings) -> Self {
        // Uploads a crash left half-finished are put in order before any request arrives.
        match store.reconcile_uploads() {
            Ok(0) => {}
            Ok(n) => tracing::warn!(fixed = n, "submission files put in order after a crash"),
            Err(e) => tracing::error!(error = %e, "submission files could not be put in order"),
        }
        AppState {
            program: Program::new(
                Arc::clone(&store),
                vms_program::ProgramSettings {
                    email: settings.program.email || settings.mail.is_some(),
                    ..settings.program.clone()
                },
            ),
            store,
            secrets,
            cameras: Arc::default(),
            login_guard: Arc::new(login_guard::LoginGuard::new(settings.login)),
            settings: Arc::new(settings),
            changes: Arc::default(),
            exports: Arc::default(),
            live: Arc::default(),
            probe_budget: Arc::default(),
            signup_budget: Arc::default(),
            mail_due: Arc::default(),
            mail_stats: Arc::default(),
            submission_budget: Arc::default(),
            public_budget: Arc::default(),
            link_budget: Arc::default(),
            uploads: Arc::default(),
            examinations: Arc::default(),
        }
    }

    /// Runs store work on the blocking pool.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let st = self.clone();
        tokio::task::spawn_blocking(move || f(&st))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    }

    /// Takes one submission request from `source`'s budget for this minute; false when spent.
    pub(crate) fn take_submission_request(&self, source: &str) -> bool {
        let minute = self.store.clock().now_utc_micros().div_euclid(60_000_000);
        self.submission_budget.lock().is_ok_and(|mut budget| {
            budget.take(
                source.to_owned(),
                minute,
                self.settings.submission_requests_per_minute,
            )
        })
    }

    /// Takes one request from link `id`'s budget for this minute; false when spent.
    pub(crate) fn take_link_request(&self, id: u64) -> bool {
        let minute = self.store.clock().now_utc_micros().div_euclid(60_000_000);
        self.link_budget.lock().is_ok_and(|mut budget| {
            budget.take(id, minute, self.settings.requests_per_link_per_minute)
        })
    }

    /// Takes one public-call submission from `source`'s budget for this hour; false when spent.
    pub(crate) fn take_public_submission(&self, source: &str) -> bool {
        let hour = self
            .store
            .clock()
            .now_utc_micros()
            .div_euclid(3_600_000_000);
        self.public_budget.lock().is_ok_and(|mut budget| {
            budget.take(
                source.to_owned(),
                hour,
                self.settings.public_submissions_per_hour,
            )
        })
    }

    /// Takes one sign-up from `source`'s budget for this hour; false when spent.
    pub(crate) fn take_signup(&self, source: &str) -> bool {
        let hour = self
            .store
            .clock()
            .now_utc_micros()
            .div_euclid(3_600_000_000);
        self.signup_budget.lock().is_ok_and(|mut budget| {
            budget.take(source.to_owned(), hour, self.settings.signups_per_hour)
        })
    }

    /// Takes one ONVIF probe from `user`'s budget for this minute; false when it is spent.
    pub(crate) fn take_probe(&self, user: &str) -> bool {
        let minute = self.store.clock().now_utc_micros().div_euclid(60_000_000);
        // 0 allows no probes (a window's 0 would mean no limit).
        self.settings.probes_per_minute > 0
            && self.probe_budget.lock().is_ok_and(|mut budget| {
                budget.take(user.to_owned(), minute, self.settings.probes_per_minute)
            })
    }

    pub(crate) fn camera_views(&self) -> Vec<CameraView> {
        self.cameras.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// One camera's live feed, if it is being recorded (without copying the camera list).
    pub(crate) fn live_feed(&self, id: u32) -> Option<vms_ingest::LiveFeed> {
        self.cameras
            .read()
            .ok()?
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.live.clone())
    }
}

/// Running export jobs and the lazily loaded signing key.
#[derive(Debug, Default)]
pub struct ExportJobs {
    pub(crate) running: Mutex<HashMap<u64, Arc<Progress>>>,
    pub(crate) key: OnceLock<Arc<SigningKey>>,
}
