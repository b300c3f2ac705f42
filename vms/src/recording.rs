//! Wiring of the recording spine: one camera session → one recorder per camera, the periodic
//! retention pass, and an orderly shutdown that commits every open fragment.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vms_ingest::{CameraConfig, CameraHandle, Frame, Health, spawn_camera};
use vms_storage::{
    CameraId, RecFrame, Recorder, RecorderOptions, RecorderStats, RetentionPolicy, Store,
    TrackParams,
};

/// A camera being recorded.
#[derive(Debug)]
pub struct RunningCamera {
    pub name: String,
    pub id: CameraId,
    pub health: Arc<Health>,
    pub stats: Arc<RecorderStats>,
    handle: CameraHandle,
    pump: JoinHandle<()>,
}

impl RunningCamera {
    pub fn handle(&self) -> &CameraHandle {
        &self.handle
    }
}

/// Logs where every frame a stopped camera sent went, once its recorder has committed all it
/// holds: `received` = `recorded` + `merged` + `before_keyframe` + `lost`. A stop that loses
/// nothing keeps `lost` at 0 and the sum whole.
fn account(name: &str, health: &Health, s: &RecorderStats) {
    use std::sync::atomic::Ordering::Relaxed;
    tracing::info!(
        camera = %name,
        received = health.frames.load(Relaxed),
        recorded = s.frames.load(Relaxed),
        merged = s.frames_merged.load(Relaxed),
        before_keyframe = s.frames_before_keyframe.load(Relaxed),
        lost = s.frames_lost.load(Relaxed),
        "recording stopped"
    );
}

/// Everything that records.
#[derive(Debug)]
pub struct Recording {
    pub store: Arc<Store>,
    pub cameras: Vec<RunningCamera>,
    opts: RecorderOptions,
    cancel: CancellationToken,
    retention: Option<JoinHandle<()>>,
}

/// How many frames may queue between a camera session and its recorder (~8 s at 30 fps)
/// before the session stops reading from the camera.
const RECORDER_QUEUE: usize = 256;

impl Recording {
    pub fn start(
        store: Arc<Store>,
        cameras: Vec<CameraConfig>,
        opts: RecorderOptions,
    ) -> anyhow::Result<Recording> {
        let mut rec = Recording {
            store,
            cameras: Vec::new(),
            opts,
            cancel: CancellationToken::new(),
            retention: None,
        };
        for cfg in cameras {
            rec.add(cfg)?;
        }
        Ok(rec)
    }

    /// Starts recording one more configured camera (its id comes from its name).
    pub fn add(&mut self, cfg: CameraConfig) -> anyhow::Result<&RunningCamera> {
        let id = self.store.camera_id(&cfg.name)?;
        self.add_as(id, cfg)
    }

    /// Starts recording a camera under a known id (enrolled cameras: their id is their own,
    /// never looked up by a name another owner could also use).
    pub fn add_as(&mut self, id: CameraId, cfg: CameraConfig) -> anyhow::Result<&RunningCamera> {
        anyhow::ensure!(
            !self.cameras.iter().any(|c| c.id == id),
            "camera {:?} is already recording",
            cfg.name
        );
        let recorder = self.store.recorder(id, self.opts.clone())?;
        let stats = recorder.stats().clone();
        let (tx, rx) = mpsc::channel(RECORDER_QUEUE);
        let name = cfg.name.clone();
        let handle = spawn_camera(cfg, tx);
        let pump = tokio::spawn(
            pump(recorder, rx).instrument(tracing::info_span!("recorder", camera = %name)),
        );
        self.cameras.push(RunningCamera {
            name,
            id,
            health: handle.health.clone(),
            stats,
            handle,
            pump,
        });
        Ok(&self.cameras[self.cameras.len() - 1])
    }

    /// Stops recording a camera: ends its session and commits what its recorder holds.
    pub async fn remove(&mut self, id: CameraId) {
        if let Some(i) = self.cameras.iter().position(|c| c.id == id) {
            let c = self.cameras.swap_remove(i);
            c.handle.stop().await;
            let _ = c.pump.await;
            account(&c.name, &c.health, &c.stats);
        }
    }

    /// Runs retention every `every` on the blocking pool, with the partners' current terms
    /// applied over `base` (see [`effective_policy`]).
    pub fn start_retention(&mut self, base: RetentionPolicy, every: Duration) {
        let store = self.store.clone();
        let cancel = self.cancel.clone();
        self.retention = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let store = store.clone();
                let base = base.clone();
                let pass = move || {
                    let policy = effective_policy(&store, &base)?;
                    store.enforce_retention(&policy)
                };
                match tokio::task::spawn_blocking(pass).await {
                    Ok(Ok(r)) if r.deleted_segments > 0 => {
                        tracing::info!(
                            segments = r.deleted_segments,
                            bytes = r.deleted_bytes,
                            held = r.held_segments,
                            "retention pass"
                        )
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed"),
                    Err(e) => tracing::error!(error = %e, "retention task panicked"),
                }
            }
        }));
    }

    /// Stops every camera, commits what each recorder holds, seals the segments and closes
    /// the store. A normal stop loses no recorded video.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Some(r) = self.retention {
            let _ = r.await;
        }
        let mut stopped = Vec::new();
        for c in self.cameras {
            c.handle.stop().await;
            stopped.push((c.name, c.health, c.stats, c.pump));
        }
        for (name, health, stats, pump) in stopped {
            let _ = pump.await;
            account(&name, &health, &stats);
        }
        self.store.shutdown();
    }
}

fn track(p: &vms_ingest::VideoParams) -> TrackParams {
    TrackParams {
        codec: p.rfc6381.clone(),
        width: p.width,
        height: p.height,
        sample_entry: p.sample_entry.clone(),
    }
}

/// Feeds one camera's frames to its recorder until the session side closes, then commits.
async fn pump(mut recorder: Recorder, mut rx: mpsc::Receiver<Frame>) {
    let mut session = 0;
    while let Some(f) = rx.recv().await {
        // A new session is a new run even if the parameters did not change: its timestamps
        // start from a new random base.
        let new_run = if f.session != session || f.new_params.is_some() {
            session = f.session;
            recorder.set_clock_offset(f.params.clock_offset_us);
            Some(Arc::new(track(&f.params)))
        } else {
            None
        };
        let frame = RecFrame {
            new_run,
            pts_90k: f.pts_90k,
            wall_us: f.wall_us,
            keyframe: f.keyframe,
            data: f.data,
        };
        if let Err(e) = recorder.push(frame).await {
            tracing::error!(error = %e, "recorder stopped");
            return;
        }
    }
    if let Err(e) = recorder.close().await {
        tracing::error!(error = %e, "closing recorder failed");
    }
}

/// Turns an enrolled camera into a session config, or `None` when it must not be recorded:
/// registry-only, paused, or its partner paused or left. An ONVIF camera's session asks the
/// device for its stream URI itself (and again when the stream keeps failing).
pub fn enrolled_config(
    c: &vms_storage::CameraInfo,
    partner: Option<&vms_storage::PartnerRow>,
    secrets: &vms_storage::SecretBox,
    destinations: &vms_ingest::destinations::Destinations,
) -> Option<CameraConfig> {
    use vms_storage::CameraSource;
    if !vms_program::cameras::is_recorded(c, partner) {
        return None;
    }
    let mut cfg = match &c.source {
        CameraSource::Rtsp { url } => CameraConfig::new(c.name.clone(), url::Url::parse(url).ok()?),
        CameraSource::Onvif { address } => CameraConfig::onvif(c.name.clone(), address.clone()),
        // Recorded from the config file by `vms run`, not by following enrollment.
        CameraSource::ConfigFile => return None,
        // Never connected: its owner answers requests with files.
        CameraSource::Registered => return None,
    };
    // A partner typed this address: it may lead only where partner addresses may (issue 22
    // F3), for the stream and for the ONVIF exchanges that find it.
    cfg.destinations = destinations.clone();
    if let Some(o) = cfg.onvif.as_mut() {
        o.options.destinations = destinations.clone();
    }
    if let Some(sealed) = &c.credentials {
        match secrets.open(sealed) {
            Ok(plain) => {
                let plain = String::from_utf8_lossy(&plain).into_owned();
                if let Some((u, p)) = plain.split_once('\0') {
                    cfg.credentials = Some(vms_ingest::Credentials {
                        username: u.to_owned(),
                        password: vms_ingest::Secret::new(p),
                    });
                }
            }
            Err(e) => {
                tracing::error!(camera = %c.name, error = %e, "cannot open camera credentials");
                return None;
            }
        }
    }
    Some(cfg)
}

/// Keeps recording in step with enrollment: starts cameras that are shared and active, stops
/// those paused, made registry-only or whose partner left — within a second of the change
/// (woken by `changes`), and every few seconds regardless.
pub async fn follow_enrollment(
    rec: Arc<tokio::sync::Mutex<Recording>>,
    secrets: Arc<vms_storage::SecretBox>,
    views: Arc<std::sync::RwLock<Vec<vms_web::CameraView>>>,
    changes: Arc<tokio::sync::Notify>,
    destinations: vms_ingest::destinations::Destinations,
    tweak: fn(&mut CameraConfig),
    cancel: CancellationToken,
) {
    loop {
        if let Err(e) = reconcile(&rec, &secrets, &views, &destinations, tweak).await {
            tracing::error!(error = %e, "reconciling enrolled cameras failed");
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = changes.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

async fn reconcile(
    rec: &tokio::sync::Mutex<Recording>,
    secrets: &vms_storage::SecretBox,
    views: &std::sync::RwLock<Vec<vms_web::CameraView>>,
    destinations: &vms_ingest::destinations::Destinations,
    tweak: fn(&mut CameraConfig),
) -> anyhow::Result<()> {
    let mut rec = rec.lock().await;
    let store = rec.store.clone();
    let (cams, partners) = tokio::task::spawn_blocking(move || {
        Ok::<_, vms_storage::Error>((store.cameras_info()?, store.partners()?))
    })
    .await??;
    let wanted: Vec<(u32, CameraConfig)> = cams
        .iter()
        .filter_map(|c| {
            let p = partners.iter().find(|p| p.id == c.partner);
            enrolled_config(c, p, secrets, destinations).map(|mut cfg| {
                tweak(&mut cfg);
                (c.id, cfg)
            })
        })
        .collect();
    let enrolled: Vec<u32> = cams
        .iter()
        .filter(|c| c.source != vms_storage::CameraSource::ConfigFile)
        .map(|c| c.id)
        .collect();
    let stop: Vec<u32> = rec
        .cameras
        .iter()
        .filter(|c| enrolled.contains(&c.id) && !wanted.iter().any(|(id, _)| *id == c.id))
        .map(|c| c.id)
        .collect();
    for id in stop {
        rec.remove(id).await;
    }
    for (id, cfg) in wanted {
        if !rec.cameras.iter().any(|c| c.id == id) {
            tracing::info!(camera = %cfg.name, id, "recording enrolled camera");
            rec.add_as(id, cfg)?;
        }
    }
    if let Ok(mut v) = views.write() {
        *v = rec
            .cameras
            .iter()
            .map(|c| vms_web::CameraView {
                name: c.name.clone(),
                id: c.id,
                health: c.health.clone(),
                stats: c.stats.clone(),
                live: c.handle.live().clone(),
            })
            .collect();
    }
    Ok(())
}

/// The retention policy in force: `base` (config-file cameras, quota) with each enrolled
/// camera's retention from its partner's terms, and zero for cameras of partners who left the
/// program — their video goes at the next pass, except what a legal hold covers.
pub fn effective_policy(
    store: &Store,
    base: &RetentionPolicy,
) -> Result<RetentionPolicy, vms_storage::Error> {
    let mut policy = base.clone();
    let partners = store.partners()?;
    for c in store.cameras_info()? {
        // Config-file cameras' retention comes from the config file, already in `base`.
        if let Some(secs) = vms_program::cameras::retention_secs(&c, &partners) {
            policy.max_age_secs.insert(c.id, secs);
        }
    }
    Ok(policy)
}
