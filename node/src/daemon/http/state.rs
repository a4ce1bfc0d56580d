//! What every HTTP handler shares, and the HTTP view of a register.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use argus_interface::api::StoredResult;
use argus_protocol::register::Register;
use libp2p::PeerId;
use tokio::sync::mpsc;

use crate::daemon::actor::Command;
use crate::daemon::store::StoreHandle;
use crate::metrics::Metrics;
use crate::net::NetHandle;

pub struct NodeInfo {
    pub peer_id: PeerId,
    pub name: String,
    pub backend: String,
    pub models: crate::models::Served,
    pub started: std::time::Instant,
}

#[derive(Clone)]
pub struct HttpState {
    pub info: Arc<NodeInfo>,
    pub store: StoreHandle,
    pub net: NetHandle,
    pub metrics: Arc<Metrics>,
    /// `metrics` and libp2p's, for `/metrics`.
    pub registry: Arc<prometheus_client::registry::Registry>,
    pub core: mpsc::Sender<Command>,
    pub fault_ppm: Arc<AtomicU32>,
    pub query_timeout_ms: u64,
}

/// The HTTP view of a register: its winner with votes, or `None` when it has no candidate.
pub fn stored_result(reg: &Register) -> Option<StoredResult> {
    let (digest, cand) = reg.winner()?;
    let worker = cand.attestations().min_by_key(|a| a.ts()).map(|a| a.node().to_string());
    Some(StoredResult {
        image_id: reg.image_id().to_string(),
        captured_at_ms: reg.captured_at_ms(),
        digest: digest.to_string(),
        votes: cand.votes() as u64,
        candidates: reg.len() as u64,
        worker,
        first_ts_ms: cand.attestations().map(|a| a.ts().wall_ms()).min(),
        stored_ts_ms: cand.latest_ts().wall_ms(),
        model: cand.model().name.clone(),
        weights_id: cand.model().weights.to_string(),
        detections: crate::models::labelled(&cand.model().name, cand.detections()),
        source: reg.meta().source.clone(),
        corroborating: None,
        asked: None,
        answered: None,
    })
}
