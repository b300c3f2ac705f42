//! Ingest hot-path bench: RTP packets → access units through retina, next to a baseline
//! measured in the same run (copying the same payload bytes, the least any reassembly does).
//!
//! The packets are two GOPs (60 frames) of the simulator's built-in 720p clip, with SPS/PPS
//! before each keyframe as the simulator sends them, cut by retina's own H.264 packetizer at a
//! 1400-byte payload (the simulator's packetizer is crate-private; both emit single-NAL and
//! FU-A packets). Depacketization follows the path a live session takes: header validation,
//! the in-order sequence/SSRC checker, the timeline, and the H.264 depacketizer in
//! `FrameFormat::MP4` (length-prefixed NAL units, as the recorder stores them).

use std::num::NonZeroU32;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use retina::client::rtp::InorderParser;
use retina::client::{SessionOptions, Timeline, UnknownRtcpSsrcPolicy};
use retina::codec::{CodecItem, Depacketizer, FrameFormat};
use vms_sim::Clip;

const SSRC: u32 = 0x1234_5678;
const SEQ0: u16 = 4242;
const TS0: u32 = 1_000_000;

/// Raw RTP packets (header + payload) of the clip's first `frames` frames.
fn packets(frames: usize) -> Vec<Bytes> {
    let clip = Clip::builtin();
    let mut p = retina::codec::h264::Packetizer::new(1400, 0, SEQ0, 96, SSRC).expect("packetizer");
    let rate = NonZeroU32::new(90_000).expect("nonzero");
    let mut out = Vec::new();
    let mut pts = 0i64;
    for f in clip.frames().iter().take(frames) {
        let mut au = BytesMut::new();
        if f.keyframe {
            for ps in [clip.sps(), clip.pps()] {
                au.put_u32(u32::try_from(ps.len()).expect("small"));
                au.put_slice(ps);
            }
        }
        au.put_slice(&f.data);
        let ts = retina::Timestamp::new(i64::from(TS0) + pts, rate, TS0).expect("timestamp");
        p.push(ts, au.freeze()).expect("push");
        while let Some(pkt) = p.pull().expect("pull") {
            out.push(Bytes::copy_from_slice(pkt.raw()));
        }
        pts += i64::from(f.duration_90k);
    }
    out
}

/// Feeds every packet through retina as a live TCP session would; returns frames and bytes out.
fn depacketize(pkts: &[Bytes]) -> (usize, usize) {
    let mut timeline = Timeline::new(Some(TS0), 90_000, None).expect("timeline");
    let mut parser = InorderParser::new(Some(SSRC), Some(SEQ0), UnknownRtcpSsrcPolicy::Default);
    let mut d = Depacketizer::new("video", "h264", 90_000, None, Some("packetization-mode=1"))
        .expect("depacketizer");
    d.set_frame_format(FrameFormat::MP4);
    let mut buf = retina::testutil::DepacketizeBuf::new(1 << 16);
    let opts = SessionOptions::default();
    let conn_ctx = retina::ConnectionContext::dummy();
    let stream_ctx = retina::StreamContext::dummy();
    let pkt_ctx = retina::PacketContext::dummy();
    let (mut frames, mut bytes) = (0, 0);
    for p in pkts {
        let (header, range) = retina::rtp::PacketHeader::validate(&p[..]).expect("valid RTP");
        let meta = parser
            .rtp(
                &opts,
                &stream_ctx,
                None,
                &conn_ctx,
                &pkt_ctx,
                &mut timeline,
                0,
                &header,
            )
            .expect("in order")
            .expect("not dropped");
        let payload = &p[usize::from(range.start)..usize::from(range.end)];
        buf.push(&mut d, meta, payload).expect("push");
        while let Some(item) = d.pull() {
            if let CodecItem::VideoFrame(v) = item.expect("frame") {
                frames += 1;
                bytes += std::hint::black_box(v.data()).len();
            }
        }
    }
    (frames, bytes)
}

fn rtp_to_access_unit(c: &mut Criterion) {
    let pkts = packets(60);
    let wire: usize = pkts.iter().map(|p| p.len()).sum();
    let (frames, _) = depacketize(&pkts);
    assert_eq!(frames, 60, "every access unit comes out");
    let mut g = c.benchmark_group("rtp_to_access_unit");
    g.throughput(Throughput::Bytes(wire as u64));
    g.bench_function("retina_h264_60_frames_720p", |b| {
        b.iter(|| depacketize(std::hint::black_box(&pkts)))
    });
    g.bench_function("baseline_memcpy_payloads", |b| {
        b.iter(|| {
            let mut v = Vec::with_capacity(wire);
            for p in std::hint::black_box(&pkts) {
                v.extend_from_slice(&p[12..]);
            }
            std::hint::black_box(v)
        })
    });
    g.finish();
}

criterion_group!(benches, rtp_to_access_unit);
criterion_main!(benches);
