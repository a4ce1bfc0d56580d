//! The core's own work: winning an image (claim, fetch if needed, queue for inference),
//! turning a finished inference into a signed, stored and published result, uploads from the
//! HTTP API, and the scheduler tick. Store writes and fetches run as capped follow-up tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use argus_model::ModelKind;
use argus_protocol::attestation::Attestation;
use argus_protocol::detection::Detection;
use argus_protocol::ids::{ImageId, ResultDigest};
use argus_protocol::limits::MAX_INLINE_IMAGE_BYTES;
use argus_protocol::messages::{Claim, DetectionResult, GossipMessage, ImageAnnouncement};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use argus_protocol::rpc::FetchRequest;
use tracing::{debug, error, info, warn};

use super::{Core, Internal, wall_ms};
use crate::fault;
use crate::images::Entry;
use crate::net::{Outbound, Response};
use crate::worker::{Done, Job, Purpose};

impl Core {
    pub(crate) async fn on_tick(&mut self) {
        let now = self.now_ms();
        for action in self.sched.tick(now) {
            self.act(action).await;
        }
        let queue = self.worker.load.jobs.load(Ordering::Relaxed);
        self.metrics.queue_len.store(queue, Ordering::Relaxed);
    }

    /// We won the auction (or take over): say so; the scheduler confirms after a short wait.
    pub(crate) async fn claim_image(&mut self, image: ImageId, takeover: bool) {
        // This image is among the committed ones: count only the others.
        let others = self.sched.committed().saturating_sub(1);
        let model = self.images.get(&image).map_or(ModelKind::Shapes, |e| e.model);
        let wait_ms = self.worker.load.wait_ms(self.worker.epoch, model, others);
        let claim = Claim { image_id: image, winner: self.node_id(), wait_ms, takeover };
        self.publish(GossipMessage::Claim(claim)).await;
    }

    /// Our claim stood: queue the image (fetching it first when the announcement did not
    /// carry it).
    pub(crate) async fn run_image(&mut self, image: ImageId, takeover: bool) {
        let Some(entry) = self.images.get(&image).cloned() else {
            // The buffer evicted it: we cannot run it; let the next bidder try.
            let now = self.now_ms();
            self.sched.on_local_failure(&image, now);
            return;
        };
        self.metrics.images_won.fetch_add(1, Ordering::Relaxed);
        if takeover {
            self.metrics.images_taken_over.fetch_add(1, Ordering::Relaxed);
            info!(%image, "taking over an image whose holder missed its deadline");
        }
        match entry.bytes {
            Some(bytes) => {
                self.submit(image, entry.model, entry.captured_at_ms, bytes, Purpose::Work { takeover })
            }
            None => self.fetch(image, entry.source),
        }
    }

    pub(crate) fn submit(
        &mut self,
        image: ImageId,
        model: ModelKind,
        captured_at_ms: u64,
        bytes: Arc<Vec<u8>>,
        purpose: Purpose,
    ) {
        let is_work = matches!(purpose, Purpose::Work { .. });
        let job = Job { image, model, captured_at_ms, bytes, purpose };
        if self.worker.try_submit(job).is_err() {
            warn!(%image, %model, "inference queue full (or the model is not run here)");
            if is_work {
                let now = self.now_ms();
                self.sched.on_local_failure(&image, now);
            }
        }
    }

    /// Fetches an image's bytes from `from` in a follow-up task.
    pub(crate) fn fetch(&mut self, image: ImageId, from: libp2p::PeerId) {
        self.metrics.fetches_sent.fetch_add(1, Ordering::Relaxed);
        let net = self.net.clone();
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let bytes = match net.request(from, Outbound::Fetch(FetchRequest { image_id: image })).await {
                Ok(Response::Fetch(r)) if r.matches(&image) => r.bytes.map(|b| Arc::new(b.into_vec())),
                Ok(_) => None,
                Err(e) => {
                    debug!(%image, error = %e, "fetch failed");
                    None
                }
            };
            let _ = tx.send(Internal::Fetched { image, bytes }).await;
        });
    }

    pub(crate) async fn on_fetched(&mut self, image: ImageId, bytes: Option<Arc<Vec<u8>>>) {
        let now = self.now_ms();
        let Some(bytes) = bytes else {
            self.metrics.fetches_failed.fetch_add(1, Ordering::Relaxed);
            if self.audits.waiting_for_bytes(&image).is_some() {
                self.audit_abandoned(&image);
            } else {
                self.sched.on_local_failure(&image, now);
            }
            return;
        };
        self.images.set_bytes(&image, bytes.clone());
        let captured = self.images.get(&image).map_or(0, |e| e.captured_at_ms);
        if let Some((model, purpose)) = self.audits.waiting_for_bytes(&image) {
            self.submit(image, model, captured, bytes, purpose);
        } else if let Some(model) = self.images.get(&image).map(|e| e.model) {
            self.submit(image, model, captured, bytes, Purpose::Work { takeover: false });
        } else {
            self.sched.on_local_failure(&image, now);
        }
    }

    pub(crate) async fn on_done(&mut self, d: Done) {
        self.metrics.inference_ms.observe(u64::from(d.inference_ms));
        let detections = match d.outcome {
            Ok(dets) => dets,
            Err(e) => {
                self.metrics.inference_errors.fetch_add(1, Ordering::Relaxed);
                warn!(image = %d.job.image, error = %e, "inference failed");
                if matches!(d.job.purpose, Purpose::Audit { .. }) {
                    self.audit_abandoned(&d.job.image);
                    return;
                }
                // A bad image fails on every node alike: finish it so it is not passed around.
                self.sched.on_result(&d.job.image);
                return;
            }
        };
        let Some(model) = self.worker.models.get(d.job.model).map(|m| m.model_ref.clone()) else {
            return error!(image = %d.job.image, "the worker ran a model this node does not serve");
        };
        match d.job.purpose {
            Purpose::Work { .. } => {
                self.finish_work(d.job.image, model, d.job.captured_at_ms, detections, d.inference_ms).await
            }
            Purpose::Audit { worker, digest } => {
                self.finish_audit(d.job.image, worker, digest, model, detections).await
            }
        }
    }

    /// Signs, stores and publishes our result for an image we won.
    async fn finish_work(
        &mut self,
        image: ImageId,
        model: ModelRef,
        captured_at_ms: u64,
        detections: Vec<Detection>,
        inference_ms: u32,
    ) {
        self.metrics.images_processed.fetch_add(1, Ordering::Relaxed);
        let rate = self.fault_ppm.load(Ordering::Relaxed);
        let detections = fault::maybe_perturb(detections, rate, &image);
        let (detections, digest) = self.adopt_agreeing(image, &model, detections).await;
        let ts = self.hlc.now(wall_ms());
        let att = match Attestation::sign(&self.key, &image, &digest, ts) {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "cannot sign our own result");
                return;
            }
        };
        let wire = att.to_wire();
        let mut reg = Register::new(image, captured_at_ms);
        if let Err(e) = reg.insert(&model, &detections, att) {
            warn!(%image, error = %e, "our own result does not form a valid register");
            return;
        }
        self.sched.on_result(&image);
        let now = self.now_ms();
        self.images.mark_finished(&image, now);
        let result = DetectionResult {
            image_id: image,
            captured_at_ms,
            worker: self.node_id(),
            backend: self.worker.backend.to_string(),
            model,
            inference_ms,
            detections,
            digest,
            attestation: wire,
        };
        self.maybe_request_audit(&result).await;
        self.store_register(reg, captured_at_ms, inference_ms, Some(GossipMessage::Result(result))).await;
    }

    /// A peer's result for this image may already be stored (a duplicate after a missed bid or
    /// a takeover). When ours agrees with a stored candidate within the audit tolerance, we
    /// vote for that candidate (the one with most votes) instead of adding one that differs only
    /// in float rounding: a GPU and a CPU backend rarely produce identical bits, and a second
    /// candidate would split the votes of nodes that in fact agree. A result that disagrees
    /// stays our own, as in an audit.
    /// Returns the detections to publish and their digest.
    async fn adopt_agreeing(
        &self,
        image: ImageId,
        model: &ModelRef,
        mine: Vec<Detection>,
    ) -> (Vec<Detection>, ResultDigest) {
        let digest = result_digest(model, &mine);
        let Ok(Some(reg)) = self.store.get(image).await else { return (mine, digest) };
        if reg.candidate(&digest).is_some() {
            return (mine, digest); // bit-identical to a stored candidate: one vote more for it
        }
        match reg.agreeing(model, &mine) {
            Some((theirs, c)) => {
                self.metrics.results_adopted.fetch_add(1, Ordering::Relaxed);
                debug!(%image, "our duplicate result agrees with a stored one: voting for it");
                (c.detections().to_vec(), *theirs)
            }
            None => (mine, digest),
        }
    }

    /// Stores a register in a follow-up task; publishes `then` once the write is durable.
    pub(crate) async fn store_register(
        &self,
        reg: Register,
        captured_at_ms: u64,
        inference_ms: u32,
        then: Option<GossipMessage>,
    ) {
        let store = self.store.clone();
        let net = self.net.clone();
        let metrics = self.metrics.clone();
        let task = async move {
            match store.merge(reg).await {
                Ok(m) if m.changed => {
                    metrics.results_stored.fetch_add(1, Ordering::Relaxed);
                    let latency = wall_ms().saturating_sub(captured_at_ms);
                    metrics.latency_stored_ms.observe(latency);
                    metrics.scheduling_overhead_ms.observe(latency.saturating_sub(u64::from(inference_ms)));
                }
                Ok(_) => {}
                Err(e) => {
                    metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(error = %e, "cannot store a register");
                    return;
                }
            }
            if let Some(msg) = then
                && let Err(e) = net.publish(&msg).await
            {
                warn!(error = %e, "cannot publish result");
            }
        };
        match self.follow_ups.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Err(_) => task.await,
        }
    }

    /// An image uploaded over HTTP: announce it to the network and, when this node runs its
    /// model, enter the auction.
    pub(crate) async fn announce_upload(&mut self, bytes: Vec<u8>, model: String) -> Result<ImageId, String> {
        let kind = crate::models::known(&model).ok_or_else(|| format!("unknown model {model:?}"))?;
        let image = ImageId::of_bytes(&bytes);
        let (width, height) = image_dimensions(&bytes)?;
        let captured_at_ms = wall_ms();
        let bytes = Arc::new(bytes);
        let inline =
            (bytes.len() <= MAX_INLINE_IMAGE_BYTES).then(|| serde_bytes::ByteBuf::from(bytes.to_vec()));
        let ann = ImageAnnouncement {
            image_id: image,
            source: self.node_id(),
            source_name: self.name.clone(),
            model,
            seq: self.metrics.images_announced.fetch_add(1, Ordering::Relaxed),
            captured_at_ms,
            width,
            height,
            size_bytes: bytes.len() as u64,
            bytes: inline,
        };
        self.publish(GossipMessage::Announce(ann)).await;
        if self.worker.models.get(kind).is_some() {
            let now = self.now_ms();
            let entry = Entry {
                model: kind,
                captured_at_ms,
                source: self.me,
                bytes: Some(bytes),
                seen_ms: now,
                finished_ms: None,
            };
            self.admit(image, entry).await;
        }
        Ok(image)
    }
}

/// Width and height from the image header, without decoding the pixels.
fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| format!("not a supported image: {e}"))
}
