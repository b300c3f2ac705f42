//! What happens to a submitted file after its last byte arrived, and to submissions over time.
//!
//! A received file is identified by its content (`vms_media::identify`); a ZIP archive is
//! listed and its entries extracted within bounds and identified (`vms_media::archive`); a
//! file a browser cannot play gets a derived working copy (`vms_media::make_working_copy`), one conversion at a time
//! so that recording keeps its CPU. Progress is kept here for the case page. Every hour (and at
//! start) retention of submissions runs and files a restart left unexamined are examined.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vms_storage::intake::UploadRow;

use crate::intake::Stage;
use crate::state::AppState;

/// How often retention of submissions runs.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// Whether `up` still needs examining: not identified yet, or a video a browser cannot play
/// without a working copy (and none failed before).
pub(crate) fn needs_examining(st: &AppState, up: &UploadRow) -> bool {
    if up.received.is_none() || up.deleted.is_some() {
        return false;
    }
    match &up.identified {
        None => true,
        // An archive whose listing a stop interrupted.
        Some(i) if i.format == "zip" && up.archive.is_none() => true,
        Some(i) => needs_copy(up, i) && !st.examinations.has_failed(up.id),
    }
}

fn needs_copy(up: &UploadRow, i: &vms_media::Identified) -> bool {
    !i.browser_playable && i.video_codec.is_some() && up.working_copy.is_none()
}

/// Examines received file `id` in the background (at most one examination per file).
pub(crate) fn examine_later(st: &AppState, id: u64) {
    if !st.examinations.begin(id) {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        examine(&st, id).await;
        st.examinations.end(id);
    });
}

#[tracing::instrument(skip(st))]
async fn examine(st: &AppState, id: u64) {
    let Ok(Some(mut row)) = st.store.upload(id) else {
        return;
    };
    let Some(path) = st.store.original_path(&row) else {
        return;
    };
    let Ok(probe_slot) = st.examinations.probe().await else {
        return;
    };
    if row.archive.is_none() && vms_media::archive::is_zip(&path) {
        if let Err(e) = unpack(st, id, path.clone()).await {
            tracing::error!(error = %e, "could not record what an archive holds");
        }
        return;
    }
    if row.identified.is_none() {
        match vms_media::identify(&path, vms_media::ProbeLimits::default()).await {
            Ok(what) => match st
                .blocking(move |st| Ok(st.store.set_identified(id, what)?))
                .await
            {
                Ok(r) => row = r,
                Err(e) => {
                    tracing::error!(error = %e, "could not record what a file is");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "a submitted file was not identified");
                return;
            }
        }
    }
    drop(probe_slot);
    let Some(identified) = row.identified.clone() else {
        return;
    };
    if !needs_copy(&row, &identified) || st.examinations.has_failed(id) {
        return;
    }
    st.examinations.set(id, Stage::Queued);
    let Ok(_one_at_a_time) = st.examinations.conversion().await else {
        return;
    };
    st.examinations.set(id, Stage::Converting { percent: 0 });
    let scratch = match st.store.working_copy_scratch(id) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "no place for a working copy");
            return;
        }
    };
    let duration_ms = identified.duration_ms.unwrap_or(0);
    let ex = st.examinations.clone();
    let made = vms_media::make_working_copy(
        &path,
        &scratch,
        vms_media::TranscodeLimits::default(),
        move |done_ms| {
            if let Some(p) = done_ms.saturating_mul(100).checked_div(duration_ms) {
                let percent = p.min(99) as u8;
                ex.set(id, Stage::Converting { percent });
            }
        },
    )
    .await;
    let r = match made {
        Ok(tool) => st
            .blocking(move |st| Ok(st.program.record_working_copy(id, &scratch, tool)?))
            .await
            .map(|_| ()),
        Err(e) => {
            tracing::warn!(error = %e, "no working copy could be made");
            st.examinations.fail(id);
            let why = e.to_string();
            st.blocking(move |st| Ok(st.program.working_copy_failed(&row, &why)?))
                .await
        }
    };
    if let Err(e) = r {
        tracing::error!(error = %e, "could not record a working copy");
    }
}

/// Lists and extracts a received ZIP archive within bounds (on the blocking pool), records
/// it, then identifies each extracted entry by its content.
async fn unpack(
    st: &AppState,
    id: u64,
    path: std::path::PathBuf,
) -> Result<UploadRow, crate::error::ApiError> {
    use vms_storage::intake::{Archive, ArchiveEntry};
    let limits = vms_media::archive::ArchiveLimits {
        max_total: st.settings.program.submissions.bytes_per_file,
        ..vms_media::archive::ArchiveLimits::default()
    };
    let row = st
        .blocking(move |st| {
            let archive = match vms_media::archive::list(&path, limits) {
                Err(e) => Archive {
                    refused: Some(e.to_string()),
                    entries: Vec::new(),
                },
                Ok(listed) => {
                    let mut entries = Vec::with_capacity(listed.len());
                    for mut entry in listed {
                        let mut sha256 = None;
                        if entry.skipped.is_none() {
                            let scratch = st.store.archive_scratch(id, entry.index)?;
                            match vms_media::archive::extract(
                                &path,
                                entry.index,
                                entry.size,
                                &scratch,
                            ) {
                                Ok((_, h)) => sha256 = Some(h),
                                Err(e) => entry.skipped = Some(e.to_string()),
                            }
                        }
                        entries.push(ArchiveEntry {
                            entry,
                            file: None,
                            sha256,
                            identified: None,
                        });
                    }
                    Archive {
                        refused: None,
                        entries,
                    }
                }
            };
            let summary = match &archive.refused {
                Some(why) => format!("ZIP archive, not extracted: {why}"),
                None => format!(
                    "ZIP archive of {} entries, {} extracted",
                    archive.entries.len(),
                    archive
                        .entries
                        .iter()
                        .filter(|e| e.sha256.is_some())
                        .count()
                ),
            };
            st.store.set_identified(
                id,
                vms_media::Identified {
                    format: "zip".into(),
                    summary,
                    ..vms_media::Identified::default()
                },
            )?;
            Ok(st.program.record_archive(id, archive)?)
        })
        .await?;
    let entries: Vec<u32> = row
        .archive
        .iter()
        .flat_map(|a| a.entries.iter())
        .filter(|e| e.file.is_some())
        .map(|e| e.entry.index)
        .collect();
    for index in entries {
        let Some(p) = st.store.entry_path(&row, index) else {
            continue;
        };
        match vms_media::identify(&p, vms_media::ProbeLimits::default()).await {
            Ok(what) => {
                st.blocking(move |st| Ok(st.store.set_entry_identified(id, index, what)?))
                    .await?;
            }
            Err(e) => tracing::warn!(index, error = %e, "an archive entry was not identified"),
        }
    }
    Ok(row)
}

/// Every hour until `stop`: retention of submissions, and examination of received files that
/// were not examined (the process stopped first).
pub(crate) async fn keep_in_order(st: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match st.blocking(|st| Ok(st.program.sweep_submissions()?)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "submission retention deleted files"),
            Err(e) => tracing::error!(error = %e, "submission retention failed"),
        }
        match st.store.uploads() {
            Ok(ups) => {
                for up in ups.iter().filter(|u| needs_examining(&st, u)) {
                    examine_later(&st, up.id);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not list submitted files"),
        }
    }
}
