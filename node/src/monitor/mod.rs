//! `argus monitor`: supervises node processes on this host. It starts them (from a TOML file
//! naming each node's arguments, or `--spawn N -- NODE-ARGS...`), watches heartbeats and audit
//! verdicts on the network, probes each node's own HTTP socket, and restarts a node only on
//! local evidence: it exited, it stopped answering the probe, or several auditors failed its
//! results; with doubling backoff and a restart budget. A node whose heartbeats stop reaching
//! the monitor is reported unreachable, not restarted. Every decision is logged
//! with its reason and printed as a JSON line on stdout; `/metrics` and `/v1/status` are served
//! over HTTP. It only ever signals processes it started itself.
//!
//! - `config`: the TOML format, `--spawn` expansion, argument rewriting (pure).
//! - `policy`: failure detection and restart decisions as a pure state machine.
//! - `supervise`: the async shell that executes the policy's decisions.
//! - `probe`: the local health probe of each node's own HTTP socket.
//! - `child`: spawning one node, its ready line, its exit, signals to its process group.
//! - `watch`: joining the network and turning gossip into observations.
//! - `http`, `report`, `status`: the HTTP API, JSON event lines and the status snapshot.
//!
//! JSON lines on stdout: `argus_interface::lines::MonitorLine` (ready, started, restart,
//! give_up), documented in docs/NODE-INTERFACE.md.

pub mod child;
pub mod config;
pub mod http;
pub mod policy;
pub mod probe;
pub mod reason;
pub mod report;
pub mod status;
pub mod supervise;
pub mod watch;

pub use crate::cli::MonitorArgs;
use anyhow::Context;
use argus_interface::lines::{self, MonitorLine};
use thiserror::Error;
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::Instrument;

use self::config::MonitorConfig;

#[derive(Debug, Error)]
pub enum MonitorError {
    #[error("monitor config: {0}")]
    Config(String),
    #[error("cannot start node {node}: {message}")]
    Spawn { node: String, message: String },
    #[error("monitor network: {0}")]
    Net(String),
    #[error("monitor HTTP: {0}")]
    Http(String),
}

/// Runs the monitor until SIGINT or SIGTERM; then stops its nodes and returns.
pub async fn run(args: MonitorArgs) -> anyhow::Result<()> {
    run_until(args, crate::shutdown_signal()).await
}

/// `run` with the shutdown future passed in (tests pass their own).
pub async fn run_until(
    args: MonitorArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let cfg = build_config(&args)?;
    config::validate(&cfg)?;
    let bin = match &cfg.argus_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("cannot find the running executable; set argus_bin")?,
    };
    if let Some(dir) = &cfg.log_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating log dir {}", dir.display()))?;
    }
    let hand_out_peers = args.spawn.is_some() && config::mdns_off(&args.node_args);
    let (net, net_rx, me) = watch::join(&cfg)?;
    let (status_tx, status_rx) = tokio_watch::channel(http::Snapshot::default());
    let (listener, http_addr) = http::bind(&cfg.http).await?;
    let server = tokio::spawn(http::serve(listener, status_rx));
    lines::print(&MonitorLine::Ready {
        peer_id: me.to_string(),
        http: http_addr.clone(),
        nodes: cfg.node.len() as u64,
        at_ms: report::unix_ms(),
    });
    tracing::info!(%me, http = %http_addr, nodes = cfg.node.len(), bin = %bin.display(), "monitor started");
    let (child_tx, child_rx) = mpsc::channel(supervise::CHILD_EVENTS);
    let sup = supervise::Supervisor::new(cfg, bin, hand_out_peers, net, me, child_tx, status_tx);
    let span = tracing::info_span!("monitor", peer = %me);
    let result = sup.run(child_rx, net_rx, shutdown).instrument(span).await;
    server.abort();
    result.map_err(Into::into)
}

/// The config file (or defaults), with `--spawn` nodes and flags applied on top.
pub fn build_config(args: &MonitorArgs) -> anyhow::Result<MonitorConfig> {
    let mut cfg = match &args.config {
        Some(p) => config::load(p)?,
        None => MonitorConfig::default(),
    };
    match args.spawn {
        Some(n) => {
            if !cfg.node.is_empty() {
                anyhow::bail!("--spawn cannot be combined with [[node]] entries in the config file");
            }
            let root = std::path::absolute(&args.data_root)
                .with_context(|| format!("resolving {}", args.data_root.display()))?;
            std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
            cfg.node = config::spawn_nodes(n, &args.node_args, &root)?;
            cfg.log_dir = Some(args.log_dir.clone().unwrap_or(root));
        }
        None if !args.node_args.is_empty() => anyhow::bail!("NODE-ARGS after `--` need --spawn N"),
        None => {
            if let Some(d) = &args.log_dir {
                cfg.log_dir = Some(d.clone());
            }
        }
    }
    if let Some(h) = &args.http {
        cfg.http = h.clone();
    }
    if let Some(b) = &args.argus_bin {
        cfg.argus_bin = Some(b.clone());
    }
    if !args.net.listen.is_empty() {
        cfg.listen = args.net.listen.clone();
    }
    cfg.peers.extend(args.net.peers.iter().cloned());
    if args.net.no_mdns {
        cfg.mdns = false;
    }
    if let Some(k) = &args.net.network_key {
        cfg.network_key = Some(k.clone());
    }
    Ok(cfg)
}
