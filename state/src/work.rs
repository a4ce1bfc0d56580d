//! The work path, in the order an image takes it: an announcement (or an upload) enters the
//! auction; the auction's actions bid, claim and run; the image is fetched when it did not
//! travel inline; the finished inference reads the stored register (to vote for an agreeing
//! candidate), is signed, written durably, and only then published (`results` takes it from
//! there, and handles peers' results).

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::Detection;
use argus_protocol::ids::ImageId;
use argus_protocol::limits::MAX_INLINE_IMAGE_BYTES;
use argus_protocol::messages::{Bid, Claim, DetectionResult, GossipMessage, ImageAnnouncement};
use argus_protocol::meta::ImageMeta;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use tracing::{debug, info, warn};

use crate::counters::Hist;
use crate::events::{AfterWrite, Bytes, Fresh, Job, Out, Purpose, ReadFor};
use crate::images::Entry;
use crate::sched::Action;
use crate::state::State;

/// An uploaded image's description (the caller decoded its header).
pub struct Upload {
    pub bytes: Bytes,
    pub model: String,
    pub width: u32,
    pub height: u32,
    /// The source's name in the announcement (`?source=` of an upload); `None`: this node's name.
    pub source_name: Option<String>,
}

impl State {
    /// An image uploaded to this node: announce it and, when this node runs its model, enter
    /// the auction. Refuses a model name this build does not know.
    pub fn upload(&mut self, u: Upload, now: crate::Now) -> Result<(ImageId, Vec<Out>), String> {
        self.now = now;
        if self.classes(&u.model).is_none() {
            self.counters.refused_unknown_model += 1;
            return Err(format!("unknown model {:?}", u.model));
        }
        if let Some(name) = &u.source_name
            && name.len() > argus_protocol::limits::MAX_NAME_LEN
        {
            return Err(format!(
                "source name of {} bytes, at most {}",
                name.len(),
                argus_protocol::limits::MAX_NAME_LEN
            ));
        }
        let image = ImageId::of_bytes(&u.bytes);
        // A node that does not run the model keeps no copy to serve fetches: its uploads
        // travel inline whatever their size (up to the protocol's limit).
        let served = self.served(&u.model).is_some();
        let limit = if served {
            self.cfg.inline_max_bytes.min(MAX_INLINE_IMAGE_BYTES)
        } else {
            MAX_INLINE_IMAGE_BYTES
        };
        let inline = (u.bytes.len() <= limit).then(|| serde_bytes::ByteBuf::from(u.bytes.to_vec()));
        let seq = self.counters.images_announced;
        self.counters.images_announced += 1;
        let ann = ImageAnnouncement {
            image_id: image,
            source: self.node_id(),
            source_name: u.source_name.clone().unwrap_or_else(|| self.id.name.clone()),
            model: u.model.clone(),
            seq,
            captured_at_ms: now.wall_ms,
            width: u.width,
            height: u.height,
            size_bytes: u.bytes.len() as u64,
            bytes: inline,
        };
        let source_name = ann.source_name.clone();
        self.publish(GossipMessage::Announce(ann));
        if let Some(model) = self.served(&u.model).cloned() {
            let entry = Entry {
                model,
                captured_at_ms: now.wall_ms,
                source: self.me,
                source_name,
                bytes: Some(u.bytes),
                seen_ms: now.ms,
                finished_ms: None,
            };
            self.admit(image, entry);
        }
        Ok((image, std::mem::take(&mut self.out)))
    }

    /// An image announced by a sender or a node. Only images of a model this node runs enter
    /// its auctions; a model name this build does not know is refused.
    pub(crate) fn on_announce(&mut self, a: ImageAnnouncement) {
        self.counters.images_seen += 1;
        if self.classes(&a.model).is_none() {
            self.counters.refused_unknown_model += 1;
            return debug!(image = %a.image_id, model = %a.model, "announcement names an unknown model: refused");
        }
        let Some(model) = self.served(&a.model).cloned() else {
            self.counters.announces_model_not_held += 1;
            return;
        };
        let bytes = match a.bytes {
            Some(b) => {
                let b = b.into_vec();
                self.counters.image_bytes_received += b.len() as u64;
                if ImageId::of_bytes(&b) != a.image_id {
                    return warn!(image = %a.image_id, source = %a.source, "announced bytes do not hash to the image id");
                }
                Some(Bytes::new(b))
            }
            None => None,
        };
        let entry = Entry {
            model,
            captured_at_ms: a.captured_at_ms,
            source: a.source.0,
            source_name: a.source_name.clone(),
            bytes,
            seen_ms: self.now.ms,
            finished_ms: None,
        };
        self.admit(a.image_id, entry);
    }

    /// Buffers an image and enters its auction with our own bid.
    fn admit(&mut self, image: ImageId, entry: Entry) {
        if self.sched.is_done(&image) {
            return;
        }
        let committed = self.committed();
        let wait_ms = match self.hostile {
            // FAULT INJECTION: a black hole promises everything at once.
            crate::fault::Hostile::BlackHole => 0,
            _ => self.load.wait_ms(&entry.model, committed, self.now.ms),
        };
        let entry_model_name = entry.model.name.clone();
        for gone in self.images.insert(image, entry) {
            self.counters.images_dropped += 1;
            warn!(image = %gone, "image buffer full: dropped the oldest image");
        }
        let others = self.expected_bidders(&entry_model_name);
        let newcomer = self.newcomer();
        let entrants = crate::candidates::entrants(self.me, &image, others, self.cfg.sched.bidders, newcomer);
        let bid = entrants.bid;
        for action in self.sched.on_announce_with(image, wait_ms, entrants, self.now.ms) {
            self.act(action);
        }
        if bid && let Some(source) = self.images.get(&image).filter(|e| e.bytes.is_none()).map(|e| e.source) {
            self.prefetch(image, source);
        }
    }

    /// A peer's bid; it may close the image's window (every expected bid in).
    pub(crate) fn on_bid(&mut self, image: ImageId, bidder: libp2p_identity::PeerId, wait_ms: u32) {
        for action in self.sched.on_bid(&image, bidder, wait_ms, self.now.ms) {
            self.act(action);
        }
    }

    pub(crate) fn on_wake(&mut self) {
        for action in self.sched.run_due(self.now.ms) {
            self.act(action);
        }
    }

    pub(crate) fn on_tick(&mut self) {
        self.sched.set_live(self.live_nodes(self.now.ms));
        for action in self.sched.tick(self.now.ms) {
            self.act(action);
        }
        self.maybe_steal();
        self.counters.queue_len = self.queued_jobs();
        self.counters.windows_closed_early = self.sched.closed_early;
        self.counters.windows_timed_out = self.sched.timed_out;
        self.counters.auctions_escalated = self.sched.escalated;
    }

    pub(crate) fn act(&mut self, action: Action<ImageId>) {
        match action {
            Action::Bid { image, wait_ms } => {
                let queue_len = self.queued_jobs().min(u64::from(u32::MAX)) as u32;
                self.counters.bids_sent += 1;
                let bid = Bid { image_id: image, bidder: self.node_id(), wait_ms, queue_len };
                self.publish(GossipMessage::Bid(bid));
            }
            Action::Claim { image, takeover, wait_ms } => {
                debug!(%image, wait_ms, takeover, "claiming an image we think we won");
                let claim =
                    Claim { image_id: image, winner: self.node_id(), wait_ms, takeover, bid_ms: wait_ms };
                self.publish(GossipMessage::Claim(claim));
            }
            Action::Run { image, takeover } => self.run_image(image, takeover, None),
            Action::Reassert { image, wait_ms, renew } => self.reassert(image, wait_ms, renew),
            Action::Dropped { image } => {
                self.counters.images_dropped += 1;
                warn!(%image, "auction table full: dropped the oldest open image");
            }
        }
    }

    /// Our claim stood: queue the image, fetching it first when it did not travel inline
    /// (`holder`: the node that handed it to us, asked first).
    pub(crate) fn run_image(
        &mut self,
        image: ImageId,
        takeover: bool,
        holder: Option<libp2p_identity::PeerId>,
    ) {
        let Some(entry) = self.images.get(&image).cloned() else {
            // The buffer evicted it: we cannot run it; let the next bidder try.
            return self.give_up(image);
        };
        self.counters.images_won += 1;
        debug!(%image, takeover, "our claim stood: taking the image on");
        if takeover {
            self.counters.images_taken_over += 1;
            info!(%image, "taking over an image whose holder missed its deadline");
        }
        match entry.bytes {
            Some(bytes) => self.submit(Job {
                image,
                model: entry.model,
                captured_at_ms: entry.captured_at_ms,
                bytes,
                purpose: Purpose::Work { takeover },
            }),
            None => self.fetch_work(image, holder, entry.source),
        }
    }

    /// The worker could not take a job we handed it.
    pub(crate) fn on_infer_refused(&mut self, job: Job) {
        self.left_worker();
        self.refuse(job);
    }

    /// A job we cannot run: the next bidder gets a work image; an audit is abandoned.
    pub(crate) fn refuse(&mut self, job: Job) {
        self.load.finished(&job.model, None, self.now.ms);
        self.counters.inference_refused += 1;
        warn!(image = %job.image, model = %job.model.name, "inference queue full");
        match job.purpose {
            Purpose::Work { .. } => self.give_up(job.image),
            Purpose::Audit { .. } => self.audit_abandoned(&job.image),
        }
    }

    pub(crate) fn on_inferred(
        &mut self,
        job: Job,
        outcome: Result<Vec<Detection>, String>,
        inference_ms: u32,
        thumbnail: Option<argus_protocol::meta::Thumbnail>,
    ) {
        self.left_worker();
        self.load.finished(&job.model, Some(inference_ms), self.now.ms);
        self.out.push(Out::Observe(Hist::Inference, u64::from(inference_ms)));
        let detections = match outcome {
            Ok(d) => d,
            Err(e) => {
                self.counters.inference_errors += 1;
                warn!(image = %job.image, error = %e, "inference failed");
                return match job.purpose {
                    Purpose::Audit { .. } => self.audit_abandoned(&job.image),
                    // A bad image fails on every node alike: finish it so it is not passed on.
                    Purpose::Work { .. } => self.sched.on_result(&job.image),
                };
            }
        };
        match job.purpose {
            Purpose::Work { .. } => {
                self.counters.images_processed += 1;
                let detections = crate::fault::maybe_perturb(detections, self.fault_ppm, &job.image);
                let meta = ImageMeta {
                    source: self.images.get(&job.image).map(|e| e.source_name.clone()).unwrap_or_default(),
                    thumbnail,
                };
                let then = ReadFor::Adopt(Fresh {
                    model: job.model,
                    captured_at_ms: job.captured_at_ms,
                    detections,
                    inference_ms,
                    meta,
                });
                self.out.push(Out::Read { image: job.image, then });
            }
            Purpose::Audit { worker, digest } => {
                let then = ReadFor::Audit { worker, digest, model: job.model, detections };
                self.out.push(Out::Read { image: job.image, then });
            }
        }
    }

    pub(crate) fn on_read(&mut self, image: ImageId, stored: Option<Register>, then: ReadFor) {
        match then {
            ReadFor::Adopt(fresh) => self.finish_work(image, stored, fresh),
            ReadFor::Audit { worker, digest, model, detections } => {
                self.finish_audit(image, stored, worker, digest, model, detections)
            }
            ReadFor::Pass { worker_digest, attestation } => {
                self.merge_pass(image, stored, worker_digest, attestation)
            }
            ReadFor::Republish => self.republish(stored),
        }
    }

    /// Signs and writes our result for an image we won; it is published once durable. A
    /// peer's result for this image may already be stored (a duplicate after a missed bid or a
    /// takeover): when ours agrees with a stored candidate within the audit tolerance, we vote
    /// for that candidate instead of adding one that differs only in float rounding.
    fn finish_work(&mut self, image: ImageId, stored: Option<Register>, fresh: Fresh) {
        let Fresh { model, captured_at_ms, detections: mine, inference_ms, meta } = fresh;
        let mut digest = result_digest(&model, &mine);
        let mut detections = mine;
        if let Some(reg) = &stored
            && reg.candidate(&digest).is_none()
            && let Some((theirs, c)) = reg.agreeing(&model, &detections)
        {
            self.counters.results_adopted += 1;
            debug!(%image, "our duplicate result agrees with a stored one: voting for it");
            detections = c.detections().to_vec();
            digest = *theirs;
        }
        let ts = self.hlc.now(self.now.wall_ms);
        let att = match Attestation::sign(&self.id.key, &image, &digest, ts) {
            Ok(a) => a,
            Err(e) => return warn!(error = %e, "cannot sign our own result"),
        };
        let mut wire = att.to_wire();
        if self.lying() {
            wire = self.lie(wire); // FAULT INJECTION
        }
        let mut reg = Register::new(image, captured_at_ms);
        if let Err(e) = reg.insert(&model, &detections, att) {
            return warn!(%image, error = %e, "our own result does not form a valid register");
        }
        // A source name or thumbnail out of bounds is left out; the result stands.
        let meta = match reg.join_meta(&meta) {
            Ok(_) => meta,
            Err(e) => {
                warn!(%image, error = %e, "result meta left out");
                ImageMeta::default()
            }
        };
        self.sched.on_result(&image);
        self.images.mark_finished(&image, self.now.ms);
        let result = DetectionResult {
            image_id: image,
            captured_at_ms,
            worker: self.node_id(),
            backend: self.id.backend.clone(),
            model,
            inference_ms,
            detections,
            digest,
            attestation: wire,
            meta,
        };
        let mut publish = Vec::with_capacity(2);
        let audit = self.audit_request_for(&result);
        publish.push(GossipMessage::Result(result));
        publish.extend(audit.map(GossipMessage::AuditRequest));
        let then = AfterWrite { publish, captured_at_ms, inference_ms };
        self.out.push(Out::Write { register: reg, then });
    }
}
