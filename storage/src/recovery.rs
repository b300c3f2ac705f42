//! Crash recovery on open: totals what the index holds, finds the next ids, seals segments a
//! crash left open (truncating bytes past the last indexed fragment, or dropping rows past a
//! file that power loss shortened), and removes files that never got a fragment indexed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rocksdb::{IteratorMode, WriteBatch};

use crate::Result;
use crate::db::Db;
use crate::index::{
    self, CameraId, SegmentRow, camera_time_key, cf, parse_camera_time_key, parse_u64_key,
};

/// Scans segment rows on open: totals bytes, finds the next ids and (if `recover`) seals
/// segments left open by a crash and removes unindexed files.
pub(crate) fn scan_on_open(db: &Db, recover: bool) -> Result<()> {
    if let Some(item) = db
        .db
        .iterator_cf(db.cf(cf::RUNS)?, IteratorMode::End)
        .next()
    {
        let (k, _) = item?;
        db.next_run
            .store(parse_u64_key(&k).unwrap_or(0) + 1, Ordering::SeqCst);
    }
    let mut total = 0u64;
    let mut max_id = 0u64;
    let mut max_id_per_camera: HashMap<CameraId, u64> = HashMap::new();
    let mut open = Vec::new();
    for item in db.db.iterator_cf(db.cf(cf::SEGMENTS)?, IteratorMode::Start) {
        let (k, v) = item?;
        let Some((camera, start)) = parse_camera_time_key(&k) else {
            continue;
        };
        let row: SegmentRow = match index::decode(cf::SEGMENTS, &k, &v) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "skipping corrupt segment row; run `vms check --repair`");
                continue;
            }
        };
        total += row.size;
        max_id = max_id.max(row.id);
        let m = max_id_per_camera.entry(camera).or_default();
        *m = (*m).max(row.id);
        if !row.closed() {
            open.push((camera, start, row));
        }
    }
    db.total_bytes.store(total, Ordering::Relaxed);
    db.next_segment.store(max_id + 1, Ordering::SeqCst);
    if !recover {
        return Ok(());
    }
    for (camera, start, row) in open {
        seal_after_crash(db, camera, start, row)?;
    }
    // Files created after a camera's last indexed segment never got a fragment committed.
    for camera in camera_ids(db)? {
        let max = max_id_per_camera.get(&camera).copied().unwrap_or(0);
        for id in db.segments.ids_on_disk(camera) {
            if id > max {
                let file = crate::segments::file_name(camera, id);
                tracing::warn!(file = %db.segments.path(&file).display(), "removing segment file with no indexed fragment (crash leftover)");
                let _ = db.segments.remove(&file);
            }
            db.next_segment.fetch_max(id + 1, Ordering::SeqCst);
        }
    }
    Ok(())
}

/// Every camera id the index has assigned.
pub(crate) fn camera_ids(db: &Db) -> Result<Vec<CameraId>> {
    let mut out = Vec::new();
    for item in db.db.iterator_cf(db.cf(cf::CAMERAS)?, IteratorMode::Start) {
        let (k, v) = item?;
        out.push(index::decode::<index::CameraRow>(cf::CAMERAS, &k, &v)?.id);
    }
    Ok(out)
}

/// Seals a segment that was open when the process died: truncates bytes past the last
/// indexed fragment, hashes the rest, and marks it closed.
fn seal_after_crash(db: &Db, camera: CameraId, start: i64, mut row: SegmentRow) -> Result<()> {
    let len = db.segments.len(&row.file).unwrap_or(0);
    if len > row.size {
        tracing::warn!(file = %row.file, extra = len - row.size, "truncating unindexed bytes after crash");
        db.segments.truncate(&row.file, row.size, true)?;
    } else if len < row.size {
        // Only possible after power loss with `sync = "os"`: drop rows past the end.
        tracing::error!(file = %row.file, have = len, indexed = row.size, "segment shorter than its index; dropping fragments past the end");
        drop_fragments_past(db, camera, start, &mut row, len)?;
    }
    row.sha256 = Some(db.segments.hash(&row.file, row.size)?);
    let mut batch = WriteBatch::default();
    db.put_segment(&mut batch, camera, start, &row)?;
    db.db.write(batch)?;
    tracing::info!(file = %row.file, fragments = row.fragments, "sealed segment left open by a crash");
    Ok(())
}

/// Drops the fragment rows of a segment that end past `len` bytes (the file lost them), cuts
/// the file to the last whole fragment, and recounts the segment row (not yet written back).
pub(crate) fn drop_fragments_past(
    db: &Db,
    camera: CameraId,
    seg_start: i64,
    row: &mut SegmentRow,
    len: u64,
) -> Result<()> {
    let frags = db.cf(cf::FRAGMENTS)?;
    let mut keep_size = 0u64;
    let mut keep = (0u32, 0u64, seg_start);
    let mut batch = WriteBatch::default();
    for (t, f) in db.segment_fragment_rows(camera, seg_start, row)? {
        if f.offset + u64::from(f.len) <= len {
            keep_size = keep_size.max(f.offset + u64::from(f.len));
            keep = (keep.0 + 1, keep.1 + u64::from(f.frames), f.end_utc);
        } else {
            batch.delete_cf(frags, camera_time_key(camera, t));
        }
    }
    db.db.write(batch)?;
    let indexed = row.size;
    row.fragments = keep.0;
    row.frames = keep.1;
    row.end_utc = keep.2;
    row.size = if keep_size > 0 {
        keep_size
    } else {
        len.min(row.size)
    };
    // The quota counts what the index holds.
    db.total_bytes
        .fetch_sub(indexed.saturating_sub(row.size), Ordering::Relaxed);
    // Cut the partial fragment too, so the file ends where the index does.
    if db.segments.len(&row.file).is_some() {
        db.segments.truncate(&row.file, row.size, false)?;
    }
    Ok(())
}
