//! Anti-entropy's IO: publishing this node's replica digest, carrying out a reconciliation
//! that `argus_state::reconcile::Plan` decides (range fingerprints and pulls from one peer,
//! merged into the store), and answering peers' sync requests.
//!
//! Limit: computing a digest scans the time index (one pass per digest period); stores of
//! millions of registers would want cached per-window fingerprints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_protocol::codec::encode;
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::limits::{MAX_REGISTER_BYTES, MAX_SYNC_FETCH_LIMIT};
use argus_protocol::messages::{GossipMessage, ReplicaDigest};
use argus_protocol::register::Register;
use argus_protocol::register_wire::RegisterWire;
use argus_protocol::rpc::RegisterBatch;
use argus_protocol::rpc::{SyncRequest, SyncResponse};
use argus_protocol::search::{Cursor, Found, Search};
use argus_protocol::sync::RangeFingerprint;
use argus_state::reconcile::{Plan, SPLIT, Step, digest_ranges, next_page};
use libp2p::PeerId;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::daemon::store::StoreHandle;
use crate::metrics::Metrics;
use crate::net::{NetHandle, Outbound, Response};

/// Whole reconciliation with one peer must finish within this.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Approximate CBOR size of one range fingerprint on the wire (counted as sync traffic).
const FINGERPRINT_WIRE_BYTES: u64 = 56;
/// Digests waiting for the anti-entropy task; more are dropped (the next period repeats them).
pub const DIGEST_QUEUE: usize = 16;

pub fn wire_size(w: &RegisterWire) -> usize {
    encode(w, MAX_REGISTER_BYTES).map_or(0, |b| b.len())
}

pub struct AntiEntropy {
    pub me: PeerId,
    pub store: StoreHandle,
    pub net: NetHandle,
    pub metrics: Arc<Metrics>,
    pub interval_ms: u64,
    /// Registers that reconciliation changed, for the protocol state (`In::Merged`: a
    /// suspect's results that arrive this way are audited). Full: that register is not
    /// reported (the suspect's store scan still finds it).
    pub merged: mpsc::Sender<argus_state::In>,
}

impl AntiEntropy {
    pub async fn run(self, mut digests: mpsc::Receiver<(PeerId, ReplicaDigest)>) {
        let mut tick = tokio::time::interval(Duration::from_millis(self.interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.publish_digest().await,
                d = digests.recv() => match d {
                    Some((peer, d)) => {
                        if tokio::time::timeout(RECONCILE_TIMEOUT, self.reconcile(peer, d)).await.is_err() {
                            debug!(%peer, "reconciliation timed out");
                        }
                    }
                    None => break,
                },
            }
        }
    }

    async fn publish_digest(&self) {
        let Some(ranges) = local(&self.store, &digest_ranges(crate::clock::wall_ms())).await else {
            return;
        };
        let msg = GossipMessage::Digest(ReplicaDigest { node: NodeId(self.me), ranges });
        let _ = self.net.publish(&msg).await;
    }

    /// Pulls from `peer` every register in ranges where its fingerprint differs from ours.
    async fn reconcile(&self, peer: PeerId, d: ReplicaDigest) {
        let remote = NetRemote { net: &self.net, peer };
        reconcile(&self.store, &remote, &self.metrics, d.ranges, Some(&self.merged)).await;
    }
}

/// The other side of a reconciliation: the peer's store, reached over the network in the node
/// and directly in tests.
pub trait Remote {
    fn fingerprints(
        &self,
        start_ms: u64,
        end_ms: u64,
        parts: u16,
    ) -> impl std::future::Future<Output = Option<Vec<RangeFingerprint>>> + Send;
    fn fetch(
        &self,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
        after: Option<ImageId>,
    ) -> impl std::future::Future<Output = Option<(Vec<RegisterWire>, bool)>> + Send;
}

struct NetRemote<'a> {
    net: &'a NetHandle,
    peer: PeerId,
}

impl Remote for NetRemote<'_> {
    async fn fingerprints(&self, start_ms: u64, end_ms: u64, parts: u16) -> Option<Vec<RangeFingerprint>> {
        let req = SyncRequest::Fingerprints { start_ms, end_ms, parts };
        match self.net.request(self.peer, Outbound::Sync(req)).await {
            Ok(Response::Sync(SyncResponse::Fingerprints(f))) => Some(f),
            _ => None,
        }
    }

    async fn fetch(
        &self,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
        after: Option<ImageId>,
    ) -> Option<(Vec<RegisterWire>, bool)> {
        let req = SyncRequest::Fetch { start_ms, end_ms, limit, after };
        match self.net.request(self.peer, Outbound::Sync(req)).await {
            Ok(Response::Sync(SyncResponse::Registers { registers, more })) => Some((registers, more)),
            _ => None,
        }
    }
}

/// Our fingerprints of exactly the given ranges.
async fn local(store: &StoreHandle, ranges: &[(u64, u64)]) -> Option<Vec<RangeFingerprint>> {
    let mut out = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges {
        out.push(store.fingerprints(s, e, 1).await.ok()?.pop()?);
    }
    Some(out)
}

/// One reconciliation with a peer, as `Plan` decides: split differing ranges with the peer's
/// fingerprints, pull the small ones, merge what arrives. Returns the split round trips used.
pub async fn reconcile<R: Remote>(
    store: &StoreHandle,
    remote: &R,
    metrics: &Metrics,
    theirs: Vec<RangeFingerprint>,
    merged: Option<&mpsc::Sender<argus_state::In>>,
) -> usize {
    let spans: Vec<_> = theirs.iter().map(|r| (r.start_ms, r.end_ms)).collect();
    let Some(mine) = local(store, &spans).await else { return 0 };
    metrics.sync_ranges_compared.fetch_add(theirs.len() as u64, Ordering::Relaxed);
    let mut plan = Plan::new(&theirs, &mine);
    while let Some(step) = plan.next_step() {
        match step {
            Step::Pull { start_ms, end_ms } => pull(store, remote, metrics, start_ms, end_ms, merged).await,
            Step::Split { start_ms, end_ms } => {
                let Some(parts) = remote.fingerprints(start_ms, end_ms, SPLIT).await else { break };
                metrics
                    .sync_bytes_received
                    .fetch_add(parts.len() as u64 * FINGERPRINT_WIRE_BYTES, Ordering::Relaxed);
                let Ok(local) = store.fingerprints(start_ms, end_ms, SPLIT).await else { break };
                metrics.sync_ranges_compared.fetch_add(parts.len() as u64, Ordering::Relaxed);
                plan.split_answered(&parts, &local);
            }
        }
    }
    plan.rounds()
}

async fn pull<R: Remote>(
    store: &StoreHandle,
    remote: &R,
    metrics: &Metrics,
    mut start_ms: u64,
    end_ms: u64,
    merged: Option<&mpsc::Sender<argus_state::In>>,
) {
    let mut after = None;
    loop {
        let Some((registers, more)) = remote.fetch(start_ms, end_ms, MAX_SYNC_FETCH_LIMIT, after).await
        else {
            return;
        };
        let last = registers.last().map(|w| (w.captured_at_ms, w.image_id));
        for w in &registers {
            metrics.sync_bytes_received.fetch_add(wire_size(w) as u64, Ordering::Relaxed);
            let Ok((reg, _refused)) = Register::from_wire(w) else { continue };
            if let Ok(m) = store.merge(reg).await
                && m.changed
            {
                metrics.sync_records_repaired.fetch_add(1, Ordering::Relaxed);
                if let Some(tx) = merged {
                    let _ = tx.try_send(argus_state::In::Merged { register: m.register });
                }
            }
        }
        match next_page(end_ms, last, more) {
            Some((ms, id)) => (start_ms, after) = (ms, Some(id)),
            None => return,
        }
        debug!(start_ms, "anti-entropy: pulling the next page");
    }
}

/// Answers a peer's (validated) sync request from the store. Registers are packed by bytes as
/// well as by count (`RegisterBatch`), so an answer always fits `MAX_SYNC_RESPONSE_BYTES`:
/// large registers make shorter pages, and the requester pages on with `more`.
pub async fn answer(store: &StoreHandle, r: SyncRequest) -> SyncResponse {
    match r {
        SyncRequest::Fingerprints { start_ms, end_ms, parts } => {
            SyncResponse::Fingerprints(store.fingerprints(start_ms, end_ms, parts).await.unwrap_or_default())
        }
        SyncRequest::Fetch { start_ms, end_ms, limit, after } => {
            let Ok((registers, more)) = store.fetch_range(start_ms, end_ms, after, limit as usize).await
            else {
                return SyncResponse::Registers { registers: Vec::new(), more: false };
            };
            let mut batch = RegisterBatch::new(limit);
            let mut left_out = false;
            for w in registers {
                match batch.push(w) {
                    Ok(true) => {}
                    Ok(false) => {
                        left_out = true;
                        break;
                    }
                    // Over MAX_REGISTER_BYTES: the store never holds one; skip it.
                    Err(e) => {
                        warn!(error = %e, "a stored register does not encode; left out of a sync answer")
                    }
                }
            }
            batch.into_response(more || left_out)
        }
        SyncRequest::Search(q) => SyncResponse::Found(search_page(store, q).await),
    }
}

/// A content query's page for a peer, packed under the response's byte budget: when a
/// register does not fit, the page ends at the last one that did.
async fn search_page(store: &StoreHandle, q: Search) -> Found {
    let Ok((registers, mut next)) = store.search(q.clone()).await else {
        return Found { registers: Vec::new(), next: None };
    };
    let mut batch = RegisterBatch::new(q.limit);
    let mut last = q.after;
    for reg in registers {
        let at = Cursor { ms: reg.captured_at_ms(), image_id: *reg.image_id() };
        match batch.push(reg.to_wire()) {
            Ok(true) => last = Some(at),
            Ok(false) => {
                next = last;
                break;
            }
            Err(e) => warn!(error = %e, "a stored register does not encode; left out of a search answer"),
        }
    }
    Found { registers: batch.into_registers(), next }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod reconcile_tests;
