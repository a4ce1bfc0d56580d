//! Audits. A worker asks two random live nodes that run the same model and weights to
//! recompute a share (the audit ratio) of its results. An auditor that agrees attests the
//! worker's digest; one that disagrees publishes FAIL with its own detections and its own
//! attested result, so the honest value gathers the votes. Nodes that see FAIL verdicts against
//! a worker treat it as suspect: every result of it, and its recent past ones, is then audited
//! by the two live nodes that rendezvous hashing picks for each image (see `suspicion`).

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::Detection;
use argus_protocol::ids::{ImageId, NodeId, ResultDigest};
use argus_protocol::messages::{AuditRequest, AuditVerdict, DetectionResult, GossipMessage};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::{result_digest, results_agree};
use libp2p_identity::PeerId;
use tracing::{debug, info, warn};

use crate::events::{AfterWrite, Job, Out, Purpose, ReadFor};
use crate::ledger::{
    MAX_ATTEMPTS, MAX_FETCH_SOURCES, MAX_PENDING, MAX_RECENT, MAX_RETRIES_QUEUED, MAX_WAITING,
    PENDING_EXPIRE_MS, RETRY_FIRST_MS, UNMATCHED_WAIT_MS, Unmatched, WaitingAudit,
};
use crate::state::State;

/// The two nodes that audit `image` when its worker is suspect: smallest BLAKE3(image, node).
pub fn rendezvous(image: &ImageId, candidates: &[PeerId]) -> Vec<PeerId> {
    crate::candidates::ranked(b"", image, candidates).into_iter().take(2).collect()
}

impl State {
    /// For our own fresh result: with probability `audit_ratio`, a request to two live nodes
    /// that hold the same model and weights.
    pub(crate) fn audit_request_for(&mut self, r: &DetectionResult) -> Option<AuditRequest> {
        if !self.rng.chance(self.ratio.value()) || self.audits.pending.len() >= MAX_PENDING {
            return None;
        }
        let live = self.live_holders(&r.model);
        let auditors: Vec<NodeId> = self.rng.sample(&live, 2).into_iter().map(NodeId).collect();
        if auditors.is_empty() {
            return None;
        }
        self.audits.pending.insert(r.image_id, self.now.ms);
        self.counters.audits_requested += 1;
        Some(AuditRequest {
            image_id: r.image_id,
            worker: r.worker,
            digest: r.digest,
            model: r.model.clone(),
            auditors,
        })
    }

    /// Every result heard: remember it; audit it ourselves if its worker is suspect and
    /// rendezvous hashing picks us.
    pub(crate) fn note_result_for_audit(&mut self, r: &DetectionResult) {
        self.audits.recent.push_back((r.image_id, r.worker.0, r.digest, r.model.clone()));
        if self.audits.recent.len() > MAX_RECENT {
            self.audits.recent.pop_front();
        }
        if self.doubted(&r.worker.0, r.attestation.ts) {
            self.audit_if_picked(r.image_id, r.worker.0, r.digest, &r.model);
        }
    }

    pub(crate) fn audit_if_picked(
        &mut self,
        image: ImageId,
        worker: PeerId,
        digest: ResultDigest,
        model: &ModelRef,
    ) {
        // A worker never audits itself (even when it sees FAIL verdicts against itself).
        if worker == self.me || !self.served.contains(model) {
            return;
        }
        let mut candidates: Vec<_> = self.live_holders(model).into_iter().filter(|p| *p != worker).collect();
        candidates.push(self.me);
        if rendezvous(&image, &candidates).contains(&self.me) {
            self.start_audit(image, worker, digest, model.clone(), 0);
        }
    }

    pub(crate) fn on_audit_request(&mut self, r: AuditRequest) {
        if r.worker.0 == self.me || !r.auditors.iter().any(|a| a.0 == self.me) {
            return;
        }
        if self.classes(&r.model.name).is_none() {
            self.counters.refused_unknown_model += 1;
            return debug!(image = %r.image_id, model = %r.model.name, "audit request names an unknown model");
        }
        if !self.served.contains(&r.model) {
            self.counters.audits_declined_model += 1;
            return debug!(image = %r.image_id, model = %r.model.name, "audit declined: we lack that model or weights");
        }
        self.start_audit(r.image_id, r.worker.0, r.digest, r.model, 0);
    }

    /// `attempt`: how often this audit was tried again already (0 the first time).
    fn start_audit(
        &mut self,
        image: ImageId,
        worker: PeerId,
        digest: ResultDigest,
        model: ModelRef,
        attempt: u32,
    ) {
        if !self.audits.started_set.insert((image, digest)) {
            return;
        }
        self.audits.started.push_back((image, digest));
        if self.audits.started.len() > MAX_RECENT
            && let Some(old) = self.audits.started.pop_front()
        {
            self.audits.started_set.remove(&old);
        }
        let purpose = Purpose::Audit { worker, digest };
        match self.images.get(&image).cloned() {
            Some(e) if e.bytes.is_some() => {
                let bytes = e.bytes.unwrap_or_default();
                self.audits.running += 1;
                self.counters.audits_performed += 1;
                self.submit(Job { image, model, captured_at_ms: e.captured_at_ms, bytes, purpose });
            }
            other => {
                if self.audits.waiting.len() >= MAX_WAITING || self.audits.waiting.contains_key(&image) {
                    return debug!(%image, "audit not started: too many audits wait for bytes");
                }
                self.audits.running += 1;
                self.counters.audits_performed += 1;
                // Ask the worker for the bytes (it buffered them, unless it restarted since),
                // then the announcer, then any other connected peer (a sender among them).
                let mut from = vec![worker];
                if let Some(e) = other
                    && e.source != worker
                {
                    from.push(e.source);
                }
                if !self.peers.contains_key(&worker) {
                    from.reverse();
                }
                let mut others: Vec<PeerId> =
                    self.peers.keys().filter(|p| !from.contains(p)).copied().collect();
                others.sort();
                from.extend(others);
                from.truncate(MAX_FETCH_SOURCES);
                let first = from.remove(0);
                self.audits.waiting.insert(image, WaitingAudit { model, purpose, rest: from, attempt });
                self.fetch(image, first);
            }
        }
    }

    /// An audit whose image no peer could give us: try again later, backing off.
    pub(crate) fn retry_audit_later(&mut self, image: ImageId, w: WaitingAudit) {
        let Purpose::Audit { worker, digest } = w.purpose else { return };
        let (model, attempt) = (w.model, w.attempt + 1);
        if attempt > MAX_ATTEMPTS || self.audits.retry.len() >= MAX_RETRIES_QUEUED {
            return warn!(%image, attempt, "audit given up: the image stayed out of reach");
        }
        let due = self.now.ms + (RETRY_FIRST_MS << (attempt - 1));
        self.audits.retry.push_back((due, attempt, image, worker, digest, model));
    }

    /// A register for `image` was stored here: an audit waiting for it compares now.
    pub(crate) fn stored_for_audit(&mut self, image: &ImageId) {
        if let Some(u) = self.audits.unmatched.remove(image) {
            let then =
                ReadFor::Audit { worker: u.worker, digest: u.digest, model: u.model, detections: u.mine };
            self.out.push(Out::Read { image: *image, then });
        }
    }

    /// Starts the retries that are due (once per heartbeat).
    fn retry_due_audits(&mut self) {
        let now = self.now.ms;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.audits.retry).into_iter().partition(|r| r.0 <= now);
        self.audits.retry = later.into();
        for (_, attempt, image, worker, digest, model) in due {
            self.audits.started_set.remove(&(image, digest));
            self.start_audit(image, worker, digest, model, attempt);
        }
    }

    pub(crate) fn audit_abandoned(&mut self, image: &ImageId) {
        self.audits.running = self.audits.running.saturating_sub(1);
        self.counters.audits_abandoned += 1;
        warn!(%image, "audit abandoned: image unavailable or undecodable");
    }

    /// Our recomputation for an audit is done and the worker's register read: compare.
    pub(crate) fn finish_audit(
        &mut self,
        image: ImageId,
        stored: Option<Register>,
        worker: PeerId,
        digest: ResultDigest,
        model: ModelRef,
        mine: Vec<Detection>,
    ) {
        let theirs = stored.as_ref().and_then(|reg| reg.candidate(&digest));
        let Some(theirs) = theirs.map(|c| (c.model().clone(), c.detections().to_vec())) else {
            if self.audits.unmatched.len() >= MAX_WAITING || self.audits.unmatched.contains_key(&image) {
                self.audit_abandoned(&image);
                return warn!(%image, %worker, "audit: the worker's result is not stored here; skipped");
            }
            // Its write (or anti-entropy) is on the way: compare when it lands.
            let since_ms = self.now.ms;
            self.audits.unmatched.insert(image, Unmatched { since_ms, worker, digest, model, mine });
            return debug!(%image, %worker, "audit: waiting for the worker's result to be stored");
        };
        self.audits.running = self.audits.running.saturating_sub(1);
        let (their_model, theirs) = theirs;
        if their_model != model {
            self.counters.audits_declined_model += 1;
            return debug!(%image, %worker, "audit: the stored result is of another model or weights");
        }
        let captured = stored.as_ref().map_or(0, |r| r.captured_at_ms());
        let pass = results_agree(&theirs, &mine);
        let my_digest = result_digest(&model, &mine);
        // What we vote for: the worker's value when it agrees with ours; otherwise a stored
        // value of another node that agrees with ours (a duplicate run on a backend that rounds
        // differently), so that honest votes add up against the worker's value instead of
        // splitting into one-vote values that its later timestamp can beat; otherwise ours.
        let (attested, value) = match stored.as_ref().and_then(|reg| reg.agreeing(&model, &mine)) {
            _ if pass => (digest, theirs),
            Some((d, c)) if *d != digest => {
                debug!(%image, "audit FAIL: voting for a stored result that agrees with ours");
                (*d, c.detections().to_vec())
            }
            _ => (my_digest, mine.clone()),
        };
        let ts = self.hlc.now(self.now.wall_ms);
        let att = match Attestation::sign(&self.id.key, &image, &attested, ts) {
            Ok(a) => a,
            Err(e) => return warn!(error = %e, "cannot sign an audit attestation"),
        };
        let mut reg = Register::new(image, captured);
        if let Err(e) = reg.insert(&model, &value, att.clone()) {
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
            attestation: pass.then(|| att.to_wire()).map(|w| if self.lying() { self.lie(w) } else { w }),
            auditor_detections: (!pass).then(|| mine.clone()),
        };
        let verdict_copy = verdict.clone();
        let mut publish = vec![GossipMessage::AuditVerdict(verdict)];
        if !pass {
            info!(%image, %worker, "audit FAIL: our result disagrees with the worker's");
            publish.push(GossipMessage::Result(DetectionResult {
                image_id: image,
                captured_at_ms: captured,
                worker: self.node_id(),
                backend: self.id.backend.clone(),
                model,
                inference_ms: 0,
                digest: attested,
                detections: value,
                attestation: att.to_wire(),
                meta: argus_protocol::meta::ImageMeta::default(),
            }));
        }
        let then = AfterWrite { publish, captured_at_ms: captured, inference_ms: 0 };
        self.out.push(Out::Write { register: reg, then });
        if !pass {
            // Gossip does not deliver our own verdict to us: count it here, and keep it to
            // tell nodes that were out of reach when they come back.
            self.suspicion.keep_own(&verdict_copy);
            self.tally_fail(worker);
        }
    }

    pub(crate) fn on_audit_verdict(&mut self, v: AuditVerdict) {
        if self.classes(&v.model.name).is_none() {
            self.counters.refused_unknown_model += 1;
            return debug!(image = %v.image_id, model = %v.model.name, "audit verdict names an unknown model");
        }
        if v.worker.0 == self.me {
            self.audits.pending.remove(&v.image_id);
        }
        if v.pass {
            // A PASS counts only with an attestation that verifies: a forged or replayed one
            // must not vouch for a worker.
            return match v.verify_attestation() {
                Some(Ok(att)) => {
                    self.rep.delivered(v.auditor.0, self.now.ms);
                    self.counters.audits_passed += 1;
                    self.tally_pass(&v.worker.0);
                    let then = ReadFor::Pass { worker_digest: v.worker_digest, attestation: att };
                    self.out.push(Out::Read { image: v.image_id, then });
                }
                _ => {
                    // The envelope's signer is the auditor (checked by the network layer).
                    self.offend(v.auditor.0, crate::reputation::Offence::BadAttestation);
                    self.counters.verdicts_invalid += 1;
                    if self.counters.verdicts_invalid.is_power_of_two() {
                        warn!(auditor = %v.auditor, refused = self.counters.verdicts_invalid, "audit verdict with a bad attestation refused (logged at refusal 1, 2, 4, ...)");
                    }
                }
            };
        }
        self.counters.audits_failed += 1;
        let worker = v.worker.0;
        if worker == self.me {
            self.counters.audits_failed_against += 1;
        }
        if self.suspicion.first_time(&v) {
            self.tally_fail(worker);
        }
    }

    /// A PASS verdict's attestation, added to the worker's candidate once it is stored here.
    pub(crate) fn merge_pass(
        &mut self,
        image: ImageId,
        stored: Option<Register>,
        worker_digest: ResultDigest,
        att: Attestation,
    ) {
        let Some(current) = stored else { return };
        let Some(cand) = current.candidate(&worker_digest) else { return };
        let mut reg = Register::new(image, current.captured_at_ms());
        if reg.insert(cand.model(), cand.detections(), att).is_ok() {
            let then =
                AfterWrite { publish: Vec::new(), captured_at_ms: current.captured_at_ms(), inference_ms: 0 };
            self.out.push(Out::Write { register: reg, then });
        }
    }

    /// Once per heartbeat: expire stale pending audits and adapt the ratio.
    pub(crate) fn audit_housekeeping(&mut self) {
        let now = self.now.ms;
        self.audits.pending.retain(|_, asked| now.saturating_sub(*asked) < PENDING_EXPIRE_MS);
        self.retry_due_audits();
        let stale: Vec<ImageId> = self
            .audits
            .unmatched
            .iter()
            .filter(|(_, u)| now.saturating_sub(u.since_ms) >= UNMATCHED_WAIT_MS)
            .map(|(i, _)| *i)
            .collect();
        for image in stale {
            self.audits.unmatched.remove(&image);
            self.audit_abandoned(&image);
        }
        let v = self.ratio.update(self.audits.backlog(), self.queued_jobs());
        self.counters.audit_ratio_permille = (v * 1000.0).round() as u64;
    }
}
