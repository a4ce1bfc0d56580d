//! The node daemon, and `run`, which assembles and runs one node: identity, store, detector and worker thread, swarm task, the
//! protocol state and its actor, anti-entropy and HTTP API. Every channel between them is
//! created here, with a named capacity. Prints the ready line (JSON on stdout) once it listens,
//! and returns when `shutdown` resolves, after the actor saved the clock and the store thread
//! committed and exited.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_interface::lines::{self, NodeLine, NodeReady};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource};
use tokio::sync::mpsc;
use tracing::info;

pub mod actor;
pub mod audits;
mod flood;
pub mod http;
pub mod store;
pub mod sync;
pub mod worker;

use self::actor::{Actor, Inputs, MAX_FOLLOW_UPS};
use self::http::{HttpState, NodeInfo};
use self::sync::{AntiEntropy, DIGEST_QUEUE};
use crate::config::NodeConfig;
use crate::metrics::Metrics;

/// How long a stopping node waits for the store thread to commit and exit.
const STORE_JOIN: Duration = Duration::from_secs(10);
/// HTTP commands waiting for the actor.
const COMMAND_QUEUE: usize = 64;
/// Answers of the actor's follow-up tasks waiting for it (each task holds one slot).
const INTERNAL_QUEUE: usize = MAX_FOLLOW_UPS;

pub struct NodeOptions {
    pub data: PathBuf,
    pub name: Option<String>,
    pub fault_ppm: u32,
    /// FAULT INJECTION: a hostile member (`--fault blackhole|liar|flooder`).
    pub hostile: argus_state::fault::Hostile,
    pub flooder: bool,
    pub cfg: NodeConfig,
}

/// A bound HTTP listener, TCP or Unix.
enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

async fn bind_http(spec: &str) -> anyhow::Result<(Listener, String)> {
    if let Some(path) = spec.strip_prefix("unix:") {
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path).with_context(|| format!("binding HTTP on {spec}"))?;
        Ok((Listener::Unix(l), spec.to_string()))
    } else {
        let l =
            tokio::net::TcpListener::bind(spec).await.with_context(|| format!("binding HTTP on {spec}"))?;
        let addr = l.local_addr()?.to_string();
        Ok((Listener::Tcp(l), addr))
    }
}

/// Loads one detector per configured model (validated names), on the configured backend.
async fn load_detectors(cfg: &NodeConfig) -> anyhow::Result<Vec<Detector>> {
    let backend: BackendKind = cfg.worker.backend.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut detectors = Vec::new();
    for name in &cfg.worker.models {
        let model: ModelKind = name.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
        let file = match model {
            ModelKind::Shapes => &cfg.worker.weights,
            ModelKind::Coco => &cfg.worker.coco_weights,
        };
        let weights = file.as_ref().map_or(WeightsSource::Embedded, |p| WeightsSource::File(p.into()));
        let det = tokio::task::spawn_blocking(move || Detector::new(model, backend, weights))
            .await?
            .map_err(|e| anyhow::anyhow!("cannot load the {model} detector: {e}"))?;
        info!(model = %model, backend = %det.backend(), weights = det.weights_hash(), "detector loaded");
        detectors.push(det);
    }
    Ok(detectors)
}

pub async fn run(
    opts: NodeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cfg = opts.cfg;
    cfg.validate()?;
    std::fs::create_dir_all(&opts.data).with_context(|| format!("creating {}", opts.data.display()))?;
    let key = crate::identity::load_or_create(&opts.data)?;
    let me = key.public().to_peer_id();
    let name = opts.name.unwrap_or_else(|| format!("node-{}", &me.to_string()[me.to_string().len() - 6..]));
    let metrics = Arc::new(Metrics::default());
    let (store, clock_ms, store_thread) =
        crate::daemon::store::open(&opts.data.join("store"), &cfg.store, metrics.clone())?;
    let detectors = load_detectors(&cfg).await?;
    let (done_tx, done_rx) = mpsc::channel(cfg.worker.queue_capacity);
    let worker = crate::daemon::worker::start(
        detectors,
        cfg.worker.queue_capacity,
        cfg.worker.max_batch,
        cfg.worker.thumbnail_px,
        done_tx,
    )?;
    let mut registry = crate::metrics::registry(&metrics);
    let (net, net_events) = crate::net::start(&key, &cfg.net, metrics.clone(), &mut registry)?;
    let token = |file: &Option<std::path::PathBuf>| {
        file.as_deref().map(crate::daemon::http::auth::load_token).transpose().map_err(|e| anyhow::anyhow!(e))
    };
    let (admin, upload) = (token(&cfg.http.admin_token_file)?, token(&cfg.http.upload_token_file)?);
    let (listener, http_addr) = bind_http(&cfg.http.listen).await?;
    let listen = wait_listening(&net).await?;
    let backend = worker.backend.to_string();
    let models = worker.models.clone();
    lines::print(&NodeLine::Ready(NodeReady {
        peer_id: me.to_string(),
        name: name.clone(),
        listen: listen.clone(),
        http: http_addr.clone(),
        backend: backend.clone(),
        weights: models.summary(),
        models: models.infos(),
    }));
    let fault_ppm = Arc::new(AtomicU32::new(opts.fault_ppm));
    let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
    let (sync_tx, sync_rx) = mpsc::channel(DIGEST_QUEUE);
    let (internal_tx, internal_rx) = mpsc::channel(INTERNAL_QUEUE);
    let identity = argus_state::Identity {
        key,
        name: name.clone(),
        backend: backend.clone(),
        http_addr: Some(http_addr),
    };
    let known = argus_model::ModelKind::ALL
        .iter()
        .map(|m| argus_state::KnownModel { name: m.as_str().to_string(), classes: m.labels().len() })
        .collect();
    let audit_record = store.audit_record().await.context("reading the audit record")?;
    let durable = argus_state::Durable { clock_ms, audit_record };
    let mut state =
        argus_state::State::new(identity, cfg.state(), known, models.refs(), durable, rand::random());
    state.set_hostile(opts.hostile);
    if opts.flooder {
        tokio::spawn(flood::flood(net.clone(), me));
    }
    if cfg.net.oversize_once {
        tokio::spawn(flood::oversize_once(net.clone()));
    }
    let actor = Actor {
        state,
        store: store.clone(),
        net: net.clone(),
        worker,
        metrics: metrics.clone(),
        fault_ppm: fault_ppm.clone(),
        internal_tx,
        sync_tx,
        heartbeat: Duration::from_millis(cfg.net.heartbeat_interval_ms),
        started: Instant::now(),
        follow_ups: Arc::new(tokio::sync::Semaphore::new(MAX_FOLLOW_UPS)),
        deferred: Default::default(),
        fault_seen: 0,
        audits: Default::default(),
    };
    let ae = AntiEntropy {
        me,
        store: store.clone(),
        net: net.clone(),
        metrics: metrics.clone(),
        interval_ms: cfg.sync.digest_interval_ms,
        merged: actor.internal_tx.clone(),
    };
    tokio::spawn(ae.run(sync_rx));
    let state = HttpState {
        info: Arc::new(NodeInfo { peer_id: me, name, backend, models, started: Instant::now() }),
        store: store.clone(),
        net,
        metrics,
        registry: Arc::new(registry),
        core: cmd_tx,
        fault_ppm,
        query_timeout_ms: cfg.net.request_timeout_ms.min(3_000),
    };
    let app = crate::daemon::http::router(state, cfg.http.max_body_bytes, admin, upload);
    tokio::spawn(async move {
        let r = match listener {
            Listener::Tcp(l) => axum::serve(l, app).await,
            Listener::Unix(l) => axum::serve(l, app).await,
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    let inputs = Inputs { commands: cmd_rx, net_events, done: done_rx, internal: internal_rx };
    actor.run(inputs, shutdown).await;
    // The actor saved the clock; the store commits what is queued and its thread exits.
    store.shutdown().await;
    let joined =
        tokio::time::timeout(STORE_JOIN, tokio::task::spawn_blocking(move || store_thread.join())).await;
    if !matches!(joined, Ok(Ok(Ok(())))) {
        tracing::warn!("the store thread did not stop within {} s", STORE_JOIN.as_secs());
    }
    info!("node stopped");
    Ok(())
}

/// Waits until the swarm reports at least one listen address (10 s at most).
async fn wait_listening(net: &crate::net::NetHandle) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let addrs = net.listen_addrs().await?;
        if !addrs.is_empty() {
            // A moment more lets every interface's address arrive.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let addrs = net.listen_addrs().await?;
            return Ok(addrs.iter().map(|a| a.to_string()).collect());
        }
        if Instant::now() > deadline {
            bail!("no listen address after 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
