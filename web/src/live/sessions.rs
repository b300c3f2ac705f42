//! The live views running now and the knobs they run under. Below the WHEP handlers (which
//! start and end the views): imports none of them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::metrics::CameraLiveMetrics;

/// A STUN or TURN server handed to browsers (`RTCIceServer`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Live-view knobs (config `[live]`).
#[derive(Clone, Debug)]
pub struct LiveSettings {
    /// UDP ports viewers' sessions bind, inclusive; `None`: any free port. A firewall opens
    /// exactly this range.
    pub udp_ports: Option<(u16, u16)>,
    /// Addresses advertised as extra host candidates, e.g. the public address of a 1:1 NAT in
    /// front of the recorder. The address the client reached the server on is always offered.
    pub public_ips: Vec<IpAddr>,
    /// STUN/TURN servers for browsers behind NATs (the server itself needs none: ICE lite).
    pub ice_servers: Vec<IceServer>,
    /// Concurrent viewers across all cameras; more get 503.
    pub max_viewers: usize,
    /// Concurrent views one account may hold (a 4×4 wall is 16); more get 429, so one
    /// account cannot take every slot with offers it never completes (issue 22 F12).
    pub max_per_user: usize,
    /// A session whose ICE and DTLS are not done by then is ended.
    pub connect_timeout: Duration,
    /// A peer that sends nothing (no consent check, no RTCP) for this long is gone.
    pub peer_timeout: Duration,
    /// Sends cameras with B-frames anyway. Only for testing browsers: Chromium does not
    /// present such streams in order (`docs/design/live-view.md`); not in the config file.
    pub pass_b_frames: bool,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            udp_ports: None,
            public_ips: Vec::new(),
            ice_servers: Vec::new(),
            max_viewers: 64,
            max_per_user: 16,
            pass_b_frames: false,
            // ICE lite over host candidates completes in well under a second in the tests'
            // browser (and a few with TURN); an offer that has not connected by then holds a
            // socket and a slot for nothing (issue 22 F12).
            connect_timeout: Duration::from_secs(8),
            peer_timeout: Duration::from_secs(15),
        }
    }
}

/// Running live sessions and per-camera live metrics.
#[derive(Debug, Default)]
pub struct LiveSessions {
    pub(crate) sessions: Mutex<HashMap<String, SessionEntry>>,
    cameras: Mutex<HashMap<u32, Arc<CameraLiveMetrics>>>,
}

#[derive(Debug)]
pub(crate) struct SessionEntry {
    pub(crate) camera: u32,
    pub(crate) owner: String,
    pub(crate) stop: Option<oneshot::Sender<()>>,
}

impl LiveSessions {
    /// Live sessions now (connecting or connected).
    pub fn sessions(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// A camera's live metrics (created on first use).
    pub fn camera_metrics(&self, camera: u32) -> Arc<CameraLiveMetrics> {
        let Ok(mut m) = self.cameras.lock() else {
            return Arc::default();
        };
        m.entry(camera).or_default().clone()
    }

    pub(crate) fn metrics_snapshot(&self) -> Vec<(u32, Arc<CameraLiveMetrics>)> {
        self.cameras
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect())
            .unwrap_or_default()
    }

    /// Ends every session (server shutdown).
    pub fn stop_all(&self) {
        if let Ok(mut s) = self.sessions.lock() {
            for e in s.values_mut() {
                if let Some(tx) = e.stop.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}
