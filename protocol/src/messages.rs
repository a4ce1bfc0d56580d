//! Gossip messages: one type per purpose, the `GossipMessage` enum that travels inside the
//! envelope, the topic each belongs to, and their semantic validation. Plain data: nothing
//! here touches the network, and `validate` never verifies signatures (that is
//! `Attestation::verify`, which yields the typed proof).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::attestation::{AttestError, Attestation, AttestationWire};
use crate::detection::{Detection, validate_detections};
use crate::ids::{ImageId, NodeId, ResultDigest};
use crate::limits::*;
use crate::meta::ImageMeta;
use crate::model_ref::{ModelRef, validate_model_name};
use crate::result::result_digest;
use crate::sync::{RangeFingerprint, validate_ranges};
use crate::wire::Validate;

/// Image announcements.
pub const TOPIC_IMAGES: &str = "argus/images/5";
/// Wait-time bids and claims.
pub const TOPIC_BIDS: &str = "argus/bids/5";
/// Detection results.
pub const TOPIC_RESULTS: &str = "argus/results/5";
/// Audit requests and verdicts.
pub const TOPIC_AUDITS: &str = "argus/audits/5";
/// Replica digests (anti-entropy).
pub const TOPIC_DIGESTS: &str = "argus/digests/5";
/// Heartbeats.
pub const TOPIC_HEARTBEATS: &str = "argus/heartbeats/5";
/// Every topic, for subscribing.
pub const ALL_TOPICS: [&str; 6] =
    [TOPIC_IMAGES, TOPIC_BIDS, TOPIC_RESULTS, TOPIC_AUDITS, TOPIC_DIGESTS, TOPIC_HEARTBEATS];

/// A new image: inline when at most `MAX_INLINE_IMAGE_BYTES`, else fetched from `source` over
/// `/argus/fetch/5`. Only nodes that hold `model` bid for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageAnnouncement {
    pub image_id: ImageId,
    pub source: NodeId,
    /// Human-readable sender name, at most `MAX_NAME_LEN` bytes.
    pub source_name: String,
    /// Name of the model the image needs (`validate_model_name`; which names exist is the
    /// node's business: a node that does not know it refuses the announcement).
    pub model: String,
    /// Sender's sequence number, from 0.
    pub seq: u64,
    pub captured_at_ms: u64,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    /// The encoded image (PNG/JPEG) when inline; BLAKE3 of it equals `image_id`.
    pub bytes: Option<ByteBuf>,
}

/// A node's estimate of when it would finish an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bid {
    pub image_id: ImageId,
    pub bidder: NodeId,
    /// Estimated time until the result is ready, from now.
    pub wait_ms: u32,
    pub queue_len: u32,
}

/// "I take this image": the bid winner, or a takeover after the winner missed its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub image_id: ImageId,
    pub winner: NodeId,
    /// What the other nodes' deadline for the winner is based on: its bid in a first claim; a
    /// renewal raises it to the winner's current estimate.
    pub wait_ms: u32,
    pub takeover: bool,
    /// The winner's bid for the image, by which every node compares competing claims (lower
    /// first, then the lower id), however its `wait_ms` moved since.
    pub bid_ms: u32,
}

/// An idle node asks `victim` for images it holds and has not started (work stealing). The
/// victim answers with a `Handoff` of up to `count` images of `model`, or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Steal {
    pub thief: NodeId,
    pub victim: NodeId,
    pub model: String,
    /// 1..=`MAX_HANDOFF_IMAGES`.
    pub count: u32,
    /// The thief's current wait before it could start a new image, and its time per image.
    pub wait_ms: u32,
    pub per_image_ms: u32,
}

/// A holder gives images it claimed and has not started to `to`: every node makes `to` their
/// holder, with a deadline computed from `wait_ms` (`to`'s estimate for all of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    pub from: NodeId,
    pub to: NodeId,
    /// 1..=`MAX_HANDOFF_IMAGES` distinct images.
    pub images: Vec<ImageId>,
    pub wait_ms: u32,
}

/// A worker's result, attested by the worker itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionResult {
    pub image_id: ImageId,
    pub captured_at_ms: u64,
    pub worker: NodeId,
    /// Backend label (`ndarray`, `flex`, `wgpu`), at most `MAX_BACKEND_LEN` bytes.
    pub backend: String,
    /// The model and weights the worker ran.
    pub model: ModelRef,
    pub inference_ms: u32,
    pub detections: Vec<Detection>,
    /// `result_digest(model, detections)`, checked by `validate`.
    pub digest: ResultDigest,
    /// The worker's attestation of `digest` for `image_id`.
    pub attestation: AttestationWire,
    /// The image's source name and thumbnail, for the register (unattested, see `meta`).
    #[serde(default, skip_serializing_if = "ImageMeta::is_empty")]
    pub meta: ImageMeta,
}

/// A worker asks up to `MAX_AUDITORS` nodes to recompute its result. An auditor that does not
/// hold `model` (name and weights) declines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    pub image_id: ImageId,
    pub worker: NodeId,
    pub digest: ResultDigest,
    /// The worker's model and weights: the ones the auditor must run.
    pub model: ModelRef,
    /// 1..=`MAX_AUDITORS` distinct nodes, none of them the worker.
    pub auditors: Vec<NodeId>,
}

/// An auditor's answer. PASS (the auditor's own result agrees with the worker's under
/// `results_agree`, bit-identical or not) carries the auditor's attestation of the *worker's*
/// digest; FAIL carries the auditor's own detections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditVerdict {
    pub image_id: ImageId,
    pub worker: NodeId,
    pub auditor: NodeId,
    pub worker_digest: ResultDigest,
    pub auditor_digest: ResultDigest,
    /// The auditor's model and weights (those of the request it answers).
    pub model: ModelRef,
    pub pass: bool,
    /// Some exactly when `pass`.
    pub attestation: Option<AttestationWire>,
    /// Some exactly when not `pass`; hashes to `auditor_digest` under `model`.
    pub auditor_detections: Option<Vec<Detection>>,
}

/// Fingerprints of a node's replica over time ranges of the capture-time index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaDigest {
    pub node: NodeId,
    /// At most `MAX_RANGES`, ascending and non-overlapping.
    pub ranges: Vec<RangeFingerprint>,
}

/// Liveness and load of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub node: NodeId,
    pub seq: u64,
    pub uptime_ms: u64,
    pub queue_len: u32,
    pub avg_inference_ms: u32,
    pub backend: String,
    /// The models (and weights) this node holds and bids for, at most `MAX_MODELS`.
    pub models: Vec<ModelRef>,
    /// Current audit probability, `0.0..=1.0`.
    pub audit_ratio: f32,
    pub images_processed: u64,
    /// Audits other nodes failed against this one.
    pub audits_failed_against: u64,
    /// The node's HTTP API address, at most `MAX_HTTP_ADDR_LEN` bytes.
    pub http_addr: Option<String>,
}

/// Everything that travels over gossipsub, inside an `Envelope`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GossipMessage {
    Announce(ImageAnnouncement),
    Bid(Bid),
    Claim(Claim),
    Result(DetectionResult),
    AuditRequest(AuditRequest),
    AuditVerdict(AuditVerdict),
    Digest(ReplicaDigest),
    Heartbeat(Heartbeat),
    Steal(Steal),
    Handoff(Handoff),
}

impl GossipMessage {
    /// The topic this message must be published on (receivers refuse it on any other).
    pub fn topic(&self) -> &'static str {
        match self {
            GossipMessage::Announce(_) => TOPIC_IMAGES,
            GossipMessage::Bid(_)
            | GossipMessage::Claim(_)
            | GossipMessage::Steal(_)
            | GossipMessage::Handoff(_) => TOPIC_BIDS,
            GossipMessage::Result(_) => TOPIC_RESULTS,
            GossipMessage::AuditRequest(_) | GossipMessage::AuditVerdict(_) => TOPIC_AUDITS,
            GossipMessage::Digest(_) => TOPIC_DIGESTS,
            GossipMessage::Heartbeat(_) => TOPIC_HEARTBEATS,
        }
    }
}

impl DetectionResult {
    /// Verifies the attestation: signed by `worker`, over `digest` for `image_id`.
    pub fn verify_attestation(&self) -> Result<Attestation, AttestError> {
        Attestation::verify_from(&self.attestation, &self.image_id, &self.digest, &self.worker)
    }
}

impl AuditVerdict {
    /// On PASS, verifies the attestation: signed by `auditor`, over `worker_digest`.
    /// `None` on FAIL.
    pub fn verify_attestation(&self) -> Option<Result<Attestation, AttestError>> {
        let wire = self.attestation.as_ref()?;
        Some(Attestation::verify_from(wire, &self.image_id, &self.worker_digest, &self.auditor))
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn check_len(field: &str, len: usize, max: usize) -> Result<(), String> {
    check(len <= max, || format!("{field}: {len} bytes or items, at most {max}"))
}

/// Structural checks of a wire attestation (lengths only; signatures are checked by
/// `Attestation::verify`).
pub(crate) fn validate_attestation_shape(a: &AttestationWire) -> Result<(), String> {
    check_len("attestation.public_key", a.public_key.len(), MAX_PUBLIC_KEY_BYTES)?;
    check(a.signature.len() == SIGNATURE_BYTES, || {
        format!("attestation.signature: {} bytes, expected {SIGNATURE_BYTES}", a.signature.len())
    })
}

/// Model ref of a valid shape, detections valid, and both hashing to `digest`.
fn validate_result(
    field: &str,
    model: &ModelRef,
    detections: &[Detection],
    digest: &ResultDigest,
) -> Result<(), String> {
    model.validate()?;
    validate_detections(detections).map_err(|e| format!("{field}: {e}"))?;
    check(result_digest(model, detections) == *digest, || format!("{field}: digest does not match"))
}

impl Validate for ImageAnnouncement {
    fn validate(&self) -> Result<(), String> {
        check_len("source_name", self.source_name.len(), MAX_NAME_LEN)?;
        validate_model_name(&self.model)?;
        let side_ok = |s: u32| (1..=MAX_IMAGE_SIDE_PX).contains(&s);
        check(side_ok(self.width) && side_ok(self.height), || {
            format!("image {}x{} outside 1..={MAX_IMAGE_SIDE_PX}", self.width, self.height)
        })?;
        check((1..=MAX_IMAGE_BYTES).contains(&self.size_bytes), || {
            format!("size_bytes {} outside 1..={MAX_IMAGE_BYTES}", self.size_bytes)
        })?;
        let Some(bytes) = &self.bytes else {
            return Ok(());
        };
        check_len("bytes", bytes.len(), MAX_INLINE_IMAGE_BYTES)?;
        check(bytes.len() as u64 == self.size_bytes, || "bytes: length is not size_bytes".into())?;
        check(ImageId::of_bytes(bytes) == self.image_id, || "bytes: BLAKE3 is not image_id".into())
    }
}

impl Validate for DetectionResult {
    fn validate(&self) -> Result<(), String> {
        check_len("backend", self.backend.len(), MAX_BACKEND_LEN)?;
        validate_result("detections", &self.model, &self.detections, &self.digest)?;
        self.meta.validate()?;
        validate_attestation_shape(&self.attestation)
    }
}

impl Validate for AuditRequest {
    fn validate(&self) -> Result<(), String> {
        self.model.validate()?;
        let n = self.auditors.len();
        check((1..=MAX_AUDITORS).contains(&n), || format!("{n} auditors, 1..={MAX_AUDITORS}"))?;
        check(!self.auditors.contains(&self.worker), || "the worker audits itself".into())?;
        check(n < 2 || self.auditors[0] != self.auditors[1], || "duplicate auditor".into())
    }
}

impl Validate for AuditVerdict {
    fn validate(&self) -> Result<(), String> {
        check(self.auditor != self.worker, || "the worker audits itself".into())?;
        self.model.validate()?;
        match (self.pass, &self.attestation, &self.auditor_detections) {
            (true, Some(att), None) => validate_attestation_shape(att),
            (false, None, Some(dets)) => {
                validate_result("auditor_detections", &self.model, dets, &self.auditor_digest)
            }
            _ => Err("PASS needs an attestation and no detections, FAIL the reverse".into()),
        }
    }
}

impl Validate for Heartbeat {
    fn validate(&self) -> Result<(), String> {
        check_len("backend", self.backend.len(), MAX_BACKEND_LEN)?;
        check_len("models", self.models.len(), MAX_MODELS)?;
        self.models.iter().try_for_each(ModelRef::validate)?;
        check_len("http_addr", self.http_addr.as_ref().map_or(0, String::len), MAX_HTTP_ADDR_LEN)?;
        let r = self.audit_ratio;
        check(r.is_finite() && (0.0..=1.0).contains(&r), || format!("audit_ratio {r} outside 0..=1"))
    }
}

impl Validate for Steal {
    fn validate(&self) -> Result<(), String> {
        validate_model_name(&self.model)?;
        check(self.thief != self.victim, || "a node steals from itself".into())?;
        let n = self.count as usize;
        check((1..=MAX_HANDOFF_IMAGES).contains(&n), || format!("count {n} outside 1..={MAX_HANDOFF_IMAGES}"))
    }
}

impl Validate for Handoff {
    fn validate(&self) -> Result<(), String> {
        check(self.from != self.to, || "a node hands images to itself".into())?;
        let n = self.images.len();
        check((1..=MAX_HANDOFF_IMAGES).contains(&n), || format!("{n} images, 1..={MAX_HANDOFF_IMAGES}"))?;
        let distinct: std::collections::HashSet<&ImageId> = self.images.iter().collect();
        check(distinct.len() == n, || "an image is handed off twice".into())
    }
}

impl Validate for GossipMessage {
    fn validate(&self) -> Result<(), String> {
        match self {
            GossipMessage::Announce(m) => m.validate(),
            GossipMessage::Bid(_) | GossipMessage::Claim(_) => Ok(()),
            GossipMessage::Result(m) => m.validate(),
            GossipMessage::AuditRequest(m) => m.validate(),
            GossipMessage::AuditVerdict(m) => m.validate(),
            GossipMessage::Digest(m) => validate_ranges(&m.ranges),
            GossipMessage::Heartbeat(m) => m.validate(),
            GossipMessage::Steal(m) => m.validate(),
            GossipMessage::Handoff(m) => m.validate(),
        }
    }
}
