//! What the recorder reads from a stream's parameter sets: how many frames a decoder may have
//! to hold back to put pictures in presentation order (the *reorder depth*), so that the
//! recorder's reorder window ([`crate::reorder`]) is as deep as the stream needs and no deeper:
//! every frame of window is a frame of commit latency.
//!
//! * H.264: the SPS (parsed with `h264-reader`, which the RTSP client already uses) says it in
//!   its VUI bitstream restriction (`max_num_reorder_frames`), or rules reordering out (the
//!   Baseline profiles have no B-slices; picture order count type 2 is decode order).
//! * H.265: every SPS says it (`sps_max_num_reorder_pics` of the highest sub-layer), read here:
//!   the few fields before it are fixed by the syntax and no maintained Rust crate parses them.
//!
//! Anything that does not parse gives `None`: the caller keeps its default window.

use h264_reader::nal::sps::{PicOrderCntType, SeqParameterSet};
use h264_reader::rbsp::{self, BitRead, BitReader};

/// The deepest reorder window the recorder will hold, whatever a stream claims (the H.264 and
/// H.265 limit on the decoded picture buffer).
pub const MAX_REORDER_DEPTH: u32 = 16;

/// The reorder depth a `VisualSampleEntry` (`avc1`/`avc3` with `avcC`, `hvc1`/`hev1` with
/// `hvcC`) declares, at most [`MAX_REORDER_DEPTH`]; `None` when it says nothing readable.
pub fn reorder_depth(sample_entry: &[u8]) -> Option<u32> {
    // Box header (8) and the VisualSampleEntry's fixed fields (78), then its child boxes.
    let mut children = sample_entry.get(86..)?;
    while children.len() >= 8 {
        let size = usize::try_from(u32::from_be_bytes(children[..4].try_into().ok()?)).ok()?;
        if size < 8 || size > children.len() {
            return None;
        }
        let body = &children[8..size];
        let depth = match &children[4..8] {
            b"avcC" => avc_depth(body),
            b"hvcC" => hevc_depth(body),
            _ => None,
        };
        if depth.is_some() {
            return depth.map(|d| d.min(MAX_REORDER_DEPTH));
        }
        children = &children[size..];
    }
    None
}

/// From an `AVCDecoderConfigurationRecord`: its first SPS.
fn avc_depth(record: &[u8]) -> Option<u32> {
    let n_sps = record.get(5)? & 0x1f;
    if n_sps == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*record.get(6)?, *record.get(7)?]));
    h264_sps_depth(record.get(8..8 + len)?)
}

/// From an H.264 SPS NAL unit (with its header byte).
pub fn h264_sps_depth(nal: &[u8]) -> Option<u32> {
    // `decode_nal` assumes a header byte and a payload (it underflows on less).
    if nal.len() < 4 {
        return None;
    }
    let rbsp = rbsp::decode_nal(nal).ok()?;
    let sps = SeqParameterSet::from_bits(BitReader::new(&*rbsp)).ok()?;
    if let Some(r) = sps
        .vui_parameters
        .as_ref()
        .and_then(|v| v.bitstream_restrictions.as_ref())
    {
        return Some(r.max_num_reorder_frames);
    }
    // Baseline (66), and Constrained Baseline, have no B-slices; picture order type 2 is
    // output in decode order.
    let baseline = u8::from(sps.profile_idc) == 66;
    if baseline || matches!(sps.pic_order_cnt, PicOrderCntType::TypeTwo) {
        return Some(0);
    }
    None
}

/// From an `HEVCDecoderConfigurationRecord`: its first SPS (NAL unit type 33).
fn hevc_depth(record: &[u8]) -> Option<u32> {
    let mut arrays = record.get(23..)?;
    let n_arrays = *record.get(22)?;
    for _ in 0..n_arrays {
        let nal_type = arrays.first()? & 0x3f;
        let count = u16::from_be_bytes([*arrays.get(1)?, *arrays.get(2)?]);
        arrays = arrays.get(3..)?;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*arrays.first()?, *arrays.get(1)?]));
            let nal = arrays.get(2..2 + len)?;
            if nal_type == 33 {
                return h265_sps_depth(nal);
            }
            arrays = arrays.get(2 + len..)?;
        }
    }
    None
}

/// From an H.265 SPS NAL unit (with its two header bytes): `sps_max_num_reorder_pics` of the
/// highest temporal sub-layer (ITU-T H.265 § 7.3.2.2.1).
pub fn h265_sps_depth(nal: &[u8]) -> Option<u32> {
    // `decode_nal` skips one header byte; skipping the first here drops both. It assumes a
    // payload after the header (and underflows on less).
    if nal.len() < 4 {
        return None;
    }
    let rbsp = rbsp::decode_nal(nal.get(1..)?).ok()?;
    let mut r = BitReader::new(&*rbsp);
    r.skip(4, "sps_video_parameter_set_id").ok()?;
    let max_sub_layers_minus1 = r.read::<u32>(3, "sps_max_sub_layers_minus1").ok()?;
    r.skip(1, "sps_temporal_id_nesting_flag").ok()?;
    // profile_tier_level(1, sps_max_sub_layers_minus1): the general profile (88 bits) and
    // level (8), which sub-layers carry their own, 2 reserved bits per absent sub-layer slot,
    // then those sub-layers' profiles (88) and levels (8).
    r.skip(96, "general_profile_and_level").ok()?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        let profile = r.read_bool("sub_layer_profile_present_flag").ok()?;
        let level = r.read_bool("sub_layer_level_present_flag").ok()?;
        present.push((profile, level));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1), "reserved_zero_2bits")
            .ok()?;
    }
    for (profile, level) in present {
        if profile {
            r.skip(88, "sub_layer_profile").ok()?;
        }
        if level {
            r.skip(8, "sub_layer_level_idc").ok()?;
        }
    }
    r.read_ue("sps_seq_parameter_set_id").ok()?;
    if r.read_ue("chroma_format_idc").ok()? == 3 {
        r.skip(1, "separate_colour_plane_flag").ok()?;
    }
    r.read_ue("pic_width_in_luma_samples").ok()?;
    r.read_ue("pic_height_in_luma_samples").ok()?;
    if r.read_bool("conformance_window_flag").ok()? {
        for name in ["left", "right", "top", "bottom"] {
            r.read_ue(name).ok()?;
        }
    }
    r.read_ue("bit_depth_luma_minus8").ok()?;
    r.read_ue("bit_depth_chroma_minus8").ok()?;
    r.read_ue("log2_max_pic_order_cnt_lsb_minus4").ok()?;
    let all_layers = r
        .read_bool("sps_sub_layer_ordering_info_present_flag")
        .ok()?;
    let first = if all_layers { 0 } else { max_sub_layers_minus1 };
    let mut depth = None;
    for _ in first..=max_sub_layers_minus1 {
        r.read_ue("sps_max_dec_pic_buffering_minus1").ok()?;
        depth = Some(r.read_ue("sps_max_num_reorder_pics").ok()?);
        r.read_ue("sps_max_latency_increase_plus1").ok()?;
    }
    depth
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nal(hex: &str) -> Vec<u8> {
        hex::decode(hex).unwrap()
    }

    // SPS written by x264 and x265 (ffmpeg 7, 320×240 test pattern).
    const X264_BASELINE: &str = "6742c00dd90141fb011000000300100000030320f142a480";
    const X264_MAIN_NO_B: &str = "674d400dd90141fb011000000300100000030320f142a480";
    const X264_HIGH_3B: &str = "6764000dacd94141fb011000000300100000030320f1429960";
    const X265_NO_B: &str =
        "42010101600000030090000003000003003ca00a080f16592a4932bc05a02000000300200000030321";
    const X265_3B: &str =
        "42010101600000030090000003000003003ca00a080f16595964932bc05a020000030002000003003210";

    #[test]
    fn h264_depth_from_the_sps() {
        assert_eq!(h264_sps_depth(&nal(X264_BASELINE)), Some(0));
        assert_eq!(h264_sps_depth(&nal(X264_MAIN_NO_B)), Some(0));
        assert_eq!(h264_sps_depth(&nal(X264_HIGH_3B)), Some(2));
    }

    #[test]
    fn h265_depth_from_the_sps() {
        assert_eq!(h265_sps_depth(&nal(X265_NO_B)), Some(0));
        assert_eq!(h265_sps_depth(&nal(X265_3B)), Some(2));
    }

    /// A sample entry as the recorder stores it: box header, the fixed VisualSampleEntry
    /// fields, then the configuration record (and, here, a `pasp` box before it).
    fn entry(kind: &[u8; 4], config: &[u8; 4], record: &[u8]) -> Vec<u8> {
        let mut children = Vec::new();
        children.extend_from_slice(&16u32.to_be_bytes());
        children.extend_from_slice(b"pasp");
        children.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        children.extend_from_slice(&(8 + record.len() as u32).to_be_bytes());
        children.extend_from_slice(config);
        children.extend_from_slice(record);
        let mut e = Vec::new();
        e.extend_from_slice(&(8 + 78 + children.len() as u32).to_be_bytes());
        e.extend_from_slice(kind);
        e.extend_from_slice(&[0; 78]);
        e.extend_from_slice(&children);
        e
    }

    #[test]
    fn depth_from_avcc_and_hvcc_sample_entries() {
        let sps = nal(X264_HIGH_3B);
        let mut avcc = vec![1, 0x64, 0, 0x0d, 0xff, 0xe1];
        avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        avcc.extend_from_slice(&sps);
        avcc.extend_from_slice(&[0]); // no PPS (not read)
        assert_eq!(reorder_depth(&entry(b"avc1", b"avcC", &avcc)), Some(2));

        let sps = nal(X265_3B);
        let mut hvcc = vec![0u8; 22];
        hvcc[0] = 1;
        hvcc.push(2); // two arrays: a VPS (type 32) first, then the SPS
        hvcc.extend_from_slice(&[0x80 | 32, 0, 1, 0, 2, 0x40, 0x01]);
        hvcc.extend_from_slice(&[0x80 | 33, 0, 1]);
        hvcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        hvcc.extend_from_slice(&sps);
        assert_eq!(reorder_depth(&entry(b"hvc1", b"hvcC", &hvcc)), Some(2));
    }

    #[test]
    fn anything_unreadable_says_nothing() {
        assert_eq!(reorder_depth(&[]), None);
        assert_eq!(reorder_depth(&entry(b"avc1", b"avcC", &[1, 2, 3])), None);
        let mut lying = entry(
            b"avc1",
            b"avcC",
            &[1, 0x64, 0, 0x0d, 0xff, 0xe1, 0xff, 0xff],
        );
        assert_eq!(reorder_depth(&lying), None);
        lying.truncate(90);
        assert_eq!(reorder_depth(&lying), None);
        assert_eq!(h265_sps_depth(&[0x42]), None);
        assert_eq!(h264_sps_depth(&[0x67, 0x64]), None);
    }
}
