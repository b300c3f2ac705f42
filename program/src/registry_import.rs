//! Importing an existing camera registry (an administrator moving a program's records in):
//! CSV with a header row, or a GeoJSON FeatureCollection of points. Each row is one registered
//! camera and its owner; good rows are kept, each bad row is reported with its number and what
//! is wrong, and importing the same file again changes nothing (owners are matched by email
//! address, cameras by name per owner, and a camera whose place changed is moved).
//!
//! Imported owners have no portal account and have not accepted this program's terms: they are
//! asked for footage like any owner (portal once they sign up, email), and nothing else.

use std::collections::HashMap;

use serde::Deserialize;
use vms_storage::{
    CameraInfo, CameraSource, NewAuditEvent, PartnerRow, PartnerStatus, SharingMode,
};

use crate::audit::{AuditAction, Outcome, event};
use crate::cameras::{DEFAULT_RETENTION_DAYS, Placement};
use crate::policy::{Action, Resource, Subject};
use crate::text::text;
use crate::{Program, ProgramError, Result};

/// Most rows one import may hold.
pub const MAX_ROWS: usize = 20_000;

/// One row as the file gives it (CSV columns or GeoJSON properties, by these names).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    owner_email: String,
    #[serde(default)]
    owner_name: String,
    #[serde(default)]
    owner_phone: String,
    #[serde(default)]
    owner_address: String,
    camera_name: String,
    lat: Option<f64>,
    lon: Option<f64>,
    #[serde(default)]
    address: String,
    bearing_deg: Option<f32>,
    fov_deg: Option<f32>,
    range_m: Option<f32>,
    kind: Option<String>,
    owner_keeps_days: Option<u32>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: usize,
    pub owners_created: usize,
    pub cameras_created: usize,
    pub cameras_moved: usize,
    pub unchanged: usize,
    /// `(row number, what is wrong)`: a CSV's line (the header is line 1); features count
    /// from 1.
    pub errors: Vec<(usize, String)>,
}

/// Reads the rows of a CSV or GeoJSON file (told apart by its first character): each row, or
/// the reason it cannot be read.
fn parse(data: &[u8]) -> Result<Vec<(usize, std::result::Result<Row, String>)>> {
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        return parse_geojson(data);
    }
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers = r
        .headers()
        .map_err(|e| ProgramError::Invalid(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let mut out = Vec::new();
    let mut last_line = 1;
    for (i, rec) in r.records().enumerate() {
        if i >= MAX_ROWS {
            return Err(ProgramError::TooLarge(format!(
                "an import holds at most {MAX_ROWS} rows"
            )));
        }
        // The line the record starts on, as a text editor shows it (blank lines and quoted
        // line breaks counted), or the error's own position.
        let (line, row) = match rec {
            Ok(rec) => (
                rec.position().map_or(last_line + 1, |p| p.line()),
                rec.deserialize::<Row>(Some(&headers))
                    .map_err(|e| csv_error(&e)),
            ),
            Err(e) => (
                e.position().map_or(last_line + 1, |p| p.line()),
                Err(csv_error(&e)),
            ),
        };
        last_line = line;
        out.push((usize::try_from(line).unwrap_or(usize::MAX), row));
    }
    if out.is_empty() {
        return Err(ProgramError::Invalid(
            "the file holds no rows (a CSV needs a header row and a row per camera)".into(),
        ));
    }
    Ok(out)
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(f) => format!("column {}: {}", f + 1, err.kind()),
            None => err.kind().to_string(),
        },
        _ => e.to_string(),
    }
}

#[derive(Deserialize)]
struct FeatureCollection {
    #[serde(rename = "type")]
    kind: String,
    features: Vec<serde_json::Value>,
}

fn parse_geojson(data: &[u8]) -> Result<Vec<(usize, std::result::Result<Row, String>)>> {
    let fc: FeatureCollection = serde_json::from_slice(data)
        .map_err(|e| ProgramError::Invalid(format!("not a GeoJSON FeatureCollection: {e}")))?;
    if fc.kind != "FeatureCollection" {
        return Err(ProgramError::Invalid(
            "GeoJSON must be a FeatureCollection".into(),
        ));
    }
    if fc.features.len() > MAX_ROWS {
        return Err(ProgramError::TooLarge(format!(
            "an import holds at most {MAX_ROWS} features"
        )));
    }
    Ok(fc
        .features
        .into_iter()
        .enumerate()
        .map(|(i, f)| (i + 1, feature(f)))
        .collect())
}

/// One GeoJSON point feature as a row: the position from its geometry (`[lon, lat]`).
fn feature(f: serde_json::Value) -> std::result::Result<Row, String> {
    let coords = f
        .pointer("/geometry/coordinates")
        .and_then(|c| c.as_array())
        .filter(|_| f.pointer("/geometry/type").and_then(|t| t.as_str()) == Some("Point"))
        .ok_or("the geometry must be a Point")?;
    let (Some(lon), Some(lat)) = (
        coords.first().and_then(|v| v.as_f64()),
        coords.get(1).and_then(|v| v.as_f64()),
    ) else {
        return Err("the point's coordinates must be [longitude, latitude] numbers".into());
    };
    let props = f
        .get("properties")
        .cloned()
        .unwrap_or(serde_json::Value::Object(Default::default()));
    let mut row: Row = serde_json::from_value(props).map_err(|e| e.to_string())?;
    row.lat = Some(lat);
    row.lon = Some(lon);
    Ok(row)
}

impl Program {
    /// Imports a registry file (administrators; audited with its counts).
    pub fn import_registry(&self, s: &Subject, data: &[u8]) -> Result<ImportReport> {
        self.check(
            s,
            Action::ManagePartners,
            &Resource::Route,
            &NewAuditEvent::default(),
        )?;
        let rows = parse(data)?;
        let mut report = ImportReport {
            rows: rows.len(),
            ..Default::default()
        };
        // Owners by email address, lower-cased.
        let mut owners: HashMap<String, u64> = self
            .store
            .partners()?
            .into_iter()
            .filter(|p| !p.contact_email.trim().is_empty())
            .map(|p| (p.contact_email.trim().to_lowercase(), p.id))
            .collect();
        for (n, row) in rows {
            match row.and_then(|r| {
                self.import_row(&r, &mut owners, &mut report)
                    .map_err(|e| e.to_string())
            }) {
                Ok(()) => {}
                Err(e) => report.errors.push((n, e)),
            }
        }
        self.audit(NewAuditEvent {
            detail: format!(
                "registry import: {} rows, {} owners and {} cameras created, {} moved, {} unchanged, {} rows refused",
                report.rows,
                report.owners_created,
                report.cameras_created,
                report.cameras_moved,
                report.unchanged,
                report.errors.len()
            ),
            ..event(&s.username, AuditAction::RegistryImport, Outcome::Ok)
        })?;
        Ok(report)
    }

    fn import_row(
        &self,
        r: &Row,
        owners: &mut HashMap<String, u64>,
        report: &mut ImportReport,
    ) -> Result<()> {
        let email = text("owner_email", &r.owner_email, true)?.to_lowercase();
        if !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(ProgramError::Invalid(format!(
                "owner_email {email:?} is not an email address"
            )));
        }
        let name = text("camera_name", &r.camera_name, true)?;
        let place = Placement {
            address: &r.address,
            lat: r.lat,
            lon: r.lon,
            bearing_deg: r.bearing_deg,
            fov_deg: r.fov_deg,
            range_m: r.range_m,
            kind: r.kind.as_deref().filter(|k| !k.is_empty()),
            owner_keeps_days: r.owner_keeps_days,
        }
        .check()?;
        if place.placed.is_none() {
            return Err(ProgramError::Invalid("lat and lon are required".into()));
        }
        let partner = match owners.get(&email) {
            Some(id) => *id,
            None => {
                let now = self.store.clock().now_utc_micros();
                let p = self.store.create_partner(PartnerRow {
                    id: 0,
                    pseudonym: String::new(),
                    contact_name: text("owner_name", &r.owner_name, false)?,
                    contact_email: email.clone(),
                    contact_phone: text("owner_phone", &r.owner_phone, false)?,
                    address: text("owner_address", &r.owner_address, false)?,
                    terms_version: None,
                    terms_accepted_us: None,
                    status: PartnerStatus::Active,
                    created_us: now,
                })?;
                owners.insert(email, p.id);
                report.owners_created += 1;
                p.id
            }
        };
        match self.store.camera_named(partner, &name)? {
            Some(mut c) => {
                if c.source != CameraSource::Registered {
                    return Err(ProgramError::Invalid(format!(
                        "the owner's camera {name:?} records video; it is not changed by an import"
                    )));
                }
                if (&c.address, &c.placed, &c.kind, &c.owner_keeps_days)
                    == (
                        &place.address,
                        &place.placed,
                        &place.kind,
                        &place.owner_keeps_days,
                    )
                {
                    report.unchanged += 1;
                } else {
                    c.address = place.address;
                    c.placed = place.placed;
                    c.kind = place.kind;
                    c.owner_keeps_days = place.owner_keeps_days;
                    self.store.put_camera_info(&c)?;
                    report.cameras_moved += 1;
                }
            }
            None => {
                self.store.enroll_camera(CameraInfo {
                    id: 0,
                    name,
                    partner,
                    source: CameraSource::Registered,
                    credentials: None,
                    sharing: SharingMode::Registry,
                    retention_days: DEFAULT_RETENTION_DAYS,
                    address: place.address,
                    placed: place.placed,
                    kind: place.kind,
                    owner_keeps_days: place.owner_keeps_days,
                    paused: false,
                    masks: vec![],
                    created_us: self.store.clock().now_utc_micros(),
                })?;
                report.cameras_created += 1;
            }
        }
        Ok(())
    }
}
