//! The CBOR codec (ciborium) with limits: every decode checks the input size against the
//! caller's per-kind limit, then pre-scans it (`scan`), then decodes with a small recursion
//! limit, then validates. Never panics on input and never allocates from a length prefix the
//! input does not back.

use serde::Serialize;
use serde_bytes::ByteBuf;

pub use crate::error::CodecError;
use crate::limits::{MAX_GOSSIP_BYTES, PROTOCOL_VERSION};
use crate::messages::GossipMessage;
pub use crate::wire::{Validate, WireMessage, decode, encode};

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
