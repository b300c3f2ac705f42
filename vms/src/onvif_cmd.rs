//! `vms onvif discover` and `vms onvif probe`: the operator's view of ONVIF, so a partner camera
//! can be found and checked from the recorder host before it is enrolled. Output only; the work
//! is in `vms_ingest::onvif`.
//!
//! Discovery multicasts, so it never picks interfaces by itself: the operator names one
//! (`--interface`) or a single address to ask (`--unicast`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;
use vms_ingest::onvif::{self, ClientOptions, DiscoveryOptions, Enrollment};
use vms_ingest::{Credentials, Secret};

#[derive(Subcommand, Debug)]
pub enum OnvifCommand {
    /// List ONVIF devices that answer a WS-Discovery probe.
    Discover {
        /// Network interface to multicast the probe on (e.g. eth1). Required: probes never go
        /// out on every interface.
        #[arg(long, required_unless_present = "unicast", conflicts_with = "unicast")]
        interface: Option<String>,
        /// Instead of multicasting, ask this one address (IP or IP:port, default port 3702).
        #[arg(long)]
        unicast: Option<String>,
        /// How long to wait for answers.
        #[arg(long, default_value_t = 3)]
        wait_secs: u64,
    },
    /// Ask one device what it is: identity, clock offset, profiles, and the streams enrollment
    /// would record.
    Probe {
        /// Device address: IP, IP:port, or the device service URL.
        addr: String,
        #[arg(long)]
        user: Option<String>,
        /// File holding the password (first line). Passwords are never taken on the command
        /// line, where `ps` and shell history would show them.
        #[arg(long, requires = "user")]
        password_file: Option<PathBuf>,
        /// Bound on each exchange with the device.
        #[arg(long, default_value_t = 10)]
        timeout_secs: u64,
    },
}

pub async fn run(cmd: OnvifCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        OnvifCommand::Discover {
            interface,
            unicast,
            wait_secs,
        } => discover(interface, unicast, wait_secs).await,
        OnvifCommand::Probe {
            addr,
            user,
            password_file,
            timeout_secs,
        } => probe(&addr, user, password_file.as_deref(), timeout_secs).await,
    }
}

async fn discover(
    interface: Option<String>,
    unicast: Option<String>,
    wait_secs: u64,
) -> anyhow::Result<ExitCode> {
    let opts = DiscoveryOptions {
        wait: Duration::from_secs(wait_secs.clamp(1, 60)),
        ..DiscoveryOptions::default()
    };
    let found = match (interface, unicast) {
        (Some(ifname), None) => onvif::discovery::discover(&ifname, &opts)
            .await
            .with_context(|| format!("probing on {ifname}"))?,
        (None, Some(addr)) => {
            let target: SocketAddr = match addr.parse() {
                Ok(a) => a,
                Err(_) => SocketAddr::new(
                    addr.parse()
                        .with_context(|| format!("{addr:?} is not an IP or IP:port"))?,
                    onvif::discovery::PORT,
                ),
            };
            onvif::discovery::probe_unicast(target, &opts)
                .await
                .with_context(|| format!("probing {target}"))?
        }
        _ => anyhow::bail!("give --interface IF or --unicast ADDR"),
    };
    if found.is_empty() {
        println!("no ONVIF device answered");
        return Ok(ExitCode::from(2));
    }
    for d in &found {
        println!("{}", d.endpoint);
        for x in &d.xaddrs {
            println!("  xaddr     {x}");
        }
        let show = |label: &str, v: &Option<String>| {
            if let Some(v) = v {
                println!("  {label:<9} {v}");
            }
        };
        show("name", &d.name);
        show("location", &d.location);
        show("hardware", &d.hardware);
        let types: Vec<&str> = d.types.iter().map(|t| t.local.as_str()).collect();
        println!("  types     {}", types.join(" "));
        if let Some(from) = d.from {
            println!("  from      {from}");
        }
    }
    println!("{} device(s)", found.len());
    Ok(ExitCode::SUCCESS)
}

fn read_password(path: &Path) -> anyhow::Result<Secret> {
    let s = std::fs::read_to_string(path)
        .with_context(|| format!("reading password file {}", path.display()))?;
    let line = s.lines().next().unwrap_or("");
    Ok(Secret::new(line))
}

async fn probe(
    addr: &str,
    user: Option<String>,
    password_file: Option<&Path>,
    timeout_secs: u64,
) -> anyhow::Result<ExitCode> {
    let credentials = match user {
        Some(username) => Some(Credentials {
            username,
            password: match password_file {
                Some(p) => read_password(p)?,
                None => Secret::new(""),
            },
        }),
        None => None,
    };
    let opts = ClientOptions {
        timeout: Duration::from_secs(timeout_secs.clamp(1, 120)),
        ..ClientOptions::default()
    };
    let e = onvif::enroll(addr, credentials, &opts)
        .await
        .with_context(|| format!("probing {addr}"))?;
    print_enrollment(&e);
    Ok(ExitCode::SUCCESS)
}

fn print_enrollment(e: &Enrollment) {
    let d = &e.device;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("device        {}", e.device_url);
    println!(
        "identity      {} {} (firmware {}, serial {}, hardware {})",
        or_dash(&d.manufacturer),
        or_dash(&d.model),
        or_dash(&d.firmware_version),
        or_dash(&d.serial_number),
        or_dash(&d.hardware_id)
    );
    println!(
        "clock offset  {:+.3} s ± {:.3} s (camera − server{})",
        e.clock.offset_ms as f64 / 1000.0,
        e.clock.uncertainty_ms as f64 / 1000.0,
        e.clock
            .tz
            .as_ref()
            .map(|t| format!(", TZ {t}"))
            .unwrap_or_default()
    );
    println!("media         {:?} at {}", e.media.version, e.media.url);
    println!("profiles");
    for p in &e.profiles {
        let mark = if p.token == e.main.profile.token {
            "main"
        } else if e.sub.as_ref().is_some_and(|s| s.profile.token == p.token) {
            "sub"
        } else {
            ""
        };
        let video = match &p.video {
            Some(v) => format!(
                "{:<6} {:>9} {:>6} {:>8}",
                v.encoding,
                v.resolution
                    .map(|(w, h)| format!("{w}x{h}"))
                    .unwrap_or_else(|| "?".into()),
                v.fps.map(|f| format!("{f}fps")).unwrap_or_default(),
                v.bitrate_kbps
                    .map(|b| format!("{b}kbps"))
                    .unwrap_or_default()
            ),
            None => "(no video)".into(),
        };
        println!(
            "  {mark:<4} {:<20} {:<20} {video}",
            p.token,
            p.name.as_deref().unwrap_or("")
        );
    }
    println!("main stream   {}", e.main.uri);
    if let Some(s) = &e.sub {
        println!("sub stream    {}", s.uri);
    }
    if let Some(u) = &e.snapshot_uri {
        println!("snapshot      {u}");
    }
    for n in &e.notes {
        println!("note          {n}");
    }
}
