//! Partner cameras: enrollment and terms changes, which of them the recorder follows, and how
//! long their video is kept — decided by the partner's terms, never by the recorder.

use vms_storage::geo::{Placed, Point, View};
use vms_storage::{
    CameraInfo, CameraKind, CameraSource, NewAuditEvent, PartnerRow, PartnerStatus, Role,
    SecretBox, SharingMode,
};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::{Action, Resource, Subject};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// Whether an enrolled camera is recorded: shared beyond the registry, not paused, its partner
/// active. Config-file cameras are the agency's own and recorded from the config file instead.
pub fn is_recorded(c: &CameraInfo, partner: Option<&PartnerRow>) -> bool {
    !matches!(
        c.source,
        CameraSource::ConfigFile | CameraSource::Registered
    ) && c.sharing != SharingMode::Registry
        && !c.paused
        && partner.is_some_and(|p| p.status == PartnerStatus::Active)
}

/// How long a partner camera's video is kept, seconds: its terms' retention days, or nothing
/// once its partner has left the program (held ranges stay: holds outrank retention).
/// `None` for config-file cameras, whose retention the config file sets.
pub fn retention_secs(c: &CameraInfo, partners: &[PartnerRow]) -> Option<i64> {
    if c.source == CameraSource::ConfigFile {
        return None;
    }
    let left = partners
        .iter()
        .any(|p| p.id == c.partner && p.status == PartnerStatus::Left);
    Some(if left {
        0
    } else {
        i64::from(c.retention_days) * 86_400
    })
}

/// Longest retention a partner may choose, days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Retention when the partner does not choose, days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// A camera as a partner (or an administrator on its behalf) enrolls it.
#[derive(Clone, Copy, Debug)]
pub struct Enrollment<'a> {
    pub name: &'a str,
    /// Required when an administrator enrolls on a partner's behalf.
    pub partner_id: Option<u64>,
    pub rtsp_url: Option<&'a str>,
    pub onvif_address: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    /// `registry`, `on-request` or `live`.
    pub sharing: &'a str,
    pub retention_days: Option<u32>,
    pub place: Placement<'a>,
}

/// Where a camera is and what it sees, as its owner states it. A registered camera must be
/// placed; a recording camera may be placed later.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement<'a> {
    /// The street address line (confidential).
    pub address: &'a str,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The view: all three, or none.
    pub bearing_deg: Option<f32>,
    pub fov_deg: Option<f32>,
    pub range_m: Option<f32>,
    /// `doorbell`, `fixed` or `ptz`.
    pub kind: Option<&'a str>,
    pub owner_keeps_days: Option<u32>,
}

/// A checked [`Placement`].
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub address: String,
    pub placed: Option<Placed>,
    pub kind: Option<CameraKind>,
    pub owner_keeps_days: Option<u32>,
}

impl Placement<'_> {
    /// Checks every number and word; the errors say which field is wrong.
    pub fn check(&self) -> Result<Place> {
        let point = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => Some(Point::new(lat, lon)?),
            (None, None) => None,
            _ => {
                return Err(ProgramError::Invalid(
                    "give both lat and lon, or neither".into(),
                ));
            }
        };
        let view = match (self.bearing_deg, self.fov_deg, self.range_m) {
            (Some(bearing_deg), Some(fov_deg), Some(range_m)) => {
                let v = View {
                    bearing_deg,
                    fov_deg,
                    range_m,
                };
                v.validate()?;
                Some(v)
            }
            (None, None, None) => None,
            _ => {
                return Err(ProgramError::Invalid(
                    "give bearing_deg, fov_deg and range_m together, or none".into(),
                ));
            }
        };
        if view.is_some() && point.is_none() {
            return Err(ProgramError::Invalid(
                "a view needs the camera's position (lat, lon)".into(),
            ));
        }
        if let Some(d) = self.owner_keeps_days
            && !(1..=MAX_RETENTION_DAYS).contains(&d)
        {
            return Err(ProgramError::Invalid(format!(
                "owner_keeps_days must be 1..={MAX_RETENTION_DAYS}"
            )));
        }
        Ok(Place {
            address: text("address", self.address, false)?,
            placed: point.map(|point| Placed { point, view }),
            kind: self.kind.map(str::parse).transpose()?,
            owner_keeps_days: self.owner_keeps_days,
        })
    }
}

/// A change to a camera's terms by its partner.
#[derive(Clone, Copy, Debug, Default)]
pub struct TermsChange<'a> {
    pub sharing: Option<&'a str>,
    pub retention_days: Option<u32>,
    pub paused: Option<bool>,
}

fn check_retention(days: u32) -> Result<u32> {
    if (1..=MAX_RETENTION_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(ProgramError::Invalid(format!(
            "retention_days must be 1..={MAX_RETENTION_DAYS}"
        )))
    }
}

impl Program {
    /// Enrolls a camera for a partner that has accepted the terms and not left. Where the
    /// camera's address leads is the caller's to check first (it needs DNS); credentials are
    /// sealed and never given back. The caller tells ingest that terms changed.
    pub fn enroll_camera(
        &self,
        s: &Subject,
        secrets: &SecretBox,
        e: Enrollment<'_>,
    ) -> Result<CameraInfo> {
        let partner_id = match (s.role, s.partner, e.partner_id) {
            (Role::Partner, Some(p), None) => p,
            (Role::Partner, Some(p), Some(q)) if p == q => p,
            (_, _, Some(q)) => q,
            _ => return Err(ProgramError::Invalid("partner_id is required".into())),
        };
        self.check(
            s,
            Action::EnrollCamera,
            &Resource::Partner(partner_id),
            &NewAuditEvent::default(),
        )?;
        let partner = self
            .store
            .partner(partner_id)?
            .ok_or(ProgramError::NotFound)?;
        if partner.status == PartnerStatus::Left {
            return Err(ProgramError::Conflict(
                "partner has left the program".into(),
            ));
        }
        if partner.terms_accepted_us.is_none() {
            return Err(ProgramError::Conflict(
                "the partner must accept the program terms first".into(),
            ));
        }
        let source = match (e.rtsp_url, e.onvif_address) {
            (Some(u), None) => {
                let url = url::Url::parse(u)
                    .map_err(|err| ProgramError::Invalid(format!("rtsp_url: {err}")))?;
                if url.scheme() != "rtsp" {
                    return Err(ProgramError::Invalid("rtsp_url must be rtsp://".into()));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(ProgramError::Invalid(
                        "put credentials in username/password, not in the URL".into(),
                    ));
                }
                CameraSource::Rtsp { url: u.to_owned() }
            }
            (None, Some(a)) => CameraSource::Onvif {
                address: text("onvif_address", a, true)?,
            },
            (None, None) if e.sharing == SharingMode::Registry.as_str() => CameraSource::Registered,
            _ => {
                return Err(ProgramError::Invalid(
                    "give exactly one of rtsp_url and onvif_address (or neither, to register a camera without connecting it)".into(),
                ));
            }
        };
        let sharing: SharingMode = e.sharing.parse()?;
        let place = e.place.check()?;
        if source == CameraSource::Registered && place.placed.is_none() {
            return Err(ProgramError::Invalid(
                "a registered camera needs its position (lat, lon)".into(),
            ));
        }
        let credentials = match (e.username, e.password) {
            (Some(u), Some(p)) => Some(secrets.seal(format!("{u}\0{p}").as_bytes())),
            (None, None) => None,
            _ => {
                return Err(ProgramError::Invalid(
                    "give both username and password, or neither".into(),
                ));
            }
        };
        let retention_days = check_retention(e.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS))?;
        let c = self.store.enroll_camera(CameraInfo {
            id: 0,
            name: text("name", e.name, true)?,
            partner: partner_id,
            source,
            credentials,
            sharing,
            retention_days,
            address: place.address,
            placed: place.placed,
            kind: place.kind,
            owner_keeps_days: place.owner_keeps_days,
            paused: false,
            masks: vec![],
            created_us: self.store.clock().now_utc_micros(),
        })?;
        self.audit(NewAuditEvent {
            camera: Some(c.id),
            detail: format!("sharing={}", c.sharing.as_str()),
            ..event(&s.username, AuditAction::CameraEnroll, Outcome::Ok)
        })?;
        Ok(c)
    }

    /// The camera's partner changes its sharing, retention or pauses it; the change is
    /// audited as before → after. The caller tells ingest that terms changed.
    pub fn change_terms(&self, s: &Subject, id: u32, t: TermsChange<'_>) -> Result<CameraInfo> {
        let mut c = self.camera(id)?;
        self.check(
            s,
            Action::UpdateSharing,
            &Resource::Camera(&c),
            &NewAuditEvent {
                camera: Some(id),
                ..Default::default()
            },
        )?;
        let terms = |c: &CameraInfo| {
            format!(
                "sharing={} retention_days={} paused={}",
                c.sharing.as_str(),
                c.retention_days,
                c.paused
            )
        };
        let before = terms(&c);
        if let Some(m) = t.sharing {
            c.sharing = m.parse()?;
            if c.source == CameraSource::Registered && c.sharing != SharingMode::Registry {
                return Err(ProgramError::Invalid(
                    "a registered camera is not connected: connect it (rtsp_url or onvif_address) to share video".into(),
                ));
            }
        }
        if let Some(d) = t.retention_days {
            c.retention_days = check_retention(d)?;
        }
        if let Some(p) = t.paused {
            c.paused = p;
        }
        self.store.put_camera_info(&c)?;
        self.audit(NewAuditEvent {
            camera: Some(id),
            detail: format!("{before} -> {}", terms(&c)),
            ..event(&s.username, AuditAction::CameraSharing, Outcome::Ok)
        })?;
        Ok(c)
    }
}

impl Program {
    /// The camera's partner (or an administrator) states where it is and what it sees; the
    /// spatial index follows. Audited with the position rounded to about 100 m, so the audit
    /// log is not a second registry.
    pub fn place_camera(&self, s: &Subject, id: u32, p: Placement<'_>) -> Result<CameraInfo> {
        let mut c = self.camera(id)?;
        self.check_own_camera(s, &c)?;
        let place = p.check()?;
        if c.source == CameraSource::Registered && place.placed.is_none() {
            return Err(ProgramError::Invalid(
                "a registered camera needs its position (lat, lon)".into(),
            ));
        }
        c.address = place.address;
        c.placed = place.placed;
        c.kind = place.kind;
        c.owner_keeps_days = place.owner_keeps_days;
        self.store.put_camera_info(&c)?;
        self.audit(NewAuditEvent {
            camera: Some(id),
            detail: match &c.placed {
                Some(p) => format!(
                    "placed near {:.3},{:.3}{}",
                    p.point.lat(),
                    p.point.lon(),
                    if p.view.is_some() { " with a view" } else { "" }
                ),
                None => "position cleared".into(),
            },
            ..event(&s.username, AuditAction::CameraPlace, Outcome::Ok)
        })?;
        Ok(c)
    }

    /// The partner removes a registered camera: its record is deleted, not hidden (the audit
    /// trail keeps that it existed and who removed it).
    pub fn remove_registration(&self, s: &Subject, id: u32) -> Result<()> {
        let c = self.camera(id)?;
        self.check_own_camera(s, &c)?;
        if c.source != CameraSource::Registered {
            return Err(ProgramError::Conflict(
                "this camera records video: pause it or leave the program instead".into(),
            ));
        }
        self.store.remove_registered_camera(id)?;
        self.audit(NewAuditEvent {
            camera: Some(id),
            detail: format!("registered camera {:?} removed", c.name),
            ..event(&s.username, AuditAction::CameraRemove, Outcome::Ok)
        })?;
        Ok(())
    }

    /// Its partner, or an administrator on its behalf, may change a camera's registration.
    fn check_own_camera(&self, s: &Subject, c: &CameraInfo) -> Result<()> {
        let resource = match s.role {
            Role::Admin => Resource::Partner(c.partner),
            _ => Resource::Camera(c),
        };
        let action = match s.role {
            Role::Admin => Action::EnrollCamera,
            _ => Action::UpdateSharing,
        };
        self.check(
            s,
            action,
            &resource,
            &NewAuditEvent {
                camera: Some(c.id),
                ..Default::default()
            },
        )
        .map(|_| ())
    }
}
