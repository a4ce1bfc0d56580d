//! Anti-entropy arithmetic: range fingerprints over the capture-time index, how a range is
//! split into parts, and how a sync response is packed under its byte budget. Pure: the node
//! feeds it `(image_id, state_hash)` pairs from its store; nothing here reads a store.
//!
//! A range's fingerprint is the XOR of `BLAKE3(image_id || state_hash)` over the registers
//! whose `captured_at_ms` lies in the half-open range `[start_ms, end_ms)`. XOR makes it
//! independent of order and updatable in place: when a register changes from state `a` to
//! state `b`, XOR in `entry(id, a)` and `entry(id, b)`. Equal fingerprints mean (up to
//! BLAKE3 collisions) equal registers; unequal ones are split further or fetched.

use serde::{Deserialize, Serialize};

use crate::ids::ImageId;
use crate::limits::MAX_RANGES;

/// A 32-byte range fingerprint.
pub type Fingerprint = [u8; 32];

/// The fingerprint of the registers captured in `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeFingerprint {
    pub start_ms: u64,
    pub end_ms: u64,
    /// Number of registers in the range.
    pub count: u64,
    #[serde(with = "serde_bytes")]
    pub fingerprint: Fingerprint,
}

/// `BLAKE3(image_id || state_hash)`: one register's contribution to its range.
pub fn fingerprint_entry(image_id: &ImageId, state_hash: &[u8; 32]) -> Fingerprint {
    let mut h = blake3::Hasher::new();
    h.update(image_id.as_bytes());
    h.update(state_hash);
    *h.finalize().as_bytes()
}

/// XORs `entry` into `acc` (adds it, or removes it if already present).
pub fn xor_into(acc: &mut Fingerprint, entry: &Fingerprint) {
    for (a, e) in acc.iter_mut().zip(entry) {
        *a ^= e;
    }
}

/// The fingerprint of a set of `(image_id, state_hash)` pairs, in any order. Empty: all zero.
pub fn fingerprint_of<'a>(entries: impl IntoIterator<Item = (&'a ImageId, &'a [u8; 32])>) -> Fingerprint {
    let mut acc = [0u8; 32];
    for (id, state) in entries {
        xor_into(&mut acc, &fingerprint_entry(id, state));
    }
    acc
}

/// Splits `[start_ms, end_ms)` into exactly `parts` (at least 1) contiguous half-open parts:
/// boundary `i` is `start_ms + floor((end_ms - start_ms) * i / parts)`, computed without
/// overflow. Parts are empty when the range is narrower than `parts`.
pub fn split_range(start_ms: u64, end_ms: u64, parts: u16) -> Vec<(u64, u64)> {
    let parts = u128::from(parts.max(1));
    let width = u128::from(end_ms.saturating_sub(start_ms));
    let bound = |i: u128| start_ms + (width * i / parts) as u64;
    (0..parts).map(|i| (bound(i), bound(i + 1))).collect()
}

/// Checks a list of range fingerprints: at most `MAX_RANGES`, each `start_ms <= end_ms`,
/// ascending and non-overlapping.
pub fn validate_ranges(ranges: &[RangeFingerprint]) -> Result<(), String> {
    if ranges.len() > MAX_RANGES {
        return Err(format!("{} ranges, at most {MAX_RANGES}", ranges.len()));
    }
    if ranges.iter().any(|r| r.start_ms > r.end_ms) {
        return Err("a range ends before it starts".into());
    }
    if ranges.windows(2).any(|w| w[1].start_ms < w[0].end_ms) {
        return Err("ranges overlap or are not ascending".into());
    }
    Ok(())
}
