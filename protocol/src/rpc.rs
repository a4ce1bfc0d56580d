//! Request-response protocols: their names, request and response types, size limits and
//! validation. Each protocol's name carries its version, so its messages need no envelope.
//! Plain data: this file never touches the network.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::CodecError;
use crate::ids::ImageId;
use crate::limits::*;
use crate::register_wire::RegisterWire;
use crate::search::{Found, Search};
use crate::sync::{RangeFingerprint, validate_ranges};
use crate::wire::{Validate, WireMessage, encode};

/// Image fetch by id.
pub const PROTOCOL_FETCH: &str = "/argus/fetch/5";
/// Register query (majority reads).
pub const PROTOCOL_QUERY: &str = "/argus/query/5";
/// Anti-entropy sync.
pub const PROTOCOL_SYNC: &str = "/argus/sync/5";

/// Asks a node (usually the image's source) for an image's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub image_id: ImageId,
}

/// The image bytes, or `None` when the responder does not hold them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchResponse {
    pub bytes: Option<ByteBuf>,
}

impl FetchResponse {
    /// Whether the response carries the bytes of `image_id` (BLAKE3 checked). The requester
    /// must call this: `validate` cannot, as it does not know what was asked.
    pub fn matches(&self, image_id: &ImageId) -> bool {
        self.bytes.as_ref().is_some_and(|b| ImageId::of_bytes(b) == *image_id)
    }
}

/// Asks a node for its register of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub image_id: ImageId,
}

/// The responder's register, or `None` when it has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryResponse {
    pub register: Option<RegisterWire>,
}

/// Anti-entropy requests. Ranges are half-open, `[start_ms, end_ms)`, over capture time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SyncRequest {
    /// Fingerprints of the range split into `parts` (see `sync::split_range`).
    Fingerprints { start_ms: u64, end_ms: u64, parts: u16 },
    /// Up to `limit` registers of the range in (capture time, image id) order. With `after`,
    /// the page starts strictly after the register (`start_ms`, `after`): a continuation
    /// page, so that any number of registers captured in the same millisecond page through.
    Fetch {
        start_ms: u64,
        end_ms: u64,
        limit: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<ImageId>,
    },
    /// A content query (`search`): registers matching it, answered by `Found`.
    Search(Search),
}

/// Anti-entropy responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SyncResponse {
    /// Exactly `parts` fingerprints, in order.
    Fingerprints(Vec<RangeFingerprint>),
    /// Registers; `more` when the range holds more than were sent (ask again with the last
    /// one's capture time as `start_ms` and its image id as `after`).
    Registers { registers: Vec<RegisterWire>, more: bool },
    /// The answer to `Search`.
    Found(Found),
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// Structural bounds of a wire register, and the shape of each candidate's model ref
/// (signatures and digests are checked by `Register::from_wire`).
pub fn validate_register_shape(r: &RegisterWire) -> Result<(), String> {
    let n = r.candidates.len();
    check(n <= MAX_CANDIDATES, || format!("{n} candidates, at most {MAX_CANDIDATES}"))?;
    for c in &r.candidates {
        c.model.validate()?;
        let (d, a) = (c.detections.len(), c.attestations.len());
        check(d <= MAX_DETECTIONS, || format!("{d} detections, at most {MAX_DETECTIONS}"))?;
        check(a <= MAX_ATTESTATIONS, || format!("{a} attestations, at most {MAX_ATTESTATIONS}"))?;
        for att in &c.attestations {
            crate::messages::validate_attestation_shape(att)?;
        }
    }
    Ok(())
}

impl Validate for FetchRequest {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Validate for FetchResponse {
    fn validate(&self) -> Result<(), String> {
        let len = self.bytes.as_ref().map_or(0, |b| b.len() as u64);
        check(len <= MAX_IMAGE_BYTES, || format!("{len} image bytes, at most {MAX_IMAGE_BYTES}"))
    }
}

impl Validate for QueryRequest {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Validate for QueryResponse {
    fn validate(&self) -> Result<(), String> {
        self.register.as_ref().map_or(Ok(()), validate_register_shape)
    }
}

impl Validate for SyncRequest {
    fn validate(&self) -> Result<(), String> {
        let (start_ms, end_ms, ok) = match self {
            SyncRequest::Search(q) => return q.validate(),
            SyncRequest::Fingerprints { start_ms, end_ms, parts } => {
                (*start_ms, *end_ms, (1..=MAX_RANGES).contains(&usize::from(*parts)))
            }
            SyncRequest::Fetch { start_ms, end_ms, limit, .. } => {
                (*start_ms, *end_ms, (1..=MAX_SYNC_FETCH_LIMIT).contains(limit))
            }
        };
        check(start_ms <= end_ms, || "range ends before it starts".into())?;
        check(ok, || format!("parts in 1..={MAX_RANGES}, limit in 1..={MAX_SYNC_FETCH_LIMIT}"))
    }
}

impl Validate for SyncResponse {
    fn validate(&self) -> Result<(), String> {
        match self {
            SyncResponse::Fingerprints(ranges) => validate_ranges(ranges),
            SyncResponse::Registers { registers, .. } | SyncResponse::Found(Found { registers, .. }) => {
                let n = registers.len();
                let max = MAX_SYNC_FETCH_LIMIT as usize;
                check(n <= max, || format!("{n} registers, at most {max}"))?;
                registers.iter().try_for_each(validate_register_shape)
            }
        }
    }
}

macro_rules! wire {
    ($t:ty, $limit:expr) => {
        impl WireMessage for $t {
            const MAX_BYTES: usize = $limit;
        }
    };
}

wire!(FetchRequest, MAX_FETCH_REQUEST_BYTES);
wire!(FetchResponse, MAX_FETCH_RESPONSE_BYTES);
wire!(QueryRequest, MAX_QUERY_REQUEST_BYTES);
wire!(QueryResponse, MAX_QUERY_RESPONSE_BYTES);
wire!(SyncRequest, MAX_SYNC_REQUEST_BYTES);
wire!(SyncResponse, MAX_SYNC_RESPONSE_BYTES);

/// Packs registers into a `SyncResponse::Registers` under both the requested count and
/// `SYNC_RESPONSE_SOFT_BYTES`, so the encoded response always fits `MAX_SYNC_RESPONSE_BYTES`.
#[derive(Debug)]
pub struct RegisterBatch {
    registers: Vec<RegisterWire>,
    encoded_bytes: usize,
    max_count: usize,
}

impl RegisterBatch {
    /// A batch for a request that asked for `limit` registers (capped at
    /// `MAX_SYNC_FETCH_LIMIT`).
    pub fn new(limit: u32) -> Self {
        let max_count = limit.min(MAX_SYNC_FETCH_LIMIT) as usize;
        Self { registers: Vec::new(), encoded_bytes: 0, max_count }
    }

    /// Adds `register` if it fits and returns true; returns false when the batch is full (the
    /// caller then answers with `more: true`). The first register always fits unless it is
    /// itself over `MAX_REGISTER_BYTES`, which is an error.
    pub fn push(&mut self, register: RegisterWire) -> Result<bool, CodecError> {
        if self.registers.len() >= self.max_count {
            return Ok(false);
        }
        let size = encode(&register, MAX_REGISTER_BYTES)?.len();
        if !self.registers.is_empty() && self.encoded_bytes + size > SYNC_RESPONSE_SOFT_BYTES {
            return Ok(false);
        }
        self.encoded_bytes += size;
        self.registers.push(register);
        Ok(true)
    }

    /// Registers held.
    pub fn len(&self) -> usize {
        self.registers.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.registers.is_empty()
    }

    /// The registers held, in the order pushed.
    pub fn into_registers(self) -> Vec<RegisterWire> {
        self.registers
    }

    /// The response; `more` says whether registers in the requested range were left out.
    pub fn into_response(self, more: bool) -> SyncResponse {
        SyncResponse::Registers { registers: self.registers, more }
    }
}
