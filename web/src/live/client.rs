//! A minimal WHEP *client* (receive-only H.264 over `str0m`), for the live-view tests, the
//! live benchmark and ops checking a camera's live view without a browser: the WebRTC half,
//! and [`http1`], a one-request HTTP/1.1 exchange for the `POST`/`DELETE` (the caller brings
//! its credentials as headers).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

/// A response from [`http1`]; header names in lower case.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a new connection (`connection: close`, so the body ends at EOF).
pub async fn http1(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    c.write_all(head.as_bytes()).await?;
    c.write_all(body).await?;
    let mut out = Vec::new();
    c.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// One access unit received, as str0m depacketized it (Annex B).
#[derive(Debug, Clone)]
pub struct ReceivedFrame {
    pub data: Vec<u8>,
    /// RTP time, 90 kHz.
    pub rtp_time: u64,
    pub at: Instant,
    /// Holds an IDR slice (NAL type 5).
    pub keyframe: bool,
    /// Holds a sequence parameter set (NAL type 7).
    pub has_sps: bool,
}

/// Why the client could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("answer: {0}")]
    Answer(String),
}

/// A receive-only WebRTC peer with one video section.
#[derive(Debug)]
pub struct WhepClient {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    connected_at: Option<Instant>,
    buf: Vec<u8>,
}

impl WhepClient {
    /// Binds a UDP socket on `ip` and makes an offer; `h264: false` offers VP8 only (to test
    /// how a server refuses it). Returns the client and the offer's SDP.
    pub async fn offer(ip: IpAddr, h264: bool) -> Result<(WhepClient, String), ClientError> {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let local = socket.local_addr()?;
        let builder = Rtc::builder().clear_codecs();
        let builder = if h264 {
            builder.enable_h264(true)
        } else {
            builder.enable_vp8(true)
        };
        let mut rtc = builder.build(Instant::now());
        let c = Candidate::host(local, "udp").map_err(|e| ClientError::Rtc(e.to_string()))?;
        rtc.add_local_candidate(c);
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| ClientError::Rtc("no offer".into()))?;
        Ok((
            WhepClient {
                rtc,
                socket,
                local,
                pending: Some(pending),
                connected_at: None,
                buf: vec![0; 2000],
            },
            offer.to_sdp_string(),
        ))
    }

    /// Applies the server's answer (the body of its `201 Created`).
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), ClientError> {
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| ClientError::Answer(e.to_string()))?;
        let pending = self
            .pending
            .take()
            .ok_or_else(|| ClientError::Answer("answer already applied".into()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| ClientError::Answer(e.to_string()))
    }

    /// When ICE and DTLS completed, if they have.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// Drives the session until the next access unit arrives or `timeout` passes.
    pub async fn next_frame(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<ReceivedFrame>, ClientError> {
        let until = Instant::now() + timeout;
        loop {
            let wake = loop {
                match self.rtc.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        let _ = self.socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(Event::Connected)) => {
                        self.connected_at = Some(Instant::now());
                    }
                    Ok(Output::Event(Event::MediaData(d))) => {
                        let (keyframe, has_sps) = nal_types(&d.data);
                        return Ok(Some(ReceivedFrame {
                            data: d.data.to_vec(),
                            rtp_time: d.time.numer(),
                            at: Instant::now(),
                            keyframe,
                            has_sps,
                        }));
                    }
                    Ok(Output::Event(_)) => {}
                    Err(e) => return Err(ClientError::Rtc(e.to_string())),
                }
            };
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            let wake = wake.min(until).max(now);
            tokio::select! {
                r = self.socket.recv_from(&mut self.buf) => {
                    let (n, source) = r?;
                    let Some(data) = self.buf.get(..n) else { continue };
                    if let Ok(recv) = Receive::new(Protocol::Udp, source, self.local, data) {
                        self.rtc
                            .handle_input(Input::Receive(Instant::now(), recv))
                            .map_err(|e| ClientError::Rtc(e.to_string()))?;
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    self.rtc
                        .handle_input(Input::Timeout(Instant::now()))
                        .map_err(|e| ClientError::Rtc(e.to_string()))?;
                }
            }
        }
    }
}

/// Whether Annex B `data` holds an IDR slice and an SPS.
fn nal_types(data: &[u8]) -> (bool, bool) {
    let (mut idr, mut sps) = (false, false);
    for w in data.windows(4) {
        if w[..3] == [0, 0, 1] {
            match w[3] & 0x1f {
                5 => idr = true,
                7 => sps = true,
                _ => {}
            }
        }
    }
    (idr, sps)
}
