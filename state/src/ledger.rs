//! The bookkeeping of audits and suspicion: what the state remembers about audits asked,
//! waiting, running and to retry, and about anomalous workers. Plain data with bounds; the
//! handlers that change it are `audit` and `suspicion`.

use std::collections::{HashMap, HashSet, VecDeque};

use argus_protocol::ids::{ImageId, ResultDigest};
use argus_protocol::messages::AuditVerdict;
use argus_protocol::model_ref::ModelRef;
use libp2p_identity::PeerId;

pub use crate::events::AuditRecord;
use crate::events::Purpose;

/// An audit waiting for the worker's result to be stored (see `Audits::unmatched`).
pub(crate) struct Unmatched {
    pub(crate) since_ms: u64,
    pub(crate) worker: PeerId,
    pub(crate) digest: ResultDigest,
    pub(crate) model: ModelRef,
    pub(crate) mine: Vec<argus_protocol::detection::Detection>,
}

/// How long an audit waits for the worker's result to reach this node's store.
pub const UNMATCHED_WAIT_MS: u64 = 30_000;

/// Audits we asked for and still wait on; older ones count as backlog until they expire.
pub const MAX_PENDING: usize = 1_024;
pub(crate) const PENDING_EXPIRE_MS: u64 = 30_000;
/// Audits waiting for image bytes; more are declined.
pub const MAX_WAITING: usize = 1_024;
/// Audits waiting to be tried again, and how often each is tried (backing off from
/// `RETRY_FIRST_MS`, doubling).
pub const MAX_RETRIES_QUEUED: usize = 1_024;
pub const MAX_ATTEMPTS: u32 = 6;
pub(crate) const RETRY_FIRST_MS: u64 = 2_000;
/// Peers asked in turn for an audit's image before it is tried again later.
pub const MAX_FETCH_SOURCES: usize = 8;
/// Recent results remembered so a newly suspected worker's past is re-audited.
pub const MAX_RECENT: usize = 4_096;

#[derive(Default)]
pub(crate) struct Audits {
    /// image -> time asked (ours, as worker).
    pub(crate) pending: HashMap<ImageId, u64>,
    /// Audits waiting for image bytes to arrive.
    pub(crate) waiting: HashMap<ImageId, WaitingAudit>,
    /// Audit jobs accepted and not finished (queued, running, or reading the store).
    pub(crate) running: usize,
    /// Recent results: (image, worker, digest, model).
    pub(crate) recent: VecDeque<(ImageId, PeerId, ResultDigest, ModelRef)>,
    /// Results we started to audit (at most `MAX_RECENT`, oldest forgotten first), so one
    /// result reached by several paths is audited once.
    pub(crate) started: VecDeque<(ImageId, ResultDigest)>,
    pub(crate) started_set: std::collections::HashSet<(ImageId, ResultDigest)>,
    /// Audits whose image could not be fetched, to try again: (due ms, attempt, image,
    /// worker, digest, model). The image may be out of reach only for now (a partition).
    pub(crate) retry: VecDeque<(u64, u32, ImageId, PeerId, ResultDigest, ModelRef)>,
    /// Audits whose recomputation is done but whose worker's result is not stored here yet
    /// (its write, or anti-entropy, is still on the way): compared again when it is.
    pub(crate) unmatched: HashMap<ImageId, Unmatched>,
}

/// An audit waiting for its image's bytes.
pub(crate) struct WaitingAudit {
    pub(crate) model: ModelRef,
    pub(crate) purpose: Purpose,
    /// The peers still to ask should this fetch fail.
    pub(crate) rest: Vec<PeerId>,
    /// How often this audit was tried again already (see `retry`).
    pub(crate) attempt: u32,
}

impl Audits {
    pub(crate) fn backlog(&self) -> usize {
        self.pending.len() + self.running + self.waiting.len()
    }
}

/// A suspect whose audits pass this many times in a row (no FAIL between) is trusted again.
pub const PASSES_TO_FORGIVE: u32 = 20;
/// Workers with a FAIL or PASS tally; verdicts about further workers are not tallied (a LAN
/// of the design size has at most 50 nodes, so only forged worker ids would reach this).
pub const MAX_TALLIED_WORKERS: usize = 1_024;
/// FAIL verdicts remembered to count each (image, auditor) once.
pub const MAX_TALLIED_VERDICTS: usize = 4_096;
/// Clock skew allowed when condemning a restarted suspect's old results by their timestamps.
pub const CONDEMN_SKEW_MS: u64 = 2_000;

#[derive(Default)]
pub(crate) struct Suspicion {
    /// FAIL verdicts counted per worker (reset by a restart or `PASSES_TO_FORGIVE` passes).
    pub(crate) fails: HashMap<PeerId, u32>,
    /// PASS verdicts per worker since its last FAIL.
    pub(crate) passes: HashMap<PeerId, u32>,
    /// Results of these workers attested at or before the wall time (ms) are still audited.
    pub(crate) condemned: HashMap<PeerId, u64>,
    /// Suspects that restarted: every result of their new incarnation is audited by
    /// rendezvous until it has passed `PASSES_TO_FORGIVE` audits (or fails one, and is suspect
    /// again). Not persisted: after this node restarts, the record's condemnation remains.
    pub(crate) probation: HashSet<PeerId>,
    /// Our own latest FAIL verdict per worker, published again to nodes back in reach.
    pub(crate) own: HashMap<PeerId, AuditVerdict>,
    /// FAIL verdicts counted, as (image, auditor), so a replayed one is not counted twice.
    pub(crate) tallied: VecDeque<(ImageId, PeerId)>,
    pub(crate) tallied_set: HashSet<(ImageId, PeerId)>,
}

impl Suspicion {
    /// True the first time this (image, auditor) FAIL is seen.
    pub(crate) fn first_time(&mut self, v: &AuditVerdict) -> bool {
        let key = (v.image_id, v.auditor.0);
        if !self.tallied_set.insert(key) {
            return false;
        }
        self.tallied.push_back(key);
        if self.tallied.len() > MAX_TALLIED_VERDICTS
            && let Some(old) = self.tallied.pop_front()
        {
            self.tallied_set.remove(&old);
        }
        true
    }

    pub(crate) fn keep_own(&mut self, v: &AuditVerdict) {
        self.first_time(v);
        if self.own.len() < MAX_TALLIED_WORKERS || self.own.contains_key(&v.worker.0) {
            self.own.insert(v.worker.0, v.clone());
        }
    }
}
