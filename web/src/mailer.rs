//! Email over SMTP with `lettre`: where and as whom it is sent, the transport (rustls; plain
//! SMTP only to loopback), and building a message. What is sent when is the outbox's
//! (`outbox.rs`) and the sign-up's.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use vms_program::notices::Email;

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

pub(crate) fn transport(m: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
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

pub(crate) fn build(from: &lettre::message::Mailbox, e: &Email) -> Result<Message, String> {
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
