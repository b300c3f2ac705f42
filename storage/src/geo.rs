//! Where cameras are and what they see, and the spatial index that finds them around a point.
//!
//! Each placed camera has one row in `camera_cells`, keyed by the H3 cell (resolution 9, cells
//! of about 0.1 km²) that holds it, then its id. A search walks H3 rings outward from the cell
//! of the point and reads the rows of each ring's cells with one prefix seek per cell, stopping
//! at the first ring no cell of which can reach the circle. It reads the cameras of a few dozen
//! cells, not every camera. Distances are great-circle (haversine, on h3o's mean earth radius),
//! so the antimeridian and the poles need no special case. Why H3 rather than S2 or geohash:
//! `docs/design/registry-map.md`.

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

use crate::index::{CameraId, cf};
use crate::{Error, Result, Store};

/// The H3 resolution cameras are indexed at: cells of about 0.1 km² (edges ≈ 200 m), a few
/// dozen of which cover a canvass of a few hundred metres.
pub const RESOLUTION: Resolution = Resolution::Nine;

/// Slack added to every cell's reach, metres: the cell's edges are arcs between its vertices,
/// and floating point rounds.
const SLACK_M: f64 = 1.0;

/// A WGS84 position in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    lat: f64,
    lon: f64,
}

/// Where [`Point::latlng`] lands if a stored row was damaged (not reachable through
/// [`Point::new`]).
const NULL_ISLAND: LatLng = match LatLng::new(0.0, 0.0) {
    Ok(l) => l,
    Err(_) => panic!("0,0 is a valid position"),
};

impl Point {
    /// A position, if both are numbers in range: latitude −90..=90, longitude −180..=180.
    pub fn new(lat: f64, lon: f64) -> Result<Point> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::Invalid(format!(
                "latitude must be a number from -90 to 90, not {lat}"
            )));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::Invalid(format!(
                "longitude must be a number from -180 to 180, not {lon}"
            )));
        }
        Ok(Point { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    fn latlng(self) -> LatLng {
        LatLng::new(self.lat, self.lon).unwrap_or(NULL_ISLAND)
    }

    /// Great-circle distance to `other`, metres.
    pub fn distance_m(self, other: Point) -> f64 {
        self.latlng().distance_m(other.latlng())
    }

    /// Initial great-circle bearing towards `other`, degrees clockwise from north, 0..360.
    pub fn bearing_to(self, other: Point) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dl = (other.lon - self.lon).to_radians();
        let y = dl.sin() * p2.cos();
        let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
        y.atan2(x).to_degrees().rem_euclid(360.0)
    }

    /// The H3 cell that holds this position at [`RESOLUTION`].
    pub fn cell(self) -> CellIndex {
        self.latlng().to_cell(RESOLUTION)
    }
}

/// What a camera sees: the direction it faces, how wide, and how far a person can be made out.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Degrees clockwise from north, 0..360.
    pub bearing_deg: f32,
    /// Horizontal field of view, degrees, 1..=360.
    pub fov_deg: f32,
    /// Metres, 1..=500.
    pub range_m: f32,
}

/// Longest range a camera may claim, metres (no doorbell or shop camera identifies anyone
/// further away).
pub const MAX_RANGE_M: f32 = 500.0;

impl View {
    /// Checks the numbers are in range.
    pub fn validate(&self) -> Result<()> {
        if !self.bearing_deg.is_finite() || !(0.0..360.0).contains(&self.bearing_deg) {
            return Err(Error::Invalid("bearing must be 0 to 359 degrees".into()));
        }
        if !self.fov_deg.is_finite() || !(1.0..=360.0).contains(&self.fov_deg) {
            return Err(Error::Invalid(
                "field of view must be 1 to 360 degrees".into(),
            ));
        }
        if !self.range_m.is_finite() || !(1.0..=MAX_RANGE_M).contains(&self.range_m) {
            return Err(Error::Invalid(format!(
                "range must be 1 to {MAX_RANGE_M} m"
            )));
        }
        Ok(())
    }

    /// Whether a camera at `at` with this view sees `target`: within range, and within half
    /// the field of view either side of the bearing.
    pub fn covers(&self, at: Point, target: Point) -> bool {
        let d = at.distance_m(target);
        if d > f64::from(self.range_m) {
            return false;
        }
        if d < 0.5 || self.fov_deg >= 360.0 {
            return true;
        }
        let off = (at.bearing_to(target) - f64::from(self.bearing_deg)).rem_euclid(360.0);
        let off = off.min(360.0 - off);
        off <= f64::from(self.fov_deg) / 2.0
    }
}

/// What a placed camera's index row holds: enough to filter and sort without reading the
/// camera's record.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placed {
    pub point: Point,
    pub view: Option<View>,
}

/// A camera found near a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Near {
    pub camera: CameraId,
    pub placed: Placed,
    pub distance_m: f64,
    /// Whether the camera's stated view covers the point (false when it states none).
    pub covers: bool,
}

/// `camera_cells` key: cell (8 bytes BE) then camera id (4 bytes BE).
pub(crate) fn cell_key(cell: CellIndex, camera: CameraId) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&u64::from(cell).to_be_bytes());
    k[8..].copy_from_slice(&camera.to_be_bytes());
    k
}

/// The farthest any point of `cell` lies from its centre, metres (a cell is a convex polygon:
/// its farthest point is a vertex).
fn reach_m(cell: CellIndex) -> f64 {
    let c = LatLng::from(cell);
    cell.boundary()
        .iter()
        .map(|v| c.distance_m(*v))
        .fold(0.0, f64::max)
        + SLACK_M
}

/// The cells whose area may hold a point within `radius_m` of `center`, ring by ring from the
/// centre's cell: each ring is a closed band around the rings inside it, so once no cell of a
/// ring can reach the circle, no cell beyond it can either.
pub fn cells_covering(center: Point, radius_m: f64) -> Vec<CellIndex> {
    let origin = center.cell();
    let c = center.latlng();
    let mut out = vec![origin];
    for k in 1u32.. {
        let ring: Vec<CellIndex> = origin.grid_ring(k);
        let reaching: Vec<CellIndex> = ring
            .into_iter()
            .filter(|cell| c.distance_m(LatLng::from(*cell)) - reach_m(*cell) <= radius_m)
            .collect();
        if reaching.is_empty() {
            break;
        }
        out.extend(reaching);
    }
    out
}

impl Store {
    /// The placed cameras within `radius_m` of `center`, nearest first.
    pub fn cameras_near(&self, center: Point, radius_m: f64) -> Result<Vec<Near>> {
        if !radius_m.is_finite() || radius_m < 0.0 {
            return Err(Error::Invalid("radius must be a positive number".into()));
        }
        let cf = self.db.cf(cf::CAMERA_CELLS)?;
        let mut out = Vec::new();
        for cell in cells_covering(center, radius_m) {
            let prefix = u64::from(cell).to_be_bytes();
            let mode = rocksdb::IteratorMode::From(&prefix, rocksdb::Direction::Forward);
            for item in self.db.db.iterator_cf(cf, mode) {
                let (k, v) = item?;
                if !k.starts_with(&prefix) || k.len() != 12 {
                    break;
                }
                let camera = CameraId::from_be_bytes([k[8], k[9], k[10], k[11]]);
                let placed: Placed = crate::index::decode(cf::CAMERA_CELLS, &k, &v)?;
                let distance_m = center.distance_m(placed.point);
                if distance_m <= radius_m {
                    out.push(Near {
                        camera,
                        placed,
                        distance_m,
                        covers: placed.view.is_some_and(|v| v.covers(placed.point, center)),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_out_of_range_or_not_numbers_are_refused() {
        assert!(Point::new(90.1, 0.0).is_err());
        assert!(Point::new(0.0, -180.5).is_err());
        assert!(Point::new(f64::NAN, 0.0).is_err());
        assert!(Point::new(0.0, f64::INFINITY).is_err());
        assert!(Point::new(-90.0, 180.0).is_ok());
    }

    #[test]
    fn distance_and_bearing_cross_the_antimeridian() {
        let west = Point::new(0.0, 179.999).expect("valid");
        let east = Point::new(0.0, -179.999).expect("valid");
        let d = west.distance_m(east);
        assert!((d - 222.4).abs() < 1.0, "{d}");
        assert!((west.bearing_to(east) - 90.0).abs() < 0.01);
        assert!((east.bearing_to(west) - 270.0).abs() < 0.01);
    }

    #[test]
    fn a_view_covers_what_is_in_front_within_range() {
        let cam = Point::new(51.5, -0.1).expect("valid");
        let north_50m = Point::new(51.5 + 50.0 / 111_195.0, -0.1).expect("valid");
        let south_50m = Point::new(51.5 - 50.0 / 111_195.0, -0.1).expect("valid");
        let v = View {
            bearing_deg: 10.0,
            fov_deg: 90.0,
            range_m: 60.0,
        };
        assert!(v.covers(cam, north_50m));
        assert!(!v.covers(cam, south_50m));
        let short = View { range_m: 40.0, ..v };
        assert!(!short.covers(cam, north_50m));
        // A view across north: bearing 350, ±20 covers north.
        let across = View {
            bearing_deg: 350.0,
            fov_deg: 40.0,
            range_m: 60.0,
        };
        assert!(across.covers(cam, north_50m));
        let all_round = View {
            fov_deg: 360.0,
            ..v
        };
        assert!(all_round.covers(cam, south_50m));
    }

    #[test]
    fn views_out_of_range_are_refused() {
        let ok = View {
            bearing_deg: 0.0,
            fov_deg: 90.0,
            range_m: 30.0,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            View {
                bearing_deg: 360.0,
                ..ok
            },
            View { fov_deg: 0.0, ..ok },
            View {
                range_m: 501.0,
                ..ok
            },
            View {
                range_m: f32::NAN,
                ..ok
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
