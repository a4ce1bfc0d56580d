//! The CBOR codec (ciborium) with limits: every decode checks the input size against the
//! caller's per-kind limit, then pre-scans it (`scan`), then decodes with a small recursion
//! limit, then validates. Never panics on input and never allocates from a length prefix the
//! input does not back.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;

use crate::limits::{CBOR_RECURSION_LIMIT, MAX_GOSSIP_BYTES, MAX_NESTING_DEPTH, PROTOCOL_VERSION};
use crate::messages::GossipMessage;
use crate::scan::prescan;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{len} bytes, limit {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("protocol version {got}, this node speaks {PROTOCOL_VERSION}")]
    WrongVersion { got: u64 },
    #[error("truncated at byte {offset}: needs {needed}, {left} left")]
    Truncated { offset: usize, needed: u64, left: usize },
    #[error("nested deeper than {MAX_NESTING_DEPTH}")]
    TooDeep,
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Semantic checks a decoded message must pass (bounds, consistency) beyond its shape.
pub trait Validate {
    /// Ok, or what is wrong, in words.
    fn validate(&self) -> Result<(), String>;
}

/// A request or response of a request-response protocol: carries its own size limit, so
/// `encode_wire`/`decode_wire` cannot be called with the wrong one.
pub trait WireMessage: Serialize + DeserializeOwned + Validate {
    /// Largest encoded size accepted.
    const MAX_BYTES: usize;
}

/// The gossip envelope. Its shape is frozen across versions: `v` says how to read `body`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Envelope {
    pub v: u16,
    pub body: ByteBuf,
}

/// The envelope as decoded: a wider `v` so any version number is reported as such, and no
/// `deny_unknown_fields`, so a later version may add envelope keys.
#[derive(serde::Deserialize)]
struct EnvelopeIn {
    v: u64,
    body: ByteBuf,
}

/// CBOR-encodes `value`, refusing results over `limit` bytes.
pub fn encode<T: Serialize>(value: &T, limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| CodecError::Encode(e.to_string()))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { len: out.len(), limit });
    }
    Ok(out)
}

/// Decodes untrusted CBOR: size check against `limit` first, then the pre-scan (one
/// well-formed item, definite lengths, no tags, depth <= `MAX_NESTING_DEPTH`), then serde.
/// Does not run `Validate`; use `decode_wire` or `decode_gossip` for protocol messages.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge { len: bytes.len(), limit });
    }
    prescan(bytes, MAX_NESTING_DEPTH)?;
    ciborium::de::from_reader_with_recursion_limit(bytes, CBOR_RECURSION_LIMIT).map_err(map_de_error)
}

fn map_de_error(e: ciborium::de::Error<std::io::Error>) -> CodecError {
    use ciborium::de::Error;
    match e {
        Error::RecursionLimitExceeded => CodecError::TooDeep,
        Error::Io(e) => CodecError::Malformed(format!("read: {e}")),
        Error::Syntax(offset) => CodecError::Malformed(format!("syntax error at byte {offset}")),
        Error::Semantic(Some(offset), msg) => CodecError::Malformed(format!("at byte {offset}: {msg}")),
        Error::Semantic(None, msg) => CodecError::Malformed(msg),
    }
}

/// Validates, then encodes a request or response under its limit.
pub fn encode_wire<T: WireMessage>(value: &T) -> Result<Vec<u8>, CodecError> {
    value.validate().map_err(CodecError::Invalid)?;
    encode(value, T::MAX_BYTES)
}

/// Decodes a request or response under its limit, then validates it.
pub fn decode_wire<T: WireMessage>(bytes: &[u8]) -> Result<T, CodecError> {
    let value: T = decode(bytes, T::MAX_BYTES)?;
    value.validate().map_err(CodecError::Invalid)?;
    Ok(value)
}

/// Validates `msg` and wraps it in an envelope of version `PROTOCOL_VERSION`.
pub fn encode_gossip(msg: &GossipMessage) -> Result<Vec<u8>, CodecError> {
    msg.validate().map_err(CodecError::Invalid)?;
    let body = encode(msg, MAX_GOSSIP_BYTES)?;
    encode(&Envelope { v: PROTOCOL_VERSION, body: ByteBuf::from(body) }, MAX_GOSSIP_BYTES)
}

/// Decodes a gossip envelope in two stages, so an unknown version is reported as
/// `WrongVersion` rather than as malformed, then decodes and validates the body. Signatures
/// inside (attestations) are not verified here: see `Attestation::verify`.
pub fn decode_gossip(bytes: &[u8]) -> Result<GossipMessage, CodecError> {
    let envelope: EnvelopeIn = decode(bytes, MAX_GOSSIP_BYTES)?;
    if envelope.v != u64::from(PROTOCOL_VERSION) {
        return Err(CodecError::WrongVersion { got: envelope.v });
    }
    let msg: GossipMessage = decode(&envelope.body, MAX_GOSSIP_BYTES)?;
    msg.validate().map_err(CodecError::Invalid)?;
    Ok(msg)
}
