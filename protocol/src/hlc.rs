//! Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014). Pure: callers pass
//! physical time in milliseconds since the Unix epoch; this file never reads a clock.
//!
//! A timestamp packs 48 bits of wall-clock milliseconds (enough until the year 10889) above a
//! 16-bit logical counter into one `u64`, so timestamps order as integers and travel as one
//! CBOR unsigned integer. When the counter would overflow, the wall part borrows one
//! millisecond from the future, which keeps the clock strictly monotonic.

use serde::{Deserialize, Serialize};

/// Bits of the logical counter.
const COUNTER_BITS: u32 = 16;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;
/// Largest representable wall-clock millisecond.
pub const MAX_WALL_MS: u64 = (1 << (64 - COUNTER_BITS)) - 1;
/// Default tolerated lead of a remote clock over ours: a peer whose clock runs more than a
/// minute ahead is refused rather than allowed to drag every timestamp into the future.
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// A hybrid-logical-clock timestamp: `wall_ms << 16 | counter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HlcTimestamp(pub u64);

impl HlcTimestamp {
    /// The smallest timestamp.
    pub const ZERO: HlcTimestamp = HlcTimestamp(0);
    /// The largest timestamp; the clock saturates here.
    pub const MAX: HlcTimestamp = HlcTimestamp(u64::MAX);

    /// Builds a timestamp; `wall_ms` saturates at `MAX_WALL_MS`.
    pub fn new(wall_ms: u64, counter: u16) -> Self {
        HlcTimestamp((wall_ms.min(MAX_WALL_MS) << COUNTER_BITS) | u64::from(counter))
    }

    /// Wall-clock part, milliseconds since the Unix epoch.
    pub fn wall_ms(self) -> u64 {
        self.0 >> COUNTER_BITS
    }

    /// Logical counter part.
    pub fn counter(self) -> u16 {
        (self.0 & COUNTER_MASK) as u16
    }

    /// The fixed 8-byte big-endian encoding used in signed payloads and canonical hashes.
    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The next timestamp after `self` (saturating at `MAX`).
    fn successor(self) -> Self {
        HlcTimestamp(self.0.saturating_add(1))
    }
}

/// Why a remote timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlcError {
    #[error(
        "remote timestamp {remote_wall_ms} ms is more than {max_drift_ms} ms ahead of local \
         physical time {physical_ms} ms"
    )]
    TooFarInFuture { remote_wall_ms: u64, physical_ms: u64, max_drift_ms: u64 },
}

/// The clock: the last timestamp issued or observed, and the drift bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hlc {
    last: HlcTimestamp,
    max_drift_ms: u64,
}

impl Hlc {
    /// A fresh clock that refuses remote timestamps more than `max_drift_ms` ahead.
    pub fn new(max_drift_ms: u64) -> Self {
        Self { last: HlcTimestamp::ZERO, max_drift_ms }
    }

    /// A clock resumed from a persisted timestamp, so a restarted node never issues a
    /// timestamp below one it issued before, even if its wall clock went backwards.
    pub fn resume(last: HlcTimestamp, max_drift_ms: u64) -> Self {
        Self { last, max_drift_ms }
    }

    /// The last timestamp issued or observed (persist this).
    pub fn last(&self) -> HlcTimestamp {
        self.last
    }

    /// The drift bound in milliseconds.
    pub fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// A timestamp for a local event at `physical_ms`: strictly greater than every earlier
    /// one (until saturation at `HlcTimestamp::MAX`), and never behind `physical_ms`.
    pub fn now(&mut self, physical_ms: u64) -> HlcTimestamp {
        let physical = HlcTimestamp::new(physical_ms, 0);
        self.last = physical.max(self.last.successor());
        self.last
    }

    /// Merges a timestamp received from a peer at local time `physical_ms` and returns a
    /// timestamp greater than both it and every earlier local one. A remote wall clock more
    /// than `max_drift_ms` ahead of `physical_ms` is refused and leaves the clock untouched.
    pub fn update(&mut self, remote: HlcTimestamp, physical_ms: u64) -> Result<HlcTimestamp, HlcError> {
        self.check(remote, physical_ms)?;
        let physical = HlcTimestamp::new(physical_ms, 0);
        self.last = physical.max(self.last.successor()).max(remote.successor());
        Ok(self.last)
    }

    /// Checks a remote timestamp against the drift bound without changing the clock.
    pub fn check(&self, remote: HlcTimestamp, physical_ms: u64) -> Result<(), HlcError> {
        let bound_ms = physical_ms.saturating_add(self.max_drift_ms);
        if remote.wall_ms() > bound_ms {
            return Err(HlcError::TooFarInFuture {
                remote_wall_ms: remote.wall_ms(),
                physical_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        Ok(())
    }
}
