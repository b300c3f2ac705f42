//! Pure H.264 and SDP helpers for live view: the camera's MP4-style access units (4-byte NAL
//! lengths, parameter sets out of band) become the Annex B byte stream a WebRTC packetizer
//! takes, with SPS/PPS in front of every keyframe so a viewer can start at any keyframe.

use bytes::Bytes;

/// Why a camera's stream cannot be forwarded as is.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum H264Error {
    #[error("decoder configuration record is truncated or malformed")]
    BadConfig,
    #[error("access unit is truncated: NAL length {len} at offset {at} overruns {total} bytes")]
    BadAccessUnit { at: usize, len: usize, total: usize },
}

/// The SPS and PPS NAL units of an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.3.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterSets {
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
    /// `profile_idc`, `constraint flags`, `level_idc` of the first SPS, as in SDP's
    /// `profile-level-id`.
    pub profile_level_id: u32,
}

/// Parses an `avcC` record.
pub fn parse_avcc(record: &Bytes) -> Result<ParameterSets, H264Error> {
    let b = record.as_ref();
    if b.len() < 7 || b[0] != 1 {
        return Err(H264Error::BadConfig);
    }
    let profile_level_id = u32::from(b[1]) << 16 | u32::from(b[2]) << 8 | u32::from(b[3]);
    let mut at = 5;
    let take_list = |at: &mut usize, count: usize| -> Result<Vec<Bytes>, H264Error> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let len = b
                .get(*at..*at + 2)
                .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                .ok_or(H264Error::BadConfig)?;
            let start = *at + 2;
            if start + len > b.len() || len == 0 {
                return Err(H264Error::BadConfig);
            }
            out.push(record.slice(start..start + len));
            *at = start + len;
        }
        Ok(out)
    };
    let n_sps = usize::from(b[at] & 0x1f);
    at += 1;
    let sps = take_list(&mut at, n_sps)?;
    let n_pps = usize::from(*b.get(at).ok_or(H264Error::BadConfig)?);
    at += 1;
    let pps = take_list(&mut at, n_pps)?;
    if sps.is_empty() || pps.is_empty() {
        return Err(H264Error::BadConfig);
    }
    Ok(ParameterSets {
        sps,
        pps,
        profile_level_id,
    })
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Converts one access unit of 4-byte-length-prefixed NAL units to Annex B, putting the
/// parameter sets first when `keyframe` (the camera sends them out of band, but a WebRTC
/// decoder only learns them in band).
pub fn to_annex_b(data: &[u8], keyframe: bool, sets: &ParameterSets) -> Result<Vec<u8>, H264Error> {
    let mut out = Vec::with_capacity(data.len() + if keyframe { 64 } else { 0 });
    if keyframe {
        for nal in sets.sps.iter().chain(&sets.pps) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
    }
    let mut at = 0;
    while at < data.len() {
        let len = data
            .get(at..at + 4)
            .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
            .ok_or(H264Error::BadAccessUnit {
                at,
                len: 4,
                total: data.len(),
            })?;
        let nal =
            data.get(at + 4..at + 4 + len)
                .filter(|_| len > 0)
                .ok_or(H264Error::BadAccessUnit {
                    at,
                    len,
                    total: data.len(),
                })?;
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
        at += 4 + len;
    }
    Ok(out)
}

/// The attribute lines (`a=…`, prefix removed) of each video section of an SDP that is not
/// rejected (port 0), one `Vec` per section.
fn video_sections(sdp: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut in_video = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut f = m.split_whitespace();
            in_video = f.next() == Some("video") && f.next() != Some("0");
            if in_video {
                out.push(Vec::new());
            }
        } else if in_video
            && let (Some(attr), Some(section)) = (line.strip_prefix("a="), out.last_mut())
        {
            section.push(attr);
        }
    }
    out
}

/// Whether an SDP offer has a video section with an H.264 payload type (RFC 6184 `rtpmap`).
/// Checked before any WebRTC state is built for the offer, so a client that cannot receive
/// H.264 gets a clear answer instead of a session that never shows a picture.
pub fn offer_has_h264_video(sdp: &str) -> bool {
    video_sections(sdp).iter().flatten().any(|a| {
        a.strip_prefix("rtpmap:")
            .and_then(|m| m.split_whitespace().nth(1))
            .is_some_and(|enc| enc.to_ascii_uppercase().starts_with("H264/"))
    })
}

/// The `a=mid` of each non-rejected video section of an SDP offer, in order.
pub fn offer_video_mids(sdp: &str) -> Vec<String> {
    video_sections(sdp)
        .iter()
        .filter_map(|attrs| attrs.iter().find_map(|a| a.strip_prefix("mid:")))
        .map(|m| m.trim().to_owned())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn avcc() -> Bytes {
        let sps = [0x67, 0x64, 0x00, 0x28, 0xac];
        let pps = [0x68, 0xee, 0x3c, 0x80];
        let mut b = vec![1, 0x64, 0x00, 0x28, 0xff, 0xe1, 0, sps.len() as u8];
        b.extend_from_slice(&sps);
        b.extend_from_slice(&[1, 0, pps.len() as u8]);
        b.extend_from_slice(&pps);
        Bytes::from(b)
    }

    #[test]
    fn parameter_sets_come_first_on_keyframes_only() {
        let sets = parse_avcc(&avcc()).unwrap();
        assert_eq!(sets.profile_level_id, 0x640028);
        let au = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06];
        let key = to_annex_b(&au, true, &sets).unwrap();
        assert_eq!(
            key,
            [
                0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xac, 0, 0, 0, 1, 0x68, 0xee, 0x3c, 0x80, 0, 0,
                0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x06
            ]
        );
        let p = to_annex_b(&au, false, &sets).unwrap();
        assert_eq!(p, [0, 0, 0, 1, 0x65, 0x88, 0, 0, 0, 1, 0x06]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let sets = parse_avcc(&avcc()).unwrap();
        assert!(to_annex_b(&[0, 0, 0, 9, 1], false, &sets).is_err());
        assert!(to_annex_b(&[0, 0], false, &sets).is_err());
        assert!(to_annex_b(&[0, 0, 0, 0], false, &sets).is_err());
        let full = avcc();
        for cut in 0..full.len() {
            assert!(parse_avcc(&full.slice(..cut)).is_err(), "cut at {cut}");
        }
        assert!(parse_avcc(&Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6])).is_err());
    }

    #[test]
    fn h264_offer_detection() {
        let chrome = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
                      m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\n\
                      a=rtpmap:102 H264/90000\r\n";
        assert!(offer_has_h264_video(chrome));
        let vp8 = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert!(!offer_has_h264_video(vp8));
        let audio_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n";
        assert!(!offer_has_h264_video(audio_only));
        let rejected = "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n";
        assert!(!offer_has_h264_video(rejected));
        let two = "v=0\r\nm=audio 9 X 111\r\na=mid:a\r\nm=video 9 X 96\r\na=mid:v1\r\n\
                   m=video 0 X 96\r\na=mid:v2\r\nm=video 9 X 96\r\na=mid:v3\r\n";
        assert_eq!(offer_video_mids(two), ["v1", "v3"]);
    }
}
