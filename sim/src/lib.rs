//! A deterministic cluster simulator for the argus protocol. It runs several `argus_state`
//! states in one process, over a simulated network (delay, loss, duplication, reordering,
//! partitions, partial and flapping ones) and a simulated store with LMDB's durability (a
//! write is durable once its batch commits; a crash loses the uncommitted writes and nothing
//! else). Crashes, restarts, pauses, clock skew and anomalous workers come from the same seed,
//! so any run is replayed exactly from its seed. After each run the invariants in `check` are
//! verified.
//!
//! - `plan`: the run's shape and faults, drawn from the seed.
//! - `world`: the event loop that moves `In` and `Out` events.
//! - `node`: one simulated node: its state, store and inference worker.
//! - `sender`: the image sender.
//! - `check`: the invariants.

pub mod check;
mod effects;
pub mod node;
pub mod plan;
mod sender;
pub mod world;

pub use check::Report;

/// Runs one seed to the end and checks it. A panic inside the protocol is caught and reported
/// as a failure of that seed.
pub fn run_seed(seed: u64) -> Report {
    run_seed_with(seed, None)
}

/// `run_seed`, with every image's candidate count set to `bidders` instead of the plan's
/// (`SchedConfig::bidders`; 0: every node bids).
pub fn run_seed_with(seed: u64, bidders: Option<usize>) -> Report {
    let mut plan = plan::Plan::from_seed(seed);
    plan.bidders = bidders.unwrap_or(plan.bidders);
    match std::panic::catch_unwind(|| world::World::new(plan).run()) {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Report::panicked(seed, msg)
        }
    }
}
