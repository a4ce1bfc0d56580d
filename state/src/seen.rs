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
}
