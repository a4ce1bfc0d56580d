//! The codec's error: why bytes could not be encoded or decoded.

use crate::limits::{MAX_NESTING_DEPTH, PROTOCOL_VERSION};

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
