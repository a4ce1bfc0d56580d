//! `argus monitor`: supervises node processes on this host. It starts them (from a TOML file
//! naming each node's arguments, or `--spawn N -- NODE-ARGS...`), watches heartbeats and audit
//! verdicts on the network, and restarts a node whose heartbeats stop, whose audits fail too
//! often or which exits, with doubling backoff and a restart budget. Every decision is logged
//! with its reason and printed as a JSON line on stdout; `/metrics` and `/v1/status` are served
//! over HTTP. It only ever signals processes it started itself.
//!
//! - `config`: the TOML format, `--spawn` expansion, argument rewriting (pure).
//! - `policy`: failure detection and restart decisions as a pure state machine.
//! - `supervise`: the async shell that executes the policy's decisions.
//! - `child`: spawning one node, its ready line, its exit, signals to its process group.
//! - `watch`: joining the network and turning gossip into observations.
//! - `http`, `report`: the HTTP API, JSON event lines and the status snapshot.
//!
//! JSON lines on stdout (`at_ms`: Unix ms):
//! - `{"event":"ready","role":"monitor","peer_id":..,"http":..,"nodes":N,"at_ms":..}` once.
//! - `{"event":"started","node":..,"peer_id":..,"pid":..,"http":..,"incarnation":..,"at_ms":..}`
//!   when a node's ready line arrives.
//! - `{"event":"restart","node":..,"peer_id":..,"reason":"..","kind":..,"backoff_ms":..,
//!   "fault_dropped":..,"at_ms":..}` when the monitor stops a node to restart it.
//! - `{"event":"give_up","node":..,"peer_id":..,"reason":"..","kind":..,"at_ms":..}`.

pub mod child;
pub mod config;
pub mod http;
pub mod policy;
pub mod report;
pub mod supervise;
pub mod watch;

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
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

/// `argus monitor (--config FILE | --spawn N -- NODE-ARGS...)`.
#[derive(clap::Args, Clone)]
pub struct MonitorArgs {
    /// TOML file: restart policy, the monitor's network settings and [[node]] entries (format
    /// in node/src/monitor/config.rs). With --spawn it may hold the policy but no nodes.
    #[arg(long, value_name = "FILE", required_unless_present = "spawn")]
    pub config: Option<PathBuf>,
    /// Start N nodes n0..n{N-1} sharing the NODE-ARGS after `--`; each also gets
    /// `--data DATA_ROOT/nK --name nK`, and with `--no-mdns` among NODE-ARGS the listen
    /// addresses of the nodes already up as `--peer`.
    #[arg(long, value_name = "N")]
    pub spawn: Option<usize>,
    /// Parent folder of the spawned nodes' data directories.
    #[arg(long, value_name = "DIR", default_value = "monitor-data")]
    pub data_root: PathBuf,
    /// Append each node's stderr to DIR/NAME.log. Default: DATA_ROOT with --spawn; otherwise
    /// the config's log_dir, else the monitor's own stderr.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// HTTP API of the monitor: IP:PORT or unix:/path (default 127.0.0.1:0).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// The argus binary to run nodes with (default: this executable).
    #[arg(long, value_name = "PATH")]
    pub argus_bin: Option<PathBuf>,
    #[command(flatten)]
    pub net: crate::cli::NetArgs,
    /// Arguments shared by the spawned nodes (after `--`).
    #[arg(last = true, value_name = "NODE-ARGS")]
    pub node_args: Vec<String>,
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
    cfg.validate()?;
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
    report::emit(json!({
        "event": "ready", "role": "monitor", "peer_id": me.to_string(), "http": http_addr,
        "nodes": cfg.node.len(), "at_ms": report::unix_ms(),
    }));
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
        Some(p) => MonitorConfig::load(p)?,
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
    Ok(cfg)
}
