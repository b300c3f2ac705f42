//! WS-Discovery (ONVIF Core 7.3; WS-Discovery 2005/04): a Probe for network video transmitters,
//! multicast on one named interface or unicast to one address, and the ProbeMatch answers
//! parsed into [`DiscoveredDevice`]s.
//!
//! Multicast goes out only on the interface the operator names (`SO_BINDTODEVICE`, TTL 1):
//! partner sites have flat networks shared with things we must not talk to, so there is no
//! "probe every interface" mode. Message building and parsing are pure; [`discover`] and
//! [`probe_unicast`] are the socket driver.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use rand::Rng as _;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::Instrument as _;

use super::OnvifError;
use super::soap::{NS_SOAP11, NS_SOAP12};
use super::xml::{self, Element, QValue};

/// The WS-Discovery multicast group and port (IPv4).
pub const MULTICAST_ADDR: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 3702;

const NS_DISCOVERY_2005: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
/// WS-Discovery 1.1 (OASIS); a few devices answer in it.
const NS_DISCOVERY_2009: &str = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01";
const NS_ADDRESSING_2004: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
const NS_NETWORK: &str = "http://www.onvif.org/ver10/network/wsdl";
/// Largest datagram read; WS-Discovery messages fit one UDP datagram.
const MAX_DATAGRAM: usize = 65_535;
/// Most devices kept from one probe (a bound on memory, not a real-world limit).
const MAX_DEVICES: usize = 4096;

/// How long to listen and where to send.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    /// How long to collect answers after the first probe (devices wait up to 500 ms at random
    /// before answering, per WS-Discovery's APP_MAX_DELAY).
    pub wait: Duration,
    /// Destination port (3702; tests may use another).
    pub port: u16,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            wait: Duration::from_secs(3),
            port: PORT,
        }
    }
}

/// One device that answered a probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveredDevice {
    /// Endpoint reference address, usually `urn:uuid:…`; stable across address changes.
    pub endpoint: String,
    /// Device service URLs, as announced.
    pub xaddrs: Vec<String>,
    /// Types, namespace-resolved (`{http://www.onvif.org/ver10/network/wsdl}NetworkVideoTransmitter`).
    pub types: Vec<QValue>,
    /// All scopes, raw.
    pub scopes: Vec<String>,
    /// From `onvif://www.onvif.org/name/…`, percent-decoded.
    pub name: Option<String>,
    /// From `onvif://www.onvif.org/location/…`, percent-decoded.
    pub location: Option<String>,
    /// From `onvif://www.onvif.org/hardware/…`, percent-decoded.
    pub hardware: Option<String>,
    pub metadata_version: Option<u32>,
    /// Where the answer came from.
    pub from: Option<SocketAddr>,
}

impl DiscoveredDevice {
    /// True if the device says it is an ONVIF video transmitter.
    pub fn is_video_transmitter(&self) -> bool {
        self.types
            .iter()
            .any(|t| t.is(NS_NETWORK, "NetworkVideoTransmitter"))
    }
}

/// A parsed discovery message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReply {
    /// The MessageID of the probe this answers.
    pub relates_to: Option<String>,
    pub matches: Vec<DiscoveredDevice>,
}

/// A fresh `urn:uuid:` (version 4) for a MessageID.
pub fn new_message_id() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h =
        |r: std::ops::Range<usize>| -> String { b[r].iter().map(|x| format!("{x:02x}")).collect() };
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

/// The Probe for `dn:NetworkVideoTransmitter`, SOAP 1.2 as ONVIF requires.
pub fn probe_message(message_id: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="{soap}" xmlns:a="{wsa}" xmlns:d="{wsd}" xmlns:dn="{dn}">"#,
            r#"<s:Header><a:Action s:mustUnderstand="1">{wsd}/Probe</a:Action>"#,
            r#"<a:MessageID>{id}</a:MessageID>"#,
            r#"<a:ReplyTo><a:Address>{wsa}/role/anonymous</a:Address></a:ReplyTo>"#,
            r#"<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"#,
            r#"</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"#
        ),
        soap = NS_SOAP12,
        wsa = NS_ADDRESSING_2004,
        wsd = NS_DISCOVERY_2005,
        dn = NS_NETWORK,
        id = quick_xml::escape::escape(message_id),
    )
}

fn is_discovery_ns(e: &Element) -> bool {
    matches!(e.ns.as_deref(), Some(NS_DISCOVERY_2005 | NS_DISCOVERY_2009))
}

fn scope_value(scopes: &[String], kind: &str) -> Option<String> {
    let prefix = format!("onvif://www.onvif.org/{kind}/");
    let raw = scopes.iter().find_map(|s| s.strip_prefix(&prefix))?;
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    (!decoded.is_empty()).then_some(decoded)
}

/// Parses a ProbeMatches (or Hello) datagram. ProbeMatch elements are found wherever they are
/// in the Body: some emulators and cheap firmwares omit the `ProbeMatches` wrapper.
pub fn parse_probe_matches(datagram: &[u8]) -> Result<ProbeReply, OnvifError> {
    let root = xml::parse(datagram)?;
    let ns = match root.ns.as_deref() {
        Some(ns @ (NS_SOAP12 | NS_SOAP11)) if root.local == "Envelope" => ns,
        _ => {
            return Err(OnvifError::Unexpected(
                "discovery message is not a SOAP envelope".into(),
            ));
        }
    };
    let relates_to = root
        .children
        .iter()
        .find(|c| c.is(ns, "Header"))
        .and_then(|h| h.text_at(&["RelatesTo"]))
        .map(str::to_owned);
    let body = root
        .children
        .iter()
        .find(|c| c.is(ns, "Body"))
        .ok_or(OnvifError::Missing("SOAP Body"))?;
    let mut found = Vec::new();
    body.find_all("ProbeMatch", &mut found);
    body.find_all("Hello", &mut found);
    let mut matches = Vec::new();
    for m in found.into_iter().filter(|m| is_discovery_ns(m)) {
        let endpoint = m
            .text_at(&["EndpointReference", "Address"])
            .unwrap_or_default()
            .to_owned();
        let xaddrs: Vec<String> = m
            .text_at(&["XAddrs"])
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        if endpoint.is_empty() && xaddrs.is_empty() {
            continue;
        }
        let scopes: Vec<String> = m
            .text_at(&["Scopes"])
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        matches.push(DiscoveredDevice {
            endpoint,
            xaddrs,
            types: m
                .child("Types")
                .map(|t| t.qnames.clone())
                .unwrap_or_default(),
            name: scope_value(&scopes, "name"),
            location: scope_value(&scopes, "location"),
            hardware: scope_value(&scopes, "hardware"),
            scopes,
            metadata_version: m.text_at(&["MetadataVersion"]).and_then(|v| v.parse().ok()),
            from: None,
        });
    }
    Ok(ProbeReply {
        relates_to,
        matches,
    })
}

fn check_interface_name(name: &str) -> Result<(), OnvifError> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(OnvifError::NoInterface(name.to_owned()))
    }
}

/// Multicasts a Probe on `interface` only and collects answers for `opts.wait`.
pub async fn discover(
    interface: &str,
    opts: &DiscoveryOptions,
) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    check_interface_name(interface)?;
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // SO_BINDTODEVICE: the probe leaves through this interface and no other, and only answers
    // arriving on it are read.
    sock.bind_device(Some(interface.as_bytes())).map_err(|e| {
        match e.raw_os_error() {
            Some(19) => OnvifError::NoInterface(interface.to_owned()), // ENODEV
            Some(1) => OnvifError::Discovery(format!(
                "binding to interface {interface} needs CAP_NET_RAW on this kernel: {e}"
            )),
            _ => OnvifError::Discovery(format!("binding to interface {interface}: {e}")),
        }
    })?;
    sock.set_multicast_ttl_v4(1)?;
    sock.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0).into())?;
    sock.set_nonblocking(true)?;
    let sock = UdpSocket::from_std(sock.into())?;
    let target = SocketAddr::V4(SocketAddrV4::new(MULTICAST_ADDR, opts.port));
    let span = tracing::info_span!("ws_discovery", interface, mode = "multicast");
    run_probe(&sock, target, opts).instrument(span).await
}

/// Sends a Probe to one address (a device that multicast cannot reach, or a check of one
/// device) and collects answers for `opts.wait`.
pub async fn probe_unicast(
    target: SocketAddr,
    opts: &DiscoveryOptions,
) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    let bind: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind).await?;
    let span = tracing::info_span!("ws_discovery", %target, mode = "unicast");
    run_probe(&sock, target, opts).instrument(span).await
}

async fn run_probe(
    sock: &UdpSocket,
    target: SocketAddr,
    opts: &DiscoveryOptions,
) -> Result<Vec<DiscoveredDevice>, OnvifError> {
    let id = new_message_id();
    let msg = probe_message(&id);
    let deadline = tokio::time::Instant::now() + opts.wait;
    // SOAP-over-UDP repeats multicast messages (twice here, 100 ms apart) because UDP may
    // drop one.
    let mut resend_at = Some(tokio::time::Instant::now() + Duration::from_millis(100));
    sock.send_to(msg.as_bytes(), target)
        .await
        .map_err(|e| OnvifError::Discovery(format!("sending probe to {target}: {e}")))?;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out: Vec<DiscoveredDevice> = Vec::new();
    loop {
        let wake = resend_at.map_or(deadline, |r| r.min(deadline));
        let got = tokio::time::timeout_at(wake, sock.recv_from(&mut buf)).await;
        let (n, from) = match got {
            Err(_) if tokio::time::Instant::now() >= deadline => break,
            Err(_) => {
                resend_at = None;
                if let Err(e) = sock.send_to(msg.as_bytes(), target).await {
                    tracing::debug!(error = %e, "repeating probe failed");
                }
                continue;
            }
            Ok(Err(e)) => {
                // ICMP port unreachable from a unicast target shows up here; keep listening.
                tracing::debug!(error = %e, "receive error");
                continue;
            }
            Ok(Ok(x)) => x,
        };
        let reply = match parse_probe_matches(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%from, error = %e, "ignoring unparseable discovery datagram");
                continue;
            }
        };
        if reply.relates_to.as_deref().is_some_and(|r| r.trim() != id) {
            // An answer to someone else's probe, or a Hello: not ours.
            continue;
        }
        for mut d in reply.matches {
            d.from = Some(from);
            let known = out
                .iter()
                .position(|o| !d.endpoint.is_empty() && o.endpoint == d.endpoint);
            match known {
                Some(i) => {
                    let existing = &mut out[i];
                    for x in d.xaddrs {
                        if !existing.xaddrs.contains(&x) {
                            existing.xaddrs.push(x);
                        }
                    }
                }
                None if out.len() < MAX_DEVICES => out.push(d),
                None => {}
            }
        }
    }
    tracing::info!(devices = out.len(), "discovery finished");
    Ok(out)
}
