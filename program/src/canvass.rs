//! The registry map and area requests ("canvasses"): staff find the cameras around a point,
//! and ask every owner there for a window of footage in one step — one footage request per
//! owner, through the request model and [`authorize`] like any other. Integrated cameras'
//! owners approve or deny; registered cameras' owners answer with files through a link.
//!
//! Investigators see a camera's position, view and its owner's pseudonym, never the owner's
//! name or contact; owners see the case, the window and the reason, never the incident's
//! position.

use vms_storage::canvass::{CanvassOwner, CanvassRow, Notice};
use vms_storage::geo::{Point, View};
use vms_storage::intake::LinkRow;
use vms_storage::{
    AGENCY, CameraInfo, CameraSource, NewAuditEvent, PartnerRow, PartnerStatus, RequestRow,
    RequestStatus, SharingMode,
};

use crate::audit::{AuditAction, Outcome, event};
use crate::policy::{Action, Resource, Subject, authorize};
use crate::requests::MAX_CAMERAS;
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// Largest circle the registry map is searched in, metres (a neighbourhood, not a city).
pub const MAX_SEARCH_RADIUS_M: u32 = 3_000;
/// Most owners one canvass asks (a bounded radius keeps real ones far below this).
pub const MAX_OWNERS: usize = 200;

/// A camera on the registry map, as staff see it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryHit {
    pub camera: u32,
    pub name: String,
    /// The owner's pseudonym (never its name or contact).
    pub owner: String,
    pub point: Point,
    pub view: Option<View>,
    pub kind: Option<&'static str>,
    pub sharing: SharingMode,
    /// Whether the camera is only registered (no video flows).
    pub registered: bool,
    pub distance_m: f64,
    /// Whether its stated view covers the searched point.
    pub covers: bool,
}

/// A canvass as the investigator describes it.
#[derive(Clone, Copy, Debug)]
pub struct NewCanvass<'a> {
    pub lat: f64,
    pub lon: f64,
    pub radius_m: u32,
    pub start_us: i64,
    pub end_us: i64,
    pub case_number: &'a str,
    pub offence: &'a str,
    pub reason: &'a str,
}

/// One camera of a canvass preview.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub hit: RegistryHit,
    /// Whether the window's start is still inside what the camera keeps (its owner's recorder
    /// for a registered camera, ours for an integrated one); `None` when the owner never said.
    pub in_retention: Option<bool>,
    /// Why its owner is not asked (`None`: asked). Live cameras need no request; the
    /// agency's own cameras, paused cameras and partners who paused or left are not asked.
    pub skipped: Option<&'static str>,
}

/// How far a canvass has got, owner by owner and in total.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub canvass: CanvassRow,
    pub owners: Vec<OwnerProgress>,
    pub notified: usize,
    pub opened: usize,
    pub declined: usize,
    pub approved: usize,
    pub submitted: usize,
    /// Owners whose email has failed at least once and is being retried, or was given up.
    pub delivery_problems: usize,
}

/// One owner's step in a canvass.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnerProgress {
    pub owner: String,
    pub request: u64,
    pub cameras: Vec<u32>,
    pub status: RequestStatus,
    pub notice: Notice,
    pub opened: bool,
    /// Files received on links answering the request.
    pub files: usize,
}

impl NewCanvass<'_> {
    fn center(&self) -> Result<Point> {
        Ok(Point::new(self.lat, self.lon)?)
    }
}

impl Program {
    /// The placed cameras within `radius_m` of a point, nearest first, for the registry map.
    /// Agency staff only; every search is audited.
    pub fn search_registry(
        &self,
        s: &Subject,
        lat: f64,
        lon: f64,
        radius_m: u32,
    ) -> Result<Vec<RegistryHit>> {
        self.check(
            s,
            Action::SearchRegistry,
            &Resource::Route,
            &NewAuditEvent::default(),
        )?;
        let center = Point::new(lat, lon)?;
        if radius_m == 0 || radius_m > MAX_SEARCH_RADIUS_M {
            return Err(ProgramError::Invalid(format!(
                "radius_m must be 1..={MAX_SEARCH_RADIUS_M}"
            )));
        }
        let hits = self.hits(center, radius_m)?;
        self.audit(NewAuditEvent {
            detail: format!(
                "registry searched within {radius_m} m of {:.4},{:.4}: {} cameras",
                center.lat(),
                center.lon(),
                hits.len()
            ),
            ..event(&s.username, AuditAction::RegistrySearch, Outcome::Ok)
        })?;
        Ok(hits.into_iter().map(|(h, _)| h).collect())
    }

    /// The middle of the placed cameras `s` may see on a map (all, for staff who may search
    /// the registry; its own, for a partner), for where the map opens; `None` if none is.
    pub fn placed_middle(&self, s: &Subject) -> Result<Option<(f64, f64)>> {
        let staff = authorize(s, Action::SearchRegistry, &Resource::Route).allow;
        let (mut n, mut lat, mut lon) = (0u32, 0.0, 0.0);
        for c in self.store.cameras_info()? {
            if !staff && s.partner != Some(c.partner) {
                continue;
            }
            if let Some(p) = &c.placed {
                n += 1;
                lat += p.point.lat();
                lon += p.point.lon();
            }
        }
        Ok((n > 0).then(|| (lat / f64::from(n), lon / f64::from(n))))
    }

    /// Which cameras a canvass would ask, and which it would skip and why. Nothing is sent.
    pub fn preview_canvass(&self, s: &Subject, n: &NewCanvass<'_>) -> Result<Vec<Candidate>> {
        self.check(
            s,
            Action::FileRequest,
            &Resource::Route,
            &NewAuditEvent::default(),
        )?;
        self.check_canvass(n)?;
        let partners = self.store.partners()?;
        let now = self.store.clock().now_utc_micros();
        let center = n.center()?;
        let out: Vec<Candidate> = self
            .hits(center, n.radius_m)?
            .into_iter()
            .map(|(hit, c)| candidate(hit, &c, &partners, n.start_us, now))
            .collect();
        // It shows what a registry search shows: audited the same way.
        self.audit(NewAuditEvent {
            case_number: Some(n.case_number.chars().take(64).collect()),
            detail: format!(
                "area request preview within {} m of {:.4},{:.4}: {} cameras",
                n.radius_m,
                center.lat(),
                center.lon(),
                out.len()
            ),
            ..event(&s.username, AuditAction::RegistrySearch, Outcome::Ok)
        })?;
        Ok(out)
    }

    /// Sends a canvass: one footage request per owner for its cameras within the radius (or
    /// those of `only` among them, when the investigator unticked some), each audited like any
    /// request, and an email queued for each owner with an address.
    pub fn send_canvass(
        &self,
        s: &Subject,
        n: &NewCanvass<'_>,
        only: Option<&[u32]>,
    ) -> Result<CanvassRow> {
        let preview = self.preview_canvass(s, n)?;
        let mut by_owner: Vec<(u64, Vec<u32>)> = Vec::new();
        for c in &preview {
            if c.skipped.is_some() || only.is_some_and(|o| !o.contains(&c.hit.camera)) {
                continue;
            }
            let partner = self.camera(c.hit.camera)?.partner;
            match by_owner.iter_mut().find(|(p, _)| *p == partner) {
                // Nearest first: an owner with more cameras than a request may name is asked
                // for its nearest ones.
                Some((_, cams)) if cams.len() < MAX_CAMERAS => cams.push(c.hit.camera),
                Some(_) => {}
                None => by_owner.push((partner, vec![c.hit.camera])),
            }
        }
        if by_owner.is_empty() {
            return Err(ProgramError::Invalid(
                "no camera to ask: none within the radius whose owner can be asked".into(),
            ));
        }
        if by_owner.len() > MAX_OWNERS {
            return Err(ProgramError::Invalid(format!(
                "{} owners is more than one canvass may ask ({MAX_OWNERS}); make the radius smaller",
                by_owner.len()
            )));
        }
        let case_number = text("case_number", n.case_number, true)?;
        let offence = text("offence", n.offence, true)?;
        let reason = text("reason", n.reason, true)?;
        let now = self.store.clock().now_utc_micros();
        let mut owners = Vec::new();
        for (partner, cameras) in by_owner {
            let r = self.store.create_request(RequestRow {
                id: 0,
                investigator: s.username.clone(),
                cameras: cameras.clone(),
                start_us: n.start_us,
                end_us: n.end_us,
                case_number: case_number.clone(),
                offence: offence.clone(),
                reason: reason.clone(),
                status: RequestStatus::Pending,
                decided_by: None,
                decided_us: None,
                decision_note: None,
                created_us: now,
            })?;
            self.audit_request(s, AuditAction::RequestFile, &r, Some(r.reason.clone()))?;
            let notice = self.first_notice(partner, now)?;
            owners.push(CanvassOwner {
                partner,
                request: r.id,
                cameras,
                notice,
                link: None,
                opened_us: None,
                reminder: None,
            });
        }
        let row = self.store.create_canvass(CanvassRow {
            id: 0,
            investigator: s.username.clone(),
            center: n.center()?,
            radius_m: n.radius_m,
            start_us: n.start_us,
            end_us: n.end_us,
            case_number: case_number.clone(),
            offence,
            reason: reason.clone(),
            created_us: now,
            owners,
        })?;
        self.audit(NewAuditEvent {
            range: Some((n.start_us, n.end_us)),
            case_number: Some(case_number),
            reason: Some(reason),
            detail: format!(
                "area request {} within {} m: {} owners, {} cameras",
                row.id,
                row.radius_m,
                row.owners.len(),
                row.owners.iter().map(|o| o.cameras.len()).sum::<usize>()
            ),
            ..event(&s.username, AuditAction::CanvassSend, Outcome::Ok)
        })?;
        Ok(row)
    }

    /// The canvasses `s` may follow (their own; a supervisor's, all), newest first.
    pub fn canvasses(&self, s: &Subject) -> Result<Vec<CanvassRow>> {
        self.check(
            s,
            Action::FileRequest,
            &Resource::Route,
            &NewAuditEvent::default(),
        )?;
        let mut out: Vec<CanvassRow> = self
            .store
            .canvasses()?
            .into_iter()
            .filter(|c| may_follow(s, c))
            .collect();
        out.reverse();
        Ok(out)
    }

    /// How far canvass `id` has got.
    pub fn canvass_progress(&self, s: &Subject, id: u64) -> Result<Progress> {
        self.check(
            s,
            Action::FileRequest,
            &Resource::Route,
            &NewAuditEvent::default(),
        )?;
        let canvass = self.store.canvass(id)?.ok_or(ProgramError::NotFound)?;
        if !may_follow(s, &canvass) {
            return Err(ProgramError::NotFound);
        }
        let links = self.store.links()?;
        let uploads = self.store.uploads()?;
        let mut owners = Vec::new();
        for o in &canvass.owners {
            let r = self
                .store
                .request(o.request)?
                .ok_or(ProgramError::NotFound)?;
            let answering: Vec<&LinkRow> = links
                .iter()
                .filter(|l| l.request_id == Some(o.request))
                .collect();
            let files = uploads
                .iter()
                .filter(|u| {
                    u.received.is_some()
                        && u.deleted.is_none()
                        && answering.iter().any(|l| l.id == u.link)
                })
                .count();
            owners.push(OwnerProgress {
                owner: self.owner_label(o.partner)?,
                request: o.request,
                cameras: o.cameras.clone(),
                status: r.status,
                notice: o.notice.clone(),
                opened: o.opened_us.is_some(),
                files,
            });
        }
        let count = |f: &dyn Fn(&OwnerProgress) -> bool| owners.iter().filter(|o| f(o)).count();
        Ok(Progress {
            notified: count(&|o| matches!(o.notice, Notice::Sent { .. })),
            opened: count(&|o| o.opened),
            declined: count(&|o| o.status == RequestStatus::Denied),
            approved: count(&|o| o.status.grants()),
            submitted: count(&|o| o.files > 0),
            delivery_problems: count(&|o| {
                matches!(
                    o.notice,
                    Notice::Failed { .. }
                        | Notice::Queued {
                            last_error: Some(_),
                            ..
                        }
                )
            }),
            owners,
            canvass,
        })
    }

    /// A link answering a canvass's request was opened: the owner's step is recorded once.
    pub(crate) fn canvass_link_opened(&self, link: &LinkRow) -> Result<()> {
        let Some(request) = link.request_id else {
            return Ok(());
        };
        let _guard = self.canvass_guard()?;
        for mut c in self.store.canvasses()? {
            let Some(o) = c.owners.iter_mut().find(|o| o.request == request) else {
                continue;
            };
            if o.opened_us.is_none() {
                o.opened_us = Some(self.store.clock().now_utc_micros());
                self.store.put_canvass(&c)?;
            }
        }
        Ok(())
    }

    pub(crate) fn canvass_guard(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.canvass
            .lock()
            .map_err(|_| ProgramError::Internal("canvass lock poisoned".into()))
    }

    /// What staff call a camera's owner: its pseudonym, or "agency" for the agency's own.
    pub fn owner_label(&self, partner: u64) -> Result<String> {
        Ok(if partner == AGENCY {
            "agency".into()
        } else {
            self.store
                .partner(partner)?
                .map_or_else(|| format!("P-{partner}"), |p| p.pseudonym)
        })
    }

    fn check_canvass(&self, n: &NewCanvass<'_>) -> Result<()> {
        n.center()?;
        let max = self.settings.max_canvass_radius_m;
        if n.radius_m == 0 || n.radius_m > max {
            return Err(ProgramError::Invalid(format!("radius_m must be 1..={max}")));
        }
        let hours = self.settings.max_request_hours;
        if n.end_us <= n.start_us {
            return Err(ProgramError::Invalid("end must be after start".into()));
        }
        // Footage from the last ten years, not the future (and no arithmetic near i64's ends).
        let now = self.store.clock().now_utc_micros();
        if n.start_us < now.saturating_sub(3650 * 24 * 3_600_000_000)
            || n.end_us > now.saturating_add(3_600_000_000)
        {
            return Err(ProgramError::Invalid(
                "the window must lie in the past ten years".into(),
            ));
        }
        if n.end_us
            .checked_sub(n.start_us)
            .is_none_or(|d| d > i64::from(hours) * 3_600_000_000)
        {
            return Err(ProgramError::Invalid(format!(
                "an area request covers at most {hours} h"
            )));
        }
        Ok(())
    }

    /// The cameras within the radius with their records, nearest first.
    fn hits(&self, center: Point, radius_m: u32) -> Result<Vec<(RegistryHit, CameraInfo)>> {
        let mut out = Vec::new();
        for n in self.store.cameras_near(center, f64::from(radius_m))? {
            // The index and the record are written in one batch; a missing record is a
            // camera removed between the two reads.
            let Some(c) = self.store.camera_info(n.camera)? else {
                continue;
            };
            // A partner who left the program is not shown to investigators any more.
            let owner = if c.partner == AGENCY {
                "agency".to_owned()
            } else {
                match self.store.partner(c.partner)? {
                    Some(p) if p.status != PartnerStatus::Left => p.pseudonym,
                    _ => continue,
                }
            };
            out.push((
                RegistryHit {
                    camera: c.id,
                    name: c.name.clone(),
                    owner,
                    point: n.placed.point,
                    view: n.placed.view,
                    kind: c.kind.map(|k| k.as_str()),
                    sharing: c.sharing,
                    registered: c.source == CameraSource::Registered,
                    distance_m: n.distance_m,
                    covers: n.covers,
                },
                c,
            ));
        }
        Ok(out)
    }
}

/// A canvass is followed by whoever sent it, and by supervisors.
fn may_follow(s: &Subject, c: &CanvassRow) -> bool {
    c.investigator == s.username || authorize(s, Action::GrantExigent, &Resource::Route).allow
}

fn candidate(
    hit: RegistryHit,
    c: &CameraInfo,
    partners: &[PartnerRow],
    start_us: i64,
    now_us: i64,
) -> Candidate {
    let keeps_days = if c.source == CameraSource::Registered {
        c.owner_keeps_days
    } else {
        Some(c.retention_days)
    };
    let in_retention = keeps_days.map(|d| start_us >= now_us - i64::from(d) * 86_400 * 1_000_000);
    let partner_active = partners
        .iter()
        .any(|p| p.id == c.partner && p.status == PartnerStatus::Active);
    let skipped = if c.partner == AGENCY {
        Some("the agency's own camera: no request needed")
    } else if c.sharing == SharingMode::Live {
        Some("shared live: no request needed")
    } else if !partner_active {
        Some("its owner has paused or left the program")
    } else if c.paused {
        Some("paused by its owner")
    } else {
        None
    };
    Candidate {
        hit,
        in_retention,
        skipped,
    }
}
