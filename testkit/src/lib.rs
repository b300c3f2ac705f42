//! Helpers the integration tests of every crate share, so each exists once: ffprobe as an
//! independent judge of media ([`ffprobe`]), a network namespace per test for anything that
//! binds every interface, multicasts or needs a non-loopback address ([`netns`]), GStreamer's
//! RTSP server as an independent camera ([`gst`]), headless Chromium with axe-core and a QR
//! reader ([`browser`]), a stand-in ONVIF device ([`onvif`]), polling with a deadline ([`wait_for`]) and
//! free loopback ports ([`free_port`]).
//!
//! Test code: a failed expectation panics with a message that says what was expected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod ffprobe;
pub mod gst;
pub mod netns;
pub mod onvif;

use std::time::{Duration, Instant};

/// The instant every test's world starts at (UTC microseconds; 2026-09-21T06:13:20Z): one
/// value, so recordings, sessions and audit events of different tests compare.
pub const T0: i64 = 1_790_000_000_000_000;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a loopback port")
}

/// Polls `cond` every 50 ms until it holds; panics naming `what` once `limit` has passed.
pub async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The presentation frame number of the `d`-th frame decoded from a camera that puts one pair
/// of B-frames between anchors (decode order I0 P3 B1 B2 P6 B4 B5 …): frames arrive out of
/// presentation order, as B-frame cameras send them.
pub fn ipbb_presentation(d: i64) -> i64 {
    if d == 0 {
        return 0;
    }
    let (group, r) = ((d - 1) / 3, (d - 1) % 3);
    3 * group + [3, 1, 2][r as usize]
}

/// xorshift64*: a small deterministic generator, so a failure reproduces from its seed.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (made odd: xorshift never leaves zero).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}
