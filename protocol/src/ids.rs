//! Identifiers: image ids, result digests and weights ids (32-byte BLAKE3 hashes) and node ids
//! (libp2p PeerIds). Binary formats (CBOR) carry them as byte strings; human-readable formats
//! (JSON, TOML) as lowercase hex (hashes) or base58 (node ids). Never trusts a decoded length:
//! every conversion from bytes checks it.

use std::fmt;
use std::str::FromStr;

use libp2p_identity::PeerId;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::limits::MAX_NODE_ID_BYTES;

/// Why an id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("expected 64 lowercase hex characters")]
    Hex,
    #[error("invalid peer id: {0}")]
    PeerId(String),
}

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// From a slice that must be exactly 32 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| IdError::Length { expected: 32, got: bytes.len() })?;
                Ok(Self(arr))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &hex::encode(self.0)[..12])
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Exactly 64 lowercase hex characters.
            fn from_str(s: &str) -> Result<Self, IdError> {
                let ok = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                if !ok {
                    return Err(IdError::Hex);
                }
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::Hex)?;
                Ok(Self(out))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_string())
                } else {
                    s.serialize_bytes(&self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    d.deserialize_str(HexOrBytes::<$name>::new($what))
                } else {
                    d.deserialize_bytes(HexOrBytes::<$name>::new($what))
                }
            }
        }

        impl HashId for $name {
            fn from_arr(arr: [u8; 32]) -> Self {
                Self(arr)
            }
        }
    };
}

hash_id!(
    /// BLAKE3 of the image bytes: the image's content address.
    ImageId,
    "an image id (32 bytes or 64 hex characters)"
);
hash_id!(
    /// BLAKE3 of a result's canonical encoding (see `result::result_digest`).
    ResultDigest,
    "a result digest (32 bytes or 64 hex characters)"
);

hash_id!(
    /// BLAKE3 of a model's weights file: which trained weights produced a result.
    WeightsId,
    "a weights id (32 bytes or 64 hex characters)"
);

impl ImageId {
    /// The content address of `image_bytes`.
    pub fn of_bytes(image_bytes: &[u8]) -> Self {
        Self(*blake3::hash(image_bytes).as_bytes())
    }
}

impl WeightsId {
    /// The id of the weights file whose contents are `weights_bytes`.
    pub fn of_bytes(weights_bytes: &[u8]) -> Self {
        Self(*blake3::hash(weights_bytes).as_bytes())
    }
}

trait HashId: FromStr<Err = IdError> {
    fn from_arr(arr: [u8; 32]) -> Self;
}

struct HexOrBytes<T> {
    what: &'static str,
    _t: std::marker::PhantomData<T>,
}

impl<T> HexOrBytes<T> {
    fn new(what: &'static str) -> Self {
        Self { what, _t: std::marker::PhantomData }
    }
}

impl<T: HashId> Visitor<'_> for HexOrBytes<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<T, E> {
        let arr: [u8; 32] = v.try_into().map_err(|_| E::invalid_length(v.len(), &self))?;
        Ok(T::from_arr(arr))
    }
}

/// A node's identity: the libp2p PeerId of its ed25519 key. On the wire: the PeerId's bytes
/// (multihash), validated on decode; in JSON: base58.
///
/// Ordering is the lexicographic order of those bytes (the order docs/PROTOCOL.md specifies
/// for attestation eviction), not PeerId's derived order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub PeerId);

impl NodeId {
    /// The PeerId's multihash bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    /// Parses PeerId bytes, refusing anything longer than `MAX_NODE_ID_BYTES`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.len() > MAX_NODE_ID_BYTES {
            return Err(IdError::Length { expected: MAX_NODE_ID_BYTES, got: bytes.len() });
        }
        PeerId::from_bytes(bytes).map(NodeId).map_err(|e| IdError::PeerId(e.to_string()))
    }

    /// The wrapped PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.0
    }
}

impl From<PeerId> for NodeId {
    fn from(p: PeerId) -> Self {
        NodeId(p)
    }
}

impl Ord for NodeId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.0 == other.0 {
            return std::cmp::Ordering::Equal;
        }
        self.0.to_bytes().cmp(&other.0.to_bytes())
    }
}

impl PartialOrd for NodeId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.0)
    }
}

impl FromStr for NodeId {
    type Err = IdError;
    /// Base58 PeerId, as libp2p prints it.
    fn from_str(s: &str) -> Result<Self, IdError> {
        PeerId::from_str(s).map(NodeId).map_err(|e| IdError::PeerId(e.to_string()))
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.0.to_base58())
        } else {
            s.serialize_bytes(&self.0.to_bytes())
        }
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NodeId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node id (PeerId bytes or base58)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NodeId, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<NodeId, E> {
                NodeId::from_slice(v).map_err(E::custom)
            }
        }
        if d.is_human_readable() { d.deserialize_str(V) } else { d.deserialize_bytes(V) }
    }
}
