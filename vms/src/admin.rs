//! Administrative commands (`vms init`, `vms user …`, `vms token add`, `vms audit verify`)
//! and the demo's seed data. Each works on a stopped store (RocksDB allows one process).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use vms_program::policy::role_needs_mfa;
use vms_program::users::{self, NewUser};
use vms_program::{Program, ProgramSettings, auth};
use vms_storage::geo::{Placed, Point, View};
use vms_storage::{
    CameraInfo, CameraKind, CameraSource, PartnerRow, PartnerStatus, Role, SecretBox, SharingMode,
    Store, StoreOptions,
};

/// The secret key file: `secret_key_file` from the config, else `<data_dir>/secret.key`.
pub fn secret_key_path(data_dir: &Path, configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| data_dir.join("secret.key"), Path::to_path_buf)
}

pub fn open(data_dir: &Path) -> anyhow::Result<Arc<Store>> {
    Store::open(
        data_dir,
        StoreOptions {
            writer_threads: 1,
            ..StoreOptions::default()
        },
    )
    .with_context(|| format!("opening store in {} (is vms running?)", data_dir.display()))
}

/// The program as the CLI applies it: the program's default bounds, the operator as actor.
fn program(store: &Arc<Store>) -> Program {
    Program::new(Arc::clone(store), ProgramSettings::default())
}

/// The operator, as the audit log names CLI changes.
fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// What the CLI tells the operator who made an account (issue 22 F5).
pub const FIRST_SIGN_IN: &str = "give its owner the password; at first sign-in they set up their      authenticator app and choose a password of their own";

/// Creates a user (its owner enrols a second factor at first sign-in).
pub fn user_add(
    store: &Arc<Store>,
    secrets: &SecretBox,
    username: &str,
    role: Role,
    partner: Option<u64>,
    password: &str,
) -> anyhow::Result<()> {
    let new = NewUser {
        username,
        role,
        partner,
        password,
    };
    program(store).create_user(&actor(), secrets, new)?;
    Ok(())
}

pub fn user_passwd(store: &Arc<Store>, username: &str, password: &str) -> anyhow::Result<()> {
    Ok(program(store).set_password(&actor(), username, password)?)
}

/// Changes a user's role.
pub fn user_role(store: &Arc<Store>, username: &str, role: Role) -> anyhow::Result<()> {
    Ok(program(store).set_role(&actor(), username, role)?)
}

/// Forgets a user's second factor; they enrol a new one at next sign-in.
pub fn user_reset_second_factor(store: &Arc<Store>, username: &str) -> anyhow::Result<()> {
    store
        .user(username)?
        .with_context(|| format!("no user {username:?}"))?;
    let change = users::UserChange {
        reset_second_factor: true,
        ..Default::default()
    };
    program(store).update_user(&actor(), username, change)?;
    Ok(())
}

pub fn user_disable(store: &Arc<Store>, username: &str, disabled: bool) -> anyhow::Result<()> {
    Ok(program(store).set_disabled(&actor(), username, disabled)?)
}

/// Creates a bearer token for API clients (e.g. a metrics scraper). Shown once.
pub fn token_add(store: &Arc<Store>, username: &str, label: &str) -> anyhow::Result<String> {
    Ok(program(store).add_token(&actor(), username, label)?)
}

/// What the demo set up, to print for the person trying it.
#[derive(Debug)]
pub struct DemoLogins {
    pub lines: Vec<String>,
}

/// Seeds a demo partner with three cameras (live, on-request, registry) pointing at the
/// simulator, eight neighbours with four registered doorbells each around them (the registry
/// map), and one account per role. Idempotent: an existing store is left as it is.
pub fn seed_demo(
    store: &Arc<Store>,
    secrets: &SecretBox,
    sim_urls: &[url::Url],
) -> anyhow::Result<DemoLogins> {
    let mut lines = Vec::new();
    if !store.users()?.is_empty() {
        // Re-point the demo cameras at this run's simulator port.
        let enrolled = store
            .cameras_info()?
            .into_iter()
            .filter(|c| matches!(c.source, CameraSource::Rtsp { .. }));
        for (mut c, url) in enrolled.zip(sim_urls) {
            c.source = CameraSource::Rtsp {
                url: url.to_string(),
            };
            store.put_camera_info(&c)?;
        }
        lines.push(
            "(accounts from an earlier demo run are kept; their passwords were printed then)"
                .into(),
        );
        return Ok(DemoLogins { lines });
    }
    let now = store.clock().now_utc_micros();
    let partner = store.create_partner(PartnerRow {
        id: 0,
        pseudonym: String::new(),
        contact_name: "Corner Bakery (demo)".into(),
        contact_email: "owner@example.invalid".into(),
        contact_phone: String::new(),
        address: "1 Main St (demo)".into(),
        terms_version: Some(ProgramSettings::default().terms_version),
        terms_accepted_us: Some(now),
        status: PartnerStatus::Active,
        created_us: now,
    })?;
    let modes = [
        SharingMode::Live,
        SharingMode::OnRequest,
        SharingMode::Registry,
    ];
    for (i, url) in sim_urls.iter().enumerate() {
        store.enroll_camera(CameraInfo {
            id: 0,
            name: format!("sim-{i}"),
            partner: partner.id,
            source: CameraSource::Rtsp {
                url: url.to_string(),
            },
            credentials: None,
            sharing: modes[i % modes.len()],
            retention_days: 1,
            address: format!("demo location {i}"),
            placed: Some(demo_place(i)),
            kind: Some(CameraKind::Fixed),
            owner_keeps_days: None,
            paused: false,
            masks: vec![],
            created_us: now,
        })?;
    }
    // Neighbours who registered their doorbells (no video): what the registry map and area
    // requests are for.
    for n in 1..=8u64 {
        let p = store.create_partner(PartnerRow {
            id: 0,
            pseudonym: String::new(),
            contact_name: format!("Resident {n} (demo)"),
            contact_email: format!("resident{n}@example.invalid"),
            contact_phone: String::new(),
            address: format!("{n} Elm St (demo)"),
            terms_version: Some(ProgramSettings::default().terms_version),
            terms_accepted_us: Some(now),
            status: PartnerStatus::Active,
            created_us: now,
        })?;
        for k in 0..4usize {
            let i = sim_urls.len() + (n as usize - 1) * 4 + k;
            store.enroll_camera(CameraInfo {
                id: 0,
                name: format!("doorbell {k}"),
                partner: p.id,
                source: CameraSource::Registered,
                credentials: None,
                sharing: SharingMode::Registry,
                retention_days: 1,
                address: format!("{n} Elm St (demo)"),
                placed: Some(demo_place(i)),
                kind: Some(CameraKind::Doorbell),
                owner_keeps_days: Some(7 + 7 * (k as u32 % 3)),
                paused: false,
                masks: vec![],
                created_us: now,
            })?;
        }
    }
    for (name, role, partner_id) in [
        ("admin", Role::Admin, None),
        ("supervisor", Role::Supervisor, None),
        ("investigator", Role::Investigator, None),
        ("viewer", Role::Viewer, None),
        ("bakery", Role::Partner, Some(partner.id)),
    ] {
        let password = format!(
            "demo-{}",
            auth::random_token().get(..12).unwrap_or("password0000")
        );
        user_add(store, secrets, name, role, partner_id, &password)?;
        // The demo's one person is every account, so its staff come enrolled (a real account's
        // owner enrols at first sign-in).
        let secret = if role_needs_mfa(role) {
            let (secret, _) = auth::new_totp_secret(name);
            store.update_user(name, |u| u.totp_secret = Some(secrets.seal(&secret)))?;
            format!("  TOTP secret {}", auth::totp_uri(name, &secret).1)
        } else {
            String::new()
        };
        lines.push(format!(
            "{name:<13} {:<12} password {password}{secret}",
            role.as_str()
        ));
    }
    Ok(DemoLogins { lines })
}

/// Where the demo's city is (any point would do; the map opens on the cameras).
const DEMO_CENTER: (f64, f64) = (45.5231, -122.6765);

/// The `i`-th demo camera's place: a sunflower spiral around [`DEMO_CENTER`] (evenly spread
/// within about 400 m), each facing its own way.
fn demo_place(i: usize) -> Placed {
    let r = 60.0 * (i as f64 + 0.5).sqrt();
    let a = (i as f64 * 137.508_f64).to_radians();
    let lat = DEMO_CENTER.0 + r * a.cos() / 111_195.0;
    let lon = DEMO_CENTER.1 + r * a.sin() / (111_195.0 * DEMO_CENTER.0.to_radians().cos());
    Placed {
        point: Point::new(lat, lon).unwrap_or_else(|_| unreachable!("near the demo centre")),
        view: Some(View {
            bearing_deg: (i * 53 % 360) as f32,
            fov_deg: 100.0,
            range_m: 35.0,
        }),
    }
}

/// Reads one line (a password) from standard input.
pub fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading password from stdin")?;
    let p = line.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        bail!("no password given on standard input");
    }
    Ok(p)
}
