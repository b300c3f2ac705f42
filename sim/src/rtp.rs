//! Pure RTP/RTCP encoding: H.264 packetization (RFC 6184) and RTCP sender reports (RFC 3550).
//!
//! Everything here appends to a caller-owned `Vec<u8>` so one buffer per connection is reused
//! for the whole session and nothing is allocated per packet.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::clip::AvcNals;

/// Largest RTP payload we emit; keeps every packet under a 1500-byte MTU with room for IP/UDP.
pub(crate) const MAX_PAYLOAD: usize = 1400;

/// Dynamic payload type advertised in the SDP.
pub(crate) const PAYLOAD_TYPE: u8 = 96;

const FU_A: u8 = 28;

/// How packets are delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// RTSP interleaved binary data (`$`, channel, 16-bit length) on the TCP connection.
    Interleaved(u8),
    /// One packet per UDP datagram: no prefix.
    Datagram,
}

impl Framing {
    /// Reserves the framing prefix; returns where the packet itself starts.
    fn begin(self, out: &mut Vec<u8>) -> usize {
        if let Self::Interleaved(channel) = self {
            out.extend_from_slice(&[b'$', channel, 0, 0]);
        }
        out.len()
    }

    /// Fills in the length now that the packet starting at `start` is complete.
    fn finish(self, out: &mut [u8], start: usize) {
        if let Self::Interleaved(_) = self {
            // Packets are at most MAX_PAYLOAD + headers, far below 64 KiB.
            let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
            out[start - 2..start].copy_from_slice(&len.to_be_bytes());
        }
    }
}

/// Per-stream RTP sender state: SSRC, next sequence number and the counters RTCP reports.
#[derive(Clone, Debug)]
pub(crate) struct RtpSender {
    pub(crate) ssrc: u32,
    pub(crate) next_seq: u16,
    /// Packets sent (RTCP SR "sender's packet count"; wraps as RFC 3550 allows).
    pub(crate) packets: u32,
    /// Payload octets sent (RTCP SR "sender's octet count").
    pub(crate) octets: u32,
}

impl RtpSender {
    pub(crate) fn new(ssrc: u32, initial_seq: u16) -> Self {
        Self {
            ssrc,
            next_seq: initial_seq,
            packets: 0,
            octets: 0,
        }
    }

    fn header(&mut self, out: &mut Vec<u8>, timestamp: u32, marker: bool, payload_len: usize) {
        out.push(0x80); // V=2, no padding/extension/CSRCs.
        out.push(u8::from(marker) << 7 | PAYLOAD_TYPE);
        out.extend_from_slice(&self.next_seq.to_be_bytes());
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        self.next_seq = self.next_seq.wrapping_add(1);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self
            .octets
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
    }
}

/// Splits one access unit into RTP packets, one packet per [`AuPacketizer::write_next`] call,
/// so the caller decides how many to batch per socket write.
///
/// Parameter sets go first as single NAL unit packets; NAL units larger than the payload limit
/// become FU-A fragments; the marker bit is set on the access unit's last packet.
#[derive(Debug)]
pub(crate) struct AuPacketizer<'a> {
    params: std::slice::Iter<'a, Bytes>,
    nals: AvcNals<'a>,
    /// The NAL unit being fragmented and how much of its payload (after the header) is sent.
    current: Option<(&'a [u8], usize)>,
    timestamp: u32,
    max_payload: usize,
}

impl<'a> AuPacketizer<'a> {
    /// `params` is empty for non-key frames; `avc` is AVC length-prefixed NAL units.
    pub(crate) fn new(params: &'a [Bytes], avc: &'a [u8], timestamp: u32) -> Self {
        Self::with_max_payload(params, avc, timestamp, MAX_PAYLOAD)
    }

    pub(crate) fn with_max_payload(
        params: &'a [Bytes],
        avc: &'a [u8],
        timestamp: u32,
        max_payload: usize,
    ) -> Self {
        Self {
            params: params.iter(),
            nals: AvcNals::new(avc),
            current: None,
            timestamp,
            max_payload: max_payload.max(3),
        }
    }

    /// Appends the next packet (with `framing`) to `out`; returns false once the access unit is
    /// exhausted.
    pub(crate) fn write_next(
        &mut self,
        rtp: &mut RtpSender,
        framing: Framing,
        out: &mut Vec<u8>,
    ) -> bool {
        if let Some(param) = self.params.next() {
            self.single(rtp, framing, out, param, false);
            return true;
        }
        let (nal, sent) = match self.current.take() {
            Some(c) => c,
            None => match self.nals.next() {
                Some(nal) if !nal.is_empty() => (nal, 0),
                _ => return false,
            },
        };
        let last_nal = self.nals.clone().next().is_none();
        if sent == 0 && nal.len() <= self.max_payload {
            self.single(rtp, framing, out, nal, last_nal);
            return true;
        }
        // FU-A: the NAL header is replaced by the FU indicator + FU header.
        let body = &nal[1..];
        let chunk = (body.len() - sent).min(self.max_payload - 2);
        let end = sent + chunk == body.len();
        let start = framing.begin(out);
        rtp.header(out, self.timestamp, end && last_nal, chunk + 2);
        out.push((nal[0] & 0xe0) | FU_A);
        out.push(u8::from(sent == 0) << 7 | u8::from(end) << 6 | (nal[0] & 0x1f));
        out.extend_from_slice(&body[sent..sent + chunk]);
        framing.finish(out, start);
        if !end {
            self.current = Some((nal, sent + chunk));
        }
        true
    }

    fn single(
        &self,
        rtp: &mut RtpSender,
        framing: Framing,
        out: &mut Vec<u8>,
        nal: &[u8],
        marker: bool,
    ) {
        let start = framing.begin(out);
        rtp.header(out, self.timestamp, marker, nal.len());
        out.extend_from_slice(nal);
        framing.finish(out, start);
    }
}

/// Wall-clock time as a 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point).
pub(crate) fn ntp_timestamp(now: SystemTime) -> u64 {
    const UNIX_TO_NTP_SECS: u64 = 2_208_988_800;
    let since_unix = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_unix.as_secs() + UNIX_TO_NTP_SECS;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Appends a compound RTCP packet: a sender report (no report blocks) plus an SDES CNAME, as
/// RFC 3550 section 6.1 requires of every compound packet.
pub(crate) fn write_sender_report(
    out: &mut Vec<u8>,
    framing: Framing,
    rtp: &RtpSender,
    ntp: u64,
    rtp_timestamp: u32,
) {
    const CNAME: &[u8] = b"vms-sim";
    let start = framing.begin(out);
    // SR: V=2, RC=0, PT=200, length = 6 words after the first.
    out.extend_from_slice(&[0x80, 200, 0, 6]);
    out.extend_from_slice(&rtp.ssrc.to_be_bytes());
    out.extend_from_slice(&ntp.to_be_bytes());
    out.extend_from_slice(&rtp_timestamp.to_be_bytes());
    out.extend_from_slice(&rtp.packets.to_be_bytes());
    out.extend_from_slice(&rtp.octets.to_be_bytes());
    // SDES: one chunk = SSRC, CNAME item, end-of-items null, padded to a 32-bit boundary.
    let chunk_len = 4 + 2 + CNAME.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    let words = u16::try_from(padded / 4).unwrap_or(u16::MAX);
    out.extend_from_slice(&[0x81, 202]);
    out.extend_from_slice(&words.to_be_bytes());
    out.extend_from_slice(&rtp.ssrc.to_be_bytes());
    out.push(1); // CNAME
    out.push(u8::try_from(CNAME.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(CNAME);
    out.resize(out.len() + padded - chunk_len + 1, 0);
    framing.finish(out, start);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RTP_HEADER_LEN: usize = 12;

    #[derive(Debug)]
    struct Pkt {
        marker: bool,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: Vec<u8>,
    }

    /// Splits interleaved output back into RTP packets, checking the framing.
    fn parse_interleaved(mut buf: &[u8], channel: u8) -> Vec<Pkt> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            assert_eq!(buf[0], b'$');
            assert_eq!(buf[1], channel);
            let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            let p = &buf[4..4 + len];
            assert_eq!(p[0], 0x80);
            assert_eq!(p[1] & 0x7f, PAYLOAD_TYPE);
            out.push(Pkt {
                marker: p[1] & 0x80 != 0,
                seq: u16::from_be_bytes([p[2], p[3]]),
                ts: u32::from_be_bytes(p[4..8].try_into().unwrap()),
                ssrc: u32::from_be_bytes(p[8..12].try_into().unwrap()),
                payload: p[RTP_HEADER_LEN..].to_vec(),
            });
            buf = &buf[4 + len..];
        }
        out
    }

    /// Reassembles NAL units from single-NAL and FU-A payloads (the receiver's side of RFC 6184).
    fn depacketize(pkts: &[Pkt]) -> Vec<Vec<u8>> {
        let mut nals = Vec::new();
        let mut frag: Option<Vec<u8>> = None;
        for p in pkts {
            let t = p.payload[0] & 0x1f;
            if t == FU_A {
                let (ind, hdr) = (p.payload[0], p.payload[1]);
                let (s, e) = (hdr & 0x80 != 0, hdr & 0x40 != 0);
                if s {
                    assert!(frag.is_none());
                    frag = Some(vec![(ind & 0xe0) | (hdr & 0x1f)]);
                }
                let f = frag.as_mut().unwrap();
                f.extend_from_slice(&p.payload[2..]);
                if e {
                    nals.push(frag.take().unwrap());
                }
            } else {
                assert!(frag.is_none());
                nals.push(p.payload.clone());
            }
        }
        assert!(frag.is_none());
        nals
    }

    fn avc(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&u32::try_from(n.len()).unwrap().to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    fn packetize(params: &[Bytes], data: &[u8], ts: u32, rtp: &mut RtpSender) -> Vec<u8> {
        let mut p = AuPacketizer::new(params, data, ts);
        let mut out = Vec::new();
        while p.write_next(rtp, Framing::Interleaved(0), &mut out) {}
        out
    }

    #[test]
    fn fu_a_splits_and_reassembles_a_5000_byte_nal() {
        let mut big = vec![0x65u8]; // nal_ref_idc=3, IDR slice
        big.extend((0..4999u32).map(|i| (i % 251) as u8));
        let data = avc(&[&big]);
        let mut rtp = RtpSender::new(0x1234_5678, 65_534);
        let pkts = parse_interleaved(&packetize(&[], &data, 42, &mut rtp), 0);
        assert_eq!(pkts.len(), 4999usize.div_ceil(MAX_PAYLOAD - 2));
        assert!(pkts.iter().all(|p| p.payload.len() <= MAX_PAYLOAD));
        assert!(pkts.iter().all(|p| p.ts == 42 && p.ssrc == 0x1234_5678));
        let seqs: Vec<u16> = pkts.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [65_534, 65_535, 0, 1], "sequence numbers wrap");
        let markers: Vec<bool> = pkts.iter().map(|p| p.marker).collect();
        assert_eq!(markers, [false, false, false, true]);
        assert_eq!(pkts[0].payload[0], 0x60 | FU_A, "FU indicator keeps NRI");
        assert_eq!(pkts[0].payload[1], 0x80 | 5, "start bit + type");
        assert_eq!(pkts[3].payload[1], 0x40 | 5, "end bit + type");
        assert_eq!(depacketize(&pkts), vec![big]);
        assert_eq!(rtp.packets, 4);
        assert_eq!(rtp.octets, 4999 + 4 * 2);
    }

    #[test]
    fn params_then_nals_with_marker_only_on_last() {
        let params = [
            Bytes::from_static(&[0x67, 1, 2]),
            Bytes::from_static(&[0x68, 3]),
        ];
        let sei = [0x06u8, 9, 9];
        let slice: Vec<u8> = std::iter::once(0x65)
            .chain(std::iter::repeat_n(7, 3000))
            .collect();
        let data = avc(&[&sei, &slice]);
        let mut rtp = RtpSender::new(1, 100);
        let pkts = parse_interleaved(&packetize(&params, &data, 7, &mut rtp), 0);
        let markers: Vec<bool> = pkts.iter().map(|p| p.marker).collect();
        assert_eq!(markers, [false, false, false, false, false, true]);
        let nals = depacketize(&pkts);
        assert_eq!(
            nals,
            vec![params[0].to_vec(), params[1].to_vec(), sei.to_vec(), slice]
        );

        // A small non-key frame is one packet with the marker set.
        let p_frame = avc(&[&[0x41, 1, 2, 3]]);
        let pkts = parse_interleaved(&packetize(&[], &p_frame, 3007, &mut rtp), 0);
        assert_eq!(pkts.len(), 1);
        assert!(pkts[0].marker);
        assert_eq!(pkts[0].seq, 106);
        assert_eq!(pkts[0].payload, [0x41, 1, 2, 3]);
    }

    #[test]
    fn datagram_framing_has_no_prefix() {
        let data = avc(&[&[0x41, 5]]);
        let mut p = AuPacketizer::new(&[], &data, 0);
        let mut out = Vec::new();
        let mut rtp = RtpSender::new(1, 0);
        assert!(p.write_next(&mut rtp, Framing::Datagram, &mut out));
        assert_eq!(out.len(), RTP_HEADER_LEN + 2);
        assert_eq!(out[0], 0x80);
        assert!(!p.write_next(&mut rtp, Framing::Datagram, &mut out));
    }

    #[test]
    fn truncated_avc_stops_without_panicking() {
        let mut rtp = RtpSender::new(1, 0);
        let out = packetize(&[], &[0, 0, 0, 9, 0x41], 0, &mut rtp);
        assert!(out.is_empty());
    }

    #[test]
    fn sender_report_layout() {
        let mut rtp = RtpSender::new(0xdead_beef, 0);
        rtp.packets = 10;
        rtp.octets = 12_345;
        let mut out = Vec::new();
        write_sender_report(
            &mut out,
            Framing::Interleaved(1),
            &rtp,
            0x0102_0304_0506_0708,
            99,
        );
        assert_eq!(&out[..2], b"$\x01");
        let len = usize::from(u16::from_be_bytes([out[2], out[3]]));
        let p = &out[4..];
        assert_eq!(p.len(), len);
        assert_eq!(len % 4, 0);
        assert_eq!(&p[..4], &[0x80, 200, 0, 6]);
        assert_eq!(&p[4..8], &0xdead_beef_u32.to_be_bytes());
        assert_eq!(&p[8..16], &0x0102_0304_0506_0708_u64.to_be_bytes());
        assert_eq!(&p[16..20], &99u32.to_be_bytes());
        assert_eq!(&p[20..24], &10u32.to_be_bytes());
        assert_eq!(&p[24..28], &12_345u32.to_be_bytes());
        let sdes = &p[28..];
        assert_eq!(sdes[1], 202);
        assert_eq!(
            usize::from(u16::from_be_bytes([sdes[2], sdes[3]])) * 4 + 4,
            sdes.len()
        );
        assert_eq!(&sdes[8..10], &[1, 7]);
        assert_eq!(&sdes[10..17], b"vms-sim");
    }

    #[test]
    fn ntp_epoch() {
        assert_eq!(ntp_timestamp(UNIX_EPOCH), 2_208_988_800 << 32);
        let half = UNIX_EPOCH + std::time::Duration::from_millis(1500);
        assert_eq!(ntp_timestamp(half), ((2_208_988_801) << 32) | (1 << 31));
    }
}
