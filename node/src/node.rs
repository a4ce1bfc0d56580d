//! Assembles and runs one node: identity, store, detector and worker thread, swarm task, core,
//! anti-entropy and HTTP API. Prints the ready line (JSON on stdout) once it listens, and
//! returns when `shutdown` resolves.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource};
use tokio::sync::mpsc;
use tracing::info;

use crate::config::NodeConfig;
use crate::core::{Core, CoreParts};
use crate::http::{HttpState, NodeInfo};
use crate::metrics::Metrics;
use crate::sync::{AntiEntropy, DIGEST_QUEUE};

pub struct NodeOptions {
    pub data: PathBuf,
    pub name: Option<String>,
    pub fault_ppm: u32,
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
    let (store, clock_ms, _store_thread) =
        crate::store::open(&opts.data.join("store"), &cfg.store, metrics.clone())?;
    let detectors = load_detectors(&cfg).await?;
    let (done_tx, done_rx) = mpsc::channel(cfg.worker.queue_capacity);
    let worker = crate::worker::start(detectors, cfg.worker.queue_capacity, cfg.worker.max_batch, done_tx)?;
    let (net, net_events) = crate::net::start(&key, &cfg.net, metrics.clone())?;
    let (listener, http_addr) = bind_http(&cfg.http.listen).await?;
    let listen = wait_listening(&net).await?;
    let backend = worker.backend.to_string();
    let models = worker.models.clone();
    println!(
        "{}",
        serde_json::json!({
            "event": "ready", "peer_id": me.to_string(), "name": name, "listen": listen,
            "http": http_addr, "backend": backend, "weights": models.summary(), "models": models.to_json(),
        })
    );
    let fault_ppm = Arc::new(AtomicU32::new(opts.fault_ppm));
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (sync_tx, sync_rx) = mpsc::channel(DIGEST_QUEUE);
    let parts = CoreParts {
        key,
        name: name.clone(),
        cfg: cfg.clone(),
        store: store.clone(),
        clock_ms,
        net: net.clone(),
        worker,
        metrics: metrics.clone(),
        fault_ppm: fault_ppm.clone(),
        http_addr: Some(http_addr),
        sync_tx,
    };
    let (core, internal_rx) = Core::new(parts);
    let ae = AntiEntropy {
        me,
        store: store.clone(),
        net: net.clone(),
        metrics: metrics.clone(),
        interval_ms: cfg.sync.digest_interval_ms,
    };
    tokio::spawn(ae.run(sync_rx));
    let state = HttpState {
        info: Arc::new(NodeInfo { peer_id: me, name, backend, models, started: Instant::now() }),
        store,
        net,
        metrics,
        core: cmd_tx,
        fault_ppm,
        query_timeout_ms: cfg.net.request_timeout_ms.min(3_000),
    };
    let app = crate::http::router(state, cfg.http.max_body_bytes, cfg.http.admin);
    tokio::spawn(async move {
        let r = match listener {
            Listener::Tcp(l) => axum::serve(l, app).await,
            Listener::Unix(l) => axum::serve(l, app).await,
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    core.run(cmd_rx, net_events, done_rx, internal_rx, shutdown).await;
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
