//! The vote-weighted last-writer-wins register: one per image, the replicated value of the
//! store. Candidates are keyed by result digest; each holds its model ref and detections (the
//! value; the digest binds both) and the verified attestations of the nodes that vouch for it.
//! It never holds an unverified attestation (the `Attestation` type can only be built by
//! verifying or signing) and never grows past its bounds.
//!
//! # Merge is a join-semilattice, bounds included
//!
//! Merge is a set union followed by truncation, and the truncation orders are independent of
//! what else is in the set:
//! - keep the `MAX_CANDIDATES` candidates with the *smallest digests*;
//! - within a candidate, keep one attestation per node (the one with the larger
//!   `(ts, signature)`) and the `MAX_ATTESTATIONS` attestations with the *smallest node ids*
//!   (PeerId bytes, lexicographic);
//! - `captured_at_ms` is the minimum seen.
//!
//! "The k smallest of a union" is associative, commutative and idempotent, so merge is too.
//! Evicting by attestation count (the tempting rule) is not: whether a candidate survives
//! would depend on the order in which attestations arrived, and replicas could diverge.
//!
//! The bounds protect memory against runaway faulty nodes. They do not stop a malicious key
//! holder: it can mint candidates with small digests and crowd honest ones out of the
//! candidate set. Signatures stop forged votes (nobody can attest in another node's name), and
//! one node counts once per candidate, but a Sybil with many keys is out of scope.
//!
//! # Winner
//!
//! The candidate with the largest `(votes, latest attestation ts, digest)`. Adding an
//! attestation to the winner never makes it lose, except in one corner: when both it and a
//! rival hold `MAX_ATTESTATIONS` attestations (more than 64 distinct attesting nodes, above the
//! design size), an eviction can lower its latest timestamp.

use std::collections::BTreeMap;

use crate::attestation::Attestation;
use crate::detection::{Detection, DetectionError, validate_detections};
use crate::hlc::HlcTimestamp;
use crate::ids::{ImageId, NodeId, ResultDigest};
use crate::limits::{MAX_ATTESTATIONS, MAX_CANDIDATES};
use crate::meta::ImageMeta;
use crate::model_ref::ModelRef;
use crate::result::{result_digest, results_agree};

/// Domain separator of `Register::state_hash`.
pub const STATE_DOMAIN: &[u8] = b"argus/register/v2";

/// Why a register operation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    #[error("attestation or register for image {got}, this register is for {expected}")]
    WrongImage { expected: ImageId, got: ImageId },
    #[error("detections hash to {actual}, the attestation says {claimed}")]
    DigestMismatch { claimed: ResultDigest, actual: ResultDigest },
    #[error("invalid detections: {0}")]
    Detections(#[from] DetectionError),
    #[error("invalid model: {0}")]
    Model(String),
    #[error("{count} candidates, at most {max}")]
    TooManyCandidates { count: usize, max: usize },
    #[error("{count} attestations on one candidate, at most {max}")]
    TooManyAttestations { count: usize, max: usize },
    #[error("invalid meta: {0}")]
    Meta(String),
}

/// One candidate value (a model's detections) and its verified attestations (always at least
/// one).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub(crate) model: ModelRef,
    pub(crate) detections: Vec<Detection>,
    pub(crate) attestations: BTreeMap<NodeId, Attestation>,
}

impl Candidate {
    /// The model and weights that produced the value.
    pub fn model(&self) -> &ModelRef {
        &self.model
    }
    /// The candidate's value.
    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }
    /// Number of distinct nodes attesting it.
    pub fn votes(&self) -> usize {
        self.attestations.len()
    }
    /// Largest attestation timestamp.
    pub fn latest_ts(&self) -> HlcTimestamp {
        self.attestations.values().map(Attestation::ts).max().unwrap_or(HlcTimestamp::ZERO)
    }
    /// Attestations ordered by node id.
    pub fn attestations(&self) -> impl Iterator<Item = &Attestation> {
        self.attestations.values()
    }
    /// Whether `node` attests this candidate.
    pub fn attested_by(&self, node: &NodeId) -> bool {
        self.attestations.contains_key(node)
    }

    fn rank(&self) -> (usize, HlcTimestamp) {
        (self.votes(), self.latest_ts())
    }

    /// Adds one attestation under the per-node and per-candidate rules; true if it changed.
    pub(crate) fn add(&mut self, att: Attestation) -> bool {
        if let Some(existing) = self.attestations.get_mut(att.node()) {
            if att.supersedes(existing) {
                *existing = att;
                return true;
            }
            return false;
        }
        if self.attestations.len() >= MAX_ATTESTATIONS {
            let largest = self.attestations.keys().next_back();
            if largest.is_some_and(|largest| att.node() > largest) {
                return false;
            }
        }
        self.attestations.insert(*att.node(), att);
        if self.attestations.len() > MAX_ATTESTATIONS {
            self.attestations.pop_last();
        }
        assert!(self.attestations.len() <= MAX_ATTESTATIONS);
        true
    }
}

/// The register of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    pub(crate) image_id: ImageId,
    pub(crate) captured_at_ms: u64,
    pub(crate) candidates: BTreeMap<ResultDigest, Candidate>,
    pub(crate) meta: ImageMeta,
}

/// The largest candidate in the winner order `(votes, latest ts, digest)`.
fn best<'a>(
    candidates: impl Iterator<Item = (&'a ResultDigest, &'a Candidate)>,
) -> Option<(&'a ResultDigest, &'a Candidate)> {
    candidates.max_by(|(da, ca), (db, cb)| (ca.rank(), *da).cmp(&(cb.rank(), *db)))
}

impl Register {
    /// An empty register.
    pub fn new(image_id: ImageId, captured_at_ms: u64) -> Self {
        Self { image_id, captured_at_ms, candidates: BTreeMap::new(), meta: ImageMeta::default() }
    }

    /// The image's source name and thumbnail (unattested; see `meta`).
    pub fn meta(&self) -> &ImageMeta {
        &self.meta
    }

    /// Joins `meta` into the register's (`ImageMeta::join`); an invalid one is refused and
    /// changes nothing. Returns whether the register changed.
    pub fn join_meta(&mut self, meta: &ImageMeta) -> Result<bool, RegisterError> {
        meta.validate().map_err(RegisterError::Meta)?;
        Ok(self.meta.join(meta))
    }

    /// The image.
    pub fn image_id(&self) -> &ImageId {
        &self.image_id
    }
    /// Capture time (the minimum any replica reported), ms since the Unix epoch.
    pub fn captured_at_ms(&self) -> u64 {
        self.captured_at_ms
    }
    /// Candidates ordered by digest.
    pub fn candidates(&self) -> impl Iterator<Item = (&ResultDigest, &Candidate)> {
        self.candidates.iter()
    }
    /// The candidate with this digest.
    pub fn candidate(&self, digest: &ResultDigest) -> Option<&Candidate> {
        self.candidates.get(digest)
    }
    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.candidates.len()
    }
    /// Whether no candidate is held.
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The candidate of `model` (same name and weights) that `detections` agree with
    /// (`results_agree`: the audit tolerance), the one with most votes when several do (then
    /// the winner order). A node whose own result for the image agrees with a stored candidate
    /// votes for it rather than opening a candidate that differs only in float rounding.
    /// Candidates of another model or other weights are never considered, however close.
    pub fn agreeing(
        &self,
        model: &ModelRef,
        detections: &[Detection],
    ) -> Option<(&ResultDigest, &Candidate)> {
        let same_model = |c: &Candidate| c.model == *model;
        best(
            self.candidates.iter().filter(|(_, c)| same_model(c) && results_agree(&c.detections, detections)),
        )
    }

    /// The winning candidate: largest `(votes, latest ts, digest)`.
    pub fn winner(&self) -> Option<(&ResultDigest, &Candidate)> {
        best(self.candidates.iter())
    }

    /// Adds a verified attestation of `model`'s `detections`. The attestation must be for this
    /// image and its digest must be `result_digest(model, detections)`. When the digest opens a
    /// new candidate, that is checked and the model ref and detections are validated; a vote
    /// for a held candidate adds only the attestation (the held value is the one its digest
    /// binds). Returns whether the register changed.
    pub fn insert(
        &mut self,
        model: &ModelRef,
        detections: &[Detection],
        att: Attestation,
    ) -> Result<bool, RegisterError> {
        self.check_image(att.image_id())?;
        let digest = *att.digest();
        if let Some(candidate) = self.candidates.get_mut(&digest) {
            return Ok(candidate.add(att));
        }
        model.validate().map_err(RegisterError::Model)?;
        validate_detections(detections)?;
        let actual = result_digest(model, detections);
        if actual != digest {
            return Err(RegisterError::DigestMismatch { claimed: digest, actual });
        }
        let mut candidate = Candidate {
            model: model.clone(),
            detections: detections.to_vec(),
            attestations: BTreeMap::new(),
        };
        candidate.add(att);
        Ok(self.insert_candidate(digest, candidate))
    }

    /// Merges `other` into `self` (union, then the bounds). Returns whether `self` changed.
    pub fn merge(&mut self, other: &Register) -> Result<bool, RegisterError> {
        self.check_image(&other.image_id)?;
        let mut changed = false;
        if other.captured_at_ms < self.captured_at_ms {
            self.captured_at_ms = other.captured_at_ms;
            changed = true;
        }
        changed |= self.meta.join(&other.meta);
        for (digest, theirs) in &other.candidates {
            match self.candidates.get_mut(digest) {
                Some(ours) => {
                    for att in theirs.attestations.values() {
                        changed |= ours.add(att.clone());
                    }
                }
                None => changed |= self.insert_candidate(*digest, theirs.clone()),
            }
        }
        Ok(changed)
    }

    /// Inserts a new candidate under the candidate bound; true if it stayed.
    fn insert_candidate(&mut self, digest: ResultDigest, candidate: Candidate) -> bool {
        assert!(!candidate.attestations.is_empty(), "a candidate needs an attestation");
        if self.candidates.len() >= MAX_CANDIDATES {
            let largest = self.candidates.keys().next_back();
            if largest.is_some_and(|largest| digest > *largest) {
                return false;
            }
        }
        self.candidates.insert(digest, candidate);
        if self.candidates.len() > MAX_CANDIDATES {
            self.candidates.pop_last();
        }
        assert!(self.candidates.len() <= MAX_CANDIDATES);
        true
    }

    fn check_image(&self, got: &ImageId) -> Result<(), RegisterError> {
        if *got != self.image_id {
            return Err(RegisterError::WrongImage { expected: self.image_id, got: *got });
        }
        Ok(())
    }

    /// BLAKE3 over the canonical encoding of the whole register state:
    ///
    /// `"argus/register/v2" || image_id || u64be(captured_at_ms) || u32be(#candidates) ||`
    /// for each candidate by ascending digest: `digest || u32be(#attestations) ||` for each
    /// attestation by ascending node id: `u8(len(node)) || node bytes || u64be(ts) ||
    /// u8(len(sig)) || sig`; then the meta (`ImageMeta::hash_into`).
    ///
    /// The model ref and detections are covered by their digest (checked on insert). Two replicas have equal
    /// state hashes exactly when they hold the same register.
    pub fn state_hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(STATE_DOMAIN);
        h.update(self.image_id.as_bytes());
        h.update(&self.captured_at_ms.to_be_bytes());
        h.update(&(self.candidates.len() as u32).to_be_bytes());
        for (digest, candidate) in &self.candidates {
            h.update(digest.as_bytes());
            h.update(&(candidate.attestations.len() as u32).to_be_bytes());
            for (node, att) in &candidate.attestations {
                let node_bytes = node.to_bytes();
                h.update(&[node_bytes.len() as u8]);
                h.update(&node_bytes);
                h.update(&att.ts().to_be_bytes());
                h.update(&[att.signature().len() as u8]);
                h.update(att.signature());
            }
        }
        self.meta.hash_into(&mut h);
        *h.finalize().as_bytes()
    }
}
