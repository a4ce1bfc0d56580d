//! Every size bound of the wire format, in one place, so that decoders, encoders, the node's
//! transports and docs/PROTOCOL.md agree. Pure constants: this file must never hold logic.
//!
//! Byte limits apply to the complete encoded message (before any decoding starts); count limits
//! apply to collections inside a decoded message and are checked by `Validate`.

/// Version carried in every gossip envelope (`Envelope.v`) and in every topic and
/// request-response protocol name (`.../3`). Any change to docs/PROTOCOL.md's CDDL bumps it.
/// Version 2 names the model (and its weights) in announcements, results, audits, heartbeats
/// and register candidates. Version 4 adds the register's `meta` (source name, thumbnail).
pub const PROTOCOL_VERSION: u16 = 5;

/// Deepest nesting of CBOR arrays and maps the pre-scan accepts. The deepest legal message
/// (a sync response: map > array > register > array > candidate > array > detection > bbox)
/// nests 9 levels; 16 leaves room without letting a peer exhaust the stack.
pub const MAX_NESTING_DEPTH: usize = 16;
/// Recursion limit handed to ciborium after the pre-scan (belt and braces; the pre-scan's
/// `MAX_NESTING_DEPTH` is the one that bites).
pub const CBOR_RECURSION_LIMIT: usize = 32;

/// Largest image the network carries, fetched or inline.
pub const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest image carried inline in an announcement; bigger ones are fetched from the source.
pub const MAX_INLINE_IMAGE_BYTES: usize = 512 * 1024;
/// Largest image side in pixels.
pub const MAX_IMAGE_SIDE_PX: u32 = 16_384;
/// Largest box coordinate accepted when the image size is unknown (pixels).
pub const MAX_COORD_PX: f32 = MAX_IMAGE_SIDE_PX as f32;

/// Most detections in one result.
pub const MAX_DETECTIONS: usize = 256;
/// Most candidates (distinct result digests) one register keeps; see `register` for why the
/// kept ones are those with the smallest digests.
pub const MAX_CANDIDATES: usize = 16;
/// Most attestations one candidate keeps: above the 50-node design size, so in a healthy
/// network nothing is ever evicted.
pub const MAX_ATTESTATIONS: usize = 64;
/// Largest protobuf-encoded public key in an attestation (ed25519 encodes to 36 bytes).
pub const MAX_PUBLIC_KEY_BYTES: usize = 64;
/// Exact length of an ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Largest encoded node id (PeerId multihash bytes: 2 header bytes + at most 64 digest bytes).
pub const MAX_NODE_ID_BYTES: usize = 66;

/// Longest `source_name` in an announcement (UTF-8 bytes).
pub const MAX_NAME_LEN: usize = 64;
/// Largest thumbnail a result or register carries (`meta.thumbnail`, a small JPEG).
pub const MAX_THUMBNAIL_BYTES: usize = 16 * 1024;
/// Longest model name (`shapes`, `coco`, ...) in bytes; see `model_ref::validate_model_name`.
pub const MAX_MODEL_NAME_LEN: usize = 32;
/// Most models one heartbeat advertises (a node runs a handful; 8 leaves room).
pub const MAX_MODELS: usize = 8;
/// Longest backend label (`ndarray`, `flex`, `wgpu`, ...) in bytes.
pub const MAX_BACKEND_LEN: usize = 32;
/// Longest `http_addr` in a heartbeat, in bytes.
pub const MAX_HTTP_ADDR_LEN: usize = 256;
/// Most auditors one audit request names.
pub const MAX_AUDITORS: usize = 2;
/// Most images one `Steal` asks for and one `Handoff` gives.
pub const MAX_HANDOFF_IMAGES: usize = 64;
/// Most range fingerprints in one replica digest or one sync response.
pub const MAX_RANGES: usize = 64;
/// Most registers one `SyncRequest::Fetch` may ask for (and one response may carry).
pub const MAX_SYNC_FETCH_LIMIT: u32 = 256;

/// Largest encoded register: 16 candidates of 256 detections and 64 attestations each, with a
/// model name of `MAX_MODEL_NAME_LEN` bytes, encode to 434,542 bytes (measured by
/// `tests/limits.rs`); this leaves more than 2x headroom.
pub const MAX_REGISTER_BYTES: usize = 1024 * 1024;

/// Largest gossip envelope: an inline image plus headroom for the other fields. The node must
/// set gossipsub's `max_transmit_size` to at least this.
pub const MAX_GOSSIP_BYTES: usize = MAX_INLINE_IMAGE_BYTES + 64 * 1024;

/// `/argus/fetch/5` request limit.
pub const MAX_FETCH_REQUEST_BYTES: usize = 256;
/// `/argus/fetch/5` response limit: the largest image plus framing.
pub const MAX_FETCH_RESPONSE_BYTES: usize = MAX_IMAGE_BYTES as usize + 1024;
/// `/argus/query/5` request limit.
pub const MAX_QUERY_REQUEST_BYTES: usize = 256;
/// `/argus/query/5` response limit: one register plus framing.
pub const MAX_QUERY_RESPONSE_BYTES: usize = MAX_REGISTER_BYTES + 1024;
/// `/argus/sync/5` request limit (a `Search` with a 64-byte label and source is about 230 B).
pub const MAX_SYNC_REQUEST_BYTES: usize = 512;
/// `/argus/sync/5` response limit. Responders pack registers up to `SYNC_RESPONSE_SOFT_BYTES`
/// (see `rpc::RegisterBatch`) and say `more: true`, so the hard limit is never reached.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Byte budget a responder fills before it stops adding registers to a sync response; one
/// register more (at most `MAX_REGISTER_BYTES`) still fits under `MAX_SYNC_RESPONSE_BYTES`.
pub const SYNC_RESPONSE_SOFT_BYTES: usize = 8 * 1024 * 1024;
