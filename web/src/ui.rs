//! The web app's files, compiled into the binary: the HTML shell, its JavaScript modules (no
//! build step: the browser loads them as ES modules) and vendored third-party modules. The
//! shell is answered for every page path ([`vms_program::navigation`]) so deep links survive a
//! reload; the app reads the path and shows the page.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! asset {
    ($path:literal) => {
        (
            $path,
            content_type($path),
            include_str!(concat!("../static/ui/", $path)),
        )
    };
}

/// `(path under /ui/, content type, contents)`.
const ASSETS: &[(&str, &str, &str)] = &[
    asset!("app.js"),
    asset!("api.js"),
    asset!("dom.js"),
    asset!("session.js"),
    asset!("enroll.js"),
    asset!("map.js"),
    asset!("register.js"),
    asset!("app.css"),
    asset!("pages/live.js"),
    asset!("pages/recordings.js"),
    asset!("pages/cases.js"),
    asset!("pages/case-submissions.js"),
    asset!("pages/cameras.js"),
    asset!("pages/map.js"),
    asset!("pages/system.js"),
    asset!("pages/partners.js"),
    asset!("pages/users.js"),
    asset!("pages/holds.js"),
    asset!("pages/audit.js"),
    asset!("pages/portal.js"),
    asset!("pages/transparency.js"),
    asset!("pages/submit.js"),
    asset!("pages/call.js"),
    asset!("pages/join.js"),
    asset!("vendor/tus.min.js"),
    asset!("vendor/qrcode.mjs"),
    asset!("vendor/leaflet.js"),
    asset!("vendor/leaflet.css"),
    asset!("vendor/leaflet.markercluster.js"),
    asset!("vendor/MarkerCluster.css"),
    asset!("vendor/MarkerCluster.Default.css"),
];

const fn content_type(path: &str) -> &'static str {
    let b = path.as_bytes();
    if b[b.len() - 1] == b's' && b[b.len() - 2] == b's' {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    }
}

/// The app shell (any page path).
pub(crate) async fn shell() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../static/index.html"),
    )
}

/// One of the app's files, or 404.
pub(crate) async fn file(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, ty, body)) => ([(header::CONTENT_TYPE, *ty)], *body).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "not found"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("pages/x.js"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("vendor/q.mjs"),
            "text/javascript; charset=utf-8"
        );
    }

    /// Every module the app imports is served (a missing entry would be a 404 in the browser
    /// only on the page that needs it).
    #[test]
    fn every_imported_module_is_served() {
        for (path, _, body) in ASSETS {
            for line in body.lines() {
                let Some(from) = line
                    .split(" from '")
                    .nth(1)
                    .or_else(|| line.split("import('").nth(1))
                else {
                    continue;
                };
                let spec = from.split('\'').next().unwrap_or_default();
                let base = std::path::Path::new(path)
                    .parent()
                    .unwrap_or(std::path::Path::new(""));
                let mut parts: Vec<&str> = base.iter().filter_map(|s| s.to_str()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|(p, _, _)| *p == target),
                    "{path} imports {spec} ({target}), which is not served"
                );
            }
        }
    }
}
