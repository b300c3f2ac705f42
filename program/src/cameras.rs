//! Which partner cameras the recorder follows, and how long their video is kept: decided by
//! the partner's terms, never by the recorder.

use vms_storage::{CameraInfo, CameraSource, PartnerRow, PartnerStatus, SharingMode};

/// Whether an enrolled camera is recorded: shared beyond the registry, not paused, its partner
/// active. Config-file cameras are the agency's own and recorded from the config file instead.
pub fn is_recorded(c: &CameraInfo, partner: Option<&PartnerRow>) -> bool {
    c.source != CameraSource::ConfigFile
        && c.sharing != SharingMode::Registry
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
