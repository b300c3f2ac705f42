//! Retention: video past each camera's maximum age, then the oldest video while the store is
//! over its quota, is deleted — never what a legal hold covers, never an open segment — and
//! every deletion is logged and recorded in the `deletions` column family. Holds live here too.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::index::{
    self, CameraId, DeletionRow, HoldRow, SegmentRow, camera_time_key, cf, parse_camera_time_key,
    u64_key,
};
use crate::store::Store;
use crate::{Error, Result};

/// Retention settings, applied by [`Store::enforce_retention`].
#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    pub default_max_age_secs: i64,
    pub max_age_secs: HashMap<CameraId, i64>,
    /// Delete oldest video once the store holds more than this…
    pub quota_bytes: Option<u64>,
    /// …until it holds at most this.
    pub low_watermark_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// The low watermark when none is configured: 90 % of the quota, so quota deletion frees a
    /// margin at once instead of deleting a segment at a time at the edge.
    pub fn default_low_watermark(quota_bytes: u64) -> u64 {
        quota_bytes / 10 * 9
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub deleted_segments: u64,
    pub deleted_bytes: u64,
    /// Segments that were due but kept because a hold covers them.
    pub held_segments: u64,
    /// True when the quota could not be met (everything left is held or still open).
    pub over_quota: bool,
}

impl Store {
    /// Places a hold: retention will not delete video of `camera` overlapping `[start, end)`.
    /// Ids are allocated under a lock with the insert, so concurrent holds never share one.
    pub fn add_hold(&self, camera: CameraId, start: i64, end: i64, reason: &str) -> Result<u64> {
        if end <= start {
            return Err(Error::Invalid("hold end must be after start".into()));
        }
        let created_utc = self.db.now_us();
        let mut id = 0;
        self.db.insert_next(cf::HOLDS, |next| {
            id = next;
            HoldRow {
                camera,
                start_utc: start,
                end_utc: end,
                reason: reason.to_owned(),
                created_utc,
            }
        })?;
        tracing::info!(hold = id, camera, start, end, reason, "hold placed");
        Ok(id)
    }

    /// Lifts a hold and returns what it covered (for the audit trail).
    pub fn remove_hold(&self, id: u64) -> Result<HoldRow> {
        let Some(row) = self.db.get_row::<HoldRow>(cf::HOLDS, &u64_key(id))? else {
            return Err(Error::NotFound(format!("hold {id}")));
        };
        self.db.delete_row(cf::HOLDS, &u64_key(id))?;
        tracing::info!(hold = id, camera = row.camera, "hold lifted");
        Ok(row)
    }

    pub fn holds(&self) -> Result<Vec<(u64, HoldRow)>> {
        self.db.all_rows_with_ids(cf::HOLDS)
    }

    /// The retention log: every segment deletion, oldest first.
    pub fn deletions(&self) -> Result<Vec<DeletionRow>> {
        self.db.all_rows(cf::DELETIONS)
    }

    /// Oldest closed segments of each camera, in time order, until one that must stay.
    fn oldest_segments(&self, camera: CameraId, limit: usize) -> Result<Vec<(i64, SegmentRow)>> {
        let h = self.db.cf(cf::SEGMENTS)?;
        let from = camera_time_key(camera, i64::MIN);
        let mut out = Vec::new();
        for item in self
            .db
            .db
            .iterator_cf(h, IteratorMode::From(&from, Direction::Forward))
        {
            let (k, v) = item?;
            match parse_camera_time_key(&k) {
                Some((c, t)) if c == camera => {
                    out.push((t, index::decode::<SegmentRow>(cf::SEGMENTS, &k, &v)?));
                }
                _ => break,
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn delete_segment(
        &self,
        camera: CameraId,
        start: i64,
        row: &SegmentRow,
        reason: &str,
    ) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.db.cf(cf::FRAGMENTS)?,
            camera_time_key(camera, start),
            camera_time_key(camera, row.end_utc),
        );
        batch.delete_cf(self.db.cf(cf::SEGMENTS)?, camera_time_key(camera, start));
        batch.delete_cf(self.db.cf(cf::LAYOUTS)?, camera_time_key(camera, start));
        let now = self.db.opts.clock.now_utc_micros();
        batch.put_cf(
            self.db.cf(cf::DELETIONS)?,
            index::deletion_key(now, camera, start),
            index::encode(&DeletionRow {
                camera,
                segment_start: start,
                segment_end: row.end_utc,
                bytes: row.size,
                reason: reason.to_owned(),
            }),
        );
        // Index first: a crash between the two leaves an orphan file, never a dangling row.
        self.db.db.write(batch)?;
        self.db.segments.remove(&row.file)?;
        self.db
            .total_bytes
            .fetch_sub(row.size.min(self.total_bytes()), Ordering::Relaxed);
        tracing::info!(camera, start, end = row.end_utc, bytes = row.size, file = %row.file, reason, "segment deleted");
        Ok(())
    }

    /// Deletes video past each camera's maximum age, then oldest video while over the quota,
    /// never touching held ranges or open segments. Every deletion is logged and recorded.
    pub fn enforce_retention(&self, policy: &RetentionPolicy) -> Result<RetentionReport> {
        let now = self.db.opts.clock.now_utc_micros();
        let holds = self.holds()?;
        let held = |camera: CameraId, row: &SegmentRow, start: i64| {
            holds
                .iter()
                .any(|(_, h)| h.camera == camera && h.start_utc < row.end_utc && start < h.end_utc)
        };
        let mut report = RetentionReport::default();
        let cameras = self.cameras()?;
        // By age.
        for (_, camera) in &cameras {
            let max_age = policy
                .max_age_secs
                .get(camera)
                .copied()
                .unwrap_or(policy.default_max_age_secs);
            let cutoff = now.saturating_sub(max_age.saturating_mul(1_000_000));
            loop {
                let batch = self.oldest_segments(*camera, 256)?;
                let mut deleted_any = false;
                let mut done = batch.len() < 256;
                for (start, row) in &batch {
                    if row.end_utc > cutoff || !row.closed() {
                        done = true;
                        break;
                    }
                    if held(*camera, row, *start) {
                        report.held_segments += 1;
                        continue;
                    }
                    self.delete_segment(*camera, *start, row, "max age")?;
                    report.deleted_segments += 1;
                    report.deleted_bytes += row.size;
                    deleted_any = true;
                }
                if done || !deleted_any {
                    break;
                }
            }
        }
        // By quota: repeatedly delete the globally oldest deletable segment.
        if let Some(quota) = policy.quota_bytes
            && self.total_bytes() > quota
        {
            let target = policy.low_watermark_bytes.unwrap_or(quota).min(quota);
            self.delete_oldest_until(target, &cameras, &held, &mut report)?;
            report.over_quota = self.total_bytes() > quota;
            if report.over_quota {
                tracing::warn!(
                    total = self.total_bytes(),
                    quota,
                    "over disk quota; remaining video is held or still being written"
                );
            }
        }
        Ok(report)
    }

    /// Deletes the globally oldest deletable segments until the store is at most `target`
    /// bytes: a k-way merge over the cameras' oldest segments, a page at a time, so memory
    /// stays bounded however many segments the store holds.
    fn delete_oldest_until(
        &self,
        target: u64,
        cameras: &[(String, CameraId)],
        held: &dyn Fn(CameraId, &SegmentRow, i64) -> bool,
        report: &mut RetentionReport,
    ) -> Result<()> {
        use std::cmp::Reverse;
        use std::collections::{BinaryHeap, VecDeque};
        const PAGE: usize = 64;
        // Per camera: a page of its oldest segments, and whether more may follow.
        type Pages = HashMap<CameraId, (VecDeque<(i64, SegmentRow)>, bool)>;
        let mut pages: Pages = HashMap::new();
        let mut heap = BinaryHeap::new();
        let mut skipped: HashMap<CameraId, usize> = HashMap::new();
        let mut refill = |camera: CameraId,
                          pages: &mut Pages,
                          heap: &mut BinaryHeap<Reverse<(i64, CameraId)>>,
                          report: &mut RetentionReport|
         -> Result<()> {
            let skip = skipped.entry(camera).or_default();
            let rows = self.oldest_segments(camera, *skip + PAGE)?;
            let more = rows.len() == *skip + PAGE;
            let mut page = VecDeque::new();
            for (start, row) in rows.into_iter().skip(*skip) {
                if !row.closed() || held(camera, &row, start) {
                    // Kept: skipped on later pages too.
                    *skip += 1;
                    if row.closed() {
                        report.held_segments += 1;
                    }
                    continue;
                }
                page.push_back((start, row));
            }
            if let Some((start, _)) = page.front() {
                heap.push(Reverse((*start, camera)));
            }
            pages.insert(camera, (page, more));
            Ok(())
        };
        for (_, camera) in cameras {
            refill(*camera, &mut pages, &mut heap, report)?;
        }
        while self.total_bytes() > target {
            let Some(Reverse((_, camera))) = heap.pop() else {
                break;
            };
            let Some((page, more)) = pages.get_mut(&camera) else {
                continue;
            };
            let Some((start, row)) = page.pop_front() else {
                continue;
            };
            self.delete_segment(camera, start, &row, "disk quota")?;
            report.deleted_segments += 1;
            report.deleted_bytes += row.size;
            match page.front() {
                Some((next, _)) => heap.push(Reverse((*next, camera))),
                None if *more => refill(camera, &mut pages, &mut heap, report)?,
                None => {}
            }
        }
        Ok(())
    }
}
