//! Command-line interface of the `argus` binary: flag parsing only, then a call into the
//! library. Flags override the config file; every flag is documented in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "argus",
    version,
    about = "argus: a self-organising, fault-tolerant object-detection network"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run a worker node.
    Node(NodeArgs),
    /// Announce images to the network (a folder, or generated synthetic scenes).
    Send(SendArgs),
    /// Print the stored result for an image from a node's HTTP API.
    Query(QueryArgs),
    /// Supervise node processes on this host and restart failed ones.
    Monitor(MonitorArgs),
    /// Write a new private-network key file (give it to every node, sender and monitor with
    /// `--network-key FILE`).
    Keygen(KeygenArgs),
    /// Print the inference backends this build contains, one per line (wgpu needs the cargo
    /// feature `wgpu`: `cargo build --workspace --bins --features argus-node/wgpu`).
    Backends,
}

#[derive(Args, Clone)]
pub struct NetArgs {
    /// libp2p listen address (repeatable).
    #[arg(long = "listen", value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Bootstrap peer address (repeatable), for networks mDNS does not reach.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peers: Vec<String>,
    /// Turn mDNS discovery off (needed on loopback).
    #[arg(long)]
    pub no_mdns: bool,
    /// The private network's key file (`argus keygen`): only peers with the same key can
    /// connect. Give it to every node, sender and monitor of the network.
    #[arg(long, value_name = "FILE")]
    pub network_key: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct NodeArgs {
    /// Data directory: LMDB store and identity key.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[command(flatten)]
    pub net: NetArgs,
    /// HTTP API address: IP:PORT or unix:/path.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Inference backend: ndarray, flex or wgpu.
    #[arg(long)]
    pub backend: Option<String>,
    /// Models to run and bid for, comma-separated (default: shapes,coco).
    #[arg(long, value_name = "MODELS", value_delimiter = ',')]
    pub model: Option<Vec<String>>,
    /// Weights file replacing the embedded shapes weights.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<String>,
    /// Weights file (burnpack, f16 or f32) replacing the embedded coco weights.
    #[arg(long, value_name = "FILE")]
    pub coco_weights: Option<String>,
    /// TOML config file (see docs/NODE-INTERFACE.md); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Human-readable node name.
    #[arg(long)]
    pub name: Option<String>,
    /// FAULT INJECTION for tests: `anomalous[=RATE]` publishes perturbed results; `blackhole`
    /// bids 0 ms, claims and never delivers; `liar` signs its results and verdicts with
    /// replayed or garbage attestations; `flooder` floods every topic with bad gossip.
    #[arg(long, value_name = "FAULT")]
    pub fault: Option<String>,
    /// Enable the /v1/admin endpoints (fault toggling, connection gating) for labs, behind the
    /// bearer token in FILE (one line, 16-512 visible ASCII characters).
    #[arg(long, value_name = "FILE")]
    pub admin_token: Option<PathBuf>,
    /// Require the bearer token in FILE for uploads (POST /v1/images).
    #[arg(long, value_name = "FILE")]
    pub upload_token: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct SendArgs {
    /// Folder of PNG/JPEG files to announce (sorted by name).
    #[arg(long, value_name = "DIR", conflicts_with = "synthetic")]
    pub dir: Option<PathBuf>,
    /// Watch a folder and announce PNG/JPEG files as they appear in it (not those there at
    /// the start), each once its size holds; runs until interrupted, or --count files.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["dir", "synthetic"])]
    pub watch: Option<PathBuf>,
    /// Announce frames sampled at --rate from a camera stream or video (anything ffmpeg
    /// reads: rtsp://, http:// MJPEG, a file); a dropped stream is reopened with backoff, a
    /// file ends the run. Needs ffmpeg on the PATH. --count stops after that many frames.
    #[arg(long, value_name = "URL|FILE", conflicts_with_all = ["dir", "watch", "synthetic"])]
    pub stream: Option<String>,
    /// Announce generated synthetic scenes instead of files.
    #[arg(long, requires = "count")]
    pub synthetic: bool,
    /// Number of synthetic scenes (with --watch: stop after this many files; with --stream,
    /// frames).
    #[arg(long)]
    pub count: Option<u64>,
    /// Seed of the synthetic scenes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First scene index (to continue a series).
    #[arg(long, default_value_t = 0)]
    pub start_index: u64,
    /// Images per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[command(flatten)]
    pub net: NetArgs,
    /// Nodes that must be heard from before sending starts (waits at most 60 s).
    #[arg(long, default_value_t = 1)]
    pub min_peers: usize,
    /// After the last image, stay until a node has confirmed a stored result for every image
    /// (serving fetches and re-announcing unconfirmed images meanwhile), but at most this many
    /// seconds.
    #[arg(long, default_value_t = 120)]
    pub linger_s: u64,
    /// FAULT INJECTION for tests: `lose-first-announce` skips the first publication of every
    /// image, as if the network lost it, so only re-announcement can deliver it.
    #[arg(long, hide = true, value_name = "FAULT")]
    pub fault: Option<String>,
    /// Sender name carried in announcements.
    #[arg(long, default_value = "sender")]
    pub name: String,
    /// Images up to this many bytes travel inside their announcement to every node; larger
    /// ones are served by this sender to the nodes that bid for them and the auditors (at most
    /// 524288).
    #[arg(long, default_value_t = argus_state::DEFAULT_INLINE_MAX_BYTES)]
    pub inline_max_bytes: usize,
    /// The model the images need: `coco` (photographs; the default for --dir) or `shapes`
    /// (the default for --synthetic).
    #[arg(long)]
    pub model: Option<String>,
}

#[derive(Args, Clone)]
pub struct KeygenArgs {
    /// Where to write the key (created with mode 0600; an existing file is never replaced).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args, Clone)]
pub struct QueryArgs {
    /// Node HTTP address: IP:PORT or unix:/path.
    #[arg(long, value_name = "ADDR")]
    pub http: String,
    /// Ask every live node: the majority value of one image, or every node's matches merged.
    #[arg(long)]
    pub majority: bool,
    /// Image id (64 hex characters): that image's stored result. Without it, the results that
    /// match the filters below, oldest first, one JSON object per line.
    #[arg(conflicts_with_all = ["label", "source", "min_score", "since", "from_ms", "to_ms"])]
    pub image_id: Option<String>,
    /// Only results with a detection of this label (`person`, `dog`, `circle`, ...).
    #[arg(long)]
    pub label: Option<String>,
    /// Only results from this source (`argus send --name`).
    #[arg(long)]
    pub source: Option<String>,
    /// A matching detection scores at least this (0..=1).
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<f32>,
    /// Only images captured in the last DURATION (`90s`, `10m`, `2h`, `1d`).
    #[arg(long, value_name = "DURATION", conflicts_with = "from_ms")]
    pub since: Option<String>,
    /// Only images captured at or after this time (ms since the Unix epoch).
    #[arg(long, value_name = "MS")]
    pub from_ms: Option<u64>,
    /// Only images captured before this time (ms since the Unix epoch).
    #[arg(long, value_name = "MS")]
    pub to_ms: Option<u64>,
    /// Print at most this many results (pages are fetched until then).
    #[arg(long, default_value_t = 1000)]
    pub max: usize,
}

/// `argus monitor (--config FILE | --spawn N -- NODE-ARGS...)`.
#[derive(Args, Clone)]
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
    pub net: NetArgs,
    /// Arguments shared by the spawned nodes (after `--`).
    #[arg(last = true, value_name = "NODE-ARGS")]
    pub node_args: Vec<String>,
}
