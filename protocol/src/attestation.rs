//! Attestations: a node's ed25519 signature over "this image has this result digest at this
//! HLC time". `AttestationWire` is what travels (untrusted); `Attestation` exists only after
//! its signature checked out (`Attestation::verify`) or after we signed it ourselves
//! (`Attestation::sign`). Nothing here ever turns a wire attestation into a counted vote
//! without verifying it.

use libp2p_identity::{KeyType, Keypair, PeerId, PublicKey};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::hlc::HlcTimestamp;
use crate::ids::{ImageId, NodeId, ResultDigest};
use crate::limits::{MAX_PUBLIC_KEY_BYTES, SIGNATURE_BYTES};

/// Domain separator of the signed payload.
pub const ATTEST_DOMAIN: &[u8] = b"argus/attest/v1";
/// Length of the signed payload.
pub const SIGNED_PAYLOAD_BYTES: usize = ATTEST_DOMAIN.len() + 32 + 32 + 8;

/// An attestation as it travels. The image and digest it attests are those of the message or
/// register candidate that carries it; they are not repeated here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationWire {
    /// The attester's public key, libp2p protobuf encoding (`PublicKey::encode_protobuf`).
    pub public_key: ByteBuf,
    /// HLC time of the attestation.
    pub ts: HlcTimestamp,
    /// ed25519 signature over `signed_payload(image_id, digest, ts)`.
    pub signature: ByteBuf,
}

/// Why an attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestError {
    #[error("public key of {len} bytes, at most {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("public key does not decode: {0}")]
    BadKey(String),
    #[error("only ed25519 keys may attest, got {0}")]
    NotEd25519(String),
    #[error("signature of {len} bytes, expected {SIGNATURE_BYTES}")]
    SignatureLength { len: usize },
    #[error("signature does not verify")]
    BadSignature,
    #[error("attester {got} is not the expected node {expected}")]
    WrongSigner { expected: Box<NodeId>, got: Box<NodeId> },
    #[error("signing failed: {0}")]
    Signing(String),
}

/// `"argus/attest/v1" || image_id (32) || digest (32) || u64be(ts)`: the bytes an attester
/// signs. The domain prefix keeps these signatures from being replayed as anything else.
pub fn signed_payload(
    image_id: &ImageId,
    digest: &ResultDigest,
    ts: HlcTimestamp,
) -> [u8; SIGNED_PAYLOAD_BYTES] {
    let mut out = [0u8; SIGNED_PAYLOAD_BYTES];
    let (domain, rest) = out.split_at_mut(ATTEST_DOMAIN.len());
    domain.copy_from_slice(ATTEST_DOMAIN);
    let (image, rest) = rest.split_at_mut(32);
    image.copy_from_slice(image_id.as_bytes());
    let (dig, rest) = rest.split_at_mut(32);
    dig.copy_from_slice(digest.as_bytes());
    rest.copy_from_slice(&ts.to_be_bytes());
    out
}

/// A verified attestation: `node` (derived from `public_key`) signed `digest` for `image_id`
/// at `ts`. Only `sign` and `verify` construct one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    image_id: ImageId,
    digest: ResultDigest,
    node: NodeId,
    public_key: Vec<u8>,
    ts: HlcTimestamp,
    signature: Vec<u8>,
}

impl Attestation {
    /// Signs `digest` for `image_id` at `ts` with our identity key (must be ed25519).
    pub fn sign(
        keypair: &Keypair,
        image_id: &ImageId,
        digest: &ResultDigest,
        ts: HlcTimestamp,
    ) -> Result<Self, AttestError> {
        let public = keypair.public();
        if public.key_type() != KeyType::Ed25519 {
            return Err(AttestError::NotEd25519(public.key_type().to_string()));
        }
        let payload = signed_payload(image_id, digest, ts);
        let signature = keypair.sign(&payload).map_err(|e| AttestError::Signing(e.to_string()))?;
        Ok(Self {
            image_id: *image_id,
            digest: *digest,
            node: NodeId(PeerId::from_public_key(&public)),
            public_key: public.encode_protobuf(),
            ts,
            signature,
        })
    }

    /// Verifies an untrusted wire attestation as attesting `digest` for `image_id`.
    pub fn verify(
        wire: &AttestationWire,
        image_id: &ImageId,
        digest: &ResultDigest,
    ) -> Result<Self, AttestError> {
        let public = decode_ed25519_key(&wire.public_key)?;
        if wire.signature.len() != SIGNATURE_BYTES {
            return Err(AttestError::SignatureLength { len: wire.signature.len() });
        }
        let payload = signed_payload(image_id, digest, wire.ts);
        if !public.verify(&payload, &wire.signature) {
            return Err(AttestError::BadSignature);
        }
        Ok(Self {
            image_id: *image_id,
            digest: *digest,
            node: NodeId(PeerId::from_public_key(&public)),
            // Re-encoded, not copied: a non-canonical protobuf encoding of the same key must
            // not make two otherwise equal attestations differ.
            public_key: public.encode_protobuf(),
            ts: wire.ts,
            signature: wire.signature.to_vec(),
        })
    }

    /// `verify`, and also require that the signer is `expected` (e.g. a result's `worker`).
    pub fn verify_from(
        wire: &AttestationWire,
        image_id: &ImageId,
        digest: &ResultDigest,
        expected: &NodeId,
    ) -> Result<Self, AttestError> {
        let att = Self::verify(wire, image_id, digest)?;
        if att.node != *expected {
            return Err(AttestError::WrongSigner { expected: Box::new(*expected), got: Box::new(att.node) });
        }
        Ok(att)
    }

    /// The wire form (public key, ts, signature).
    pub fn to_wire(&self) -> AttestationWire {
        AttestationWire {
            public_key: ByteBuf::from(self.public_key.clone()),
            ts: self.ts,
            signature: ByteBuf::from(self.signature.clone()),
        }
    }

    /// The image this attests.
    pub fn image_id(&self) -> &ImageId {
        &self.image_id
    }
    /// The result digest this attests.
    pub fn digest(&self) -> &ResultDigest {
        &self.digest
    }
    /// The attesting node (PeerId of `public_key`).
    pub fn node(&self) -> &NodeId {
        &self.node
    }
    /// HLC time of the attestation.
    pub fn ts(&self) -> HlcTimestamp {
        self.ts
    }
    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Between two attestations by the same node for the same candidate, the one a register
    /// keeps: larger `(ts, signature bytes)`, a deterministic choice independent of arrival.
    pub fn supersedes(&self, other: &Attestation) -> bool {
        (self.ts, &self.signature) > (other.ts, &other.signature)
    }
}

fn decode_ed25519_key(bytes: &[u8]) -> Result<PublicKey, AttestError> {
    if bytes.len() > MAX_PUBLIC_KEY_BYTES {
        return Err(AttestError::KeyTooLong { len: bytes.len(), max: MAX_PUBLIC_KEY_BYTES });
    }
    let public = PublicKey::try_decode_protobuf(bytes).map_err(|e| AttestError::BadKey(e.to_string()))?;
    if public.key_type() != KeyType::Ed25519 {
        return Err(AttestError::NotEd25519(public.key_type().to_string()));
    }
    Ok(public)
}
