//! The argus node's protocol as one IO-less state machine.
//!
//! [`State::handle`] takes an [`In`] event and the time ([`Now`]) and returns the [`Out`]
//! events the caller must carry out: publish gossip, fetch an image, run inference, read or
//! write the store, answer a peer. Answers to those come back as further `In` events. Nothing
//! here awaits, reads a clock, draws OS randomness or touches a socket or a file: the crate
//! depends on no async runtime, no network stack and no database, so it cannot. The node's
//! actor moves events between the state and the world; the simulator (`argus-sim`) runs many
//! states in one process over a simulated network and store, from one seed.
//!
//! - `state`: the `State`, its event dispatch, liveness and heartbeats.
//! - `work`: announcements, the auction's actions, our own and peers' results.
//! - `audit`: audit requests and verdicts, choosing auditors.
//! - `suspicion`: which workers are anomalous, forgiveness, the persisted audit record.
//! - `ledger`: the bookkeeping data of audits and suspicion, with its bounds.
//! - `sched`: the auctions (bids, claims, takeovers, their bounds); `auction`: the rule of one
//!   image's auction.
//! - `load`: the wait estimate a bid carries.
//! - `ratio`: the adaptive audit ratio.
//! - `images`: the bounded image buffer.
//! - `reconcile`: anti-entropy planning (which ranges to split and pull).
//! - `majority`: the majority tally and read repair of a read across nodes.
//! - `reputation`: offences per peer and bans (black holes, liars, flooders); `bans`: what a
//!   ban changes here.
//! - `fault`: the anomalous-worker and hostile-member faults (tests and scenarios only).

// With clippy, `clippy.toml` beside this crate forbids clocks, sleeps, threads, files and
// sockets from std; this makes every such use an error.
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

mod auction;
pub mod audit;
mod backlog;
mod bans;
mod candidates;
pub mod counters;
mod dispatch;
pub mod events;
pub mod fault;
mod fetch;
pub mod images;
mod inflight;
pub mod lateness;
pub mod ledger;
pub mod load;
pub mod majority;
mod peers;
mod prefetch;
pub mod ratio;
pub mod reconcile;
pub mod reputation;
mod results;
pub mod rng;
pub mod sched;
pub mod seen;
mod state;
pub mod steal;
pub mod suspicion;
mod work;

pub use counters::{Counters, Hist};
pub use events::{AfterWrite, In, Job, Now, Out, Purpose, ReadFor, SingleVote};
pub use ledger::AuditRecord;
pub use results::result_register;
pub use state::{Config, DEFAULT_INLINE_MAX_BYTES, Durable, Identity, KnownModel, State};
pub use work::Upload;
