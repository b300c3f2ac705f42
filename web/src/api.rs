//! The JSON API handlers. Each one gathers the facts, asks [`authorize`] about the exact
//! object, audits what happened, and only then acts. Store work runs on the blocking pool.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use vms_storage::{
    AuditFilter, CameraInfo, CameraSource, NewAuditEvent, PartnerRow, PartnerStatus, RequestRow,
    RequestStatus, Role, SharingMode, Store,
};

use crate::AppState;
use crate::auth::{self, LoginError, SESSION_COOKIE};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::policy::{Action, Resource, Subject, authorize};
use crate::routes::Caller;

pub(crate) type ApiResult<T> = Result<T, ApiError>;

const MAX_TEXT: usize = 2000;

pub(crate) fn text(field: &str, v: &str, required: bool) -> ApiResult<String> {
    let v = v.trim();
    if required && v.is_empty() {
        return Err(ApiError::BadRequest(format!("{field} is required")));
    }
    if v.len() > MAX_TEXT {
        return Err(ApiError::BadRequest(format!("{field} is too long")));
    }
    Ok(v.to_owned())
}

impl AppState {
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

    pub(crate) fn audit(&self, e: NewAuditEvent) -> ApiResult<()> {
        self.store.audit(e)?;
        Ok(())
    }

    /// Records that `subject` read a sensitive list (partner contacts, accounts, holds, the
    /// audit log itself): who looks at personal data is as much a matter of record as who
    /// changes it (issue 22 C5).
    pub(crate) fn audit_read(
        &self,
        subject: &Subject,
        action: &str,
        detail: String,
    ) -> ApiResult<()> {
        self.audit(NewAuditEvent {
            actor: subject.username.clone(),
            action: action.into(),
            outcome: "ok".into(),
            detail,
            ..Default::default()
        })
    }

    pub(crate) fn audit_denial(&self, subject: &Subject, what: &str, rule: &str) {
        self.audit_denial_by(&subject.username, what, rule);
    }

    /// Records a denial; a failure to audit is logged (the request is refused either way).
    pub(crate) fn audit_denial_by(&self, actor: &str, what: &str, rule: &str) {
        let r = self.store.audit(NewAuditEvent {
            actor: actor.to_owned(),
            action: what.into(),
            outcome: "deny".into(),
            rule: rule.into(),
            ..Default::default()
        });
        if let Err(e) = r {
            tracing::error!(error = %e, "audit write failed");
        }
    }

    /// Authorizes an action on an object; denials are audited (with camera, range, reason).
    pub(crate) fn check(
        &self,
        s: &Subject,
        action: Action,
        r: &Resource<'_>,
        ev: &NewAuditEvent,
    ) -> ApiResult<&'static str> {
        let d = authorize(s, action, r);
        if !d.allow {
            self.audit(NewAuditEvent {
                actor: s.username.clone(),
                action: action.as_str().into(),
                outcome: "deny".into(),
                rule: d.rule.into(),
                ..ev.clone()
            })?;
            return Err(ApiError::Forbidden { rule: d.rule });
        }
        Ok(d.rule)
    }

    fn camera(&self, id: u32) -> ApiResult<CameraInfo> {
        self.store.camera_info(id)?.ok_or(ApiError::NotFound)
    }
}

// ---- login / session ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct MeResponse {
    username: String,
    role: &'static str,
    partner: Option<u64>,
    csrf: Option<String>,
    mfa: bool,
}

/// The one answer to a refused sign-in.
const SIGN_IN_REFUSED: &str = "sign-in refused: check the username, password and authenticator code \
     (after 5 failures an account is locked for 15 minutes)";

pub(crate) async fn login(
    State(st): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<crate::server::PeerAddr>>>,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    if b.username.len() > 64 || b.password.len() > 1024 {
        return Err(ApiError::BadRequest("username or password too long".into()));
    }
    let secure = st.settings.secure_cookie;
    // Rate limits and a bounded number of concurrent password checks, before any hashing or
    // audit write (issue 22 F11). Throttled attempts are counted, not audited one by one.
    let source = peer.map(|axum::Extension(axum::extract::ConnectInfo(p))| p.0.ip());
    let now = st.store.clock().now_utc_micros();
    let mut slot = st
        .login_guard
        .admit(&b.username, source, now)
        .await
        .map_err(|r| match r {
            crate::login_guard::Refusal::TooMany => ApiError::TooManyRequests(r.to_string()),
            crate::login_guard::Refusal::Busy => ApiError::Unavailable(r.to_string()),
        })?;
    st.blocking(move |st| {
        let r = auth::login(
            &st.store,
            &st.secrets,
            &b.username,
            &b.password,
            b.totp.as_deref(),
            slot.memory(),
        );
        let (outcome, rule) = match &r {
            Ok(_) => ("ok", ""),
            Err(LoginError::Invalid) => ("fail", "bad-credentials"),
            Err(LoginError::NeedTotp) => ("fail", "second-factor-required"),
            Err(LoginError::Locked { .. }) => ("deny", "account-locked"),
            Err(LoginError::Disabled) => ("deny", "account-disabled"),
            Err(LoginError::Internal(_)) => ("fail", "internal"),
        };
        st.audit(NewAuditEvent {
            actor: b.username.clone(),
            action: "login".into(),
            outcome: outcome.into(),
            rule: rule.into(),
            ..Default::default()
        })?;
        // One answer for a wrong name, a wrong password, a missing or wrong code, a disabled
        // and a locked account: none of them may tell a guesser which it was (issue 22 F18).
        // The audit log keeps the difference for administrators.
        let l = match r {
            Ok(l) => l,
            Err(
                LoginError::Invalid
                | LoginError::Disabled
                | LoginError::NeedTotp
                | LoginError::Locked { .. },
            ) => {
                return Err(ApiError::Unauthorized(SIGN_IN_REFUSED));
            }
            Err(LoginError::Internal(m)) => return Err(ApiError::Internal(m)),
        };
        let cookie = format!(
            "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{}",
            l.session_token,
            if secure { "; Secure" } else { "" }
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
        Ok((
            headers,
            Json(MeResponse {
                username: l.subject.username,
                role: l.subject.role.as_str(),
                partner: l.subject.partner,
                csrf: Some(l.csrf),
                mfa: l.subject.mfa,
            }),
        )
            .into_response())
    })
    .await
}

pub(crate) async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    Caller(s): Caller,
) -> ApiResult<Response> {
    let token = crate::routes::session_cookie(&headers);
    st.blocking(move |st| {
        if let Some(t) = token {
            st.store.delete_session(&auth::token_hash(&t))?;
        }
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "logout".into(),
            outcome: "ok".into(),
            ..Default::default()
        })?;
        Ok((
            [(
                header::SET_COOKIE,
                format!("{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"),
            )],
            StatusCode::NO_CONTENT,
        )
            .into_response())
    })
    .await
}

pub(crate) async fn me(
    State(st): State<AppState>,
    headers: HeaderMap,
    Caller(s): Caller,
) -> ApiResult<Json<MeResponse>> {
    // The CSRF token is re-issued to a page that reloads (it lives only in the session row).
    let token = crate::routes::session_cookie(&headers);
    st.blocking(move |st| {
        let csrf = match token {
            Some(t) => st.store.session(&auth::token_hash(&t))?.map(|s| s.csrf),
            None => None,
        };
        Ok(Json(MeResponse {
            username: s.username,
            role: s.role.as_str(),
            partner: s.partner,
            csrf,
            mfa: s.mfa,
        }))
    })
    .await
}

// ---- cameras ----

#[derive(Serialize)]
pub(crate) struct CameraOut {
    id: u32,
    name: String,
    sharing: &'static str,
    retention_days: u32,
    paused: bool,
    /// Staff and the owning partner only; never credentials.
    location: String,
    partner: String,
    source: &'static str,
    masks: usize,
    health: Option<crate::CameraHealth>,
}

fn camera_out(st: &AppState, c: &CameraInfo) -> CameraOut {
    let partner_label = partner_label(&st.store, c.partner);
    CameraOut {
        id: c.id,
        name: c.name.clone(),
        sharing: c.sharing.as_str(),
        retention_days: c.retention_days,
        paused: c.paused,
        location: c.location.clone(),
        partner: partner_label,
        source: match c.source {
            CameraSource::Rtsp { .. } => "rtsp",
            CameraSource::Onvif { .. } => "onvif",
            CameraSource::ConfigFile => "config",
        },
        masks: c.masks.len(),
        health: st.health_of(c.id),
    }
}

fn partner_label(store: &Store, id: u64) -> String {
    if id == vms_storage::AGENCY {
        return "agency".into();
    }
    store
        .partner(id)
        .ok()
        .flatten()
        .map(|p| p.pseudonym)
        .unwrap_or_else(|| format!("P-{id}"))
}

pub(crate) async fn list_cameras(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<CameraOut>>> {
    st.blocking(move |st| {
        let mut out = Vec::new();
        for c in st.store.cameras_info()? {
            if authorize(&s, Action::ReadCamera, &Resource::Camera(&c)).allow {
                out.push(camera_out(st, &c));
            }
        }
        Ok(Json(out))
    })
    .await
}

pub(crate) async fn get_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
) -> ApiResult<Json<CameraOut>> {
    st.blocking(move |st| {
        let c = st.camera(id)?;
        st.check(
            &s,
            Action::ReadCamera,
            &Resource::Camera(&c),
            &NewAuditEvent {
                camera: Some(id),
                ..Default::default()
            },
        )?;
        Ok(Json(camera_out(st, &c)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    name: String,
    /// Required when an admin enrolls on a partner's behalf; a partner enrolls for itself.
    partner_id: Option<u64>,
    rtsp_url: Option<String>,
    onvif_address: Option<String>,
    username: Option<String>,
    password: Option<String>,
    sharing: String,
    retention_days: Option<u32>,
    #[serde(default)]
    location: String,
}

pub(crate) async fn enroll_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<EnrollBody>,
) -> ApiResult<(StatusCode, Json<CameraOut>)> {
    // Where the recorder would connect must be a place partner addresses may lead (issue 22
    // F3), checked after DNS; the session checks again before every connection.
    let target = match (&b.rtsp_url, &b.onvif_address) {
        (Some(u), None) => url::Url::parse(u).ok(),
        (None, Some(a)) => vms_ingest::onvif::select::device_url(a.trim()).ok(),
        _ => None,
    };
    if let Some(t) = &target
        && !crate::onvif::stream_allowed(&st, t).await
    {
        return Err(ApiError::BadRequest(
            vms_ingest::onvif::OnvifError::Refused.to_string(),
        ));
    }
    st.blocking(move |st| {
        let partner_id = match (s.role, s.partner, b.partner_id) {
            (Role::Partner, Some(p), None) => p,
            (Role::Partner, Some(p), Some(q)) if p == q => p,
            (_, _, Some(q)) => q,
            _ => return Err(ApiError::BadRequest("partner_id is required".into())),
        };
        st.check(
            &s,
            Action::EnrollCamera,
            &Resource::Partner(partner_id),
            &NewAuditEvent::default(),
        )?;
        let partner = st.store.partner(partner_id)?.ok_or(ApiError::NotFound)?;
        if partner.status == PartnerStatus::Left {
            return Err(ApiError::Conflict("partner has left the program".into()));
        }
        if partner.terms_accepted_us.is_none() {
            return Err(ApiError::Conflict(
                "the partner must accept the program terms first".into(),
            ));
        }
        let source = match (b.rtsp_url, b.onvif_address) {
            (Some(u), None) => {
                let url = url::Url::parse(&u)
                    .map_err(|e| ApiError::BadRequest(format!("rtsp_url: {e}")))?;
                if url.scheme() != "rtsp" {
                    return Err(ApiError::BadRequest("rtsp_url must be rtsp://".into()));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(ApiError::BadRequest(
                        "put credentials in username/password, not in the URL".into(),
                    ));
                }
                CameraSource::Rtsp { url: u }
            }
            (None, Some(a)) => CameraSource::Onvif {
                address: text("onvif_address", &a, true)?,
            },
            _ => {
                return Err(ApiError::BadRequest(
                    "give exactly one of rtsp_url and onvif_address".into(),
                ));
            }
        };
        let sharing: SharingMode = b.sharing.parse()?;
        let credentials = match (b.username, b.password) {
            (Some(u), Some(p)) => Some(st.secrets.seal(format!("{u}\0{p}").as_bytes())),
            (None, None) => None,
            _ => {
                return Err(ApiError::BadRequest(
                    "give both username and password, or neither".into(),
                ));
            }
        };
        let retention_days = b.retention_days.unwrap_or(30);
        if !(1..=3650).contains(&retention_days) {
            return Err(ApiError::BadRequest(
                "retention_days must be 1..=3650".into(),
            ));
        }
        let now = st.store.clock().now_utc_micros();
        let c = st.store.enroll_camera(CameraInfo {
            id: 0,
            name: text("name", &b.name, true)?,
            partner: partner_id,
            source,
            credentials,
            sharing,
            retention_days,
            location: text("location", &b.location, false)?,
            paused: false,
            masks: vec![],
            created_us: now,
        })?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "camera.enroll".into(),
            outcome: "ok".into(),
            camera: Some(c.id),
            detail: format!("sharing={}", c.sharing.as_str()),
            ..Default::default()
        })?;
        st.changes.notify_one();
        Ok((StatusCode::CREATED, Json(camera_out(st, &c))))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateCameraBody {
    sharing: Option<String>,
    retention_days: Option<u32>,
    paused: Option<bool>,
}

pub(crate) async fn update_camera(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiJson(b): ApiJson<UpdateCameraBody>,
) -> ApiResult<Json<CameraOut>> {
    st.blocking(move |st| {
        let mut c = st.camera(id)?;
        st.check(
            &s,
            Action::UpdateSharing,
            &Resource::Camera(&c),
            &NewAuditEvent {
                camera: Some(id),
                ..Default::default()
            },
        )?;
        let before = format!(
            "sharing={} retention_days={} paused={}",
            c.sharing.as_str(),
            c.retention_days,
            c.paused
        );
        if let Some(m) = b.sharing {
            c.sharing = m.parse()?;
        }
        if let Some(d) = b.retention_days {
            if !(1..=3650).contains(&d) {
                return Err(ApiError::BadRequest(
                    "retention_days must be 1..=3650".into(),
                ));
            }
            c.retention_days = d;
        }
        if let Some(p) = b.paused {
            c.paused = p;
        }
        st.store.put_camera_info(&c)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "camera.sharing".into(),
            outcome: "ok".into(),
            camera: Some(id),
            detail: format!(
                "{before} -> sharing={} retention_days={} paused={}",
                c.sharing.as_str(),
                c.retention_days,
                c.paused
            ),
            ..Default::default()
        })?;
        st.changes.notify_one();
        Ok(Json(camera_out(st, &c)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeQuery {
    /// UTC microseconds.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) case_number: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct SpanOut {
    start_us: i64,
    end_us: i64,
}

impl AppState {
    /// The checks every access to footage shares: the camera exists, a reason is given, the
    /// range is sane (ordered, not in the future, at most `max_range_hours`), and the policy
    /// allows `action` on exactly this camera and range. Denials and the allowed access are
    /// both audited (as `audit_as`) with camera, range, reason and case number.
    pub(crate) fn footage_access(
        &self,
        s: &Subject,
        id: u32,
        q: &RangeQuery,
        action: Action,
        audit_as: &str,
    ) -> ApiResult<CameraInfo> {
        let c = self.camera(id)?;
        let reason = text("reason", &q.reason, true)?;
        let case_number = q
            .case_number
            .as_deref()
            .map(|c| text("case_number", c, false))
            .transpose()?
            .filter(|c| !c.is_empty());
        let ev = NewAuditEvent {
            camera: Some(id),
            range: Some((q.start, q.end)),
            reason: Some(reason),
            case_number,
            ..Default::default()
        };
        let bad = |msg: String| {
            self.audit(NewAuditEvent {
                actor: s.username.clone(),
                action: audit_as.into(),
                outcome: "deny".into(),
                rule: "bad-range".into(),
                ..ev.clone()
            })?;
            Err(ApiError::BadRequest(msg))
        };
        let max = i64::from(self.settings.max_range_hours) * 3_600_000_000;
        if q.end <= q.start {
            return bad("end must be after start".into());
        }
        // Checked: a range from i64::MIN to i64::MAX must be refused, not wrap (issue 22 F8).
        if q.end.checked_sub(q.start).is_none_or(|d| d > max) {
            return bad(format!(
                "range longer than {} h",
                self.settings.max_range_hours
            ));
        }
        if q.start > self.store.clock().now_utc_micros() {
            return bad("range starts in the future".into());
        }
        let requests: Vec<RequestRow> = self
            .store
            .requests()?
            .into_iter()
            .filter(|r| r.cameras.contains(&id))
            .collect();
        let rule = self.check(
            s,
            action,
            &Resource::Footage {
                camera: &c,
                start_us: q.start,
                end_us: q.end,
                requests: &requests,
            },
            &ev,
        )?;
        self.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: audit_as.into(),
            outcome: "allow".into(),
            rule: rule.into(),
            ..ev
        })?;
        Ok(c)
    }
}

/// The recorded timeline of a camera (what exists in a range, with the gaps between): footage
/// metadata, so it is authorized and audited like playback.
pub(crate) async fn recordings(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u32>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Vec<SpanOut>>> {
    st.blocking(move |st| {
        st.footage_access(&s, id, &q, Action::Playback, "video.timeline")?;
        let spans = st.store.spans(id, q.start, q.end, 100_000)?;
        Ok(Json(
            spans
                .into_iter()
                .map(|s| SpanOut {
                    start_us: s.start_utc,
                    end_us: s.end_utc,
                })
                .collect(),
        ))
    })
    .await
}

// ---- partners ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewPartnerBody {
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    address: String,
    username: String,
    password: String,
}

#[derive(Serialize)]
pub(crate) struct PartnerOut {
    id: u64,
    pseudonym: String,
    contact_name: String,
    contact_email: String,
    contact_phone: String,
    address: String,
    status: &'static str,
    terms_version: Option<String>,
    terms_accepted_us: Option<i64>,
}

fn partner_out(p: PartnerRow) -> PartnerOut {
    PartnerOut {
        id: p.id,
        pseudonym: p.pseudonym,
        contact_name: p.contact_name,
        contact_email: p.contact_email,
        contact_phone: p.contact_phone,
        address: p.address,
        status: match p.status {
            PartnerStatus::Active => "active",
            PartnerStatus::Paused => "paused",
            PartnerStatus::Left => "left",
        },
        terms_version: p.terms_version,
        terms_accepted_us: p.terms_accepted_us,
    }
}

pub(crate) async fn create_partner(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewPartnerBody>,
) -> ApiResult<(StatusCode, Json<PartnerOut>)> {
    st.blocking(move |st| {
        if st.store.user(&b.username)?.is_some() {
            return Err(ApiError::Conflict(format!("user {:?} exists", b.username)));
        }
        let now = st.store.clock().now_utc_micros();
        // Everything about the account is checked (and the password hashed) before the partner
        // row is written, so a refused account leaves no partner behind (issue 22 F21).
        if !vms_storage::valid_username(&b.username) {
            return Err(ApiError::BadRequest(format!(
                "username {:?}: use 1-64 characters from a-z, 0-9, '.', '-', '_'",
                b.username
            )));
        }
        let (mut user, _) = auth::new_user(
            &b.username,
            Role::Partner,
            None,
            &b.password,
            false,
            &st.secrets,
            now,
        )
        .map_err(ApiError::BadRequest)?;
        let p = st.store.create_partner(PartnerRow {
            id: 0,
            pseudonym: String::new(),
            contact_name: text("contact_name", &b.contact_name, true)?,
            contact_email: text("contact_email", &b.contact_email, false)?,
            contact_phone: text("contact_phone", &b.contact_phone, false)?,
            address: text("address", &b.address, false)?,
            terms_version: None,
            terms_accepted_us: None,
            status: PartnerStatus::Active,
            created_us: now,
        })?;
        let mut p = p;
        p.pseudonym = format!("P-{:04}", p.id);
        st.store.put_partner(&p)?;
        user.partner = Some(p.id);
        st.store.put_user(&user)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "partner.create".into(),
            outcome: "ok".into(),
            detail: format!("{} user={}", p.pseudonym, b.username),
            ..Default::default()
        })?;
        Ok((StatusCode::CREATED, Json(partner_out(p))))
    })
    .await
}

pub(crate) async fn list_partners(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<PartnerOut>>> {
    st.blocking(move |st| {
        let partners = st.store.partners()?;
        st.audit_read(&s, "partners.read", format!("{} partners", partners.len()))?;
        Ok(Json(partners.into_iter().map(partner_out).collect()))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TermsBody {
    version: String,
}

pub(crate) async fn accept_terms(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<TermsBody>,
) -> ApiResult<Json<PartnerOut>> {
    st.blocking(move |st| {
        let pid = s.partner.ok_or(ApiError::Forbidden {
            rule: "partner-account-only",
        })?;
        st.check(
            &s,
            Action::PartnerSelf,
            &Resource::Partner(pid),
            &NewAuditEvent::default(),
        )?;
        if b.version != st.settings.terms_version {
            return Err(ApiError::BadRequest(format!(
                "current terms are version {}",
                st.settings.terms_version
            )));
        }
        let mut p = st.store.partner(pid)?.ok_or(ApiError::NotFound)?;
        p.terms_version = Some(b.version.clone());
        p.terms_accepted_us = Some(st.store.clock().now_utc_micros());
        st.store.put_partner(&p)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "partner.terms".into(),
            outcome: "ok".into(),
            detail: format!("version {}", b.version),
            ..Default::default()
        })?;
        Ok(Json(partner_out(p)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// `active`, `paused` or `left`.
    status: String,
}

#[derive(Serialize)]
pub(crate) struct StatusOut {
    status: &'static str,
    cameras_stopped: usize,
    /// On leaving: the ranges a legal hold keeps past the partner's terms. Ids and ranges only
    /// — case numbers and reasons are the investigation's, and a partner who is not leaving is
    /// not told about holds at all (issue 22 F22).
    legal_holds: Vec<PartnerHoldOut>,
    note: String,
}

/// Pause, resume or leave the program. Ingest stops within seconds; on leaving, recorded
/// video is deleted by the next retention pass except what a legal hold covers.
pub(crate) async fn set_partner_status(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<StatusBody>,
) -> ApiResult<Json<StatusOut>> {
    st.blocking(move |st| {
        let pid = s.partner.ok_or(ApiError::Forbidden { rule: "partner-account-only" })?;
        st.check(&s, Action::PartnerSelf, &Resource::Partner(pid), &NewAuditEvent::default())?;
        let mut p = st.store.partner(pid)?.ok_or(ApiError::NotFound)?;
        if p.status == PartnerStatus::Left {
            return Err(ApiError::Conflict("partner has already left the program".into()));
        }
        let (status, label) = match b.status.as_str() {
            "active" => (PartnerStatus::Active, "active"),
            "paused" => (PartnerStatus::Paused, "paused"),
            "left" => (PartnerStatus::Left, "left"),
            other => return Err(ApiError::BadRequest(format!("unknown status {other:?}; expected active, paused or left"))),
        };
        p.status = status;
        st.store.put_partner(&p)?;
        let cams: Vec<CameraInfo> = st.store.cameras_info()?.into_iter().filter(|c| c.partner == pid).collect();
        let ids: Vec<u32> = cams.iter().map(|c| c.id).collect();
        let holds: Vec<PartnerHoldOut> = if status == PartnerStatus::Left {
            st.store
                .holds()?
                .into_iter()
                .filter(|(_, h)| ids.contains(&h.camera))
                .map(|(id, h)| PartnerHoldOut { id, camera: h.camera, start_us: h.start_utc, end_us: h.end_utc })
                .collect()
        } else {
            Vec::new()
        };
        st.audit(NewAuditEvent { actor: s.username.clone(), action: "partner.status".into(), outcome: "ok".into(), detail: label.into(), ..Default::default() })?;
        st.changes.notify_one();
        let note = match status {
            PartnerStatus::Left if holds.is_empty() => "Recording stopped. Your recorded video will be deleted within minutes.".into(),
            PartnerStatus::Left => format!("Recording stopped. Your recorded video will be deleted within minutes, except {} range(s) under legal hold, kept until the hold is lifted.", holds.len()),
            PartnerStatus::Paused => "Recording paused for all your cameras.".into(),
            PartnerStatus::Active => "Recording resumes for cameras you have not paused.".into(),
        };
        Ok(Json(StatusOut { status: label, cameras_stopped: if status == PartnerStatus::Active { 0 } else { cams.len() }, legal_holds: holds, note }))
    })
    .await
}

/// Every access to the partner's cameras: who, when, why.
pub(crate) async fn receipts(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<AuditOut>>> {
    st.blocking(move |st| {
        let pid = s.partner.ok_or(ApiError::Forbidden {
            rule: "partner-account-only",
        })?;
        st.check(
            &s,
            Action::ReadReceipts,
            &Resource::Partner(pid),
            &NewAuditEvent::default(),
        )?;
        let mine: Vec<u32> = st
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| c.partner == pid)
            .map(|c| c.id)
            .collect();
        let events = st.store.audit_search(&AuditFilter {
            limit: 100_000,
            ..Default::default()
        })?;
        Ok(Json(
            events
                .into_iter()
                .filter(|e| {
                    e.event.camera.is_some_and(|c| mine.contains(&c))
                        && (e.event.action.starts_with("video.")
                            || e.event.action.starts_with("request."))
                })
                .take(1000)
                .map(audit_out)
                .collect(),
        ))
    })
    .await
}

// ---- requests ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRequestBody {
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
}

#[derive(Serialize)]
pub(crate) struct RequestOut {
    id: u64,
    investigator: String,
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    offence: String,
    reason: String,
    status: &'static str,
    decided_by: Option<String>,
    decided_us: Option<i64>,
    decision_note: Option<String>,
    exigent: bool,
}

fn request_out(r: RequestRow) -> RequestOut {
    RequestOut {
        id: r.id,
        investigator: r.investigator,
        cameras: r.cameras,
        start_us: r.start_us,
        end_us: r.end_us,
        case_number: r.case_number,
        offence: r.offence,
        reason: r.reason,
        status: r.status.as_str(),
        decided_by: r.decided_by,
        decided_us: r.decided_us,
        decision_note: r.decision_note,
        exigent: r.status == RequestStatus::Exigent,
    }
}

/// Audits a request event once per camera it names, so each partner's receipts show it.
fn audit_request(
    st: &AppState,
    s: &Subject,
    action: &str,
    r: &RequestRow,
    reason: Option<String>,
) -> ApiResult<()> {
    for c in &r.cameras {
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: action.into(),
            outcome: "ok".into(),
            camera: Some(*c),
            range: Some((r.start_us, r.end_us)),
            case_number: Some(r.case_number.clone()),
            reason: reason.clone(),
            request: Some(r.id),
            ..Default::default()
        })?;
    }
    Ok(())
}

pub(crate) async fn file_request(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewRequestBody>,
) -> ApiResult<(StatusCode, Json<RequestOut>)> {
    st.blocking(move |st| {
        let max = i64::from(st.settings.max_request_hours) * 3_600_000_000;
        if b.end_us <= b.start_us {
            return Err(ApiError::BadRequest("end must be after start".into()));
        }
        if b.end_us.checked_sub(b.start_us).is_none_or(|d| d > max) {
            return Err(ApiError::BadRequest(format!(
                "requests cover at most {} h",
                st.settings.max_request_hours
            )));
        }
        if b.cameras.is_empty() || b.cameras.len() > 16 {
            return Err(ApiError::BadRequest("name 1 to 16 cameras".into()));
        }
        let mut partner = None;
        for id in &b.cameras {
            let c = st.camera(*id)?;
            if c.sharing == SharingMode::Registry {
                return Err(ApiError::BadRequest(format!(
                    "camera {id} is registry-only: no video is recorded"
                )));
            }
            if partner.is_some_and(|p| p != c.partner) {
                return Err(ApiError::BadRequest("file one request per partner".into()));
            }
            partner = Some(c.partner);
        }
        let r = st.store.create_request(RequestRow {
            id: 0,
            investigator: s.username.clone(),
            cameras: b.cameras.clone(),
            start_us: b.start_us,
            end_us: b.end_us,
            case_number: text("case_number", &b.case_number, true)?,
            offence: text("offence", &b.offence, true)?,
            reason: text("reason", &b.reason, true)?,
            status: RequestStatus::Pending,
            decided_by: None,
            decided_us: None,
            decision_note: None,
            created_us: st.store.clock().now_utc_micros(),
        })?;
        audit_request(st, &s, "request.file", &r, Some(r.reason.clone()))?;
        Ok((StatusCode::CREATED, Json(request_out(r))))
    })
    .await
}

pub(crate) async fn list_requests(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<RequestOut>>> {
    st.blocking(move |st| {
        let cams = st.store.cameras_info()?;
        let mut out = Vec::new();
        for r in st.store.requests()? {
            let rc: Vec<CameraInfo> = cams
                .iter()
                .filter(|c| r.cameras.contains(&c.id))
                .cloned()
                .collect();
            if authorize(
                &s,
                Action::ListRequests,
                &Resource::Request {
                    request: &r,
                    cameras: &rc,
                },
            )
            .allow
            {
                out.push(request_out(r));
            }
        }
        out.reverse();
        Ok(Json(out))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionBody {
    approve: bool,
    #[serde(default)]
    note: String,
}

pub(crate) async fn decide_request(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(b): ApiJson<DecisionBody>,
) -> ApiResult<Json<RequestOut>> {
    st.blocking(move |st| {
        let mut r = st.store.request(id)?.ok_or(ApiError::NotFound)?;
        let cams: Vec<CameraInfo> = st
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| r.cameras.contains(&c.id))
            .collect();
        st.check(
            &s,
            Action::DecideRequest,
            &Resource::Request {
                request: &r,
                cameras: &cams,
            },
            &NewAuditEvent {
                request: Some(id),
                ..Default::default()
            },
        )?;
        r.status = if b.approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Denied
        };
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(st.store.clock().now_utc_micros());
        r.decision_note = Some(text("note", &b.note, false)?).filter(|n| !n.is_empty());
        st.store.put_request(&r)?;
        let action = if b.approve {
            "request.approve"
        } else {
            "request.deny"
        };
        audit_request(st, &s, action, &r, None)?;
        Ok(Json(request_out(r)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExigentBody {
    justification: String,
}

pub(crate) async fn exigent(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
    ApiJson(b): ApiJson<ExigentBody>,
) -> ApiResult<Json<RequestOut>> {
    st.blocking(move |st| {
        let justification = text("justification", &b.justification, true)?;
        if justification.len() < 20 {
            return Err(ApiError::BadRequest(
                "an exigent grant needs a written justification (at least 20 characters)".into(),
            ));
        }
        let mut r = st.store.request(id)?.ok_or(ApiError::NotFound)?;
        let cams: Vec<CameraInfo> = st
            .store
            .cameras_info()?
            .into_iter()
            .filter(|c| r.cameras.contains(&c.id))
            .collect();
        st.check(
            &s,
            Action::GrantExigent,
            &Resource::Request {
                request: &r,
                cameras: &cams,
            },
            &NewAuditEvent {
                request: Some(id),
                ..Default::default()
            },
        )?;
        r.status = RequestStatus::Exigent;
        r.decided_by = Some(s.username.clone());
        r.decided_us = Some(st.store.clock().now_utc_micros());
        r.decision_note = Some(justification.clone());
        st.store.put_request(&r)?;
        audit_request(st, &s, "request.exigent", &r, Some(justification.clone()))?;
        Ok(Json(request_out(r)))
    })
    .await
}

// ---- holds ----

/// A hold as its camera's partner sees it.
#[derive(Serialize)]
pub(crate) struct PartnerHoldOut {
    id: u64,
    camera: u32,
    start_us: i64,
    end_us: i64,
}

#[derive(Serialize)]
pub(crate) struct HoldOut {
    id: u64,
    camera: u32,
    start_us: i64,
    end_us: i64,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldBody {
    camera: u32,
    start_us: i64,
    end_us: i64,
    case_number: String,
    reason: String,
}

pub(crate) async fn place_hold(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<HoldBody>,
) -> ApiResult<(StatusCode, Json<HoldOut>)> {
    st.blocking(move |st| {
        st.camera(b.camera)?;
        let case = text("case_number", &b.case_number, true)?;
        let reason = text("reason", &b.reason, true)?;
        let label = format!("case {case}: {reason}");
        let id = st.store.add_hold(b.camera, b.start_us, b.end_us, &label)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "hold.place".into(),
            outcome: "ok".into(),
            camera: Some(b.camera),
            range: Some((b.start_us, b.end_us)),
            case_number: Some(case),
            reason: Some(reason),
            ..Default::default()
        })?;
        Ok((
            StatusCode::CREATED,
            Json(HoldOut {
                id,
                camera: b.camera,
                start_us: b.start_us,
                end_us: b.end_us,
                reason: label,
            }),
        ))
    })
    .await
}

pub(crate) async fn list_holds(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<HoldOut>>> {
    st.blocking(move |st| {
        let holds = st.store.holds()?;
        st.audit_read(&s, "holds.read", format!("{} holds", holds.len()))?;
        Ok(Json(
            holds
                .into_iter()
                .map(|(id, h)| HoldOut {
                    id,
                    camera: h.camera,
                    start_us: h.start_utc,
                    end_us: h.end_utc,
                    reason: h.reason,
                })
                .collect(),
        ))
    })
    .await
}

pub(crate) async fn lift_hold(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<StatusCode> {
    st.blocking(move |st| {
        let hold = st.store.remove_hold(id)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "hold.lift".into(),
            outcome: "ok".into(),
            camera: Some(hold.camera),
            range: Some((hold.start_utc, hold.end_utc)),
            reason: Some(hold.reason),
            detail: format!("hold {id}"),
            ..Default::default()
        })?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

// ---- users ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserBody {
    username: String,
    role: String,
    password: String,
    partner_id: Option<u64>,
}

#[derive(Serialize)]
pub(crate) struct UserOut {
    username: String,
    role: &'static str,
    partner: Option<u64>,
    disabled: bool,
    locked: bool,
    totp: bool,
    /// Shown once, at creation: the `otpauth://` URI for the user's authenticator app.
    #[serde(skip_serializing_if = "Option::is_none")]
    totp_uri: Option<String>,
}

fn user_out(u: vms_storage::UserRow, now_us: i64, totp_uri: Option<String>) -> UserOut {
    UserOut {
        locked: u.locked_until_us > now_us,
        totp: u.totp_secret.is_some(),
        username: u.username,
        role: u.role.as_str(),
        partner: u.partner,
        disabled: u.disabled,
        totp_uri,
    }
}

pub(crate) async fn create_user(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    st.blocking(move |st| {
        let role: Role = b.role.parse()?;
        if st.store.user(&b.username)?.is_some() {
            return Err(ApiError::Conflict(format!("user {:?} exists", b.username)));
        }
        if let Some(p) = b.partner_id {
            st.store
                .partner(p)?
                .ok_or(ApiError::BadRequest(format!("no partner {p}")))?;
        }
        let now = st.store.clock().now_utc_micros();
        let (user, totp) = auth::new_user(
            &b.username,
            role,
            b.partner_id,
            &b.password,
            st.settings.mfa_for_all,
            &st.secrets,
            now,
        )
        .map_err(ApiError::BadRequest)?;
        st.store.put_user(&user)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "user.create".into(),
            outcome: "ok".into(),
            detail: format!("{} role={}", user.username, role.as_str()),
            ..Default::default()
        })?;
        Ok((
            StatusCode::CREATED,
            Json(user_out(user, now, totp.map(|t| t.1))),
        ))
    })
    .await
}

pub(crate) async fn list_users(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<UserOut>>> {
    st.blocking(move |st| {
        let now = st.store.clock().now_utc_micros();
        let users = st.store.users()?;
        st.audit_read(&s, "users.read", format!("{} accounts", users.len()))?;
        Ok(Json(
            users.into_iter().map(|u| user_out(u, now, None)).collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserBody {
    role: Option<String>,
    disabled: Option<bool>,
    /// Clears a lockout.
    unlock: Option<bool>,
}

pub(crate) async fn update_user(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateUserBody>,
) -> ApiResult<Json<UserOut>> {
    st.blocking(move |st| {
        let mut u = st.store.user(&name)?.ok_or(ApiError::NotFound)?;
        if let Some(r) = b.role {
            let role: Role = r.parse()?;
            if (role == Role::Partner) != u.partner.is_some() {
                return Err(ApiError::BadRequest(
                    "partner accounts cannot change to staff roles or back".into(),
                ));
            }
            if auth_needs_new_totp(role, &u) {
                return Err(ApiError::BadRequest(
                    "this role sees video: set up a second factor first (vms user totp)".into(),
                ));
            }
            u.role = role;
        }
        if let Some(d) = b.disabled {
            u.disabled = d;
        }
        if b.unlock == Some(true) {
            u.locked_until_us = 0;
            u.failed_logins = 0;
        }
        st.store.put_user(&u)?;
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "user.update".into(),
            outcome: "ok".into(),
            detail: format!(
                "{} role={} disabled={}",
                u.username,
                u.role.as_str(),
                u.disabled
            ),
            ..Default::default()
        })?;
        let now = st.store.clock().now_utc_micros();
        Ok(Json(user_out(u, now, None)))
    })
    .await
}

fn auth_needs_new_totp(role: Role, u: &vms_storage::UserRow) -> bool {
    crate::policy::role_needs_mfa(role) && u.totp_secret.is_none()
}

// ---- audit, transparency, health ----

#[derive(Serialize)]
pub(crate) struct AuditOut {
    seq: u64,
    at_us: i64,
    actor: String,
    action: String,
    outcome: String,
    rule: String,
    camera: Option<u32>,
    range: Option<(i64, i64)>,
    case_number: Option<String>,
    reason: Option<String>,
    request: Option<u64>,
    detail: String,
}

fn audit_out(e: vms_storage::AuditEvent) -> AuditOut {
    let ev = e.event;
    AuditOut {
        seq: e.seq,
        at_us: e.at_us,
        actor: ev.actor,
        action: ev.action,
        outcome: ev.outcome,
        rule: ev.rule,
        camera: ev.camera,
        range: ev.range,
        case_number: ev.case_number,
        reason: ev.reason,
        request: ev.request,
        detail: ev.detail,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    user: Option<String>,
    camera: Option<u32>,
    case_number: Option<String>,
    from_us: Option<i64>,
    to_us: Option<i64>,
    limit: Option<usize>,
}

pub(crate) async fn audit_search(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditOut>>> {
    st.blocking(move |st| {
        // Recorded before the search, so the reader's own read is in what they see.
        st.audit(NewAuditEvent {
            actor: s.username.clone(),
            action: "audit.read".into(),
            outcome: "ok".into(),
            camera: q.camera,
            range: q.from_us.zip(q.to_us),
            case_number: q.case_number.clone(),
            detail: q
                .user
                .as_ref()
                .map_or_else(String::new, |u| format!("user={u}")),
            ..Default::default()
        })?;
        let f = AuditFilter {
            actor: q.user,
            camera: q.camera,
            case_number: q.case_number,
            from_us: q.from_us,
            to_us: q.to_us,
            limit: q.limit.unwrap_or(500).min(10_000),
        };
        Ok(Json(
            st.store
                .audit_search(&f)?
                .into_iter()
                .map(audit_out)
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MonthQuery {
    /// `YYYY-MM`.
    month: String,
}

#[derive(Serialize, Default)]
pub(crate) struct Transparency {
    month: String,
    requests_filed: u64,
    requests_approved: u64,
    requests_denied: u64,
    requests_pending: u64,
    exigent_accesses: u64,
    exports: u64,
    video_accesses: u64,
    partners_active: u64,
    cameras_registry: u64,
    cameras_on_request: u64,
    cameras_live: u64,
}

/// Month bounds in Unix microseconds for `YYYY-MM` (proleptic Gregorian, UTC).
fn month_bounds(m: &str) -> Option<(i64, i64)> {
    let (y, mo) = m.split_once('-')?;
    let (y, mo): (i64, i64) = (y.parse().ok()?, mo.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || m.len() != 7 {
        return None;
    }
    let days = |y: i64, m: i64| {
        // Days from 1970-01-01 to y-m-01 (civil-from-days inverse, Howard Hinnant's algorithm).
        let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    };
    let start = days(y, mo);
    let end = if mo == 12 {
        days(y + 1, 1)
    } else {
        days(y, mo + 1)
    };
    Some((start * 86_400_000_000, end * 86_400_000_000))
}

/// Aggregate counts for the public: never names, addresses or footage.
pub(crate) async fn transparency(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> ApiResult<Json<Transparency>> {
    let (from, to) = month_bounds(&q.month)
        .ok_or_else(|| ApiError::BadRequest("month must be YYYY-MM".into()))?;
    st.blocking(move |st| {
        let mut t = Transparency {
            month: q.month,
            ..Default::default()
        };
        for r in st.store.requests()? {
            if r.created_us >= from && r.created_us < to {
                t.requests_filed += 1;
                match r.status {
                    RequestStatus::Approved => t.requests_approved += 1,
                    RequestStatus::Denied => t.requests_denied += 1,
                    RequestStatus::Pending => t.requests_pending += 1,
                    RequestStatus::Exigent => t.exigent_accesses += 1,
                }
            }
        }
        for e in st.store.audit_search(&AuditFilter {
            from_us: Some(from),
            to_us: Some(to),
            limit: usize::MAX,
            ..Default::default()
        })? {
            if e.event.outcome == "allow" && e.event.action.starts_with("video.") {
                t.video_accesses += 1;
                if e.event.action == "video.export" {
                    t.exports += 1;
                }
            }
        }
        t.partners_active = st
            .store
            .partners()?
            .iter()
            .filter(|p| p.status == PartnerStatus::Active)
            .count() as u64;
        for c in st.store.cameras_info()? {
            match c.sharing {
                SharingMode::Registry => t.cameras_registry += 1,
                SharingMode::OnRequest => t.cameras_on_request += 1,
                SharingMode::Live => t.cameras_live += 1,
            }
        }
        Ok(Json(t))
    })
    .await
}

pub(crate) async fn health(State(st): State<AppState>) -> Json<crate::HealthResponse> {
    let cams = st.camera_views();
    Json(crate::HealthResponse {
        cameras: cams.iter().map(crate::camera_health).collect(),
        store_bytes: st.store.total_bytes(),
    })
}

/// Prometheus text exposition of the per-camera counters.
pub(crate) async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let mut out = String::new();
    type Series = (&'static str, &'static str, fn(&crate::CameraHealth) -> f64);
    let series: [Series; 11] = [
        ("vms_camera_frames_received_total", "counter", |h| {
            h.frames_received as f64
        }),
        ("vms_camera_reconnects_total", "counter", |h| {
            h.reconnects as f64
        }),
        ("vms_camera_stalls_total", "counter", |h| h.stalls as f64),
        ("vms_recorder_drift_seconds", "gauge", |h| {
            h.drift_ms / 1000.0
        }),
        ("vms_recorder_frames_dropped_total", "counter", |h| {
            h.frames_dropped as f64
        }),
        ("vms_camera_fps", "gauge", |h| h.fps),
        ("vms_camera_bitrate_bps", "gauge", |h| h.bitrate_bps),
        ("vms_recorder_frames_total", "counter", |h| {
            h.frames_recorded as f64
        }),
        ("vms_recorder_bytes_total", "counter", |h| {
            h.bytes_recorded as f64
        }),
        ("vms_recorder_write_errors_total", "counter", |h| {
            h.write_errors as f64
        }),
        ("vms_recorder_timestamp_anomalies_total", "counter", |h| {
            h.timestamp_anomalies as f64
        }),
    ];
    let cams: Vec<crate::CameraHealth> =
        st.camera_views().iter().map(crate::camera_health).collect();
    for (name, kind, f) in series {
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for c in &cams {
            let camera = crate::live::metrics::escape_label(&c.name);
            let _ = writeln!(out, "{name}{{camera=\"{camera}\"}} {}", f(c));
        }
    }
    crate::live::write_metrics(&st, &mut out);
    let _ = writeln!(
        out,
        "# TYPE vms_store_bytes gauge\nvms_store_bytes {}",
        st.store.total_bytes()
    );
    let _ = writeln!(
        out,
        "# TYPE vms_login_refused_total counter\nvms_login_refused_total {}",
        st.login_guard
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# TYPE vms_http_connections_refused_total counter\nvms_http_connections_refused_total {}",
        crate::server::CONNECTIONS_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

#[cfg(test)]
mod tests {
    use super::month_bounds;

    #[test]
    fn month_bounds_are_utc_calendar_months() {
        assert_eq!(month_bounds("1970-01"), Some((0, 31 * 86_400_000_000)));
        let (s, e) = month_bounds("2024-02").unwrap_or_default();
        assert_eq!((e - s) / 86_400_000_000, 29, "leap February");
        assert_eq!(s, 1_706_745_600_000_000);
        assert!(month_bounds("2024-13").is_none());
        assert!(month_bounds("2024-1").is_none());
        assert!(month_bounds("garbage").is_none());
    }
}
