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
use tracing::{debug, info};

use crate::metrics::Metrics;
use crate::net::{NetHandle, Outbound, Response};
use crate::store::StoreHandle;

/// Width of one digest window of capture time.
const WINDOW_MS: u64 = 60_000;
/// Recent windows in a digest (30 minutes); older registers share one range.
const WINDOWS: u64 = 30;
/// Parts per split round trip.
const SPLIT: u16 = 16;
/// A differing range with at most this many registers on the peer is pulled whole.
const LEAF_COUNT: u64 = 8;
/// Whole reconciliation with one peer must finish within this.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most split round trips in one reconciliation (bounds the work a lying peer can cause).
const MAX_ROUNDS: usize = 256;
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

    async fn local(&self, ranges: &[(u64, u64)]) -> Option<Vec<RangeFingerprint>> {
        let mut out = Vec::with_capacity(ranges.len());
        for &(s, e) in ranges {
            out.push(self.store.fingerprints(s, e, 1).await.ok()?.pop()?);
        }
        Some(out)
    }

    async fn publish_digest(&self) {
        let Some(ranges) = self.local(&digest_ranges(crate::core::wall_ms())).await else {
            return;
        };
        let msg = GossipMessage::Digest(ReplicaDigest { node: NodeId(self.me), ranges });
        let _ = self.net.publish(&msg).await;
    }

    /// Pulls from `peer` every register in ranges where its fingerprint differs from ours.
    async fn reconcile(&self, peer: PeerId, d: ReplicaDigest) {
        let theirs = d.ranges;
        let Some(mine) = self.local(&theirs.iter().map(|r| (r.start_ms, r.end_ms)).collect::<Vec<_>>()).await
        else {
            return;
        };
        self.metrics.sync_ranges_compared.fetch_add(theirs.len() as u64, Ordering::Relaxed);
        let mut work: Vec<RangeFingerprint> = differing(&theirs, &mine);
        let mut rounds = 0;
        while let Some(r) = work.pop() {
            if r.count <= LEAF_COUNT || r.end_ms - r.start_ms <= u64::from(SPLIT) {
                self.pull(peer, r.start_ms, r.end_ms).await;
                continue;
            }
            rounds += 1;
            if rounds > MAX_ROUNDS {
                break;
            }
            let req = SyncRequest::Fingerprints { start_ms: r.start_ms, end_ms: r.end_ms, parts: SPLIT };
            let Ok(Response::Sync(SyncResponse::Fingerprints(parts))) =
                self.net.request(peer, Outbound::Sync(req)).await
            else {
                return;
            };
            self.metrics.sync_bytes_received.fetch_add(parts.len() as u64 * 56, Ordering::Relaxed);
            let Ok(local) = self.store.fingerprints(r.start_ms, r.end_ms, SPLIT).await else {
                return;
            };
            if parts.len() != local.len() {
                return;
            }
            self.metrics.sync_ranges_compared.fetch_add(parts.len() as u64, Ordering::Relaxed);
            work.extend(differing(&parts, &local));
        }
    }

    async fn pull(&self, peer: PeerId, mut start_ms: u64, end_ms: u64) {
        loop {
            let req = SyncRequest::Fetch { start_ms, end_ms, limit: MAX_SYNC_FETCH_LIMIT };
            let Ok(Response::Sync(SyncResponse::Registers { registers, more })) =
                self.net.request(peer, Outbound::Sync(req)).await
            else {
                return;
            };
            let mut last = start_ms;
            for w in &registers {
                self.metrics.sync_bytes_received.fetch_add(wire_size(w) as u64, Ordering::Relaxed);
                last = last.max(w.captured_at_ms);
                let Ok((reg, _refused)) = Register::from_wire(w) else {
                    continue;
                };
                if let Ok(m) = self.store.merge(reg).await
                    && m.changed
                {
                    self.metrics.sync_records_repaired.fetch_add(1, Ordering::Relaxed);
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
            info!(%peer, start_ms, "anti-entropy: pulling the next page");
        }
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
