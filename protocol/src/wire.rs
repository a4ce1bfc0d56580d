//! CBOR with limits, the bottom of the codec: `encode` and `decode` of any value, and the
//! traits every protocol message implements (`Validate`, `WireMessage`). The gossip envelope
//! and the validated encoders of protocol messages are in `codec`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CodecError;
use crate::limits::{CBOR_RECURSION_LIMIT, MAX_NESTING_DEPTH};
use crate::scan::prescan;

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
