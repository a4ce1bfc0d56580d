//! Audits in the core. A worker asks two random live nodes to recompute a share
//! (`audit_ratio`) of its results. An auditor that agrees (by the protocol's agreement rule)
//! attests the worker's digest; one that disagrees publishes FAIL with its own detections and
//! publishes its own attested result, so the honest value gathers the votes. Nodes that see
//! FAIL verdicts against a worker treat it as suspect: every result of it, and its recent past
//! ones, is then audited by the two live nodes that rendezvous hashing picks for each image.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use argus_model::ModelKind;
use argus_protocol::attestation::Attestation;
use argus_protocol::detection::Detection;
use argus_protocol::ids::{ImageId, NodeId, ResultDigest};
use argus_protocol::messages::{AuditRequest, AuditVerdict, DetectionResult, GossipMessage};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::{result_digest, results_agree};
use libp2p::PeerId;
use rand::seq::IndexedRandom;
use tracing::{debug, info, warn};

use super::{Core, wall_ms};
use crate::models::known;
use crate::worker::Purpose;

/// Audits we asked for and still wait on; older ones count as backlog until they expire.
const MAX_PENDING: usize = 1_024;
const PENDING_EXPIRE_MS: u64 = 30_000;
/// Recent results remembered per node so a newly suspected worker's past is re-audited.
const MAX_RECENT: usize = 4_096;
/// A suspect whose audits pass this many times in a row (with no FAIL between) is trusted
/// again: its results go back to being audited at the normal ratio.
const PASSES_TO_FORGIVE: u32 = 20;
/// Workers with a FAIL or PASS tally; verdicts about further workers are not tallied (a LAN
/// of the design size has at most 50 nodes, so only forged worker ids would reach this).
const MAX_TALLIED_WORKERS: usize = 1_024;

#[derive(Default)]
pub(crate) struct Audits {
    /// image -> time asked (ours, as worker).
    pending: HashMap<ImageId, u64>,
    /// Audits waiting for image bytes to arrive, with the model to run.
    waiting: HashMap<ImageId, (ModelKind, Purpose)>,
    /// Audit jobs we accepted and have not finished.
    running: usize,
    /// FAIL verdicts seen per worker (reset by a restart or `PASSES_TO_FORGIVE` passes).
    fails: HashMap<PeerId, u32>,
    /// PASS verdicts per worker since its last FAIL.
    passes: HashMap<PeerId, u32>,
    /// Recent results: (image, worker, digest, model).
    recent: VecDeque<(ImageId, PeerId, ResultDigest, ModelRef)>,
}

impl Audits {
    pub(crate) fn waiting_for_bytes(&mut self, image: &ImageId) -> Option<(ModelKind, Purpose)> {
        self.waiting.remove(image)
    }

    pub(crate) fn backlog(&self) -> usize {
        self.pending.len() + self.running + self.waiting.len()
    }
}

/// The two nodes that audit `image` when its worker is suspect: smallest BLAKE3(image, node).
fn rendezvous(image: &ImageId, candidates: &[PeerId]) -> Vec<PeerId> {
    let mut scored: Vec<_> = candidates
        .iter()
        .map(|p| {
            let mut h = blake3::Hasher::new();
            h.update(image.as_bytes());
            h.update(&p.to_bytes());
            (*h.finalize().as_bytes(), *p)
        })
        .collect();
    scored.sort();
    scored.into_iter().take(2).map(|(_, p)| p).collect()
}

impl Core {
    fn is_suspect(&self, worker: &PeerId) -> bool {
        self.audits.fails.get(worker).copied().unwrap_or(0) >= self.cfg.audit.suspect_after_fails
    }

    fn tally_pass(&mut self, worker: &PeerId) {
        if self.audits.passes.len() >= MAX_TALLIED_WORKERS && !self.audits.passes.contains_key(worker) {
            return;
        }
        let passes = self.audits.passes.entry(*worker).or_default();
        *passes += 1;
        if *passes >= PASSES_TO_FORGIVE && self.audits.fails.remove(worker).is_some() {
            info!(%worker, passes = *passes, "suspect passed its audits: trusted again");
        }
    }

    /// A node restarted (its heartbeat uptime went down): the new incarnation starts with a
    /// clean record, and its first FAIL makes it suspect again.
    pub(crate) fn forgive_restarted(&mut self, node: &PeerId) {
        self.audits.passes.remove(node);
        if self.audits.fails.remove(node).is_some() {
            info!(worker = %node, "suspect restarted: its new incarnation starts trusted");
        }
    }

    /// Called for our own fresh result: with probability `audit_ratio`, ask two live nodes.
    pub(crate) async fn maybe_request_audit(&mut self, r: &DetectionResult) {
        if rand::random::<f64>() >= self.ratio.value() || self.audits.pending.len() >= MAX_PENDING {
            return;
        }
        // Only nodes running the same model and weights can recompute the result.
        let live = self.live_holders(&r.model);
        let auditors: Vec<NodeId> = live.sample(&mut rand::rng(), 2).map(|p| NodeId(*p)).collect();
        if auditors.is_empty() {
            return;
        }
        self.audits.pending.insert(r.image_id, self.now_ms());
        self.metrics.audits_requested.fetch_add(1, Ordering::Relaxed);
        let req = AuditRequest {
            image_id: r.image_id,
            worker: r.worker,
            digest: r.digest,
            model: r.model.clone(),
            auditors,
        };
        self.publish(GossipMessage::AuditRequest(req)).await;
    }

    /// Every result heard: remember it; audit it ourselves if its worker is suspect and
    /// rendezvous hashing picks us.
    pub(crate) fn note_result_for_audit(&mut self, r: &DetectionResult) {
        self.audits.recent.push_back((r.image_id, r.worker.0, r.digest, r.model.clone()));
        if self.audits.recent.len() > MAX_RECENT {
            self.audits.recent.pop_front();
        }
        if self.is_suspect(&r.worker.0) {
            self.audit_if_picked(r.image_id, r.worker.0, r.digest, &r.model.clone());
        }
    }

    /// Audits a suspect's result when rendezvous hashing over the live nodes that run its
    /// model picks this node.
    fn audit_if_picked(&mut self, image: ImageId, worker: PeerId, digest: ResultDigest, model: &ModelRef) {
        let Some(kind) = self.worker.models.holding(model).map(|m| m.kind) else { return };
        let mut candidates: Vec<_> = self.live_holders(model).into_iter().filter(|p| *p != worker).collect();
        candidates.push(self.me);
        if rendezvous(&image, &candidates).contains(&self.me) {
            self.start_audit(image, worker, digest, kind);
        }
    }

    pub(crate) async fn on_audit_request(&mut self, r: AuditRequest) {
        if r.worker.0 == self.me || !r.auditors.iter().any(|a| a.0 == self.me) {
            return;
        }
        if known(&r.model.name).is_none() {
            self.metrics.refused_unknown_model.fetch_add(1, Ordering::Relaxed);
            return debug!(image = %r.image_id, model = %r.model.name, "audit request names an unknown model");
        }
        let Some(kind) = self.worker.models.holding(&r.model).map(|m| m.kind) else {
            self.metrics.audits_declined_model.fetch_add(1, Ordering::Relaxed);
            return debug!(image = %r.image_id, model = %r.model.name, "audit declined: we lack that model or weights");
        };
        self.start_audit(r.image_id, r.worker.0, r.digest, kind);
    }

    fn start_audit(&mut self, image: ImageId, worker: PeerId, digest: ResultDigest, model: ModelKind) {
        let purpose = Purpose::Audit { worker, digest };
        self.audits.running += 1;
        self.metrics.audits_performed.fetch_add(1, Ordering::Relaxed);
        match self.images.get(&image).cloned() {
            Some(e) if e.bytes.is_some() => {
                let bytes = e.bytes.unwrap_or_default();
                self.submit(image, model, e.captured_at_ms, bytes, purpose);
            }
            other => {
                // Ask the worker for the bytes (it buffered them), else the announcer.
                let from =
                    if self.peers.contains(&worker) { worker } else { other.map_or(worker, |e| e.source) };
                self.audits.waiting.insert(image, (model, purpose));
                self.fetch(image, from);
            }
        }
    }

    pub(crate) fn audit_abandoned(&mut self, image: &ImageId) {
        self.audits.running = self.audits.running.saturating_sub(1);
        warn!(%image, "audit abandoned: image unavailable or undecodable");
    }

    /// Our recomputation for an audit is done: compare with the worker's stored candidate.
    pub(crate) async fn finish_audit(
        &mut self,
        image: ImageId,
        worker: PeerId,
        digest: ResultDigest,
        model: ModelRef,
        mine: Vec<Detection>,
    ) {
        self.audits.running = self.audits.running.saturating_sub(1);
        let theirs = match self.store.get(image).await {
            Ok(Some(reg)) => reg.candidate(&digest).map(|c| (c.model().clone(), c.detections().to_vec())),
            _ => None,
        };
        let Some((their_model, theirs)) = theirs else {
            warn!(%image, %worker, "audit: the worker's result is not in our store yet; skipped");
            return;
        };
        if their_model != model {
            // Only results of the same model and weights are compared.
            self.metrics.audits_declined_model.fetch_add(1, Ordering::Relaxed);
            return debug!(%image, %worker, "audit: the stored result is of another model or weights; skipped");
        }
        let pass = results_agree(&theirs, &mine);
        let my_digest = result_digest(&model, &mine);
        let ts = self.hlc.now(wall_ms());
        let attested = if pass { digest } else { my_digest };
        let att = match Attestation::sign(&self.key, &image, &attested, ts) {
            Ok(a) => a,
            Err(e) => return warn!(error = %e, "cannot sign audit attestation"),
        };
        let captured = self.images.get(&image).map_or(0, |e| e.captured_at_ms);
        let mut reg = Register::new(image, captured);
        let dets = if pass { &theirs } else { &mine };
        if let Err(e) = reg.insert(&model, dets, att.clone()) {
            return warn!(error = %e, "audit register invalid");
        }
        let verdict = AuditVerdict {
            image_id: image,
            worker: NodeId(worker),
            auditor: self.node_id(),
            worker_digest: digest,
            auditor_digest: my_digest,
            model: model.clone(),
            pass,
            attestation: pass.then(|| att.to_wire()),
            auditor_detections: (!pass).then(|| mine.clone()),
        };
        if !pass {
            info!(%image, %worker, "audit FAIL: our result disagrees with the worker's");
        }
        let mut follow = Some(GossipMessage::AuditVerdict(verdict));
        self.store_register(reg, captured, 0, follow.take()).await;
        if !pass {
            let result = DetectionResult {
                image_id: image,
                captured_at_ms: captured,
                worker: self.node_id(),
                backend: self.worker.backend.to_string(),
                model,
                inference_ms: 0,
                digest: my_digest,
                detections: mine,
                attestation: att.to_wire(),
            };
            self.publish(GossipMessage::Result(result)).await;
        }
    }

    pub(crate) async fn on_audit_verdict(&mut self, v: AuditVerdict) {
        if known(&v.model.name).is_none() {
            self.metrics.refused_unknown_model.fetch_add(1, Ordering::Relaxed);
            return debug!(image = %v.image_id, model = %v.model.name, "audit verdict names an unknown model");
        }
        if v.worker.0 == self.me {
            self.audits.pending.remove(&v.image_id);
        }
        if v.pass {
            self.metrics.audits_passed.fetch_add(1, Ordering::Relaxed);
            self.tally_pass(&v.worker.0);
            self.merge_pass_attestation(v).await;
            return;
        }
        self.metrics.audits_failed.fetch_add(1, Ordering::Relaxed);
        let worker = v.worker.0;
        if worker == self.me {
            self.metrics.audits_failed_against.fetch_add(1, Ordering::Relaxed);
        }
        let was_suspect = self.is_suspect(&worker);
        if self.audits.fails.len() >= MAX_TALLIED_WORKERS && !self.audits.fails.contains_key(&worker) {
            return warn!(%worker, "too many workers with failed audits: verdict not tallied");
        }
        *self.audits.fails.entry(worker).or_default() += 1;
        self.audits.passes.remove(&worker);
        if !was_suspect && self.is_suspect(&worker) {
            warn!(%worker, "worker failed audits: auditing all its recent results");
            let past: Vec<_> = self
                .audits
                .recent
                .iter()
                .filter(|r| r.1 == worker)
                .map(|r| (r.0, r.2, r.3.clone()))
                .collect();
            for (image, digest, model) in past {
                self.audit_if_picked(image, worker, digest, &model);
            }
        }
    }

    /// A PASS verdict carries the auditor's attestation of the worker's digest: add it.
    async fn merge_pass_attestation(&self, v: AuditVerdict) {
        let att = match v.verify_attestation() {
            Some(Ok(a)) => a,
            _ => {
                self.metrics.results_invalid.fetch_add(1, Ordering::Relaxed);
                return warn!(auditor = %v.auditor, "audit verdict with a bad attestation");
            }
        };
        let Ok(Some(current)) = self.store.get(v.image_id).await else {
            return;
        };
        let Some(cand) = current.candidate(&v.worker_digest) else {
            return;
        };
        let mut reg = Register::new(v.image_id, current.captured_at_ms());
        if reg.insert(cand.model(), cand.detections(), att).is_ok() {
            self.store_register(reg, current.captured_at_ms(), 0, None).await;
        }
    }

    /// Once per heartbeat: expire stale pending audits and adapt the ratio.
    pub(crate) async fn audit_housekeeping(&mut self) {
        let now = self.now_ms();
        self.audits.pending.retain(|_, asked| now.saturating_sub(*asked) < PENDING_EXPIRE_MS);
        let queue = self.worker.load.jobs.load(Ordering::Relaxed);
        let v = self.ratio.update(self.audits.backlog(), queue);
        self.metrics.audit_ratio_permille.store((v * 1000.0).round() as u64, Ordering::Relaxed);
    }
}
