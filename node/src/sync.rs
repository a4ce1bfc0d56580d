//! Anti-entropy: each node gossips fingerprints of its replica over capture-time ranges; a node
//! that sees a range differ from its own reconciles with that peer by splitting the range
//! (fingerprints of 16 parts per round trip) until the differing parts are small, then pulls
//! their registers and merges them. Both sides do this on each other's digests, so replicas
//! converge to the union, and the bytes moved grow with the difference, not with the store.
//!
//! Limit: computing a digest scans the time index (one pass per digest period); stores of
//! millions of registers would want cached per-window fingerprints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_protocol::codec::encode;
use argus_protocol::ids::NodeId;
use argus_protocol::limits::{MAX_REGISTER_BYTES, MAX_SYNC_FETCH_LIMIT};
use argus_protocol::messages::{GossipMessage, ReplicaDigest};
use argus_protocol::register::{Register, RegisterWire};
use argus_protocol::rpc::{SyncRequest, SyncResponse};
use argus_protocol::sync::RangeFingerprint;
use libp2p::PeerId;
use tokio::sync::mpsc;
use tracing::debug;

use crate::metrics::Metrics;
use crate::net::{NetHandle, Outbound, Response};
use crate::store::StoreHandle;

/// Width of one digest window of capture time.
const WINDOW_MS: u64 = 60_000;
/// Recent windows in a digest (30 minutes); older registers share one range.
const WINDOWS: u64 = 30;
/// Parts per split round trip.
const SPLIT: u16 = 16;
/// A differing range with at most this many registers on the peer is pulled whole. Small
/// leaves keep pulls close to what is missing; splitting costs 16 fingerprints (~0.9 KB) per
/// round trip, about two registers' worth.
const LEAF_COUNT: u64 = 2;
/// Whole reconciliation with one peer must finish within this.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most split round trips in one reconciliation (bounds the work a lying peer can cause).
const MAX_ROUNDS: usize = 256;
/// Approximate CBOR size of one range fingerprint on the wire (counted as sync traffic).
const FINGERPRINT_WIRE_BYTES: u64 = 56;
/// Digests waiting for the anti-entropy task; more are dropped (the next period repeats them).
pub const DIGEST_QUEUE: usize = 16;

pub fn wire_size(w: &RegisterWire) -> usize {
    encode(w, MAX_REGISTER_BYTES).map_or(0, |b| b.len())
}

/// The canonical ranges of a digest taken at wall time `now_ms`.
pub fn digest_ranges(now_ms: u64) -> Vec<(u64, u64)> {
    let end = (now_ms / WINDOW_MS + 1) * WINDOW_MS;
    let start = end.saturating_sub(WINDOWS * WINDOW_MS);
    let mut v = vec![(0, start)];
    v.extend((0..WINDOWS).map(|i| (start + i * WINDOW_MS, start + (i + 1) * WINDOW_MS)));
    v.push((end, u64::MAX));
    v
}

pub struct AntiEntropy {
    pub me: PeerId,
    pub store: StoreHandle,
    pub net: NetHandle,
    pub metrics: Arc<Metrics>,
    pub interval_ms: u64,
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
        let Some(ranges) = local(&self.store, &digest_ranges(crate::core::wall_ms())).await else {
            return;
        };
        let msg = GossipMessage::Digest(ReplicaDigest { node: NodeId(self.me), ranges });
        let _ = self.net.publish(&msg).await;
    }

    /// Pulls from `peer` every register in ranges where its fingerprint differs from ours.
    async fn reconcile(&self, peer: PeerId, d: ReplicaDigest) {
        let remote = NetRemote { net: &self.net, peer };
        reconcile(&self.store, &remote, &self.metrics, d.ranges).await;
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

    async fn fetch(&self, start_ms: u64, end_ms: u64, limit: u32) -> Option<(Vec<RegisterWire>, bool)> {
        let req = SyncRequest::Fetch { start_ms, end_ms, limit };
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

/// One reconciliation: compare the remote's digest ranges with ours, split differing ranges
/// (`SPLIT` parts per round trip) until they are small, and pull those. Returns the number of
/// split round trips used.
pub async fn reconcile<R: Remote>(
    store: &StoreHandle,
    remote: &R,
    metrics: &Metrics,
    theirs: Vec<RangeFingerprint>,
) -> usize {
    let spans: Vec<_> = theirs.iter().map(|r| (r.start_ms, r.end_ms)).collect();
    let Some(mine) = local(store, &spans).await else { return 0 };
    metrics.sync_ranges_compared.fetch_add(theirs.len() as u64, Ordering::Relaxed);
    let mut work: Vec<RangeFingerprint> = differing(&theirs, &mine);
    let mut rounds = 0;
    while let Some(r) = work.pop() {
        if r.count <= LEAF_COUNT || r.end_ms - r.start_ms <= u64::from(SPLIT) {
            pull(store, remote, metrics, r.start_ms, r.end_ms).await;
            continue;
        }
        rounds += 1;
        if rounds > MAX_ROUNDS {
            break;
        }
        let Some(parts) = remote.fingerprints(r.start_ms, r.end_ms, SPLIT).await else { break };
        metrics.sync_bytes_received.fetch_add(parts.len() as u64 * FINGERPRINT_WIRE_BYTES, Ordering::Relaxed);
        let Ok(local) = store.fingerprints(r.start_ms, r.end_ms, SPLIT).await else { break };
        if parts.len() != local.len() {
            break;
        }
        metrics.sync_ranges_compared.fetch_add(parts.len() as u64, Ordering::Relaxed);
        work.extend(differing(&parts, &local));
    }
    rounds
}

async fn pull<R: Remote>(store: &StoreHandle, remote: &R, metrics: &Metrics, mut start_ms: u64, end_ms: u64) {
    loop {
        let Some((registers, more)) = remote.fetch(start_ms, end_ms, MAX_SYNC_FETCH_LIMIT).await else {
            return;
        };
        let mut last = start_ms;
        for w in &registers {
            metrics.sync_bytes_received.fetch_add(wire_size(w) as u64, Ordering::Relaxed);
            last = last.max(w.captured_at_ms);
            let Ok((reg, _refused)) = Register::from_wire(w) else { continue };
            if let Ok(m) = store.merge(reg).await
                && m.changed
            {
                metrics.sync_records_repaired.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !more || registers.is_empty() {
            return;
        }
        // Resume from the last capture time seen; always make progress.
        start_ms = if last > start_ms { last } else { start_ms + 1 };
        if start_ms >= end_ms {
            return;
        }
        debug!(start_ms, "anti-entropy: pulling the next page");
    }
}

/// The peer's ranges whose fingerprint differs from ours and where the peer holds something.
fn differing(theirs: &[RangeFingerprint], mine: &[RangeFingerprint]) -> Vec<RangeFingerprint> {
    theirs
        .iter()
        .zip(mine)
        .filter(|(t, m)| {
            t.start_ms == m.start_ms && t.end_ms == m.end_ms && t.fingerprint != m.fingerprint && t.count > 0
        })
        .map(|(t, _)| t.clone())
        .collect()
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod reconcile_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ranges_cover_everything_without_overlap() {
        let r = digest_ranges(1_764_000_123_456);
        assert_eq!(r.first().unwrap().0, 0);
        assert_eq!(r.last().unwrap().1, u64::MAX);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(r.len() <= argus_protocol::limits::MAX_RANGES);
        let now = 1_764_000_123_456;
        assert!(r.iter().any(|(s, e)| *s <= now && now < *e && e - s == WINDOW_MS));
    }
}
