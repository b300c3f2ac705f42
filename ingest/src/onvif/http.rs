//! The one place ONVIF SOAP goes over the network: an HTTP/1.1 POST with hyper's client
//! connection, bounded in time and size, following a few same-host redirects.
//!
//! hyper is already in the dependency tree (axum), so its client half costs little to build;
//! reqwest would add a connection pool, cookie and proxy handling nothing here needs. TLS is not
//! built in: cameras serve ONVIF over plain HTTP on the partner's network and authenticate with
//! digests, and an `https` XAddr is reported as unsupported rather than silently downgraded.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Url;

use super::OnvifError;

/// Bounds on one exchange.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Where the exchange may connect (checked after DNS, on every redirect too).
    pub destinations: crate::destinations::Destinations,
    pub connect_timeout: Duration,
    /// Whole exchange, redirects included.
    pub timeout: Duration,
    pub max_body: usize,
    pub max_redirects: u8,
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub www_authenticate: Vec<String>,
    /// The URL that finally answered (after redirects); HTTP Digest hashes its path.
    pub url: Url,
}

/// Aborts the connection task when the exchange ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// POSTs a SOAP 1.2 envelope. `authorization` is a ready `Authorization` header value (HTTP
/// Digest), computed by the caller for `url`.
pub(crate) async fn post_soap(
    url: &Url,
    action: &str,
    envelope: &str,
    authorization: Option<&str>,
    limits: &Limits,
) -> Result<Reply, OnvifError> {
    let fut = async {
        let mut current = url.clone();
        for _ in 0..=limits.max_redirects {
            let (status, headers, body) =
                post_once(&current, action, envelope, authorization, limits).await?;
            if (300..400).contains(&status) && status != 304 {
                let loc = headers
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| OnvifError::Http(format!("HTTP {status} without Location")))?;
                let next = current
                    .join(loc)
                    .map_err(|e| OnvifError::Http(format!("bad redirect Location {loc:?}: {e}")))?;
                if next.scheme() != current.scheme()
                    || next.host_str() != current.host_str()
                    || next.port_or_known_default() != current.port_or_known_default()
                {
                    // The envelope carries a fresh credential digest: never hand it to
                    // another host because a device said so.
                    return Err(OnvifError::RedirectOffHost(redact(&next)));
                }
                tracing::debug!(from = %redact(&current), to = %redact(&next), status, "following redirect");
                current = next;
                continue;
            }
            let www_authenticate = headers
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            return Ok(Reply {
                status,
                body,
                www_authenticate,
                url: current,
            });
        }
        Err(OnvifError::TooManyRedirects(limits.max_redirects))
    };
    tokio::time::timeout(limits.timeout, fut)
        .await
        .map_err(|_| OnvifError::Timeout {
            what: "HTTP exchange",
            after: limits.timeout,
        })?
}

/// A URL for logs: no user info, no query.
pub(crate) fn redact(u: &Url) -> String {
    let mut u = u.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

async fn connect(url: &Url, limits: &Limits) -> Result<TcpStream, OnvifError> {
    let host = url
        .host_str()
        .ok_or_else(|| OnvifError::BadAddress(redact(url), "no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| OnvifError::BadAddress(redact(url), "no port".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = limits
        .destinations
        .resolve(host, port, limits.connect_timeout)
        .await
        .map_err(|e| match e {
            crate::destinations::DestinationError::Refused => OnvifError::Refused,
            crate::destinations::DestinationError::Unresolved => OnvifError::Connect {
                addr: format!("{host}:{port}"),
                error: std::io::Error::other("cannot resolve"),
            },
        })?;
    let mut last = None;
    for a in addrs {
        match tokio::time::timeout(limits.connect_timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                return Err(OnvifError::Timeout {
                    what: "connecting",
                    after: limits.connect_timeout,
                });
            }
        }
    }
    Err(OnvifError::Connect {
        addr: format!("{host}:{port}"),
        error: last.unwrap_or_else(|| std::io::Error::other("no address")),
    })
}

async fn post_once(
    url: &Url,
    action: &str,
    envelope: &str,
    authorization: Option<&str>,
    limits: &Limits,
) -> Result<(u16, http::HeaderMap, Bytes), OnvifError> {
    if url.scheme() != "http" {
        return Err(OnvifError::UnsupportedScheme(url.scheme().to_owned()));
    }
    let stream = connect(url, limits).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| OnvifError::Http(e.to_string()))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));

    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(header::HOST, host)
        .header(
            header::CONTENT_TYPE,
            format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
        )
        .header(
            header::USER_AGENT,
            concat!("vms/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let req = req
        .body(Full::new(Bytes::copy_from_slice(envelope.as_bytes())))
        .map_err(|e| OnvifError::Http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| OnvifError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let declared = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return Err(OnvifError::TooLarge {
            limit: limits.max_body,
        });
    }
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, limits.max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                OnvifError::TooLarge {
                    limit: limits.max_body,
                }
            } else {
                OnvifError::Http(e.to_string())
            }
        })?
        .to_bytes();
    Ok((status, parts.headers, body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_carry_no_credentials() {
        let u = Url::parse("rtsp://admin:hunter2@10.0.0.5:554/live?user=admin&password=hunter2")
            .unwrap();
        let r = redact(&u);
        assert_eq!(r, "rtsp://10.0.0.5:554/live");
        assert!(!r.contains("hunter2") && !r.contains("admin"));
    }
}
