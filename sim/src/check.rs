//! The invariants every simulated run must keep, checked at its end (after a quiet period
//! following the last heal), and the bounds checked after every event:
//! - no image the sender announced is lost: every running node stores a register for it,
//!   unless no node could ever detect it (an undecodable image is stored nowhere);
//! - no image waits longer than `MAX_WAIT_MS` for its first store while some node could work
//!   for the sender (`MAX_WAIT_BLACK_HOLE_MS` when a black hole claimed it);
//! - the replicas are identical after the last heal;
//! - work done twice stays within the bound `MAX_EXTRA_WORK`;
//! - once an audit has failed an anomalous worker, no value vouched for only by it is a stored
//!   winner (a worker whose results were never audited cannot be told from an honest one);
//! - no member bans another member (a black hole may be banned, and is not checked for loss);
//! - no panic, and every queue stays within its bound.

use std::collections::{BTreeMap, VecDeque};

use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::messages::DetectionResult;
use argus_state::{Job, State};

use crate::node::SimNode;
use crate::plan::Plan;

/// Duplicate work. Both sides of a partition work on the images they both hear of, a crashed
/// or paused holder is taken over, and a lost bid can make two nodes claim: those duplicates
/// are the price of never losing an image. The bounds:
/// - no image is run more than `MAX_RUNS_PER_NODE` times per node in the cluster, plus once
///   per crash (a restarted node has forgotten what it finished and what it was running);
/// - among quiet images (no fault from 1 s before the announcement to 10 s after it), the
///   extra runs are at most `QUIET_EXTRA_SHARE` of them, plus `QUIET_EXTRA_SLACK` (message loss
///   and duplication alone cause a few).
pub const MAX_RUNS_PER_NODE: u32 = 2;
pub const QUIET_EXTRA_SHARE: f64 = 0.1;
pub const QUIET_EXTRA_SLACK: u64 = 2;

/// No image waits longer than this for its first store, not counting the time no node could
/// work for the sender (every node crashed, paused or cut off from it), ms. A holder that dies
/// is taken over within seconds; the longest wait in 10,000 seeds is 10.2 s (message loss,
/// partitions and a crash of every node together), and a network that waits for a dead holder
/// instead exceeds the bound whenever a busy node stays down (`Fault::BusyCrash`, >= 15 s).
pub const MAX_WAIT_MS: u64 = 13_000;

/// An image a black hole claimed may wait longer: the black hole holds it until the members
/// ban it, `STALL_MS` of heartbeats after it took the image, and a pause or crash of the black
/// hole starts that count once more (its holds are taken over meanwhile, and it takes them
/// back with its 0 ms bid when it returns).
pub const MAX_WAIT_BLACK_HOLE_MS: u64 = MAX_WAIT_MS + 2 * crate::node::STALL_MS;

/// What the run observed along the way.
#[derive(Debug, Default)]
pub struct Observed {
    pub announcements: u64,
    pub faults: u64,
    pub sync_pulled: u64,
    /// (image, worker) of every result published.
    pub results: Vec<(ImageId, NodeId)>,
    /// Workers some auditor published a FAIL verdict against.
    pub failed_audit: std::collections::BTreeSet<NodeId>,
    /// The first bound broken, if any.
    pub bound_broken: Option<String>,
    /// A hash of every effect in order (time, node, kind, image): equal for equal runs.
    pub trace: u64,
    /// Per image: when the sender first announced it, and `World::blocked_ms` then.
    pub announced_at: BTreeMap<ImageId, (u64, u64)>,
    /// Per image: how long it waited from its announcement until some node first stored it,
    /// not counting the time no node could work for the sender, ms.
    pub waited_ms: BTreeMap<ImageId, u64>,
    /// Images the black hole claimed (see `MAX_WAIT_BLACK_HOLE_MS`).
    pub black_hole_held: std::collections::BTreeSet<ImageId>,
}

impl Observed {
    pub fn trace_hash(&mut self, now: u64, node: usize, out: &argus_state::Out) {
        use argus_state::Out;
        let (kind, image) = match out {
            Out::Publish(m) => (1u64, gossip_image(m)),
            Out::Fetch { image, .. } => (2, Some(*image)),
            Out::Infer(j) => (3, Some(j.image)),
            Out::Read { image, .. } => (4, Some(*image)),
            Out::Write { register, .. } => (5, Some(*register.image_id())),
            Out::Answer { .. } => (6, None),
            Out::Disconnect(_) => (7, None),
            Out::Reconcile { .. } => (8, None),
            Out::FindSingleVotes { .. } => (9, None),
            Out::SaveAuditRecord(_) => (10, None),
            Out::SaveClock(_) => (11, None),
            Out::Observe(..) => (12, None),
            Out::Ban(_) => (13, None),
            Out::Unban(_) => (14, None),
        };
        let mut h = self.trace ^ now.wrapping_mul(0x100_0000_01b3) ^ ((node as u64) << 56) ^ kind;
        if let Some(id) = image {
            h ^= u64::from_le_bytes(id.as_bytes()[..8].try_into().unwrap_or([0; 8]));
        }
        self.trace = h.rotate_left(13).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    /// A node committed a register for `image` at `now`.
    pub fn stored(&mut self, image: ImageId, now: u64, blocked_ms: u64) {
        if let Some(&(at, blocked_then)) = self.announced_at.get(&image) {
            let waited = (now - at).saturating_sub(blocked_ms - blocked_then);
            self.waited_ms.entry(image).or_insert(waited);
        }
    }

    pub fn published(&mut self, r: &DetectionResult) {
        self.results.push((r.image_id, r.worker));
    }

    /// Checks a state's queues after an event.
    pub fn bounds(&mut self, s: &State, worker: &VecDeque<Job>, worker_cap: usize) {
        if self.bound_broken.is_some() {
            return;
        }
        let cfg = crate::node::config();
        if s.open_images() > cfg.sched.max_open {
            self.bound_broken = Some(format!("{} open auctions > {}", s.open_images(), cfg.sched.max_open));
        } else if s.buffered_images() > cfg.sched.max_open {
            self.bound_broken =
                Some(format!("{} buffered images > {}", s.buffered_images(), cfg.sched.max_open));
        } else if worker.len() > worker_cap {
            self.bound_broken = Some(format!("worker queue {} > {}", worker.len(), worker_cap));
        }
    }
}

/// A run's outcome.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub shape: String,
    pub kinds: Vec<&'static str>,
    pub failures: Vec<String>,
    pub images: usize,
    pub work_runs: u64,
    pub faults: u64,
    pub sync_pulled: u64,
    /// See `Observed::trace`.
    pub trace: u64,
    /// The longest wait of an image for its first store (`Observed::waited_ms`), ms.
    pub max_wait_ms: u64,
}

/// The image a gossip message is about, if any.
fn gossip_image(m: &argus_protocol::messages::GossipMessage) -> Option<ImageId> {
    use argus_protocol::messages::GossipMessage as G;
    match m {
        G::Announce(a) => Some(a.image_id),
        G::Bid(b) => Some(b.image_id),
        G::Claim(c) => Some(c.image_id),
        G::Result(r) => Some(r.image_id),
        G::AuditRequest(r) => Some(r.image_id),
        G::AuditVerdict(v) => Some(v.image_id),
        G::Handoff(h) => h.images.first().copied(),
        G::Digest(_) | G::Heartbeat(_) | G::Steal(_) => None,
    }
}

impl Report {
    pub fn panicked(seed: u64, msg: String) -> Self {
        Report {
            seed,
            shape: Plan::from_seed(seed).describe(),
            kinds: Plan::from_seed(seed).kinds(),
            failures: vec![format!("panic: {msg}")],
            images: 0,
            work_runs: 0,
            faults: 0,
            sync_pulled: 0,
            trace: 0,
            max_wait_ms: 0,
        }
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn check(plan: &Plan, nodes: &[SimNode], obs: &Observed, images: Vec<ImageId>) -> Report {
    let mut failures = Vec::new();
    if let Some(b) = &obs.bound_broken {
        failures.push(format!("bound broken: {b}"));
    }
    let running: Vec<&SimNode> = nodes.iter().filter(|n| n.alive()).collect();
    if running.len() != nodes.len() {
        failures.push(format!(
            "{} of {} nodes are not running at the end",
            nodes.len() - running.len(),
            nodes.len()
        ));
    }
    // A black hole is banned and stores what it stores; the members are checked.
    let running: Vec<&SimNode> = running.into_iter().filter(|n| !n.black_hole).collect();
    for n in &running {
        let Some(s) = &n.state else { continue };
        for (peer, ban) in s.bans() {
            if nodes.iter().any(|m| !m.black_hole && m.key.public().to_peer_id() == *peer) {
                failures.push(format!("a member banned another member ({})", ban.offence.name()));
            }
        }
    }
    // No loss, and identical replicas.
    let detectable: Vec<&ImageId> = images.iter().filter(|id| nodes[0].detect(id).is_ok()).collect();
    for id in &detectable {
        let holders = running.iter().filter(|n| n.store.committed.contains_key(id)).count();
        if holders == 0 {
            failures.push(format!("image {id} lost: no node stores it"));
        } else if holders < running.len() {
            failures.push(format!("image {id} stored on {holders} of {} nodes", running.len()));
        }
    }
    if let Some(first) = running.first() {
        for n in &running[1..] {
            let differ = first
                .store
                .committed
                .iter()
                .filter(|(id, r)| n.store.committed.get(id).is_some_and(|o| o.state_hash() != r.state_hash()))
                .count();
            if differ > 0 {
                failures.push(format!("replicas differ on {differ} registers after the last heal"));
                break;
            }
        }
    }
    let bound = |id: &ImageId| {
        if obs.black_hole_held.contains(id) { MAX_WAIT_BLACK_HOLE_MS } else { MAX_WAIT_MS }
    };
    if let Some((id, waited)) =
        obs.waited_ms.iter().filter(|(id, w)| **w > bound(id)).max_by_key(|(_, w)| **w)
    {
        failures.push(format!(
            "image {} waited {waited} ms for its first store while a node could work (bound {})",
            &id.to_string()[..8],
            bound(id)
        ));
    }
    // Duplicate work.
    let mut runs: BTreeMap<ImageId, u32> = BTreeMap::new();
    for n in nodes {
        for (id, c) in &n.work_runs {
            *runs.entry(*id).or_default() += c;
        }
    }
    let work_runs: u64 = runs.values().map(|&c| u64::from(c)).sum();
    let crashes = plan
        .faults
        .iter()
        .filter(|f| matches!(f, crate::plan::Fault::Crash { .. } | crate::plan::Fault::BusyCrash { .. }))
        .count() as u32;
    let hard = MAX_RUNS_PER_NODE * plan.nodes as u32 + crashes;
    if let Some((id, n)) = runs.iter().find(|(_, n)| **n > hard) {
        failures.push(format!(
            "image {id} run {n} times on {} nodes with {crashes} crashes (bound {hard})",
            plan.nodes
        ));
    }
    // An undecodable image fails on every node that wins it in turn (no node publishes a
    // failure), so it is run once per node: it is not counted among the quiet ones.
    let quiet: Vec<&ImageId> = images
        .iter()
        .enumerate()
        .filter(|(k, id)| plan.quiet(plan.images[*k]) && nodes[0].detect(id).is_ok())
        .map(|(_, id)| id)
        .collect();
    let quiet_extra: u64 =
        quiet.iter().map(|id| u64::from(runs.get(id).copied().unwrap_or(0).saturating_sub(1))).sum();
    let allowed = (quiet.len() as f64 * QUIET_EXTRA_SHARE) as u64 + QUIET_EXTRA_SLACK;
    if quiet_extra > allowed {
        failures
            .push(format!("{quiet_extra} extra runs among {} quiet images (bound {allowed})", quiet.len()));
    }
    // Anomalous values.
    if let Some(bad) = plan.anomalous {
        let bad_id = NodeId(nodes[bad].key.public().to_peer_id());
        if let Some(n) = running.first().filter(|_| obs.failed_audit.contains(&bad_id)) {
            let survivors: Vec<String> = n
                .store
                .committed
                .values()
                .filter(|r| r.winner().is_some_and(|(_, c)| c.attestations().all(|a| *a.node() == bad_id)))
                .map(|r| r.image_id().to_string()[..8].to_string())
                .collect();
            let survivors = survivors.join(" ");
            if !survivors.is_empty() {
                let suspected_by = running
                    .iter()
                    .filter(|m| m.state.as_ref().is_some_and(|s| s.is_suspect(&bad_id.0)))
                    .count();
                failures.push(format!(
                    "winners vouched for only by the anomalous worker: {survivors} (suspected by {suspected_by} of {} nodes at the end)",
                    running.len()
                ));
            }
        }
    }
    Report {
        seed: plan.seed,
        shape: plan.describe(),
        kinds: plan.kinds(),
        failures,
        images: images.len(),
        work_runs,
        faults: obs.faults,
        sync_pulled: obs.sync_pulled,
        trace: obs.trace,
        max_wait_ms: obs.waited_ms.values().copied().max().unwrap_or(0),
    }
}
