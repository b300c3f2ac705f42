//! Sends the program's email (owners told about area requests) over SMTP with `lettre`: one
//! background task that wakes when mail is queued or a retry falls due, asks the program what
//! is due, and reports each outcome back. A server that is down, slow or refusing costs a
//! retry, never a lost notice: the notice stays queued in RocksDB until the server took it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;
use vms_program::notices::{Due, Email};

use crate::state::AppState;

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailTls {
    /// Plain SMTP: only to a server on loopback (a local relay, or a test).
    None,
    /// STARTTLS required (port 587): no message or password goes out unencrypted.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// Where and as whom email is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub tls: MailTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `From:`, e.g. `Camera program <cameras@police.example.org>`.
    pub from: String,
    /// The address owners open links at, e.g. `https://vms.police.example.org`.
    pub public_url: String,
}

impl MailSettings {
    /// Checks what can be checked before the first message: the From address, the public URL
    /// links are made from, and that plain SMTP only goes to a server on this machine.
    pub fn validate(&self) -> Result<(), String> {
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("from {:?}: {e}", self.from))?;
        let u = url::Url::parse(&self.public_url)
            .map_err(|e| format!("public_url {:?}: {e}", self.public_url))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err("public_url must be http(s)".into());
        }
        let loopback = self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if self.tls == MailTls::None && !loopback {
            return Err(format!(
                "tls = \"none\" only to a server on this machine, not {}: use \"starttls\" or \"tls\"",
                self.host
            ));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("give both username and password_file, or neither".into());
        }
        Ok(())
    }
}

/// Email outcomes since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct MailStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
}

/// How long the loop sleeps when nothing is due (reminders fall due by the clock).
const IDLE: Duration = Duration::from_secs(60);

fn transport(m: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(m.host.as_str())
        .port(m.port)
        .timeout(Some(Duration::from_secs(30)));
    let params = || TlsParameters::new(m.host.clone()).map_err(|e| e.to_string());
    b = match m.tls {
        MailTls::None => b.tls(Tls::None),
        MailTls::StartTls => b.tls(Tls::Required(params()?)),
        MailTls::Tls => b.tls(Tls::Wrapper(params()?)),
    };
    if let (Some(u), Some(p)) = (&m.username, &m.password) {
        b = b.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(b.build())
}

/// Runs the mail loop until `stop`, when email is configured.
pub(crate) async fn run(state: AppState, stop: CancellationToken) {
    let Some(m) = state.settings.mail.clone() else {
        return;
    };
    let span = tracing::info_span!("mailer", host = %m.host, port = m.port);
    tracing::Instrument::instrument(send_loop(state, m, stop), span).await;
}

async fn send_loop(state: AppState, m: MailSettings, stop: CancellationToken) {
    let smtp = match transport(&m) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "email cannot be sent: the SMTP settings are unusable");
            return;
        }
    };
    let from = match m.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, from = %m.from, "email cannot be sent: bad From address");
            return;
        }
    };
    loop {
        let now = state.store.clock().now_utc_micros();
        let st = state.clone();
        let due = tokio::task::spawn_blocking(move || st.program.due_notices(now)).await;
        let wait = match due {
            Ok(Ok((due, next))) => {
                for d in due {
                    deliver(&state, &smtp, &from, &m.public_url, d).await;
                }
                next.map_or(IDLE, |n| {
                    Duration::from_micros(u64::try_from(n - now).unwrap_or(0)).min(IDLE)
                })
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not read the notices due");
                IDLE
            }
            Err(e) => {
                tracing::error!(error = %e, "notice task failed");
                IDLE
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.mail_due.notified() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
        }
    }
}

/// Composes, sends and records one notice.
async fn deliver(
    state: &AppState,
    smtp: &AsyncSmtpTransport<Tokio1Executor>,
    from: &lettre::message::Mailbox,
    public_url: &str,
    d: Due,
) {
    let st = state.clone();
    let url = public_url.to_owned();
    let email = match tokio::task::spawn_blocking(move || st.program.compose_notice(&d, &url)).await
    {
        Ok(Ok(Some(e))) => e,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::error!(error = %e, request = d.request, "could not compose a notice");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "notice task failed");
            return;
        }
    };
    let outcome = match build(from, &email) {
        Ok(msg) => smtp
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| (e.to_string(), e.is_permanent())),
        // An address the owner gave that is not one: no retry will fix it.
        Err(e) => Err((e, true)),
    };
    let st = state.clone();
    let recorded = tokio::task::spawn_blocking(move || match &outcome {
        Ok(()) => {
            st.mail_stats.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(request = d.request, "notice sent");
            st.program.notice_sent(&d)
        }
        Err((e, permanent)) => {
            st.mail_stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(request = d.request, error = %e, permanent, "notice not sent");
            st.program.notice_failed(&d, e, *permanent)
        }
    })
    .await;
    if let Ok(Err(e)) = recorded {
        tracing::error!(error = %e, request = d.request, "could not record a notice's outcome");
    }
}

fn build(from: &lettre::message::Mailbox, e: &Email) -> Result<Message, String> {
    let to =
        e.to.parse()
            .map_err(|err| format!("bad address {:?}: {err}", e.to))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(e.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(e.body.clone())
        .map_err(|err| err.to_string())
}

/// Sends one message now (a sign-up's verification, which the person is waiting for): the
/// server's refusal or absence is the caller's to report.
pub(crate) async fn send_now(m: &MailSettings, e: &Email) -> Result<(), String> {
    let smtp = transport(m)?;
    let from = m
        .from
        .parse()
        .map_err(|err| format!("bad From address: {err}"))?;
    let msg = build(&from, e)?;
    smtp.send(msg)
        .await
        .map(|_| ())
        .map_err(|err| err.to_string())
}
