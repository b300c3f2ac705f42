//! Admission control for password checks (issue 22 F11). One Argon2id check costs ~19 MiB and
//! tens of milliseconds of a core; 150 unauthenticated sign-ins at once used to run 150 of them
//! on 150 blocking threads (RSS 2.0 → 3.7 GB). Here at most `max_hashing` run at once, at most
//! `max_waiting` more wait for a slot (the rest are told the server is busy), and attempts per
//! account name and per source address are limited per minute, before any hashing — whether
//! the account exists or not, so the answers give nothing away.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::HashMemory;

/// Limits on sign-in attempts.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    /// Password checks running at once (each holds ~19 MiB while it runs).
    pub max_hashing: usize,
    /// Attempts waiting for a check slot; more are answered 503 at once.
    pub max_waiting: usize,
    /// Attempts per account name per minute (existing or not); 0: no limit.
    pub per_account_per_minute: u32,
    /// Attempts per source address per minute; 0: no limit. Behind a reverse proxy every
    /// attempt comes from the proxy: raise it or set it to 0 there.
    pub per_source_per_minute: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_hashing: 2,
            max_waiting: 32,
            per_account_per_minute: 10,
            per_source_per_minute: 60,
        }
    }
}

/// Why an attempt was not admitted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many sign-in attempts; try again in a minute")]
    TooMany,
    #[error("the server is busy; try again in a moment")]
    Busy,
}

/// Per-minute counters for one kind of key; only the current minute is kept.
#[derive(Debug)]
pub struct Window<K> {
    minute: i64,
    counts: HashMap<K, u32>,
}

impl<K> Default for Window<K> {
    fn default() -> Self {
        Window {
            minute: 0,
            counts: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Window<K> {
    /// Counts one attempt for `key`; false when it is over `limit` this minute (0: no limit).
    pub fn take(&mut self, key: K, minute: i64, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        if self.minute != minute {
            self.minute = minute;
            self.counts.clear();
        }
        let n = self.counts.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        *n <= limit
    }
}

/// An admitted attempt: a password-check slot and the working memory that goes with it.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    memory: HashMemory,
    pool: Arc<Mutex<Vec<HashMemory>>>,
}

impl Admission {
    /// Argon2 working memory for this attempt's check.
    pub fn memory(&mut self) -> &mut HashMemory {
        &mut self.memory
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(std::mem::take(&mut self.memory));
        }
    }
}

/// The sign-in gate, shared by every request.
#[derive(Debug)]
pub struct LoginGuard {
    limits: LoginLimits,
    hashing: Arc<Semaphore>,
    /// One buffer per slot, allocated on first use and kept: memory stays flat under a flood.
    memory: Arc<Mutex<Vec<HashMemory>>>,
    waiting: AtomicUsize,
    accounts: Mutex<Window<String>>,
    sources: Mutex<Window<IpAddr>>,
    /// Attempts refused by this gate (rate limits and busy), for the metrics.
    pub refused: AtomicU64,
    /// Highest number of password checks seen running at once.
    peak: AtomicUsize,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(LoginLimits::default())
    }
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        LoginGuard {
            limits,
            hashing: Arc::new(Semaphore::new(limits.max_hashing.max(1))),
            memory: Arc::default(),
            waiting: AtomicUsize::new(0),
            accounts: Mutex::default(),
            sources: Mutex::default(),
            refused: AtomicU64::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Admits an attempt for `username` from `source` at `now_us` and waits for a password-check
    /// slot, held by the returned permit.
    pub async fn admit(
        &self,
        username: &str,
        source: Option<IpAddr>,
        now_us: i64,
    ) -> Result<Admission, Refusal> {
        let r = self.admit_inner(username, source, now_us).await;
        if r.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    async fn admit_inner(
        &self,
        username: &str,
        source: Option<IpAddr>,
        now_us: i64,
    ) -> Result<Admission, Refusal> {
        let minute = now_us.div_euclid(60_000_000);
        if let Some(ip) = source {
            let mut w = self.sources.lock().map_err(|_| Refusal::Busy)?;
            if !w.take(ip, minute, self.limits.per_source_per_minute) {
                return Err(Refusal::TooMany);
            }
        }
        {
            let mut w = self.accounts.lock().map_err(|_| Refusal::Busy)?;
            // Names are case-folded so `Admin` and `admin` share one budget.
            let key = username.to_ascii_lowercase();
            if !w.take(key, minute, self.limits.per_account_per_minute) {
                return Err(Refusal::TooMany);
            }
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if queued >= self.limits.max_waiting + self.limits.max_hashing {
            return Err(Refusal::Busy);
        }
        // A slot frees every few tens of milliseconds; a long wait means a flood.
        let permit =
            tokio::time::timeout(Duration::from_secs(5), self.hashing.clone().acquire_owned())
                .await
                .map_err(|_| Refusal::Busy)?
                .map_err(|_| Refusal::Busy)?;
        let running = self.limits.max_hashing.max(1) - self.hashing.available_permits();
        self.peak.fetch_max(running, Ordering::Relaxed);
        let memory = self
            .memory
            .lock()
            .map_err(|_| Refusal::Busy)?
            .pop()
            .unwrap_or_default();
        Ok(Admission {
            _permit: permit,
            memory,
            pool: self.memory.clone(),
        })
    }

    /// Highest number of password checks that ran at once so far.
    pub fn peak_hashing(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

/// Decrements the waiting count however the wait ends.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn account_and_source_budgets_are_per_minute() {
        let g = LoginGuard::new(LoginLimits {
            per_account_per_minute: 3,
            per_source_per_minute: 5,
            ..LoginLimits::default()
        });
        let ip: IpAddr = [192, 0, 2, 1].into();
        for _ in 0..3 {
            assert!(g.admit("Alice", None, 0).await.is_ok());
        }
        assert_eq!(
            g.admit("alice", None, 0).await.err(),
            Some(Refusal::TooMany)
        );
        assert!(
            g.admit("alice", None, 60_000_000).await.is_ok(),
            "a new minute"
        );
        for i in 0..5 {
            assert!(g.admit(&format!("u{i}"), Some(ip), 0).await.is_ok());
        }
        assert_eq!(
            g.admit("u9", Some(ip), 0).await.err(),
            Some(Refusal::TooMany)
        );
        assert_eq!(g.refused.load(Ordering::Relaxed), 2);
    }
}
