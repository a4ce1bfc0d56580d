//! What one node remembers of another from its heartbeats (see `peers`).

use argus_protocol::model_ref::ModelRef;

/// Most nodes remembered from their heartbeats; the one heard from longest ago is forgotten
/// first.
pub const MAX_NODES_SEEN: usize = 1_024;

pub(crate) struct NodeSeen {
    pub last_ms: u64,
    /// Its uptime in its last heartbeat: a smaller one means it restarted.
    pub uptime_ms: u64,
    /// The models (and weights) its last heartbeat advertised.
    pub models: Vec<ModelRef>,
    /// We closed its connection for silence; set again only by a new heartbeat. The entry is
    /// kept, so that once it reconnects it is expected to bid before its next heartbeat.
    pub closed: bool,
    /// What its last heartbeat said of its work (shown by the console, see `PeerView`).
    pub backend: String,
    pub queue_len: u32,
    pub avg_inference_ms: u32,
    pub audit_ratio: f32,
    pub images_processed: u64,
    /// Images a second, from its heartbeats' `images_processed` (see `peers::throughput`).
    pub per_s: f32,
}

/// One node as this node sees it, for the operator's console.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    pub peer: libp2p_identity::PeerId,
    pub backend: String,
    /// Model names of its last heartbeat.
    pub models: Vec<String>,
    pub queue_len: u32,
    pub avg_inference_ms: u32,
    pub audit_ratio: f32,
    pub images_processed: u64,
    pub per_s: f32,
    pub uptime_ms: u64,
    /// Since its last heartbeat reached us.
    pub heard_ms_ago: u64,
    /// Connected and heard within the liveness window.
    pub live: bool,
    pub connected: bool,
}
