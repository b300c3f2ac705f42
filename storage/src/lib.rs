//! Recording storage: segment files made of fragmented-MP4 fragments, the RocksDB index that
//! describes them, crash recovery, retention with legal holds, and the reader API that playback
//! and export build on.
//!
//! Crash ordering, the invariant everything here keeps: a fragment's bytes are appended and
//! (by default) `fdatasync`ed *before* its index rows are committed in one `WriteBatch`. The
//! index therefore never points at bytes that are not on disk; bytes past the last indexed
//! fragment are crash leftovers that [`Store::open`] truncates.

pub mod audit;
pub mod canvass;
mod check;
pub mod clock;
pub mod codec;
mod db;
pub mod export;
pub mod fmp4;
pub mod geo;
pub mod index;
pub mod intake;
pub mod mp4read;
mod read;
mod recorder;
mod recovery;
pub mod registry;
pub mod reorder;
mod retention;
mod schema;
mod sealed;
mod segments;
mod store;
pub mod timeline;
pub mod vmp4;
mod writer;

pub use audit::{AuditEvent, AuditFilter, AuditVerify, NewAuditEvent};
pub use check::{CheckReport, Problem};
pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{StoreOptions, SyncPolicy};
pub use fmp4::TrackParams;
pub use index::{CameraId, FragmentRow, HoldRow, RunRow, SegmentRow};
pub use read::{FragmentRef, Span};
pub use recorder::{RecFrame, Recorder, RecorderOptions, RecorderStats};
pub use registry::{
    AGENCY, CameraInfo, CameraKind, CameraSource, ExportRow, ExportStatus, Mask, PartnerRow,
    PartnerStatus, RequestRow, RequestStatus, Role, SessionRow, SharingMode, TermsRow, TokenRow,
    UserRow, valid_username,
};
pub use retention::{RetentionPolicy, RetentionReport};
pub use sealed::SecretBox;
pub use store::Store;

/// Errors from the storage layer. Each carries what is needed to find the bad file or row.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("index (RocksDB) error: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt index row in {cf} at key {key}: {why}")]
    Corrupt {
        cf: &'static str,
        key: String,
        why: String,
    },
    #[error("index schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("bad MP4 data in {path} at offset {offset}: {source}")]
    Mp4 {
        path: String,
        offset: u64,
        #[source]
        source: fmp4::BoxError,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error(
        "fixity check failed: {file} has SHA-256 {found}, but {expected} was recorded when it was sealed"
    )]
    Fixity {
        file: String,
        expected: String,
        found: String,
    },
    #[error("storage is shutting down")]
    ShuttingDown,
}

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
