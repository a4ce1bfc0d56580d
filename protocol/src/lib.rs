//! argus wire protocol. Pure: no async runtime, no sockets, no clocks read here. A peer in
//! another language can be written from docs/PROTOCOL.md, which specifies every byte this
//! crate puts on the wire.
//!
//! Layout:
//! - `limits`: every size and count bound, and the protocol version.
//! - `ids`: image ids, result digests and weights ids (BLAKE3, hex) and node ids (PeerId bytes).
//! - `model_ref`: which model and weights produced a result, and the shape of model names.
//! - `hlc`: the hybrid logical clock (callers pass physical time in ms).
//! - `detection`: detections (box, class, score) and their validation.
//! - `result`: the canonical digest of a result (bound to its model) and the tolerant agreement
//!   rule.
//! - `attestation`: signed votes; the wire form and the verified form.
//! - `register`: the vote-weighted last-writer-wins register (a bounded join-semilattice).
//! - `register_wire` (private, re-exported by `register`): its wire form and `from_wire`.
//! - `meta`: a register's unattested description of its image (source name, thumbnail).
//! - `messages`: gossip topics and message types, and their validation.
//! - `rpc`: request-response protocols (fetch, query, sync): names, types, limits.
//! - `search`: content queries between nodes (label, score, source, time range) and their pages.
//! - `sync`: range fingerprints, range splitting, sync response packing.
//! - `codec`: CBOR encode/decode with size limits, the gossip envelope, `CodecError`.
//! - `scan` (private): the allocation-free CBOR pre-scan run before every decode.

pub mod attestation;
pub mod codec;
pub mod detection;
mod error;
pub mod hlc;
pub mod ids;
pub mod limits;
pub mod messages;
pub mod meta;
pub mod model_ref;
pub mod register;
pub mod register_wire;
pub mod result;
pub mod rpc;
mod scan;
pub mod search;
pub mod sync;
pub mod wire;

pub use attestation::{AttestError, Attestation, AttestationWire};
pub use codec::{
    CodecError, Envelope, Validate, WireMessage, decode, decode_gossip, decode_wire, encode, encode_gossip,
    encode_wire,
};
pub use detection::{BBox, Detection, DetectionError, validate_detections};
pub use hlc::{Hlc, HlcError, HlcTimestamp};
pub use ids::{IdError, ImageId, NodeId, ResultDigest, WeightsId};
pub use messages::*;
pub use model_ref::{ModelRef, validate_model_name};
pub use register::{Candidate, Register, RegisterError};
pub use register_wire::{CandidateWire, Refused, RegisterWire};
pub use result::{result_digest, results_agree};
pub use rpc::*;
pub use sync::{RangeFingerprint, fingerprint_of};
