//! Suspicion: which workers this node believes anomalous, and why. A FAIL verdict (heard, or
//! our own) counts against a worker; at `suspect_after_fails` it is suspect, and its recent
//! results and its stored single-vote results are audited by rendezvous. A suspect is trusted
//! again after `PASSES_TO_FORGIVE` passing audits in a row. A suspect that restarts is on
//! probation: its new incarnation's results are all audited by rendezvous until it has passed
//! `PASSES_TO_FORGIVE` audits, and its old incarnation stays condemned (its results attested up
//! to the restart are still audited). The record survives this node's restarts
//! (`Out::SaveAuditRecord`), and our own FAIL verdicts are published again to nodes that come
//! back into reach, so suspicion crosses a healed partition.

use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::messages::{AuditVerdict, GossipMessage};
use argus_protocol::register::Register;
use libp2p_identity::PeerId;
use tracing::{info, warn};

use crate::events::{MAX_SINGLE_VOTES, Out, SingleVote};
use crate::ledger::{AuditRecord, CONDEMN_SKEW_MS, MAX_TALLIED_WORKERS, PASSES_TO_FORGIVE};
use crate::state::State;

impl State {
    /// Whether this node currently treats `worker` as suspect.
    pub fn is_suspect(&self, worker: &PeerId) -> bool {
        self.suspicion.fails.get(worker).copied().unwrap_or(0) >= self.cfg.suspect_after_fails
    }

    /// Whether a result of `worker` attested at `ts` is to be audited by rendezvous.
    pub(crate) fn doubted(&self, worker: &PeerId, ts: HlcTimestamp) -> bool {
        self.is_suspect(worker)
            || self.suspicion.probation.contains(worker)
            || self.suspicion.condemned.get(worker).is_some_and(|c| ts.wall_ms() <= *c)
    }

    pub(crate) fn tally_pass(&mut self, worker: &PeerId) {
        let sus = &mut self.suspicion;
        if sus.passes.len() >= MAX_TALLIED_WORKERS && !sus.passes.contains_key(worker) {
            return;
        }
        let passes = sus.passes.entry(*worker).or_default();
        *passes += 1;
        if *passes < PASSES_TO_FORGIVE {
            return;
        }
        if sus.probation.remove(worker) {
            info!(%worker, "restarted suspect passed its audits: off probation");
        }
        if sus.fails.remove(worker).is_some() {
            sus.own.remove(worker);
            info!(%worker, "suspect passed its audits: trusted again");
            self.save_audit_record();
        }
    }

    /// One more FAIL against `worker` (a verdict heard, or our own): on becoming suspect, its
    /// recent and its stored single-vote results are audited by rendezvous.
    pub(crate) fn tally_fail(&mut self, worker: PeerId) {
        let was_suspect = self.is_suspect(&worker);
        let sus = &mut self.suspicion;
        if sus.fails.len() >= MAX_TALLIED_WORKERS && !sus.fails.contains_key(&worker) {
            return warn!(%worker, "too many workers with failed audits: verdict not tallied");
        }
        *sus.fails.entry(worker).or_default() += 1;
        sus.passes.remove(&worker);
        sus.probation.remove(&worker);
        self.save_audit_record();
        if !was_suspect && self.is_suspect(&worker) {
            warn!(%worker, "worker failed audits: auditing its recent and its stored single-vote results");
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
            // Results that reached our store without their gossip (anti-entropy after a
            // partition, or before a restart) are not in `recent`: the store knows them.
            self.out.push(Out::FindSingleVotes { worker });
        }
    }

    /// A node restarted (its heartbeat uptime went down): the new incarnation starts with a
    /// clean record, and its first FAIL makes it suspect again. A suspect's new incarnation is
    /// on probation (a restart need not have cured it: every result it makes is audited until
    /// it has passed enough audits), and its old incarnation stays condemned: its stored
    /// single-vote results, and those that arrive later, are still audited.
    pub(crate) fn forgive_restarted(&mut self, node: &PeerId) {
        self.suspicion.passes.remove(node);
        if self.is_suspect(node) {
            self.suspicion.fails.remove(node);
            self.suspicion.own.remove(node);
            if self.suspicion.probation.len() < MAX_TALLIED_WORKERS {
                self.suspicion.probation.insert(*node);
            }
            let cutoff = self.now.wall_ms + CONDEMN_SKEW_MS;
            let c = self.suspicion.condemned.entry(*node).or_default();
            *c = (*c).max(cutoff);
            info!(worker = %node, "suspect restarted: its new incarnation is on probation, its old results are still audited");
            self.out.push(Out::FindSingleVotes { worker: *node });
            self.save_audit_record();
        }
    }

    /// A node is heard again after a gap in its heartbeats (a partition, a restart, lost
    /// messages): tell it what our audits found.
    pub(crate) fn node_back(&mut self) {
        let mut own: Vec<AuditVerdict> =
            self.suspicion.own.iter().filter(|(w, _)| self.is_suspect(w)).map(|(_, v)| v.clone()).collect();
        own.sort_by_key(|v| v.image_id);
        for v in own {
            self.publish(GossipMessage::AuditVerdict(v));
        }
    }

    /// A suspect's stored single-vote results: audit those rendezvous hashing gives us.
    pub(crate) fn on_single_votes(&mut self, worker: PeerId, results: Vec<SingleVote>) {
        for v in results.into_iter().take(MAX_SINGLE_VOTES) {
            if self.doubted(&worker, v.ts) {
                self.audit_if_picked(v.image, worker, v.digest, &v.model);
            }
        }
    }

    /// A register that anti-entropy or a read repair changed: when its winner is vouched for
    /// only by a worker we doubt, audit it as if its result had just arrived.
    pub(crate) fn on_merged(&mut self, reg: &Register) {
        self.stored_for_audit(reg.image_id());
        let Some((digest, c)) = reg.winner() else { return };
        let mut attesters = c.attestations();
        let (Some(att), None) = (attesters.next(), attesters.next()) else { return };
        let worker = att.node().0;
        if worker != self.me && self.doubted(&worker, att.ts()) {
            let (digest, model) = (*digest, c.model().clone());
            self.audit_if_picked(*reg.image_id(), worker, digest, &model);
        }
    }

    /// The record to persist (see `AuditRecord`).
    pub fn audit_record(&self) -> AuditRecord {
        let sus = &self.suspicion;
        let mut v: AuditRecord =
            sus.fails.iter().map(|(p, f)| (*p, *f, sus.condemned.get(p).copied().unwrap_or(0))).collect();
        v.extend(sus.condemned.iter().filter(|(p, _)| !sus.fails.contains_key(p)).map(|(p, c)| (*p, 0, *c)));
        v.sort();
        v
    }

    pub(crate) fn save_audit_record(&mut self) {
        let record = self.audit_record();
        self.out.push(Out::SaveAuditRecord(record));
    }

    /// Restores a persisted record (at start).
    pub(crate) fn restore_audit_record(&mut self, record: AuditRecord) {
        for (p, fails, cutoff) in record.into_iter().take(MAX_TALLIED_WORKERS) {
            if fails > 0 {
                self.suspicion.fails.insert(p, fails);
            }
            if cutoff > 0 {
                self.suspicion.condemned.insert(p, cutoff);
            }
        }
    }

    /// At start: look again at the stored results of every worker the record doubts.
    pub(crate) fn recheck_recorded(&mut self) {
        let sus = &self.suspicion;
        let mut doubted: Vec<PeerId> = sus.fails.keys().chain(sus.condemned.keys()).copied().collect();
        doubted.sort();
        doubted.dedup();
        for worker in doubted {
            self.out.push(Out::FindSingleVotes { worker });
        }
    }
}
