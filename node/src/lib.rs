//! The argus node: a worker in a self-organising detection network, plus the sender, query
//! client and monitor that share the `argus` binary.
//!
//! Layout, by role:
//! - `daemon`: the worker node. `daemon::run` assembles one; `actor` moves events between the
//!   protocol state (`argus_state`: auction, audits, liveness, adoption) and the world;
//!   `store` keeps vote-weighted registers in LMDB on a dedicated thread; `worker` is the
//!   inference thread (one detector per model) behind a bounded queue; `sync` is anti-entropy's
//!   IO; `http` is the JSON HTTP API (majority reads with read repair in `http::majority`).
//! - `send`: the image source.
//! - `monitor`: the process supervisor.
//! - `net`: shared networking: the libp2p behaviour, the swarm task that owns it, its handle.
//! - shared by all: `cli` (flags of every subcommand), `config` (per-component configuration
//!   with documented defaults and validation), `identity` (the ed25519 key in a data
//!   directory), `models` (served models, wire model names, labelled detections), `metrics`
//!   (counters, gauges and histograms; their Prometheus text and OpenMetrics exposition) and
//!   `clock`. What crosses a process boundary (HTTP bodies, stdout lines, the monitor's config
//!   file, the HTTP client) is typed once in `argus_interface`, shared with the scenario runner
//!   and the tests.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod identity;
pub mod metrics;
pub mod models;
pub mod monitor;
pub mod net;
pub mod query;
pub mod send;

/// Exit codes of the binary's subcommands.
pub type Code = u8;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `argus node`: flags over the config file, then run until shutdown.
pub async fn run_node(
    args: cli::NodeArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Code> {
    let mut cfg = match &args.config {
        Some(p) => config::NodeConfig::load(p)?,
        None => config::NodeConfig::default(),
    };
    if !args.net.listen.is_empty() {
        cfg.net.listen = args.net.listen.clone();
    }
    cfg.net.peers.extend(args.net.peers.iter().cloned());
    if args.net.no_mdns {
        cfg.net.mdns = false;
    }
    if let Some(k) = &args.net.network_key {
        cfg.net.network_key = Some(k.clone());
    }
    if let Some(h) = &args.http {
        cfg.http.listen = h.clone();
    }
    if let Some(b) = &args.backend {
        cfg.worker.backend = b.clone();
    }
    if let Some(w) = &args.weights {
        cfg.worker.weights = Some(w.clone());
    }
    if let Some(w) = &args.coco_weights {
        cfg.worker.coco_weights = Some(w.clone());
    }
    if let Some(m) = &args.model {
        cfg.worker.models = m.clone();
    }
    if let Some(t) = &args.admin_token {
        cfg.http.admin_token_file = Some(t.clone());
    }
    if let Some(t) = &args.upload_token {
        cfg.http.upload_token_file = Some(t.clone());
    }
    use argus_state::fault::{Fault, Hostile};
    let fault =
        args.fault.as_deref().map(argus_state::fault::parse).transpose().map_err(anyhow::Error::msg)?;
    let (fault_ppm, hostile) = match fault {
        Some(Fault::Anomalous(ppm)) => (ppm, Hostile::None),
        Some(Fault::BlackHole) => (0, Hostile::BlackHole),
        Some(Fault::Liar) => (0, Hostile::Liar),
        Some(Fault::Flooder | Fault::OversizeOnce) | None => (0, Hostile::None),
    };
    if fault_ppm > 0 {
        tracing::warn!(
            rate = fault_ppm as f64 / 1e6,
            "FAULT INJECTION: this node will publish anomalous results"
        );
    }
    if hostile != Hostile::None {
        tracing::warn!(fault = ?hostile, "FAULT INJECTION: this node is a hostile member");
    }
    let flooder = fault == Some(Fault::Flooder);
    // FAULT INJECTION: this node's own frame limit is raised so that it can send one frame
    // over everybody else's.
    cfg.net.oversize_once = fault == Some(Fault::OversizeOnce);
    let opts = daemon::NodeOptions { data: args.data, name: args.name, fault_ppm, hostile, flooder, cfg };
    daemon::run(opts, shutdown).await?;
    Ok(0)
}
