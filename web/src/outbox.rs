//! The outbox: one background task that wakes when mail is queued or a retry falls due, asks
//! the program which notices are due, sends each through the mailer and reports the outcome
//! back. A server that is down, slow or refusing costs a retry, never a lost notice: the notice
//! stays queued in RocksDB until the server took it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio_util::sync::CancellationToken;
use vms_program::notices::Due;

use crate::mailer::{MailSettings, build, transport};
use crate::state::AppState;

/// How long the loop sleeps when nothing is due (reminders fall due by the clock).
const IDLE: Duration = Duration::from_secs(60);

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
            // The server's own words (which often repeat the owner's address) go to the log;
            // the canvass shows investigators only what kind of failure it was.
            tracing::warn!(request = d.request, error = %e, permanent, "notice not sent");
            let shown = if *permanent {
                "the owner's mail server refused the address"
            } else {
                "the mail server could not be reached or asked to try later"
            };
            st.program.notice_failed(&d, shown, *permanent)
        }
    })
    .await;
    if let Ok(Err(e)) = recorded {
        tracing::error!(error = %e, request = d.request, "could not record a notice's outcome");
    }
}
