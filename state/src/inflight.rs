//! What a node has in flight on the network for image bytes: the fetches sent and not
//! answered, those waiting for a slot, and the prefetches among them (see `fetch` and
//! `prefetch`, which act on them).

use std::collections::{HashSet, VecDeque};

use argus_protocol::ids::ImageId;
use libp2p_identity::PeerId;

/// Most fetches in flight at once; the rest wait their turn in line (`Fetches::waiting`). A
/// connection carries a bounded number of streams (yamux), and a flood of won images fetched
/// all at once failed beyond it ("max sub-streams reached"): each failure made the winner give
/// its image up, to be taken over only at its deadline.
pub const MAX_FETCHING: usize = 32;

/// Most speculative fetches in flight at once.
pub const MAX_PREFETCHING: usize = 8;

/// Fetches in flight and in line (see `fetch`), and the prefetches among them.
#[derive(Debug, Default)]
pub(crate) struct Fetches {
    /// Fetches sent and not answered yet (every `Out::Fetch` is answered by one `In::Fetched`).
    pub(crate) in_flight: usize,
    /// Fetches of work and audits waiting for a slot (see `MAX_FETCHING`).
    pub(crate) waiting: VecDeque<(ImageId, PeerId)>,
    /// Images whose prefetch is in flight.
    pub(crate) flying: HashSet<ImageId>,
    /// Images waiting for a prefetch slot, with their source (bounded by the auction's
    /// `max_open`; the oldest is dropped beyond it).
    pub(crate) queue: VecDeque<(ImageId, PeerId)>,
}
