//! Anti-entropy planning. Each node gossips fingerprints of its replica over capture-time
//! ranges (`digest_ranges`); a node that sees a range differ from its own reconciles with that
//! peer: it splits differing ranges (`SPLIT` parts per round trip) until they are small, then
//! pulls their registers page by page and merges them. Both sides do this on each other's
//! digests, so replicas converge to the union, and the bytes moved grow with the difference,
//! not with the store. [`Plan`] decides the steps; the caller does the IO (the node over the
//! network and LMDB, the simulator over its own).

use argus_protocol::ids::ImageId;
use argus_protocol::sync::RangeFingerprint;

/// Width of one digest window of capture time.
pub const WINDOW_MS: u64 = 60_000;
/// Recent windows in a digest (30 minutes); older registers share one range.
pub const WINDOWS: u64 = 30;
/// Parts per split round trip.
pub const SPLIT: u16 = 16;
/// A differing range with at most this many registers on the peer is pulled whole: splitting
/// costs 16 fingerprints (~0.9 KB) per round trip, about two registers' worth.
pub const LEAF_COUNT: u64 = 2;
/// Most split round trips in one reconciliation (bounds the work a lying peer can cause).
pub const MAX_ROUNDS: usize = 256;

/// The canonical ranges of a digest taken at wall time `now_ms`: everything before the recent
/// windows, `WINDOWS` windows of `WINDOW_MS`, and everything after.
pub fn digest_ranges(now_ms: u64) -> Vec<(u64, u64)> {
    let end = (now_ms / WINDOW_MS + 1) * WINDOW_MS;
    let start = end.saturating_sub(WINDOWS * WINDOW_MS);
    let mut v = vec![(0, start)];
    v.extend((0..WINDOWS).map(|i| (start + i * WINDOW_MS, start + (i + 1) * WINDOW_MS)));
    v.push((end, u64::MAX));
    v
}

/// The peer's ranges whose fingerprint differs from ours and where the peer holds something.
pub fn differing(theirs: &[RangeFingerprint], mine: &[RangeFingerprint]) -> Vec<RangeFingerprint> {
    theirs
        .iter()
        .zip(mine)
        .filter(|(t, m)| {
            t.start_ms == m.start_ms && t.end_ms == m.end_ms && t.fingerprint != m.fingerprint && t.count > 0
        })
        .map(|(t, _)| t.clone())
        .collect()
}

/// The next thing a reconciliation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask the peer for `SPLIT` fingerprints of this range, and compute ours.
    Split { start_ms: u64, end_ms: u64 },
    /// Pull every register of this range from the peer (page by page, see `next_page`).
    Pull { start_ms: u64, end_ms: u64 },
}

/// One reconciliation with one peer.
#[derive(Debug)]
pub struct Plan {
    work: Vec<RangeFingerprint>,
    rounds: usize,
}

impl Plan {
    /// From the peer's digest and our fingerprints of the same ranges.
    pub fn new(theirs: &[RangeFingerprint], mine: &[RangeFingerprint]) -> Self {
        // Sabotage (a test build only): replicas never merge what they missed.
        if cfg!(feature = "sabotage-no-merge") {
            return Self { work: Vec::new(), rounds: 0 };
        }
        Self { work: differing(theirs, mine), rounds: 0 }
    }

    /// The next step, or `None` when done (or out of rounds).
    pub fn next_step(&mut self) -> Option<Step> {
        let r = self.work.pop()?;
        if r.count <= LEAF_COUNT || r.end_ms - r.start_ms <= u64::from(SPLIT) {
            return Some(Step::Pull { start_ms: r.start_ms, end_ms: r.end_ms });
        }
        self.rounds += 1;
        if self.rounds > MAX_ROUNDS {
            self.work.clear();
            return None;
        }
        Some(Step::Split { start_ms: r.start_ms, end_ms: r.end_ms })
    }

    /// The answer to a `Split`: the peer's parts and ours. Parts that do not line up end the
    /// reconciliation (a peer that answers other ranges than asked is ignored).
    pub fn split_answered(&mut self, theirs: &[RangeFingerprint], mine: &[RangeFingerprint]) {
        if theirs.len() != mine.len() {
            self.work.clear();
            return;
        }
        self.work.extend(differing(theirs, mine));
    }

    /// Split round trips used so far.
    pub fn rounds(&self) -> usize {
        self.rounds
    }
}

/// Where the next page of a pull starts: strictly after the last register of the page just
/// received (`last`: its capture time and image id), while the range has `more` and the cursor
/// is still inside it; `None` when the range is done. Every page moves the cursor forward in
/// (capture time, image id) order, so a pull ends, and no register is skipped however many
/// share one millisecond.
pub fn next_page(end_ms: u64, last: Option<(u64, ImageId)>, more: bool) -> Option<(u64, ImageId)> {
    let last = last.filter(|_| more)?;
    (last.0 < end_ms).then_some(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(start_ms: u64, end_ms: u64, count: u64, b: u8) -> RangeFingerprint {
        RangeFingerprint { start_ms, end_ms, count, fingerprint: [b; 32] }
    }

    #[test]
    fn digest_ranges_cover_everything_without_overlap() {
        let now = 1_764_000_123_456;
        let r = digest_ranges(now);
        assert_eq!(r.first().unwrap().0, 0);
        assert_eq!(r.last().unwrap().1, u64::MAX);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        assert!(r.len() <= argus_protocol::limits::MAX_RANGES);
        assert!(r.iter().any(|(s, e)| *s <= now && now < *e && e - s == WINDOW_MS));
    }

    #[test]
    fn plan_pulls_small_ranges_and_splits_large_ones() {
        let mut p = Plan::new(
            &[fp(0, 100, 2, 1), fp(100, 1000, 50, 1), fp(1000, 2000, 3, 0)],
            &[fp(0, 100, 0, 0), fp(100, 1000, 50, 2), fp(1000, 2000, 3, 0)],
        );
        assert_eq!(p.next_step(), Some(Step::Split { start_ms: 100, end_ms: 1000 }));
        p.split_answered(
            &[fp(100, 500, 1, 1), fp(500, 1000, 49, 1)],
            &[fp(100, 500, 1, 1), fp(500, 1000, 49, 3)],
        );
        assert_eq!(p.next_step(), Some(Step::Split { start_ms: 500, end_ms: 1000 }));
        p.split_answered(&[fp(500, 1000, 1, 1)], &[fp(500, 1000, 0, 0)]);
        assert_eq!(p.next_step(), Some(Step::Pull { start_ms: 500, end_ms: 1000 }));
        assert_eq!(p.next_step(), Some(Step::Pull { start_ms: 0, end_ms: 100 }));
        assert_eq!(p.next_step(), None);
        assert_eq!(p.rounds(), 2);
        let mut q = Plan::new(&[fp(0, 1000, 9, 1)], &[fp(0, 1000, 0, 0)]);
        assert!(matches!(q.next_step(), Some(Step::Split { .. })));
        q.split_answered(&[fp(0, 500, 9, 1)], &[]);
        assert_eq!(q.next_step(), None, "parts that do not line up end it");
        let id = ImageId([3; 32]);
        assert_eq!(next_page(100, Some((40, id)), true), Some((40, id)), "the cursor is the last register");
        assert_eq!(next_page(100, Some((99, id)), false), None, "nothing more");
        assert_eq!(next_page(100, None, true), None, "an empty page ends the pull");
        assert_eq!(next_page(100, Some((100, id)), true), None, "past the range");
    }
}
