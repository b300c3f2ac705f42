//! The mail tests' SMTP server: aiosmtpd (an independent implementation, from
//! `scripts/install-onvif-test-deps`) run on 127.0.0.1, and the messages it received as a person
//! reads them.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

pub fn python() -> std::path::PathBuf {
    let p = std::path::PathBuf::from(std::env::var_os("VMS_PYDEPS").unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").unwrap())
            .join(".cache/vms-pydeps/onvif")
            .into()
    }))
    .join("bin/python");
    assert!(
        p.exists(),
        "{} (install with scripts/install-deps --test)",
        p.display()
    );
    p
}

/// The SMTP peer on `port`, writing messages into `dir`; stopped when dropped.
pub struct SmtpPeer(Child);

impl SmtpPeer {
    pub fn start(port: u16, dir: &std::path::Path) -> SmtpPeer {
        let mut child = Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/peers/smtp_peer.py"
            ))
            .arg(port.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        SmtpPeer(child)
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn messages(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| readable(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// A message as a person reads it: long header lines unfolded (RFC 5322), a quoted-printable
/// body decoded (RFC 2045; the body is ASCII).
pub fn readable(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap();
    let head = head.replace("\n ", " ");
    let body = if head.contains("Content-Transfer-Encoding: quoted-printable") {
        let joined = body.replace("=\n", "");
        let mut out = String::new();
        let mut rest = joined.as_str();
        while let Some(i) = rest.find('=') {
            out.push_str(&rest[..i]);
            out.push(u8::from_str_radix(&rest[i + 1..i + 3], 16).unwrap() as char);
            rest = &rest[i + 3..];
        }
        out.push_str(rest);
        out
    } else {
        body.to_owned()
    };
    format!("{head}\n\n{body}")
}

/// A free loopback port for the peer.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(2525)
}

/// The token of the link in `message` that starts with `prefix` (e.g.
/// `https://vms.example.org/join#`): what a person clicking it would open.
pub fn token_after(message: &str, prefix: &str) -> String {
    message
        .split(prefix)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no link {prefix} in: {message}"))
        .to_owned()
}
