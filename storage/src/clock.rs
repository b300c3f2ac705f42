//! Injected wall-clock time, so retention, holds and drift handling are testable without
//! sleeping (STYLE: "inject time").

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of UTC wall-clock time in microseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_utc_micros(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc_micros(&self) -> i64 {
        system_now_micros()
    }
}

/// Microseconds since the Unix epoch from the system clock (negative before 1970).
pub fn system_now_micros() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_utc_micros: i64) -> Self {
        ManualClock(AtomicI64::new(now_utc_micros))
    }
    pub fn set(&self, now_utc_micros: i64) {
        self.0.store(now_utc_micros, Ordering::SeqCst);
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_utc_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
