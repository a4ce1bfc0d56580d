//! What goes into the state machine and what comes out. Every effect the protocol needs from
//! the world is an [`Out`]; every answer, message and timer is an [`In`].

use std::sync::Arc;

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::Detection;
use argus_protocol::ids::{ImageId, ResultDigest};
use argus_protocol::messages::{GossipMessage, ReplicaDigest};
use argus_protocol::meta::ImageMeta;
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use libp2p_identity::PeerId;

use crate::counters::Hist;

/// Most results an `In::SingleVotes` answer carries.
pub const MAX_SINGLE_VOTES: usize = 4_096;

/// A stored result whose winner only one worker attested.
#[derive(Debug, Clone)]
pub struct SingleVote {
    pub image: ImageId,
    pub digest: ResultDigest,
    pub model: ModelRef,
    /// The worker's attestation time.
    pub ts: argus_protocol::hlc::HlcTimestamp,
}

/// What this node knows about anomalous workers, persisted so that a restart forgets nothing:
/// per worker, the FAIL verdicts counted and the wall-time cutoff of its condemned results
/// (0: none).
pub type AuditRecord = Vec<(PeerId, u32, u64)>;

/// Image bytes, shared between the buffer, jobs and answers.
pub type Bytes = Arc<Vec<u8>>;

/// The time an event is handled at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Milliseconds since this node started (monotonic): deadlines, liveness, uptime.
    pub ms: u64,
    /// Wall-clock milliseconds since the Unix epoch: the hybrid logical clock, latencies.
    pub wall_ms: u64,
}

/// Why an image is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// We won (or took over) the auction.
    Work { takeover: bool },
    /// We audit `worker`'s result `digest`.
    Audit { worker: PeerId, digest: ResultDigest },
}

/// One image for the inference worker.
#[derive(Debug, Clone)]
pub struct Job {
    pub image: ImageId,
    /// A model this node serves.
    pub model: ModelRef,
    pub captured_at_ms: u64,
    pub bytes: Bytes,
    pub purpose: Purpose,
}

/// Our own result for an image we won, before it is signed and stored.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub model: ModelRef,
    pub captured_at_ms: u64,
    pub detections: Vec<Detection>,
    pub inference_ms: u32,
    /// The image's source name and thumbnail, kept with the register.
    pub meta: ImageMeta,
}

/// What a store read is for; it comes back with the register read.
#[derive(Debug, Clone)]
pub enum ReadFor {
    /// Our fresh result: vote for an agreeing stored candidate, then sign, store, publish.
    Adopt(Fresh),
    /// Our audit's recomputation: compare it with the worker's stored candidate.
    Audit { worker: PeerId, digest: ResultDigest, model: ModelRef, detections: Vec<Detection> },
    /// A PASS verdict: add the auditor's attestation to the worker's candidate.
    Pass { worker_digest: ResultDigest, attestation: Attestation },
    /// Someone takes over an image whose result is stored here: publish our result again.
    Republish,
}

/// What follows a durable write.
#[derive(Debug, Clone, Default)]
pub struct AfterWrite {
    /// Published, in order, once the write is committed (never before: nothing is announced
    /// that a crash could lose).
    pub publish: Vec<GossipMessage>,
    pub captured_at_ms: u64,
    pub inference_ms: u32,
}

#[derive(Debug, Clone)]
pub enum In {
    /// A gossip message whose envelope, size, version and signer were already checked;
    /// `author` signed it.
    Gossip {
        author: PeerId,
        msg: GossipMessage,
    },
    PeerUp(PeerId),
    PeerDown(PeerId),
    /// The network layer refused something a peer sent (see `reputation::Offence`).
    Offence {
        peer: PeerId,
        offence: crate::reputation::Offence,
    },
    /// The scheduler's tick: bid windows and deadlines.
    Tick,
    /// The time `State::next_wake_ms` named has come: run the claims whose confirm period
    /// ended (cheaper and sooner than waiting for the next tick).
    Wake,
    /// The heartbeat period: heartbeat, liveness, housekeeping, the audit ratio.
    Heartbeat,
    /// The answer to `Out::Fetch` (`None`: failed, or the bytes did not hash to the id).
    Fetched {
        image: ImageId,
        bytes: Option<Bytes>,
    },
    /// The answer to `Out::Infer`.
    Inferred {
        job: Job,
        outcome: Result<Vec<Detection>, String>,
        inference_ms: u32,
        /// A small JPEG of the image for the result's register (`ImageMeta`), if made.
        thumbnail: Option<argus_protocol::meta::Thumbnail>,
    },
    /// `Out::Infer` could not be queued (the queue is full or the worker is gone).
    InferRefused {
        job: Job,
    },
    /// The answer to `Out::Read` (`None` also when the read failed).
    Read {
        image: ImageId,
        register: Option<Register>,
        then: ReadFor,
    },
    /// The answer to `Out::Write`: `Some(changed)` once durable, `None` when it failed.
    Written {
        image: ImageId,
        changed: Option<bool>,
        then: AfterWrite,
    },
    /// The answer to `Out::FindSingleVotes`: stored results whose winner only `worker`
    /// attested (image, digest, model), at most `MAX_SINGLE_VOTES`.
    SingleVotes {
        worker: PeerId,
        results: Vec<SingleVote>,
    },
    /// Anti-entropy or a read repair changed this stored register.
    Merged {
        register: Register,
    },
    /// A peer asks for an image's bytes (request `id`).
    FetchAsked {
        id: u64,
        image: ImageId,
    },
    /// The fault injection rate changed (parts per million).
    SetFault(u32),
}

#[derive(Debug, Clone)]
pub enum Out {
    Publish(GossipMessage),
    /// Fetch an image's bytes from a peer; answer with `In::Fetched`.
    Fetch {
        image: ImageId,
        from: PeerId,
    },
    /// Queue a job on the inference worker; answer with `In::Inferred` or `In::InferRefused`.
    Infer(Job),
    /// Read the stored register; answer with `In::Read`.
    Read {
        image: ImageId,
        then: ReadFor,
    },
    /// Merge a register into the store durably; answer with `In::Written`.
    Write {
        register: Register,
        then: AfterWrite,
    },
    /// Find the stored results whose winner only `worker` attested; answer with
    /// `In::SingleVotes`.
    FindSingleVotes {
        worker: PeerId,
    },
    /// Answer a peer's fetch request.
    Answer {
        id: u64,
        bytes: Option<Bytes>,
    },
    /// Close the connections to a peer that went silent behind a live connection.
    Disconnect(PeerId),
    /// The peer is banned (see `reputation`): close its connections and refuse new ones.
    Ban(PeerId),
    /// Its ban ended: accept its connections again.
    Unban(PeerId),
    /// A peer's replica digest: reconcile with it (see `reconcile`).
    Reconcile {
        peer: PeerId,
        digest: ReplicaDigest,
    },
    /// Persist what this node knows about anomalous workers (replaces the previous record).
    SaveAuditRecord(AuditRecord),
    /// Persist the clock's high-water mark.
    SaveClock(u64),
    /// A latency observation, ms.
    Observe(Hist, u64),
}
