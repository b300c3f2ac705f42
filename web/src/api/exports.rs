//! Evidence export over HTTP: `POST /api/exports` starts a job (authorized per camera through
//! the footage policy, audited), `GET /api/exports[/{id}]` reports its progress, and
//! `GET /api/exports/{id}/files/{name}` downloads the package's files. The package itself is
//! built by [`vms_storage::export`]; this module decides who may and on what legal basis.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use vms_storage::export::{ExportSpec, Progress, write_package};
use vms_storage::{ExportRow, ExportStatus, NewAuditEvent};

use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::routes::Caller;
use crate::state::AppState;
use vms_program::audit::{AuditAction, Outcome};
use vms_program::exports::ExportAsk;
use vms_program::policy::{Action, Resource, Subject, authorize};

impl AppState {
    fn export_key(&self) -> ApiResult<Arc<SigningKey>> {
        if let Some(k) = self.exports.key.get() {
            return Ok(k.clone());
        }
        let path = self
            .settings
            .export_key_file
            .clone()
            .unwrap_or_else(|| self.store.root().join("keys/export-ed25519.key"));
        let key = vms_storage::export::load_or_create_signing_key(&path)?;
        Ok(self.exports.key.get_or_init(|| Arc::new(key)).clone())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewExport {
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    reason: String,
    #[serde(default)]
    request_id: Option<u64>,
    /// Submitted files accepted into the case, to include.
    #[serde(default)]
    submissions: Vec<u64>,
}

#[derive(Serialize)]
pub(crate) struct ExportOut {
    id: u64,
    exporter: String,
    cameras: Vec<u32>,
    start_us: i64,
    end_us: i64,
    case_number: String,
    request_id: Option<u64>,
    created_us: i64,
    /// `running`, `done` or `failed`.
    status: &'static str,
    error: Option<String>,
    bytes_done: u64,
    bytes_total: u64,
    manifest_sha256: Option<String>,
    /// Files of the finished package (download from `files/{name}`).
    files: Vec<String>,
    holds: Vec<u64>,
}

fn export_out(st: &AppState, r: &ExportRow) -> ExportOut {
    let progress = st
        .exports
        .running
        .lock()
        .ok()
        .and_then(|m| m.get(&r.id).cloned());
    // The job records its outcome, then leaves the running set: a row read as running just
    // before that whose job is gone now has its outcome stored (not an interruption).
    let reread;
    let r = match (&r.status, &progress) {
        (ExportStatus::Running, None) => match st.store.export(r.id) {
            Ok(Some(now)) => {
                reread = now;
                &reread
            }
            _ => r,
        },
        _ => r,
    };
    let (status, error, manifest_sha256, mut done, mut total) = match &r.status {
        ExportStatus::Running if progress.is_none() => (
            "failed",
            Some("interrupted (the server stopped while exporting)".into()),
            None,
            0,
            0,
        ),
        ExportStatus::Running => ("running", None, None, 0, 0),
        ExportStatus::Done {
            manifest_sha256,
            bytes,
        } => (
            "done",
            None,
            Some(hex::encode(manifest_sha256)),
            *bytes,
            *bytes,
        ),
        ExportStatus::Failed(e) => ("failed", Some(e.clone()), None, 0, 0),
    };
    if let Some(p) = progress {
        done = p.bytes_done.load(Ordering::Relaxed);
        total = p.bytes_total.load(Ordering::Relaxed);
    }
    ExportOut {
        id: r.id,
        exporter: r.exporter.clone(),
        cameras: r.cameras.clone(),
        start_us: r.start_us,
        end_us: r.end_us,
        case_number: r.case_number.clone(),
        request_id: r.request_id,
        created_us: r.created_us,
        status,
        error,
        bytes_done: done,
        bytes_total: total,
        manifest_sha256,
        files: if status == "done" {
            package_files(st, r)
        } else {
            Vec::new()
        },
        holds: r.holds.clone(),
    }
}

/// The package's files: its directory listing, names only.
fn package_files(st: &AppState, r: &ExportRow) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(st.store.root().join(&r.dir))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.ends_with(".partial"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `POST /api/exports`: authorizes every camera for the range (audited), records the export
/// and starts the job. `202 Accepted` with the export's status.
pub(crate) async fn create(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiJson(b): ApiJson<NewExport>,
) -> ApiResult<(StatusCode, Json<ExportOut>)> {
    let out = st
        .blocking(move |st| {
            let ok = st.program.authorize_export(
                &s,
                ExportAsk {
                    cameras: &b.cameras,
                    start_us: b.start_us,
                    end_us: b.end_us,
                    case_number: &b.case_number,
                    reason: &b.reason,
                    request_id: b.request_id,
                    submissions: &b.submissions,
                },
            )?;
            let key = st.export_key()?;
            let row = st.store.create_export(ExportRow {
                id: 0,
                exporter: s.username.clone(),
                cameras: ok.cameras.clone(),
                start_us: b.start_us,
                end_us: b.end_us,
                case_number: b.case_number.trim().to_owned(),
                reason: b.reason.trim().to_owned(),
                request_id: b.request_id,
                created_us: st.store.clock().now_utc_micros(),
                status: ExportStatus::Running,
                dir: String::new(),
                holds: Vec::new(),
            })?;
            let spec = ExportSpec {
                id: row.id,
                items: ok.items,
                start_us: b.start_us,
                end_us: b.end_us,
                case_number: row.case_number.clone(),
                request_id: b.request_id,
                legal_basis: ok.legal_basis,
                purpose: row.reason.clone(),
                exporter: s.username.clone(),
                approver: ok.approver,
                tool_name: "vms".into(),
                tool_version: env!("CARGO_PKG_VERSION").into(),
                submissions: ok.submissions,
            };
            let progress = Arc::new(Progress::default());
            if let Ok(mut m) = st.exports.running.lock() {
                m.insert(row.id, progress.clone());
            }
            start_job(st.clone(), row.clone(), spec, key, progress, s.clone())?;
            Ok(export_out(st, &row))
        })
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)))
}

/// Runs the export on its own thread (it reads and writes gigabytes) and records the outcome.
fn start_job(
    st: AppState,
    mut row: ExportRow,
    spec: ExportSpec,
    key: Arc<SigningKey>,
    progress: Arc<Progress>,
    s: Subject,
) -> ApiResult<()> {
    let span = tracing::info_span!("export", id = row.id, user = %s.username);
    std::thread::Builder::new()
        .name(format!("export-{}", row.id))
        .spawn(move || {
            let _g = span.enter();
            let dir: PathBuf = st.store.root().join(&row.dir);
            // write_package refuses a directory that exists; only one it made is removed.
            let existed = dir.exists();
            let result = write_package(&st.store, &spec, &key, &dir, &progress);
            let (action, outcome, detail) = match &result {
                Ok(sum) => {
                    row.status = ExportStatus::Done {
                        manifest_sha256: sum.manifest_sha256,
                        bytes: sum.bytes,
                    };
                    row.holds = sum.holds.clone();
                    tracing::info!(bytes = sum.bytes, "export done");
                    (
                        AuditAction::VideoExportDone,
                        Outcome::Ok,
                        format!("manifest sha256 {}", hex::encode(sum.manifest_sha256)),
                    )
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed");
                    row.status = ExportStatus::Failed(e.to_string());
                    // Never leave a half-written package that could be mistaken for evidence.
                    if !existed {
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    let action = if matches!(e, vms_storage::Error::Fixity { .. }) {
                        AuditAction::VideoExportFixityFailed
                    } else {
                        AuditAction::VideoExportFailed
                    };
                    (action, Outcome::Fail, e.to_string())
                }
            };
            // One event per camera; one for the case when only submitted files were exported.
            let cameras: Vec<Option<u32>> = if row.cameras.is_empty() {
                vec![None]
            } else {
                row.cameras.iter().copied().map(Some).collect()
            };
            for camera in cameras {
                let r = st.store.audit(NewAuditEvent {
                    actor: s.username.clone(),
                    action: action.into(),
                    outcome: outcome.into(),
                    camera,
                    range: Some((row.start_us, row.end_us)),
                    case_number: Some(row.case_number.clone()),
                    reason: Some(row.reason.clone()),
                    request: row.request_id,
                    detail: format!("export {}: {detail}", row.id),
                    ..Default::default()
                });
                if let Err(e) = r {
                    tracing::error!(error = %e, "audit write failed");
                }
            }
            // The outcome becomes visible only once the audit trail holds it.
            if let Err(e) = st.store.put_export(&row) {
                tracing::error!(error = %e, "recording the export's outcome failed");
            }
            if let Ok(mut m) = st.exports.running.lock() {
                m.remove(&row.id);
            }
        })
        .map_err(|e| ApiError::Internal(format!("starting the export thread: {e}")))?;
    Ok(())
}

/// Looks up an export the caller may see (own, or any for a supervisor); denials audited.
fn visible_export(st: &AppState, s: &Subject, id: u64) -> ApiResult<ExportRow> {
    let row = st.store.export(id)?.ok_or(ApiError::NotFound)?;
    let d = authorize(
        s,
        Action::Export,
        &Resource::Export {
            exporter: &row.exporter,
        },
    );
    if !d.allow {
        st.program.audit_denial(
            &s.username,
            AuditAction::VideoExportRead,
            d.rule,
            String::new(),
        );
        return Err(ApiError::Forbidden { rule: d.rule });
    }
    Ok(row)
}

/// `GET /api/exports`: the caller's exports (a supervisor's: all), newest first.
pub(crate) async fn list(
    State(st): State<AppState>,
    Caller(s): Caller,
) -> ApiResult<Json<Vec<ExportOut>>> {
    st.blocking(move |st| {
        let mut out: Vec<ExportOut> = st
            .store
            .exports()?
            .iter()
            .filter(|r| {
                authorize(
                    &s,
                    Action::Export,
                    &Resource::Export {
                        exporter: &r.exporter,
                    },
                )
                .allow
            })
            .map(|r| export_out(st, r))
            .collect();
        out.reverse();
        Ok(Json(out))
    })
    .await
}

/// `GET /api/exports/{id}`: status and progress.
pub(crate) async fn get(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<ExportOut>> {
    st.blocking(move |st| {
        let row = visible_export(st, &s, id)?;
        Ok(Json(export_out(st, &row)))
    })
    .await
}

/// `GET /api/exports/{id}/files/{name}`: one file of a finished package, audited.
pub(crate) async fn file(
    State(st): State<AppState>,
    Caller(s): Caller,
    ApiPath((id, name)): ApiPath<(u64, String)>,
) -> ApiResult<Response> {
    let (file, len) = st
        .blocking(move |st| {
            let row = visible_export(st, &s, id)?;
            if !matches!(row.status, ExportStatus::Done { .. }) {
                return Err(ApiError::Conflict("the export has not finished".into()));
            }
            // Only names the package lists: never a path.
            if !package_files(st, &row).contains(&name) {
                return Err(ApiError::NotFound);
            }
            let path = st.store.root().join(&row.dir).join(&name);
            let f = std::fs::File::open(&path).map_err(|e| ApiError::Internal(e.to_string()))?;
            let len = f
                .metadata()
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .len();
            for camera in &row.cameras {
                st.program.audit(NewAuditEvent {
                    actor: s.username.clone(),
                    action: AuditAction::VideoExportDownload.into(),
                    outcome: Outcome::Allow.into(),
                    rule: "export-visible".into(),
                    camera: Some(*camera),
                    range: Some((row.start_us, row.end_us)),
                    case_number: Some(row.case_number.clone()),
                    request: row.request_id,
                    detail: format!("export {id}: {name}"),
                    ..Default::default()
                })?;
            }
            Ok(((f, name), len))
        })
        .await?;
    let (f, name) = file;
    let content_type = if name.ends_with(".mp4") {
        "video/mp4"
    } else {
        "application/json"
    };
    let mut resp = (StatusCode::OK, super::playback::stream_file(f, 0..len)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
