//! Camera simulator: an RTSP server that plays one shared H.264 clip as any number of cameras.
//!
//! It exists so the demo, the integration tests and the load benchmarks have cameras that behave
//! like real ones (RTSP/RTP over TCP or UDP, Digest auth, RTCP sender reports, real-time pacing)
//! but can be told to misbehave on cue: drop the connection, stall, spew garbage, jump their
//! clock, or go offline. It is built to run 1000 cameras in one process: the clip is shared
//! (`Arc`, frames as [`bytes::Bytes`]), each connection is one task with one small reusable
//! output buffer, and pacing follows an absolute schedule so nothing drifts.
//!
//! Protocol parsing and packetization are pure (`rtsp`, `rtp`); this file is the I/O driver.

mod clip;
mod rtp;
mod rtsp;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::broadcast;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, info_span, warn};

pub use clip::{Clip, ClipFrame};

use rtp::{AuPacketizer, Framing, RtpSender};
use rtsp::{AuthResult, Message, Method, Request, Response, Target, TransportRequest};

/// Session timeout advertised in `Session` headers, in seconds.
const SESSION_TIMEOUT_SECS: u32 = 60;
/// How often an RTCP sender report goes out while playing, unless [`SimOptions::sr_interval`]
/// says otherwise.
pub const SR_INTERVAL: Duration = Duration::from_secs(5);
/// Interleaved output is written once this much is buffered, bounding per-connection memory
/// to about this plus one packet regardless of keyframe size.
const FLUSH_AT: usize = 16 * 1024;
/// Digest nonces remembered per connection (older ones become stale).
const MAX_NONCES: usize = 8;
/// Longest stall honoured; longer ones are shortened to this.
const MAX_STALL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Errors from building a clip or starting the server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid clip: {0}")]
    Clip(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("simulator I/O error: {0}")]
    Io(#[from] io::Error),
}

/// How to start a [`SimServer`].
#[derive(Clone)]
pub struct SimOptions {
    /// Number of cameras, served at `/cam/0` .. `/cam/{cameras-1}`.
    pub cameras: usize,
    /// Where to listen, e.g. `127.0.0.1:0` for an ephemeral port.
    pub bind: SocketAddr,
    /// When set, every request but OPTIONS needs these credentials: Digest (RFC 2617, MD5,
    /// realm `vms-sim`) is challenged, and Basic is accepted as well.
    pub credentials: Option<(String, String)>,
    /// The clip every camera loops.
    pub clip: Arc<Clip>,
    /// How often each playing session sends an RTCP sender report.
    pub sr_interval: Duration,
}

impl SimOptions {
    /// `cameras` cameras on an ephemeral loopback port, no auth, the built-in clip.
    pub fn new(cameras: usize) -> Self {
        Self {
            cameras,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            credentials: None,
            clip: Clip::builtin(),
            sr_interval: SR_INTERVAL,
        }
    }
}

impl fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("cameras", &self.cameras)
            .field("bind", &self.bind)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .field("clip_frames", &self.clip.frame_count())
            .finish()
    }
}

/// Misbehaviour to inject into a camera with [`SimServer::inject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Close the camera's TCP connection(s) now.
    DropConnection,
    /// Send no media for this long (at most a year), keeping connections open; also holds back
    /// sessions that start meanwhile. Media resumes at the first keyframe due at or after the
    /// stall ends, with timestamps as if time had passed (the skipped frames are simply
    /// missing), so a decoder never sees a P-frame whose reference was skipped.
    Stall(Duration),
    /// The encoder hangs for this long (at most a year): no video, but the connection stays up
    /// and RTCP sender reports keep coming, as from a real camera whose sensor or encoder froze.
    /// Media resumes as after [`Fault::Stall`].
    Freeze(Duration),
    /// Write this many random bytes into the stream now, then carry on. Over TCP they go out as
    /// interleaved frames on an unassigned channel, which conforming clients skip, except that
    /// fewer than 4 bytes go out raw and break the client's framing; over UDP they are junk
    /// datagrams to the client's RTP port.
    Garbage(usize),
    /// Add this many 90 kHz ticks to every later RTP timestamp of the current sessions, as when
    /// a camera's clock is reset.
    TimestampJump(i64),
}

/// Per-camera counters, from [`SimServer::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CameraStats {
    /// Video frames (access units) fully handed to the network.
    pub frames_sent: u64,
    /// TCP connections that addressed this camera.
    pub connections: u64,
    /// Sessions currently playing.
    pub active_sessions: u64,
}

/// Something every current connection of one camera must react to.
#[derive(Clone, Copy, Debug)]
enum Event {
    Fault(Fault),
    Offline,
}

impl Event {
    /// Whether the event ends the connection.
    fn closes(self) -> bool {
        matches!(self, Self::Offline | Self::Fault(Fault::DropConnection))
    }
}

#[derive(Debug)]
struct Camera {
    online: AtomicBool,
    frames_sent: AtomicU64,
    connections: AtomicU64,
    active_sessions: AtomicU64,
    /// End of the current stall as nanoseconds after [`Shared::epoch`]; 0 when not stalled.
    stalled_until: AtomicU64,
    /// Whether the current stall is a [`Fault::Freeze`] (RTCP continues).
    frozen: AtomicBool,
    events: broadcast::Sender<Event>,
}

impl Camera {
    fn new() -> Self {
        Self {
            online: AtomicBool::new(true),
            frames_sent: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            active_sessions: AtomicU64::new(0),
            stalled_until: AtomicU64::new(0),
            frozen: AtomicBool::new(false),
            events: broadcast::channel(16).0,
        }
    }
}

struct Shared {
    clip: Arc<Clip>,
    profile_level_id: String,
    cameras: Box<[Camera]>,
    credentials: Option<(String, String)>,
    /// Reference point for [`Camera::stalled_until`].
    epoch: Instant,
    sr_interval: Duration,
    shutdown: CancellationToken,
}

impl Shared {
    fn stalled_until(&self, camera: usize) -> Option<Instant> {
        let nanos = self
            .cameras
            .get(camera)?
            .stalled_until
            .load(Ordering::Relaxed);
        (nanos != 0).then(|| self.epoch + Duration::from_nanos(nanos))
    }
}

/// A running simulator. Dropping it stops the server too; [`SimServer::shutdown`] also waits.
pub struct SimServer {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    base_url: url::Url,
    accept_task: Option<JoinHandle<()>>,
}

impl fmt::Debug for SimServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimServer")
            .field("local_addr", &self.local_addr)
            .field("cameras", &self.shared.cameras.len())
            .field("auth", &self.shared.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl SimServer {
    /// Binds the listener and starts serving.
    pub async fn start(opts: SimOptions) -> Result<Self, SimError> {
        let listener = TcpListener::bind(opts.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: opts.bind,
                source,
            })?;
        let local_addr = listener.local_addr()?;
        let host = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base_url = url::Url::parse(&format!(
            "rtsp://{}/",
            SocketAddr::new(host, local_addr.port())
        ))
        .map_err(|e| SimError::Io(io::Error::other(e)))?;
        let shared = Arc::new(Shared {
            profile_level_id: opts.clip.profile_level_id(),
            clip: opts.clip,
            cameras: (0..opts.cameras).map(|_| Camera::new()).collect(),
            credentials: opts.credentials,
            epoch: Instant::now(),
            sr_interval: opts.sr_interval.max(Duration::from_millis(10)),
            shutdown: CancellationToken::new(),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            shared,
            local_addr,
            base_url,
            accept_task: Some(accept_task),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `rtsp://127.0.0.1:PORT/cam/{camera}`; never carries credentials. An out-of-range index
    /// still yields a URL (which answers 404), handy for negative tests.
    pub fn url(&self, camera: usize) -> url::Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!("/cam/{camera}"));
        url
    }

    /// Injects `fault` into every current connection of `camera` (a stall also holds back
    /// sessions started before it ends). Out-of-range cameras are ignored.
    pub fn inject(&self, camera: usize, fault: Fault) {
        let Some(cam) = self.shared.cameras.get(camera) else {
            return;
        };
        match fault {
            Fault::Stall(d) | Fault::Freeze(d) => {
                cam.frozen
                    .store(matches!(fault, Fault::Freeze(_)), Ordering::Relaxed);
                // Capped so the arithmetic on instants can never overflow.
                let until = Instant::now() + d.min(MAX_STALL);
                let nanos = until.duration_since(self.shared.epoch).as_nanos();
                let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
                cam.stalled_until.fetch_max(nanos, Ordering::Relaxed);
            }
            fault => {
                // No receivers just means no current connection.
                let _ = cam.events.send(Event::Fault(fault));
            }
        }
    }

    /// Takes a camera offline (closing its connections; new requests get 503) or back online.
    pub fn set_online(&self, camera: usize, online: bool) {
        let Some(cam) = self.shared.cameras.get(camera) else {
            return;
        };
        cam.online.store(online, Ordering::SeqCst);
        if !online {
            let _ = cam.events.send(Event::Offline);
        }
    }

    /// Counters for `camera` (all zero for an out-of-range index).
    pub fn stats(&self, camera: usize) -> CameraStats {
        self.shared
            .cameras
            .get(camera)
            .map(|c| CameraStats {
                frames_sent: c.frames_sent.load(Ordering::Relaxed),
                connections: c.connections.load(Ordering::Relaxed),
                active_sessions: c.active_sessions.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    /// Stops accepting, closes every connection and waits for all their tasks to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        if let Some(task) = self.accept_task.take()
            && let Err(e) = task.await
        {
            warn!("simulator accept task failed: {e}");
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let span = info_span!("sim_conn", camera = tracing::field::Empty, %peer);
                    conns.spawn(serve_conn(sock, peer, shared.clone()).instrument(span));
                }
                Err(e) => {
                    // Typically EMFILE under load; back off instead of spinning.
                    warn!("simulator accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn serve_conn(sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(e) => {
            debug!("no local address: {e}");
            return;
        }
    };
    let _ = sock.set_nodelay(true);
    let mut conn = Conn {
        io: ConnIo {
            cancel: shared.shutdown.clone(),
            sock,
            out: Vec::new(),
            events: None,
            pending: VecDeque::new(),
        },
        shared,
        local,
        peer,
        inbuf: BytesMut::with_capacity(2048),
        camera: None,
        nonces: Vec::new(),
        session: None,
        play: None,
    };
    let end = conn.run().await;
    if let Err(why) = end {
        debug!("connection closed: {why}");
    }
    let _ = conn.io.sock.shutdown().await;
}

/// Why a connection ended.
#[derive(Debug)]
enum Close {
    Peer,
    Io(io::Error),
    Reason(&'static str),
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Peer => f.write_str("peer closed"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Reason(r) => f.write_str(r),
        }
    }
}

impl From<io::Error> for Close {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

type Step = Result<(), Close>;

/// The socket-facing half of a connection, split out so it can be borrowed while the session
/// state is borrowed too.
struct ConnIo {
    sock: TcpStream,
    /// Responses and interleaved packets waiting to be written; reused for the whole connection.
    out: Vec<u8>,
    events: Option<broadcast::Receiver<Event>>,
    /// Events received while blocked in a write, handled at the next loop turn.
    pending: VecDeque<Event>,
    cancel: CancellationToken,
}

impl ConnIo {
    /// Writes and clears `out`. A client that stops reading blocks only this connection, and
    /// shutdown or a closing event still gets through.
    async fn flush(&mut self) -> Step {
        let mut off = 0;
        let result = loop {
            if off == self.out.len() {
                break Ok(());
            }
            tokio::select! {
                written = self.sock.write(&self.out[off..]) => match written {
                    Ok(0) => break Err(Close::Peer),
                    Ok(n) => off += n,
                    Err(e) => break Err(Close::Io(e)),
                },
                () = self.cancel.cancelled() => break Err(Close::Reason("server shutdown")),
                ev = next_event(&mut self.events) => {
                    if ev.closes() {
                        break Err(Close::Reason("closed by fault or offline"));
                    }
                    self.pending.push_back(ev);
                }
            }
        };
        self.out.clear();
        result
    }
}

/// The next event for this connection's camera; never resolves if it has none.
async fn next_event(events: &mut Option<broadcast::Receiver<Event>>) -> Event {
    if let Some(rx) = events {
        loop {
            match rx.recv().await {
                Ok(ev) => return ev,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
    std::future::pending().await
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// State of one RTSP connection, driven by [`Conn::run`].
struct Conn {
    io: ConnIo,
    shared: Arc<Shared>,
    local: SocketAddr,
    peer: SocketAddr,
    inbuf: BytesMut,
    /// The camera this connection addresses, fixed by its first request naming one.
    camera: Option<usize>,
    /// Digest nonces issued on this connection.
    nonces: Vec<String>,
    session: Option<Session>,
    play: Option<Playback>,
}

/// A SETUP'd stream.
struct Session {
    id: String,
    rtp: RtpSender,
    transport: Transport,
    track_url: String,
}

enum Transport {
    Interleaved {
        rtp: u8,
        rtcp: u8,
    },
    Udp {
        rtp_sock: UdpSocket,
        rtcp_sock: UdpSocket,
        rtp_dest: SocketAddr,
        rtcp_dest: SocketAddr,
    },
}

/// Pacing state of a PLAYing session. Frame `n` of the session (counting across loops) is due
/// at `start + pts(n)` and stamped `ts_base + pts(n) + jump`, so neither drifts.
struct Playback {
    start: Instant,
    next_frame: u64,
    ts_base: u32,
    jump: i64,
    next_sr: Instant,
    _active: ActiveSession,
}

impl Playback {
    fn pts_90k(clip: &Clip, n: u64) -> u64 {
        let len = clip.frame_count() as u64;
        (n / len) * clip.duration_90k() + clip.start_90k(usize::try_from(n % len).unwrap_or(0))
    }

    fn deadline(&self, clip: &Clip, n: u64) -> Instant {
        self.start + ticks_to_duration(Self::pts_90k(clip, n))
    }

    /// RTP timestamp for media time `pts` (RTP timestamps wrap mod 2^32 by design).
    fn rtp_timestamp(&self, pts_90k: u64) -> u32 {
        self.ts_base
            .wrapping_add(pts_90k as u32)
            .wrapping_add(self.jump as u32)
    }

    /// RTP timestamp corresponding to wall-clock instant `at`, for sender reports.
    fn rtp_timestamp_at(&self, at: Instant) -> u32 {
        let nanos = at.saturating_duration_since(self.start).as_nanos();
        let ticks = nanos * u128::from(clip::CLOCK_RATE) / 1_000_000_000;
        self.rtp_timestamp(ticks as u64)
    }

    /// Moves to the first keyframe due at or after `until`.
    fn skip_to_keyframe_after(&mut self, clip: &Clip, until: Instant) {
        let len = clip.frame_count() as u64;
        let elapsed = duration_to_ticks(until.saturating_duration_since(self.start));
        let mut n = self
            .next_frame
            .max(elapsed / clip.duration_90k().max(1) * len);
        // Frame 0 of every loop is a keyframe, so this ends within two loops.
        while !(clip.frames()[usize::try_from(n % len).unwrap_or(0)].keyframe
            && self.deadline(clip, n) >= until)
        {
            n += 1;
        }
        self.next_frame = n;
    }
}

fn ticks_to_duration(ticks: u64) -> Duration {
    let clock = clip::CLOCK_RATE;
    Duration::from_secs(ticks / clock)
        + Duration::from_nanos((ticks % clock) * 1_000_000_000 / clock)
}

fn duration_to_ticks(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() * u128::from(clip::CLOCK_RATE) / 1_000_000_000).unwrap_or(u64::MAX)
}

/// Counts a playing session in [`CameraStats::active_sessions`] for as long as it lives.
struct ActiveSession {
    shared: Arc<Shared>,
    camera: usize,
}

impl ActiveSession {
    fn new(shared: Arc<Shared>, camera: usize) -> Self {
        if let Some(c) = shared.cameras.get(camera) {
            c.active_sessions.fetch_add(1, Ordering::Relaxed);
        }
        Self { shared, camera }
    }
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        if let Some(c) = self.shared.cameras.get(self.camera) {
            c.active_sessions.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Conn {
    async fn run(&mut self) -> Step {
        loop {
            while let Some(ev) = self.io.pending.pop_front() {
                self.handle_event(ev).await?;
            }
            // Sender reports have their own deadline so they keep coming while a frozen
            // encoder sends no frames.
            let deadline = self
                .play
                .as_ref()
                .map(|p| p.deadline(&self.shared.clip, p.next_frame).min(p.next_sr));
            tokio::select! {
                () = self.io.cancel.cancelled() => return Err(Close::Reason("server shutdown")),
                ev = next_event(&mut self.io.events) => self.io.pending.push_back(ev),
                read = self.io.sock.read_buf(&mut self.inbuf) => {
                    if read? == 0 {
                        return Err(Close::Peer);
                    }
                    self.process_input().await?;
                }
                () = sleep_until_opt(deadline) => self.send_due().await?,
            }
        }
    }

    async fn handle_event(&mut self, ev: Event) -> Step {
        match ev {
            Event::Offline => Err(Close::Reason("camera went offline")),
            Event::Fault(Fault::DropConnection) => Err(Close::Reason("DropConnection fault")),
            // Handled through `stalled_until`.
            Event::Fault(Fault::Stall(_) | Fault::Freeze(_)) => Ok(()),
            Event::Fault(Fault::TimestampJump(ticks)) => {
                if let Some(play) = &mut self.play {
                    play.jump = play.jump.wrapping_add(ticks);
                }
                Ok(())
            }
            Event::Fault(Fault::Garbage(len)) => self.send_garbage(len).await,
        }
    }

    async fn send_garbage(&mut self, mut len: usize) -> Step {
        let mut junk = vec![0u8; len.min(65_535)];
        rand::fill(&mut junk[..]);
        match self.session.as_ref().map(|s| &s.transport) {
            Some(Transport::Udp {
                rtp_sock, rtp_dest, ..
            }) => {
                while len > 0 {
                    let n = len.min(1400);
                    // Best effort, like real UDP.
                    let _ = rtp_sock.send_to(&junk[..n], rtp_dest).await;
                    len -= n;
                }
                Ok(())
            }
            transport => {
                // A channel no stream uses, so a conforming client skips the data.
                let channel = match transport {
                    Some(Transport::Interleaved { rtp, rtcp }) => (0..=u8::MAX)
                        .rev()
                        .find(|c| c != rtp && c != rtcp)
                        .unwrap_or(255),
                    _ => 255,
                };
                while len > 0 {
                    if len < 4 {
                        self.io.out.extend_from_slice(&junk[..len]);
                        break;
                    }
                    let n = (len - 4).min(65_535);
                    let n16 = u16::try_from(n).unwrap_or(u16::MAX);
                    self.io.out.extend_from_slice(&[b'$', channel]);
                    self.io.out.extend_from_slice(&n16.to_be_bytes());
                    self.io.out.extend_from_slice(&junk[..n]);
                    len -= n + 4;
                    self.io.flush().await?;
                }
                self.io.flush().await
            }
        }
    }

    async fn process_input(&mut self) -> Step {
        loop {
            let (msg, consumed) = match rtsp::parse(&self.inbuf) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok(()),
                Err(e) => {
                    debug!("unrecoverable request: {e}");
                    Response::new(400).write(None, &mut self.io.out);
                    self.io.flush().await?;
                    return Err(Close::Reason("unrecoverable request"));
                }
            };
            self.inbuf.advance(consumed);
            match msg {
                Message::Blank | Message::Interleaved { .. } => {}
                Message::Malformed {
                    status,
                    cseq,
                    reason,
                } => {
                    debug!("malformed request: {reason}");
                    Response::new(status).write(cseq.as_deref(), &mut self.io.out);
                    self.io.flush().await?;
                }
                Message::Request(req) => {
                    let resp = self.respond(&req).await;
                    resp.write(Some(&req.cseq), &mut self.io.out);
                    self.io.flush().await?;
                }
            }
        }
    }

    /// Binds the connection to `camera` on first use.
    fn bind_camera(&mut self, camera: usize) -> Result<(), Response> {
        let Some(cam) = self.shared.cameras.get(camera) else {
            return Err(Response::new(404));
        };
        match self.camera {
            Some(c) if c == camera => Ok(()),
            Some(_) => Err(Response::new(400)),
            None => {
                self.camera = Some(camera);
                self.io.events = Some(cam.events.subscribe());
                cam.connections.fetch_add(1, Ordering::Relaxed);
                tracing::Span::current().record("camera", camera);
                Ok(())
            }
        }
    }

    async fn respond(&mut self, req: &Request) -> Response {
        let camera = match rtsp::target(&req.uri) {
            Target::Invalid => return Response::new(404),
            Target::Presentation(c) | Target::Track(c) => match self.bind_camera(c) {
                Ok(()) => Some(c),
                Err(resp) => return resp,
            },
            Target::None => None,
        };
        match req.method {
            Method::Options => {
                return Response::new(200).header("Public", rtsp::PUBLIC);
            }
            Method::Unknown => return Response::new(501),
            Method::Unsupported => return Response::new(405).header("Allow", rtsp::PUBLIC),
            _ => {}
        }
        if let Some(challenge) = self.authenticate(req) {
            return challenge;
        }
        if req.method == Method::GetParameter {
            return self.with_session(Response::new(200));
        }
        let Some(camera) = camera else {
            return Response::new(404);
        };
        let online = self
            .shared
            .cameras
            .get(camera)
            .is_some_and(|c| c.online.load(Ordering::SeqCst));
        if !online && req.method != Method::Teardown {
            return Response::new(503);
        }
        match req.method {
            Method::Describe => self.describe(camera),
            Method::Setup => self.setup(req, camera).await,
            Method::Play => self.play(req, camera),
            Method::Teardown => self.teardown(req),
            _ => Response::new(501),
        }
    }

    /// Returns a 401 challenge unless the request carries valid credentials (or none are set).
    fn authenticate(&mut self, req: &Request) -> Option<Response> {
        let (user, pass) = self.shared.credentials.as_ref()?;
        let result = rtsp::check_auth(
            req.header("Authorization"),
            &req.method_str,
            (user, pass),
            &self.nonces,
        );
        if result == AuthResult::Ok {
            return None;
        }
        debug!("authentication required or failed");
        let nonce = format!("{:032x}", rand::random::<u128>());
        if self.nonces.len() == MAX_NONCES {
            self.nonces.remove(0);
        }
        self.nonces.push(nonce.clone());
        Some(
            Response::new(401)
                .header(
                    "WWW-Authenticate",
                    format!(
                        "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm=MD5",
                        rtsp::REALM
                    ),
                )
                .header(
                    "WWW-Authenticate",
                    format!("Basic realm=\"{}\"", rtsp::REALM),
                ),
        )
    }

    fn with_session(&self, resp: Response) -> Response {
        match &self.session {
            Some(s) => resp.header(
                "Session",
                format!("{};timeout={SESSION_TIMEOUT_SECS}", s.id),
            ),
            None => resp,
        }
    }

    /// Base URL of this camera as the client reached it, never with credentials.
    fn camera_url(&self, camera: usize) -> String {
        format!("rtsp://{}/cam/{camera}/", self.local)
    }

    fn describe(&self, camera: usize) -> Response {
        let clip = &self.shared.clip;
        let sdp = rtsp::sdp(&rtsp::SdpParams {
            session_id: rand::random::<u32>().into(),
            camera,
            local_ip: self.local.ip(),
            profile_level_id: &self.shared.profile_level_id,
            sps: clip.sps(),
            pps: clip.pps(),
            fps: clip.fps(),
        });
        Response::new(200)
            .header("Content-Base", self.camera_url(camera))
            .body("application/sdp", sdp)
    }

    /// Checks the `Session` header against the current session.
    fn session_matches(&self, req: &Request) -> bool {
        match (&self.session, req.header("Session")) {
            (Some(s), Some(h)) => rtsp::session_id(h) == s.id,
            _ => false,
        }
    }

    async fn setup(&mut self, req: &Request, camera: usize) -> Response {
        if self.play.is_some() {
            return Response::new(455);
        }
        if req.header("Session").is_some() && !self.session_matches(req) {
            return Response::new(454);
        }
        let Some(wanted) = req.header("Transport").and_then(rtsp::parse_transport) else {
            return Response::new(461);
        };
        let ssrc = rand::random::<u32>();
        let (transport, reply) = match wanted {
            TransportRequest::Interleaved { rtp, rtcp } => (
                Transport::Interleaved { rtp, rtcp },
                format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp};ssrc={ssrc:08X}"),
            ),
            TransportRequest::Udp {
                rtp_port,
                rtcp_port,
            } => {
                let (rtp_sock, rtcp_sock) = match bind_udp_pair(self.local.ip()).await {
                    Ok(pair) => pair,
                    Err(e) => {
                        warn!("cannot bind UDP ports: {e}");
                        return Response::new(500);
                    }
                };
                let (Ok(a), Ok(b)) = (rtp_sock.local_addr(), rtcp_sock.local_addr()) else {
                    return Response::new(500);
                };
                let reply = format!(
                    "RTP/AVP;unicast;client_port={rtp_port}-{rtcp_port};\
                     server_port={}-{};ssrc={ssrc:08X}",
                    a.port(),
                    b.port()
                );
                let transport = Transport::Udp {
                    rtp_sock,
                    rtcp_sock,
                    rtp_dest: SocketAddr::new(self.peer.ip(), rtp_port),
                    rtcp_dest: SocketAddr::new(self.peer.ip(), rtcp_port),
                };
                (transport, reply)
            }
        };
        let id = match &self.session {
            Some(s) => s.id.clone(),
            None => format!("{:016X}", rand::random::<u64>()),
        };
        self.session = Some(Session {
            id,
            rtp: RtpSender::new(ssrc, rand::random()),
            transport,
            track_url: format!("{}trackID=0", self.camera_url(camera)),
        });
        self.with_session(Response::new(200).header("Transport", reply))
    }

    fn play(&mut self, req: &Request, camera: usize) -> Response {
        if !self.session_matches(req) {
            return Response::new(454);
        }
        let Some(session) = &self.session else {
            return Response::new(454);
        };
        if self.play.is_some() {
            return self.with_session(Response::new(200).header("Range", "npt=now-"));
        }
        let now = Instant::now();
        let ts_base = rand::random::<u32>();
        let rtp_info = format!(
            "url={};seq={};rtptime={ts_base}",
            session.track_url, session.rtp.next_seq
        );
        self.play = Some(Playback {
            start: now,
            next_frame: 0,
            ts_base,
            jump: 0,
            next_sr: now,
            _active: ActiveSession::new(self.shared.clone(), camera),
        });
        self.with_session(
            Response::new(200)
                .header("Range", "npt=now-")
                .header("RTP-Info", rtp_info),
        )
    }

    fn teardown(&mut self, req: &Request) -> Response {
        if !self.session_matches(req) {
            return Response::new(454);
        }
        self.play = None;
        self.session = None;
        Response::new(200)
    }

    /// Sends what is due: the next frame (or skips ahead if the camera is stalled) and the
    /// periodic RTCP sender report (kept up through a [`Fault::Freeze`], not a
    /// [`Fault::Stall`]).
    async fn send_due(&mut self) -> Step {
        let clip = self.shared.clip.clone();
        let camera = self.camera.unwrap_or(usize::MAX);
        let Some(play) = self.play.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        let stalled = self
            .shared
            .stalled_until(camera)
            .filter(|until| *until > now);
        if let Some(until) = stalled {
            play.skip_to_keyframe_after(&clip, until);
        } else if play.deadline(&clip, play.next_frame) <= now {
            self.send_frame(&clip, camera).await?;
        }
        let frozen = self
            .shared
            .cameras
            .get(camera)
            .is_some_and(|c| c.frozen.load(Ordering::Relaxed));
        let Some(play) = self.play.as_mut() else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= play.next_sr {
            play.next_sr = now + self.shared.sr_interval;
            if stalled.is_none() || frozen {
                self.send_sender_report(now).await?;
            }
        }
        Ok(())
    }

    /// Sends frame `next_frame` of the clip.
    async fn send_frame(&mut self, clip: &Clip, camera: usize) -> Step {
        let (Some(play), Some(session)) = (self.play.as_mut(), self.session.as_mut()) else {
            return Ok(());
        };
        let n = play.next_frame;
        let index = usize::try_from(n % clip.frame_count() as u64).unwrap_or(0);
        let Some(frame) = clip.frames().get(index) else {
            return Err(Close::Reason("empty clip"));
        };
        let timestamp = play.rtp_timestamp(Playback::pts_90k(clip, n));
        let params = if frame.keyframe {
            clip.param_sets()
        } else {
            &[]
        };
        let mut packets = AuPacketizer::new(params, &frame.data, timestamp);
        match &session.transport {
            Transport::Interleaved { rtp, .. } => loop {
                let more = packets.write_next(
                    &mut session.rtp,
                    Framing::Interleaved(*rtp),
                    &mut self.io.out,
                );
                if !more || self.io.out.len() >= FLUSH_AT {
                    self.io.flush().await?;
                }
                if !more {
                    break;
                }
            },
            Transport::Udp {
                rtp_sock, rtp_dest, ..
            } => loop {
                self.io.out.clear();
                if !packets.write_next(&mut session.rtp, Framing::Datagram, &mut self.io.out) {
                    break;
                }
                // Loss is UDP's nature; the client sees a sequence gap.
                let _ = rtp_sock.send_to(&self.io.out, rtp_dest).await;
            },
        }
        play.next_frame += 1;
        if let Some(c) = self.shared.cameras.get(camera) {
            c.frames_sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Sends an RTCP sender report for instant `now`.
    async fn send_sender_report(&mut self, now: Instant) -> Step {
        let (Some(play), Some(session)) = (self.play.as_ref(), self.session.as_ref()) else {
            return Ok(());
        };
        let rtp_now = play.rtp_timestamp_at(now);
        let ntp = rtp::ntp_timestamp(SystemTime::now());
        match &session.transport {
            Transport::Interleaved { rtcp, .. } => {
                let framing = Framing::Interleaved(*rtcp);
                rtp::write_sender_report(&mut self.io.out, framing, &session.rtp, ntp, rtp_now);
                self.io.flush().await?;
            }
            Transport::Udp {
                rtcp_sock,
                rtcp_dest,
                ..
            } => {
                self.io.out.clear();
                let framing = Framing::Datagram;
                rtp::write_sender_report(&mut self.io.out, framing, &session.rtp, ntp, rtp_now);
                let _ = rtcp_sock.send_to(&self.io.out, rtcp_dest).await;
                self.io.out.clear();
            }
        }
        Ok(())
    }
}

/// Binds RTP and RTCP sockets on consecutive ports, as clients expect (RFC 3550 section 11).
async fn bind_udp_pair(ip: IpAddr) -> io::Result<(UdpSocket, UdpSocket)> {
    for _ in 0..32 {
        let rtp = UdpSocket::bind((ip, 0)).await?;
        let port = rtp.local_addr()?.port();
        if let Some(next) = port.checked_add(1)
            && let Ok(rtcp) = UdpSocket::bind((ip, next)).await
        {
            return Ok((rtp, rtcp));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no consecutive UDP port pair free",
    ))
}
