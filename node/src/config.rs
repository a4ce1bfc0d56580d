//! Node configuration: one struct per component, loaded from TOML (`--config FILE`) with
//! command-line flags applied on top. Every limit and timeout of the node lives here, with the
//! reason for its default next to it. Never reads flags or files itself beyond `load`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Everything a node needs besides its data directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub net: NetConfig,
    pub sched: SchedSection,
    pub worker: WorkerConfig,
    pub store: StoreConfig,
    pub http: HttpConfig,
    pub audit: AuditConfig,
    pub sync: SyncConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// libp2p listen addresses.
    pub listen: Vec<String>,
    /// Bootstrap peers, redialled with capped backoff while disconnected.
    pub peers: Vec<String>,
    /// mDNS discovery (libp2p's mDNS skips loopback interfaces, so loopback labs turn it off).
    pub mdns: bool,
    /// Heartbeat period; the monitor's timeout is a multiple of it.
    pub heartbeat_interval_ms: u64,
    /// Cap of the exponential redial backoff for bootstrap peers.
    pub redial_max_backoff_ms: u64,
    /// Request-response timeout (image fetch, query, sync): a LAN round trip plus an LMDB read
    /// take milliseconds, so 5 s only trips on a dead or partitioned peer.
    pub request_timeout_ms: u64,
    /// Connections without traffic are closed after this long; gossip heartbeats keep live ones.
    pub idle_connection_timeout_ms: u64,
    /// TCP_USER_TIMEOUT on every libp2p connection (Linux): data unacknowledged this long
    /// aborts the connection. Heartbeats put data on every link each second, so a link cut by
    /// a partition or a dead host fails within this time instead of retransmitting for
    /// ~15 minutes, and the redial after a heal starts from a clean slate. 0 leaves the
    /// kernel default.
    pub tcp_user_timeout_ms: u64,
    /// Capacity of the channels between the swarm task and the rest of the node.
    pub channel_capacity: usize,
    /// Uploads up to this many bytes travel inside their announcement to every node; larger
    /// ones are fetched only by the nodes that bid for them (and the auditors). Default
    /// 16,384; at most 524,288.
    pub inline_max_bytes: usize,
    /// The private network's pre-shared key file (`argus keygen`): with one, only peers that
    /// hold the same key can complete a connection. None: an open network.
    pub network_key: Option<std::path::PathBuf>,
    /// FAULT INJECTION (`--fault oversize-once`, never from a config file): raise this node's
    /// gossip frame limit and publish one frame over everybody else's.
    #[serde(skip)]
    pub oversize_once: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/0.0.0.0/tcp/0".into()],
            peers: Vec::new(),
            mdns: true,
            heartbeat_interval_ms: 1_000,
            redial_max_backoff_ms: 2_000,
            request_timeout_ms: 5_000,
            idle_connection_timeout_ms: 60_000,
            tcp_user_timeout_ms: 4_000,
            // A node sees ~6 gossip messages per image; 4096 absorbs bursts of several
            // hundred images per second before the swarm task applies back-pressure.
            channel_capacity: 4_096,
            inline_max_bytes: argus_state::DEFAULT_INLINE_MAX_BYTES,
            network_key: None,
            oversize_once: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedSection {
    /// Bids are collected this long: gossip on a LAN delivers in a few ms, so 120 ms leaves
    /// margin for a loaded node without adding much latency.
    pub bid_window_ms: u64,
    /// The winner must claim within this after the window closes.
    pub claim_grace_ms: u64,
    /// Slack on top of a holder's own wait estimate before the next bidder takes over.
    pub result_slack_ms: u64,
    /// After claiming, wait this long for a better competing claim before running: a bid
    /// that arrived late then costs a yield, not a duplicate inference.
    pub claim_confirm_ms: u64,
    /// The confirm period when the winner saw a bid from every node that runs the model: a
    /// claim from a node whose view differs is already on its way, so a LAN delay or two.
    pub complete_confirm_ms: u64,
    /// Images in the auction at once (bounded buffer of announced, unfinished images).
    pub max_open_images: usize,
    /// Finished image ids remembered to ignore late messages (32 B each: 2 MiB).
    pub max_done_images: usize,
    /// How many nodes bid for each image at first: its candidates, drawn by rendezvous hashing
    /// of the image and node ids. The other nodes bid only when none of the candidates is
    /// left. Bids per image then stay constant as the network grows, instead of every node
    /// bidding for every image. 0: every node bids.
    pub bidders_per_image: usize,
}

impl Default for SchedSection {
    fn default() -> Self {
        Self {
            bid_window_ms: 120,
            claim_grace_ms: 500,
            result_slack_ms: 2_000,
            claim_confirm_ms: 60,
            complete_confirm_ms: 10,
            max_open_images: 2_048,
            max_done_images: 65_536,
            bidders_per_image: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Inference backend: ndarray, flex or wgpu.
    pub backend: String,
    /// The models this node runs and bids for (`shapes`, `coco`); it stores and serves results
    /// of every model either way.
    pub models: Vec<String>,
    /// Optional weights file replacing the embedded shapes weights.
    pub weights: Option<String>,
    /// Optional weights file replacing the embedded coco (NanoDet-g) weights.
    pub coco_weights: Option<String>,
    /// Jobs the inference thread's queue holds. The node hands it at most two batches
    /// (`2 * max_batch`, capped here) and keeps the rest in its own backlog.
    pub queue_capacity: usize,
    /// Jobs run together in one forward pass when several are waiting.
    pub max_batch: usize,
    /// Largest image accepted, in bytes (before decoding).
    pub max_image_bytes: usize,
    /// Longer side, in pixels, of the thumbnail (a JPEG of at most 16 KiB) kept with each
    /// result this node produces; 0 keeps none. The console shows it after the image is gone.
    pub thumbnail_px: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            backend: "flex".into(),
            // A user expects a node to detect both synthetic scenes and photographs.
            models: vec!["shapes".into(), "coco".into()],
            weights: None,
            coco_weights: None,
            queue_capacity: 512,
            max_batch: 8,
            max_image_bytes: 16 * 1024 * 1024,
            thumbnail_px: 160,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Initial LMDB map size; doubled on MDB_MAP_FULL up to `max_map_size_bytes`.
    pub map_size_bytes: usize,
    pub max_map_size_bytes: usize,
    /// Most writes committed in one transaction (batching amortises the fsync).
    pub batch_max: usize,
    /// Requests waiting for the store thread.
    pub queue_capacity: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            map_size_bytes: 256 * 1024 * 1024,
            max_map_size_bytes: 64 * 1024 * 1024 * 1024,
            batch_max: 256,
            queue_capacity: 4_096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// `IP:PORT` or `unix:/path`.
    pub listen: String,
    /// Largest accepted request body (POST /v1/images): 413 above it.
    pub max_body_bytes: usize,
    /// A file holding the admin bearer token: the `/v1/admin/*` endpoints (fault toggling,
    /// connection gating, for labs and tests) exist only with it, and need the token.
    pub admin_token_file: Option<std::path::PathBuf>,
    /// A file holding the bearer token `POST /v1/images` needs; without it uploads are open.
    pub upload_token_file: Option<std::path::PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            max_body_bytes: 16 * 1024 * 1024,
            admin_token_file: None,
            upload_token_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Initial probability that a result is audited.
    pub ratio_initial: f64,
    pub ratio_min: f64,
    pub ratio_max: f64,
    /// Added per heartbeat while the node is idle (additive increase).
    pub increase_step: f64,
    /// Unanswered audits (ours) plus audit jobs queued here above which the ratio halves.
    pub backlog_high: usize,
    /// Inference jobs queued here above which the ratio halves.
    pub queue_high_jobs: u64,
    /// Audit FAIL verdicts after which a node is treated as suspect and all its results are
    /// audited (by rendezvous-chosen auditors) until its next clean restart.
    pub suspect_after_fails: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            ratio_initial: 0.1,
            ratio_min: 0.01,
            ratio_max: 0.5,
            // From 0.1 to the 0.5 ceiling in 40 idle seconds at one heartbeat per second.
            increase_step: 0.01,
            // Two auditors per audit: 8 unanswered means about four audits stuck.
            backlog_high: 8,
            // 16 queued images at ~10 ms each is a 160 ms wait: latency is growing.
            queue_high_jobs: 16,
            suspect_after_fails: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Period of replica-digest gossip.
    pub digest_interval_ms: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self { digest_interval_ms: 1_000 }
    }
}

impl NodeConfig {
    /// The protocol state's configuration.
    pub fn state(&self) -> argus_state::Config {
        let (s, a) = (&self.sched, &self.audit);
        argus_state::Config {
            sched: argus_state::sched::SchedConfig {
                bid_window_ms: s.bid_window_ms,
                claim_grace_ms: s.claim_grace_ms,
                result_slack_ms: s.result_slack_ms,
                claim_confirm_ms: s.claim_confirm_ms,
                complete_confirm_ms: s.complete_confirm_ms,
                max_open: s.max_open_images,
                max_done: s.max_done_images,
                bidders: s.bidders_per_image,
            },
            ratio: argus_state::ratio::RatioConfig {
                initial: a.ratio_initial,
                min: a.ratio_min,
                max: a.ratio_max,
                step: a.increase_step,
                backlog_high: a.backlog_high,
                queue_high: a.queue_high_jobs,
            },
            suspect_after_fails: a.suspect_after_fails,
            // Two batches: the worker always has its next batch waiting, and everything else
            // waits where it can still yield.
            dispatch_depth: (2 * self.worker.max_batch).min(self.worker.queue_capacity),
            inline_max_bytes: self.net.inline_max_bytes,
            ..argus_state::Config::default()
        }
    }

    /// Reads a TOML file; unknown keys are errors that name the line.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: p, message: e.to_string() })
    }

    /// Checks relations between fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        let a = &self.audit;
        if !(0.0..=1.0).contains(&a.ratio_min) || a.ratio_min > a.ratio_max || a.ratio_max > 1.0 {
            return bad("audit: need 0 <= ratio_min <= ratio_max <= 1");
        }
        if !(0.0..=1.0).contains(&a.increase_step) || a.backlog_high == 0 || a.queue_high_jobs == 0 {
            return bad("audit: increase_step in 0..=1, backlog_high and queue_high_jobs positive");
        }
        if !(a.ratio_min..=a.ratio_max).contains(&a.ratio_initial) {
            return bad("audit: ratio_initial must lie within [ratio_min, ratio_max]");
        }
        if self.store.map_size_bytes > self.store.max_map_size_bytes {
            return bad("store: map_size_bytes exceeds max_map_size_bytes");
        }
        if self.worker.max_batch == 0 || self.worker.queue_capacity == 0 {
            return bad("worker: max_batch and queue_capacity must be positive");
        }
        if self.sched.max_open_images == 0 || self.sched.max_done_images == 0 {
            return bad("sched: max_open_images and max_done_images must be positive");
        }
        if self.net.channel_capacity == 0 || self.store.queue_capacity == 0 {
            return bad("channel capacities must be positive");
        }
        if self.net.inline_max_bytes > argus_protocol::limits::MAX_INLINE_IMAGE_BYTES {
            return bad("net: inline_max_bytes exceeds the protocol's 524288");
        }
        if self.net.heartbeat_interval_ms == 0 || self.sync.digest_interval_ms == 0 {
            return bad("intervals must be positive");
        }
        if !["ndarray", "flex", "wgpu"].contains(&self.worker.backend.as_str()) {
            return bad("worker.backend must be ndarray, flex or wgpu");
        }
        let models = &self.worker.models;
        if models.is_empty() {
            return bad("worker.models must name at least one model (shapes, coco)");
        }
        if let Some(m) = models.iter().find(|m| crate::models::known(m).is_none()) {
            return Err(ConfigError::Invalid(format!(
                "worker.models: unknown model {m:?}: expected shapes or coco"
            )));
        }
        if (1..models.len()).any(|i| models[..i].contains(&models[i])) {
            return bad("worker.models names a model twice");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        NodeConfig::default().validate().unwrap();
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_line() {
        let err = toml::from_str::<NodeConfig>("[net]\nmdns = false\nbogus = 1\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn models_must_be_known_and_distinct() {
        let mut c = NodeConfig::default();
        assert_eq!(c.worker.models, ["shapes", "coco"]);
        c.worker.models = vec!["yolo".into()];
        assert!(c.validate().unwrap_err().to_string().contains("yolo"));
        c.worker.models = vec![];
        assert!(c.validate().is_err());
        c.worker.models = vec!["coco".into(), "coco".into()];
        assert!(c.validate().is_err());
        c.worker.models = vec!["coco".into()];
        c.validate().unwrap();
    }

    #[test]
    fn inverted_audit_bounds_are_rejected() {
        let mut c = NodeConfig::default();
        c.audit.ratio_min = 0.6;
        assert!(c.validate().is_err());
    }
}
