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

/// Everything that records.
#[derive(Debug)]
pub struct Recording {
    pub store: Arc<Store>,
    pub cameras: Vec<RunningCamera>,
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
        let mut running = Vec::new();
        for cfg in cameras {
            let id = store.camera_id(&cfg.name)?;
            let recorder = store.recorder(id, opts.clone())?;
            let stats = recorder.stats().clone();
            let (tx, rx) = mpsc::channel(RECORDER_QUEUE);
            let name = cfg.name.clone();
            let handle = spawn_camera(cfg, tx);
            let pump = tokio::spawn(
                pump(recorder, rx).instrument(tracing::info_span!("recorder", camera = %name)),
            );
            running.push(RunningCamera {
                name,
                id,
                health: handle.health.clone(),
                stats,
                handle,
                pump,
            });
        }
        Ok(Recording {
            store,
            cameras: running,
            cancel: CancellationToken::new(),
            retention: None,
        })
    }

    /// Runs retention every `every` on the blocking pool.
    pub fn start_retention(&mut self, policy: RetentionPolicy, every: Duration) {
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
                let policy = policy.clone();
                match tokio::task::spawn_blocking(move || store.enforce_retention(&policy)).await {
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
        let mut pumps = Vec::new();
        for c in self.cameras {
            c.handle.stop().await;
            pumps.push(c.pump);
        }
        for p in pumps {
            let _ = p.await;
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
