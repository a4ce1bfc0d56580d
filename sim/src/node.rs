//! One simulated node: its protocol state, a store with LMDB's durability semantics, and an
//! inference worker with a bounded queue. A crash drops the state, the worker's queue and the
//! uncommitted writes; the committed registers and the saved clock survive.

use std::collections::{BTreeMap, VecDeque};

use argus_protocol::detection::{BBox, Detection};
use argus_protocol::ids::{ImageId, WeightsId};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::sync::{RangeFingerprint, fingerprint_of};
use argus_state::sched::SchedConfig;
use argus_state::{AfterWrite, Config, Identity, Job, KnownModel, State};
use libp2p_identity::Keypair;

/// The simulated worker's queue bound (the node's default `worker.queue_capacity` is 64).
pub const WORKER_QUEUE: usize = 64;
/// Model every simulated node serves.
pub const MODEL: &str = "shapes";
pub const CLASSES: usize = 5;

pub fn model() -> ModelRef {
    ModelRef::new(MODEL, WeightsId([1; 32]))
}

/// How long a renewing holder may deliver nothing here (see `check::MAX_WAIT_BLACK_HOLE_MS`).
pub const STALL_MS: u64 = 8_000;

pub fn config() -> Config {
    Config {
        sched: SchedConfig {
            bid_window_ms: 120,
            claim_grace_ms: 300,
            result_slack_ms: 1_000,
            claim_confirm_ms: 60,
            complete_confirm_ms: 10,
            max_open: 1_024,
            max_done: 8_192,
            bidders: 3,
        },
        // The simulated inference takes at most 65 ms: a holder that renews and delivers
        // nothing for 8 s while heartbeating is a black hole (the nodes' default allows 15 s).
        reputation: argus_state::reputation::ReputationConfig { stall_ms: STALL_MS, ..Default::default() },
        ..Config::default()
    }
}

/// The store: committed registers and the writes of the batch not yet committed.
#[derive(Default)]
pub struct Store {
    pub committed: BTreeMap<ImageId, Register>,
    pub pending: Vec<(ImageId, Register, Option<AfterWrite>)>,
    pub clock: u64,
    pub audit_record: argus_state::AuditRecord,
}

impl Store {
    /// Commits the pending batch; returns the write answers (image, changed, what follows).
    pub fn commit(&mut self) -> Vec<(ImageId, bool, Option<AfterWrite>)> {
        let mut done = Vec::new();
        for (image, reg, then) in std::mem::take(&mut self.pending) {
            let changed = match self.committed.get_mut(&image) {
                Some(cur) => cur.merge(&reg).unwrap_or(false),
                None => {
                    self.committed.insert(image, reg);
                    true
                }
            };
            done.push((image, changed, then));
        }
        done
    }

    /// Fingerprints of `parts` parts of `[start_ms, end_ms)`.
    pub fn fingerprints(&self, start_ms: u64, end_ms: u64, parts: u16) -> Vec<RangeFingerprint> {
        argus_protocol::sync::split_range(start_ms, end_ms, parts)
            .into_iter()
            .map(|(s, e)| {
                let hashes: Vec<(ImageId, [u8; 32])> = self
                    .committed
                    .iter()
                    .filter(|(_, r)| (s..e).contains(&r.captured_at_ms()))
                    .map(|(id, r)| (*id, r.state_hash()))
                    .collect();
                RangeFingerprint {
                    start_ms: s,
                    end_ms: e,
                    count: hashes.len() as u64,
                    fingerprint: fingerprint_of(hashes.iter().map(|(i, h)| (i, h))),
                }
            })
            .collect()
    }

    pub fn range(&self, start_ms: u64, end_ms: u64) -> Vec<Register> {
        self.committed
            .values()
            .filter(|r| (start_ms..end_ms).contains(&r.captured_at_ms()))
            .cloned()
            .collect()
    }
}

pub struct SimNode {
    pub key: Keypair,
    pub state: Option<State>,
    /// Bumped by every crash: events addressed to an older incarnation are dropped.
    pub incarnation: u32,
    pub started_ms: u64,
    pub store: Store,
    pub queue: VecDeque<Job>,
    pub worker_busy: bool,
    pub commit_scheduled: bool,
    pub paused_until: u64,
    /// Until then the node is still handling earlier events (see `Plan::handle_ms`).
    pub busy_until: u64,
    /// When a wake for the state's next claim deadline is scheduled (sim time).
    pub wake_at: Option<u64>,
    pub speed_ms: u64,
    pub skew_ms: i64,
    pub noisy: bool,
    pub anomalous: bool,
    /// FAULT INJECTION: a black hole (see `Plan::black_hole`).
    pub black_hole: bool,
    /// Work inferences per image (duplicates count).
    pub work_runs: BTreeMap<ImageId, u32>,
    /// The plan's `bidders` (candidates per image).
    pub bidders: usize,
}

impl SimNode {
    pub fn new(index: usize, seed: u64, speed_ms: u64, skew_ms: i64, noisy: bool, anomalous: bool) -> Self {
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&seed.to_le_bytes());
        secret[8..16].copy_from_slice(&(index as u64).to_le_bytes());
        secret[16] = 1;
        let key = Keypair::ed25519_from_bytes(secret).expect("32 bytes make an ed25519 key");
        Self {
            key,
            state: None,
            incarnation: 0,
            started_ms: 0,
            store: Store::default(),
            queue: VecDeque::new(),
            worker_busy: false,
            commit_scheduled: false,
            paused_until: 0,
            busy_until: 0,
            wake_at: None,
            speed_ms,
            skew_ms,
            noisy,
            anomalous,
            black_hole: false,
            work_runs: BTreeMap::new(),
            bidders: 0,
        }
    }

    /// Starts (or restarts) the node's state from its durable store.
    pub fn start(&mut self, index: usize, now_ms: u64, seed: u64) {
        let id = Identity {
            key: self.key.clone(),
            name: format!("sim-{index}"),
            backend: if self.noisy { "wgpu".into() } else { "ndarray".into() },
            http_addr: None,
        };
        let known = vec![
            KnownModel { name: MODEL.into(), classes: CLASSES },
            KnownModel { name: "coco".into(), classes: 80 },
        ];
        let state_seed = seed ^ (index as u64) << 32 ^ u64::from(self.incarnation);
        let durable = argus_state::Durable {
            clock_ms: self.store.clock,
            audit_record: self.store.audit_record.clone(),
        };
        let mut cfg = config();
        cfg.sched.bidders = self.bidders;
        let mut state = State::new(id, cfg, known, vec![model()], durable, state_seed);
        if self.black_hole {
            state.set_hostile(argus_state::fault::Hostile::BlackHole);
        }
        self.state = Some(state);
        self.started_ms = now_ms;
    }

    pub fn crash(&mut self) {
        self.state = None;
        self.incarnation += 1;
        self.wake_at = None;
        self.queue.clear();
        self.worker_busy = false;
        self.commit_scheduled = false;
        self.store.pending.clear();
    }

    pub fn alive(&self) -> bool {
        self.state.is_some()
    }

    /// The detections this node's detector finds in `image`: the truth, shifted by float
    /// rounding on a noisy node. 1 image in 64 is undecodable everywhere.
    pub fn detect(&self, image: &ImageId) -> Result<Vec<Detection>, String> {
        let b = image.as_bytes();
        if b[31].is_multiple_of(64) {
            return Err("undecodable image".into());
        }
        let noise = if self.noisy { 0.01 } else { 0.0 };
        Ok((0..1 + usize::from(b[0] % 3))
            .map(|i| {
                let x = f32::from(b[1 + i]) + noise;
                let y = f32::from(b[4 + i]) + noise;
                Detection {
                    class: u16::from(b[8 + i]) % CLASSES as u16,
                    score: 0.5 + f32::from(b[12 + i]) / 512.0,
                    bbox: BBox {
                        x_min: x,
                        y_min: y,
                        x_max: x + 20.0 + f32::from(b[16 + i] % 40),
                        y_max: y + 30.0,
                    },
                }
            })
            .collect())
    }
}
