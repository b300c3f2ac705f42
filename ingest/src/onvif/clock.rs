//! The camera's clock offset from GetSystemDateAndTime, pure.
//!
//! Two things need it. WS-Security: cameras reject a UsernameToken whose `Created` is more than
//! a few minutes off *their* clock, so tokens are dated on the camera's clock. Evidence: the
//! offset is stored with each recording run (`RunRow::clock_offset_us`) so the manifest can say
//! how far the camera's own overlay time was from the recorder's.
//!
//! Devices report UTC and/or local time plus a POSIX TZ string, and many get one of them wrong:
//! local time in the UTC field, a TZ with the sign inverted ("GMT+08:00" meaning UTC+8, which
//! POSIX reads as UTC−8), a daylight-saving flag that contradicts the TZ, or a clock reset to
//! 1970 after a power cut. The UTC field wins when present (it is what the device checks tokens
//! against); every disagreement is kept as a [`ClockQuirk`] for the evidence notes, and the
//! client tries the plausible alternatives before giving up on authentication.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::OnvifError;
use super::soap::{CivilTime, SystemDateTime};

/// Where the camera's time came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// `UTCDateTime` (the normal case).
    Utc,
    /// Only `LocalDateTime`, converted with the device's TZ string.
    LocalWithTz,
    /// Only `LocalDateTime` and an unusable TZ: taken as UTC.
    LocalAssumedUtc,
}

/// A way in which the device's time report contradicts itself or the world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockQuirk {
    /// No `UTCDateTime`; the offset rests on the TZ string.
    LocalTimeOnly,
    /// The TZ string is neither POSIX nor a known IANA name.
    TzUnparseable(String),
    /// Local − UTC as reported differs from what the TZ string implies (often an inverted sign).
    TzDisagrees {
        tz_offset_secs: i32,
        reported_offset_secs: i32,
    },
    /// UTC and local fields are equal though the TZ says they should differ: the "UTC" field
    /// may really be local time.
    UtcLooksLikeLocal { tz_offset_secs: i32 },
    /// The DaylightSavings flag contradicts the TZ rules at this instant.
    DstFlagDisagrees { flag: bool, tz_says: bool },
    /// The clock reads before 2016: reset (power loss, no NTP), not merely drifting.
    ClockNotSet { year: i32 },
    /// A field was present but unusable.
    BadField(String),
}

impl std::fmt::Display for ClockQuirk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClockQuirk::LocalTimeOnly => f.write_str("device reports local time only"),
            ClockQuirk::TzUnparseable(tz) => write!(f, "unparseable time zone {tz:?}"),
            ClockQuirk::TzDisagrees {
                tz_offset_secs,
                reported_offset_secs,
            } => write!(
                f,
                "TZ implies UTC{:+}s but local-UTC is {:+}s",
                tz_offset_secs, reported_offset_secs
            ),
            ClockQuirk::UtcLooksLikeLocal { tz_offset_secs } => write!(
                f,
                "UTC and local time are equal although TZ says UTC{tz_offset_secs:+}s"
            ),
            ClockQuirk::DstFlagDisagrees { flag, tz_says } => {
                write!(f, "DaylightSavings={flag} but the TZ rules say {tz_says}")
            }
            ClockQuirk::ClockNotSet { year } => write!(f, "camera clock not set (year {year})"),
            ClockQuirk::BadField(s) => f.write_str(s),
        }
    }
}

/// The measured offset between the camera's clock and the server's.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockOffset {
    /// Camera time − server time, milliseconds. Positive: the camera is ahead.
    pub offset_ms: i64,
    /// Bound on the error: half the round trip plus the half second lost to the device's
    /// whole-second resolution.
    pub uncertainty_ms: i64,
    /// The camera's time as reported, Unix seconds UTC.
    pub camera_unix_secs: i64,
    /// Server time (Unix ms) at the middle of the exchange, the instant the offset refers to.
    pub measured_at_unix_ms: i64,
    /// Camera local time − camera UTC, seconds, when both were reported (what its on-screen
    /// overlay adds to UTC).
    pub camera_utc_offset_secs: Option<i32>,
    pub tz: Option<String>,
    pub source: ClockSource,
    pub quirks: Vec<ClockQuirk>,
    /// Other offsets worth dating a token with if the device rejects the measured one, most
    /// plausible first (e.g. the UTC field corrected by the TZ when it looked like local time).
    pub fallback_offsets_ms: Vec<i64>,
}

impl ClockOffset {
    /// Offsets to try for WS-Security `Created`, in order: the measured one, its plausible
    /// alternatives, then the server's own clock.
    pub fn token_offsets(&self) -> Vec<i64> {
        let mut v = vec![self.offset_ms];
        for o in self.fallback_offsets_ms.iter().copied().chain([0]) {
            if !v.iter().any(|x| (x - o).abs() < 2_000) {
                v.push(o);
            }
        }
        v
    }
}

fn civil(c: &CivilTime) -> Result<DateTime, OnvifError> {
    let bad = |e: jiff::Error| OnvifError::BadValue {
        field: "date/time",
        value: format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02} ({e})",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ),
    };
    let year = i16::try_from(c.year).map_err(|_| OnvifError::BadValue {
        field: "year",
        value: c.year.to_string(),
    })?;
    // A leap second (:60) is read as :59; the offset is whole seconds anyway.
    let second = c.second.min(59);
    // Month, day, hour and minute were range-checked by the parser (≤ 31, ≤ 59).
    DateTime::new(
        year,
        c.month as i8,
        c.day as i8,
        c.hour as i8,
        c.minute as i8,
        second as i8,
        0,
    )
    .map_err(bad)
}

fn as_utc_secs(c: &CivilTime) -> Result<i64, OnvifError> {
    let dt = civil(c)?;
    TimeZone::UTC
        .to_timestamp(dt)
        .map(Timestamp::as_second)
        .map_err(|e| OnvifError::BadValue {
            field: "date/time",
            value: e.to_string(),
        })
}

/// Parses a device TZ string: POSIX first (what ONVIF specifies), then an IANA name (what some
/// newer firmwares send).
pub fn parse_tz(tz: &str) -> Option<TimeZone> {
    TimeZone::posix(tz.trim())
        .ok()
        .or_else(|| TimeZone::get(tz.trim()).ok())
}

/// Computes the offset from a GetSystemDateAndTime answer and the server clock read just
/// before the request was sent and just after the answer arrived (Unix ms).
pub fn clock_offset(
    dt: &SystemDateTime,
    sent_unix_ms: i64,
    received_unix_ms: i64,
) -> Result<ClockOffset, OnvifError> {
    let rtt = (received_unix_ms - sent_unix_ms).max(0);
    let mid = sent_unix_ms + rtt / 2;
    let mut quirks: Vec<ClockQuirk> = dt
        .problems
        .iter()
        .map(|p| ClockQuirk::BadField(p.clone()))
        .collect();
    let tz = dt.tz.as_deref().filter(|t| !t.trim().is_empty());
    let zone = tz.and_then(parse_tz);
    if let (Some(t), None) = (tz, &zone) {
        quirks.push(ClockQuirk::TzUnparseable(t.to_owned()));
    }

    let local_secs = dt.local.as_ref().map(as_utc_secs).transpose()?;
    let (camera, source) = match (&dt.utc, local_secs, &zone) {
        (Some(u), _, _) => (as_utc_secs(u)?, ClockSource::Utc),
        (None, Some(_), Some(z)) => {
            quirks.push(ClockQuirk::LocalTimeOnly);
            let local = dt
                .local
                .as_ref()
                .ok_or(OnvifError::Missing("LocalDateTime"))?;
            let ts = z
                .to_timestamp(civil(local)?)
                .map_err(|e| OnvifError::BadValue {
                    field: "LocalDateTime",
                    value: e.to_string(),
                })?;
            (ts.as_second(), ClockSource::LocalWithTz)
        }
        (None, Some(l), None) => {
            quirks.push(ClockQuirk::LocalTimeOnly);
            (l, ClockSource::LocalAssumedUtc)
        }
        (None, None, _) => {
            return Err(OnvifError::Missing("a usable UTCDateTime or LocalDateTime"));
        }
    };

    let year = jiff::Timestamp::from_second(camera)
        .map(|t| i32::from(t.to_zoned(TimeZone::UTC).year()))
        .unwrap_or(0);
    if year < 2016 {
        quirks.push(ClockQuirk::ClockNotSet { year });
    }

    let offset_ms = camera * 1000 + 500 - mid;
    let mut fallback_offsets_ms = Vec::new();
    let mut camera_utc_offset_secs = None;
    let tz_offset = zone.as_ref().and_then(|z| {
        let ts = Timestamp::from_second(camera).ok()?;
        let info = z.to_offset_info(ts);
        Some((info.offset().seconds(), info.dst().is_dst()))
    });
    if source == ClockSource::Utc
        && let Some(l) = local_secs
    {
        // Round to the quarter hour: the two fields are read a moment apart.
        let reported =
            i32::try_from(((l - camera) as f64 / 900.0).round() as i64 * 900).unwrap_or(0);
        camera_utc_offset_secs = Some(reported);
        if let Some((tz_secs, _)) = tz_offset
            && tz_secs != reported
        {
            if reported == 0 {
                quirks.push(ClockQuirk::UtcLooksLikeLocal {
                    tz_offset_secs: tz_secs,
                });
                // If the "UTC" field is local time, true UTC is field − TZ offset; the
                // inverted-sign reading is the next most likely.
                fallback_offsets_ms.push(offset_ms - i64::from(tz_secs) * 1000);
                fallback_offsets_ms.push(offset_ms + i64::from(tz_secs) * 1000);
            } else {
                quirks.push(ClockQuirk::TzDisagrees {
                    tz_offset_secs: tz_secs,
                    reported_offset_secs: reported,
                });
            }
        }
    }
    if let (Some(flag), Some((_, tz_dst))) = (dt.daylight_savings, tz_offset)
        && flag != tz_dst
    {
        quirks.push(ClockQuirk::DstFlagDisagrees {
            flag,
            tz_says: tz_dst,
        });
    }
    Ok(ClockOffset {
        offset_ms,
        uncertainty_ms: rtt / 2 + 500,
        camera_unix_secs: camera,
        measured_at_unix_ms: mid,
        camera_utc_offset_secs,
        tz: tz.map(str::to_owned),
        source,
        quirks,
        fallback_offsets_ms,
    })
}
