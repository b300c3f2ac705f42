//! Parsing of the human units the command line takes (`60s`, `4M`, `10,100,1000`), kept pure
//! so the CLI rejects a typo with a message instead of running the wrong benchmark.

use std::time::Duration;

/// `"60s"`, `"60"` (seconds), `"2m"`, `"500ms"`, `"1h"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = split_unit(s);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}; use e.g. 60s, 2m, 500ms"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1000.0,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// Bytes from `"1GiB"`, `"64MiB"`, `"512KiB"`, `"1000"` (binary units only, so there is no
/// doubt which is meant).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = split_unit(s);
    let v: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}; use e.g. 1GiB, 64MiB"))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("bad size unit in {s:?}; use B, KiB, MiB or GiB")),
    };
    v.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} too large"))
}

/// Bits per second from `"4M"`, `"2m"`, `"500k"`, `"4000000"`.
pub fn parse_bitrate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = split_unit(s);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad bitrate {s:?}; use e.g. 4M, 500k"))?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        _ => return Err(format!("bad bitrate unit in {s:?}; use k or M")),
    };
    let bps = v * mult;
    if !bps.is_finite() || !(1e3..=1e9).contains(&bps) {
        return Err(format!("bitrate {s:?} out of range (1k..1G)"));
    }
    // In range, so the cast is exact enough.
    Ok(bps.round() as u64)
}

/// `"10,100,500"` → `[10, 100, 500]` (each ≥ 1).
pub fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    let v: Result<Vec<usize>, _> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse::<usize>())
        .collect();
    let v = v.map_err(|_| format!("bad list {s:?}; use e.g. 10,100,1000"))?;
    if v.is_empty() || v.contains(&0) {
        return Err(format!("bad list {s:?}: need numbers ≥ 1"));
    }
    Ok(v)
}

/// `"1920x1080"` → `(1920, 1080)`.
pub fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("bad size {s:?}; use e.g. 1920x1080"))?;
    let w: u16 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in {s:?}"))?;
    let h: u16 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in {s:?}"))?;
    if w < 16 || h < 16 || w % 2 == 1 || h % 2 == 1 {
        return Err(format!("size {s:?}: need even sides ≥ 16"));
    }
    Ok((w, h))
}

fn split_unit(s: &str) -> (&str, &str) {
    let i = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(i)
}

/// `4_000_000` → `"4M"` (the spelling the clip cache and reports use).
pub fn format_bitrate(bps: u64) -> String {
    if bps.is_multiple_of(1_000_000) {
        format!("{}M", bps / 1_000_000)
    } else if bps.is_multiple_of(1000) {
        format!("{}k", bps / 1000)
    } else {
        bps.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("1GB").is_err());
        assert!(parse_bytes("x").is_err());
        assert!(parse_bytes("99999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("4M"), Ok(4_000_000));
        assert_eq!(parse_bitrate("2m"), Ok(2_000_000));
        assert_eq!(parse_bitrate("500k"), Ok(500_000));
        assert_eq!(parse_bitrate("1.5M"), Ok(1_500_000));
        assert_eq!(parse_bitrate("4000000"), Ok(4_000_000));
        assert!(parse_bitrate("4X").is_err());
        assert!(parse_bitrate("10").is_err());
        assert_eq!(format_bitrate(4_000_000), "4M");
        assert_eq!(format_bitrate(1_500_000), "1500k");
    }

    #[test]
    fn lists_and_sizes() {
        assert_eq!(parse_list("10,100, 1000"), Ok(vec![10, 100, 1000]));
        assert!(parse_list("10,0").is_err());
        assert!(parse_list("a").is_err());
        assert!(parse_list("").is_err());
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert!(parse_size("1920").is_err());
        assert!(parse_size("1921x1080").is_err());
    }
}
