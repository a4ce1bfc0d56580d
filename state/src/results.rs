//! Results: a peer's result is verified and written; our writes, once durable, publish what
//! waited for them; a takeover claim for an image we finished publishes our result again.

use argus_protocol::ids::ImageId;
use argus_protocol::messages::{DetectionResult, GossipMessage};
use argus_protocol::register::Register;
use tracing::{debug, warn};

use crate::counters::Hist;
use crate::events::{AfterWrite, Out};
use crate::state::State;

impl State {
    /// Publishes again the result we attested in `stored`, if any (a takeover claim showed
    /// that a peer missed it).
    pub(crate) fn republish(&mut self, stored: Option<Register>) {
        let Some(reg) = stored else { return };
        let me = self.node_id();
        let Some((digest, c, att)) = reg
            .candidates()
            .find_map(|(d, c)| c.attestations().find(|a| *a.node() == me).map(|a| (*d, c, a.clone())))
        else {
            return;
        };
        self.counters.results_republished += 1;
        let result = DetectionResult {
            image_id: *reg.image_id(),
            captured_at_ms: reg.captured_at_ms(),
            worker: me,
            backend: self.id.backend.clone(),
            model: c.model().clone(),
            inference_ms: 0,
            detections: c.detections().to_vec(),
            digest,
            attestation: att.to_wire(),
            meta: reg.meta().clone(),
        };
        self.publish(GossipMessage::Result(result));
    }

    /// A peer's result: verify, write (merging its attestation), end the auction.
    pub(crate) fn on_result(&mut self, r: DetectionResult) {
        self.counters.results_received += 1;
        let Some(classes) = self.classes(&r.model.name) else {
            self.counters.refused_unknown_model += 1;
            return debug!(image = %r.image_id, model = %r.model.name, "result names an unknown model: refused");
        };
        if let Some(d) = r.detections.iter().find(|d| usize::from(d.class) >= classes) {
            self.counters.results_invalid += 1;
            return warn!(image = %r.image_id, worker = %r.worker, class = d.class, "refused result: no such class");
        }
        let reg = match result_register(&r) {
            Ok(reg) => reg,
            Err(e) => {
                self.counters.results_invalid += 1;
                if matches!(e, Refused::Attestation(_)) {
                    // The envelope's signer is the worker (checked by the network layer).
                    self.offend(r.worker.0, crate::reputation::Offence::BadAttestation);
                }
                return warn!(image = %r.image_id, worker = %r.worker, error = %e, "refused result");
            }
        };
        self.rep.delivered(r.worker.0, self.now.ms);
        if self.lying() && r.worker.0 != self.me {
            self.overheard = Some(r.attestation.clone());
        }
        let ts = reg.winner().map(|(_, c)| c.latest_ts()).unwrap_or_default();
        if let Err(e) = self.hlc.update(ts, self.now.wall_ms) {
            debug!(error = %e, "result timestamp ahead of our clock; not advancing the clock");
        }
        self.sched.on_result(&r.image_id);
        self.images.mark_finished(&r.image_id, self.now.ms);
        self.note_result_for_audit(&r);
        let then = AfterWrite {
            publish: Vec::new(),
            captured_at_ms: r.captured_at_ms,
            inference_ms: r.inference_ms,
        };
        self.out.push(Out::Write { register: reg, then });
    }

    /// A write finished: count it, and publish what waited for it when it is durable.
    pub(crate) fn on_written(&mut self, image: ImageId, changed: Option<bool>, then: AfterWrite) {
        let Some(changed) = changed else {
            return warn!(%image, "a register write failed: nothing published for it");
        };
        self.stored_for_audit(&image);
        if changed {
            self.counters.results_stored += 1;
            let latency = self.now.wall_ms.saturating_sub(then.captured_at_ms);
            self.out.push(Out::Observe(Hist::LatencyStored, latency));
            let overhead = latency.saturating_sub(u64::from(then.inference_ms));
            self.out.push(Out::Observe(Hist::SchedulingOverhead, overhead));
        }
        for msg in then.publish {
            self.publish(msg);
        }
    }
}

/// Why a result was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Its attestation does not verify.
    Attestation(String),
    /// Its detections do not make a register candidate.
    Candidate(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Attestation(e) => write!(f, "attestation: {e}"),
            Refused::Candidate(e) => write!(f, "{e}"),
        }
    }
}

/// The register a result stands for: one candidate attested by its worker.
pub fn result_register(r: &DetectionResult) -> Result<Register, Refused> {
    let att = r.verify_attestation().map_err(|e| Refused::Attestation(e.to_string()))?;
    let mut reg = Register::new(r.image_id, r.captured_at_ms);
    reg.insert(&r.model, &r.detections, att).map_err(|e| Refused::Candidate(e.to_string()))?;
    reg.join_meta(&r.meta).map_err(|e| Refused::Candidate(e.to_string()))?;
    Ok(reg)
}
