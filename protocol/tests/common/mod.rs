//! Shared test fixtures: a pool of deterministic ed25519 keys, candidate detection sets and
//! pre-signed attestations, so 1,000-case property tests stay fast (signing happens once per
//! test binary, not per case). Test-only; never used by library code.
#![allow(dead_code)]

pub mod messages;

use std::sync::OnceLock;

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, NodeId, ResultDigest, WeightsId};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use libp2p_identity::{Keypair, PeerId};

/// More keys than `MAX_ATTESTATIONS`, so the attestation bound can be exercised.
pub const N_KEYS: usize = 72;
/// More detection sets than `MAX_CANDIDATES`, so the candidate bound can be exercised.
pub const N_SETS: usize = 24;
/// Distinct timestamps per (key, set).
pub const N_TS: usize = 3;

pub fn keypair(i: usize) -> Keypair {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    secret[31] = 0x5a;
    Keypair::ed25519_from_bytes(secret).expect("32-byte ed25519 secret")
}

pub fn node_of(k: &Keypair) -> NodeId {
    NodeId(PeerId::from_public_key(&k.public()))
}

pub fn image() -> ImageId {
    ImageId::of_bytes(b"the test image")
}

/// The model every pool candidate and sample message uses.
pub fn model() -> ModelRef {
    ModelRef::new("shapes", WeightsId::of_bytes(b"shapes weights"))
}

/// Another model (another name, other weights).
pub fn other_model() -> ModelRef {
    ModelRef::new("coco", WeightsId::of_bytes(b"coco weights"))
}

/// `model()`'s name with other weights (a retrained model).
pub fn retrained_model() -> ModelRef {
    ModelRef::new("shapes", WeightsId::of_bytes(b"shapes weights, retrained"))
}

pub fn det(class: u16, score: f32, x: f32, y: f32, w: f32, h: f32) -> Detection {
    Detection { class, score, bbox: BBox { x_min: x, y_min: y, x_max: x + w, y_max: y + h } }
}

/// Detection set `i`: distinct for every `i`, valid, 1..=4 detections.
pub fn detection_set(i: usize) -> Vec<Detection> {
    (0..(i % 4 + 1))
        .map(|j| det((i % 5) as u16, 0.5 + 0.01 * j as f32, 10.0 * i as f32, 7.0 * j as f32, 20.0, 30.0))
        .collect()
}

pub fn ts(i: usize) -> HlcTimestamp {
    HlcTimestamp::new(1_764_000_000_000 + 1000 * i as u64, i as u16)
}

pub struct Pool {
    pub keys: Vec<Keypair>,
    pub nodes: Vec<NodeId>,
    pub sets: Vec<Vec<Detection>>,
    pub digests: Vec<ResultDigest>,
    /// Index `(key * N_SETS + set) * N_TS + ts`.
    atts: Vec<Attestation>,
}

impl Pool {
    pub fn att(&self, key: usize, set: usize, t: usize) -> &Attestation {
        &self.atts[(key * N_SETS + set) * N_TS + t]
    }

    /// A register built by inserting the attestation of each `(key, set, ts)` op in order.
    pub fn register(&self, ops: &[(usize, usize, usize)]) -> Register {
        let mut r = Register::new(image(), 1_764_000_000_000);
        for &(k, s, t) in ops {
            r.insert(&model(), &self.sets[s], self.att(k, s, t).clone())
                .expect("pool attestations are valid");
        }
        r
    }
}

pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let keys: Vec<Keypair> = (0..N_KEYS).map(keypair).collect();
        let nodes = keys.iter().map(node_of).collect();
        let sets: Vec<Vec<Detection>> = (0..N_SETS).map(detection_set).collect();
        let digests: Vec<ResultDigest> = sets.iter().map(|s| result_digest(&model(), s)).collect();
        let mut atts = Vec::with_capacity(N_KEYS * N_SETS * N_TS);
        for k in &keys {
            for d in &digests {
                for t in 0..N_TS {
                    atts.push(Attestation::sign(k, &image(), d, ts(t)).expect("sign"));
                }
            }
        }
        Pool { keys, nodes, sets, digests, atts }
    })
}
