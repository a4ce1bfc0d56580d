//! Gossip handlers of the core: announcements, bids, claims, results, heartbeats. The swarm
//! task has already checked size, version, topic and that the author signed the message; here
//! come the semantic checks (image bytes hash to the id, attestations verify, detections are
//! sane). A message that fails them is counted and dropped, never trusted and never a panic.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use argus_protocol::ids::ImageId;
use argus_protocol::messages::{DetectionResult, GossipMessage, ImageAnnouncement};
use argus_protocol::register::Register;
use libp2p::PeerId;
use tracing::{debug, warn};

use super::{Core, NodeSeen, wall_ms};
use crate::images::Entry;
use crate::models::known;
use crate::sched::Action;

impl Core {
    pub(crate) async fn on_gossip(&mut self, author: PeerId, msg: GossipMessage) {
        match msg {
            GossipMessage::Announce(a) => self.on_announce(a).await,
            GossipMessage::Bid(b) => self.sched.on_bid(&b.image_id, author, b.wait_ms),
            GossipMessage::Claim(c) => {
                let now = self.now_ms();
                self.sched.on_claim(&c.image_id, author, c.wait_ms, now);
            }
            GossipMessage::Result(r) => self.on_result(r).await,
            GossipMessage::Heartbeat(h) => {
                let now = self.now_ms();
                let seen = NodeSeen { last_ms: now, uptime_ms: h.uptime_ms, models: h.models };
                if let Some(prev) = self.nodes.insert(h.node.0, seen)
                    && h.uptime_ms < prev.uptime_ms
                {
                    self.forgive_restarted(&h.node.0);
                }
            }
            GossipMessage::AuditRequest(r) => self.on_audit_request(r).await,
            GossipMessage::AuditVerdict(v) => self.on_audit_verdict(v).await,
            GossipMessage::Digest(d) => self.on_digest(author, d).await,
        }
    }

    /// An image announced by a sender (or a node's HTTP upload). Only images of a model this
    /// node runs enter its auctions; a model name this build does not know is refused.
    pub(crate) async fn on_announce(&mut self, a: ImageAnnouncement) {
        self.metrics.images_seen.fetch_add(1, Ordering::Relaxed);
        let Some(model) = known(&a.model) else {
            self.metrics.refused_unknown_model.fetch_add(1, Ordering::Relaxed);
            debug!(image = %a.image_id, model = %a.model, "announcement names an unknown model: refused");
            return;
        };
        if self.worker.models.get(model).is_none() {
            self.metrics.announces_model_not_held.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let bytes = match a.bytes {
            Some(b) => {
                let b = b.into_vec();
                if ImageId::of_bytes(&b) != a.image_id {
                    warn!(image = %a.image_id, source = %a.source, "announced bytes do not hash to the image id");
                    return;
                }
                Some(Arc::new(b))
            }
            None => None,
        };
        let now = self.now_ms();
        let entry = Entry {
            model,
            captured_at_ms: a.captured_at_ms,
            source: a.source.0,
            bytes,
            seen_ms: now,
            finished_ms: None,
        };
        self.admit(a.image_id, entry).await;
    }

    /// Buffers an image and enters its auction with our own bid.
    pub(crate) async fn admit(&mut self, image: ImageId, entry: crate::images::Entry) {
        if self.sched.is_done(&image) {
            return;
        }
        let model = entry.model;
        for gone in self.images.insert(image, entry) {
            self.metrics.images_dropped.fetch_add(1, Ordering::Relaxed);
            warn!(image = %gone, "image buffer full: dropped the oldest image");
        }
        let wait_ms = self.worker.load.wait_ms(self.worker.epoch, model, self.sched.committed());
        let now = self.now_ms();
        for action in self.sched.on_announce(image, wait_ms, now) {
            self.act(action).await;
        }
    }

    /// A peer's result: verify, store (merging its attestation), end the auction.
    async fn on_result(&mut self, r: DetectionResult) {
        self.metrics.results_received.fetch_add(1, Ordering::Relaxed);
        let Some(model) = known(&r.model.name) else {
            self.metrics.refused_unknown_model.fetch_add(1, Ordering::Relaxed);
            debug!(image = %r.image_id, model = %r.model.name, "result names an unknown model: refused");
            return;
        };
        let classes = model.labels().len();
        if let Some(d) = r.detections.iter().find(|d| usize::from(d.class) >= classes) {
            self.metrics.results_invalid.fetch_add(1, Ordering::Relaxed);
            warn!(image = %r.image_id, worker = %r.worker, class = d.class, %model, "refused result: no such class");
            return;
        }
        let reg = match result_register(&r) {
            Ok(reg) => reg,
            Err(e) => {
                self.metrics.results_invalid.fetch_add(1, Ordering::Relaxed);
                warn!(image = %r.image_id, worker = %r.worker, error = %e, "refused result");
                return;
            }
        };
        if let Err(e) = self.hlc.update(reg_ts(&reg), wall_ms()) {
            debug!(error = %e, "result timestamp ahead of our clock; not advancing the clock");
        }
        self.sched.on_result(&r.image_id);
        let now = self.now_ms();
        self.images.mark_finished(&r.image_id, now);
        self.note_result_for_audit(&r);
        self.store_register(reg, r.captured_at_ms, r.inference_ms, None).await;
    }

    pub(crate) async fn act(&mut self, action: Action<ImageId>) {
        match action {
            Action::Bid { image, wait_ms } => {
                let queue_len = self.worker.load.jobs.load(Ordering::Relaxed).min(u64::from(u32::MAX)) as u32;
                let bid = argus_protocol::messages::Bid {
                    image_id: image,
                    bidder: self.node_id(),
                    wait_ms,
                    queue_len,
                };
                self.metrics.bids_sent.fetch_add(1, Ordering::Relaxed);
                self.publish(GossipMessage::Bid(bid)).await;
            }
            Action::Claim { image, takeover } => self.claim_image(image, takeover).await,
            Action::Run { image, takeover } => self.run_image(image, takeover).await,
            Action::Dropped { image } => {
                self.metrics.images_dropped.fetch_add(1, Ordering::Relaxed);
                warn!(%image, "auction table full: dropped the oldest open image");
            }
        }
    }
}

/// The register a result stands for: one candidate attested by its worker.
pub(crate) fn result_register(r: &DetectionResult) -> Result<Register, String> {
    let att = r.verify_attestation().map_err(|e| e.to_string())?;
    let mut reg = Register::new(r.image_id, r.captured_at_ms);
    reg.insert(&r.model, &r.detections, att).map_err(|e| e.to_string())?;
    Ok(reg)
}

fn reg_ts(reg: &Register) -> argus_protocol::hlc::HlcTimestamp {
    reg.winner().map(|(_, c)| c.latest_ts()).unwrap_or_default()
}
