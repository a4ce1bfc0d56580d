//! How late peers' bids arrive here, and the bid window and confirm period that follow from it.
//! On an idle LAN every bid is in within a millisecond or two and windows close early; on an
//! overloaded machine (more nodes than cores, a busy CPU) bids and claims can arrive hundreds
//! of milliseconds late. A fixed 120 ms window then closes on a partial view, several nodes
//! each believe they won, and the work is multiplied exactly when there is no capacity for it.
//! So the window's fallback timeout follows the observed lateness: it rises at once with a late
//! bid and decays slowly, between the configured window and `MAX_WINDOW_MS`. Windows whose bids
//! all arrive still close the moment the last one does, so this costs no latency when the
//! network keeps up.

/// The longest a bid window waits for a missing bid, however late bids have been.
pub const MAX_WINDOW_MS: u64 = 2_000;
/// The longest confirm period: well inside the time the other nodes give a claimant before
/// they take its image over (the claim grace, half again its bid and the 2 s slack), so a
/// claimant still confirming is never taken over.
pub const MAX_CONFIRM_MS: u64 = 1_000;

#[derive(Debug, Clone, Default)]
pub(crate) struct Lateness {
    /// Recent bid delay (announcement seen here -> bid seen here), ms: jumps up to a larger
    /// sample, decays by 1/32 of the gap per smaller one.
    est_ms: u64,
}

impl Lateness {
    /// A peer's bid arrived `delay_ms` after we saw its announcement.
    pub(crate) fn sample(&mut self, delay_ms: u64) {
        let delay_ms = delay_ms.min(MAX_WINDOW_MS);
        if delay_ms >= self.est_ms {
            self.est_ms = delay_ms;
        } else {
            self.est_ms -= (self.est_ms - delay_ms).div_ceil(32);
        }
    }

    /// The bid window's timeout: half again the recent delay, at least `base_ms`.
    pub(crate) fn window_ms(&self, base_ms: u64) -> u64 {
        (self.est_ms + self.est_ms / 2).clamp(base_ms, MAX_WINDOW_MS.max(base_ms))
    }

    /// The confirm period after a window that closed without every bid: twice the recent
    /// delay. A competitor that saw the announcement up to one delay after us closes its
    /// window up to one delay after ours, and its claim takes another delay to come. With half
    /// the delay, in a burst of 160 images over 8 nodes both claimants of an image ran it
    /// before the other's claim came (5-12% duplicates); only windows that closed on a partial
    /// view wait this long, and never more than `MAX_CONFIRM_MS`.
    pub(crate) fn confirm_ms(&self, base_ms: u64) -> u64 {
        base_ms.max((2 * self.est_ms).min(MAX_CONFIRM_MS))
    }
}

/// The longest a node waits for a connected peer's heartbeat before it counts the peer as
/// silent (not live, its connection closed), however late heartbeats have been.
pub const MAX_SILENCE_MS: u64 = 20_000;

/// How late heartbeats arrive here: the gaps between a connected peer's consecutive
/// heartbeats (sent every second). On an overloaded machine or network every message runs
/// seconds late, the gaps of every peer grow together, and a fixed liveness window (5 s) and
/// silent-connection rule (4 s) then count slow peers as gone: their connections were closed
/// and their images taken over while they ran them (275 disconnections and 43 takeovers, about
/// one duplicate each, in a 40 s overload of 12 nodes on 2 cores). So both follow the recent
/// gaps: three of the largest recent gap, never less than configured, at most
/// `MAX_SILENCE_MS`. A link cut on an idle network is still found as fast as before.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeartbeatGaps {
    /// Recent largest gap, ms: jumps up to a larger sample, decays by 1/32 of the gap per
    /// smaller one.
    est_ms: u64,
}

impl HeartbeatGaps {
    /// A connected peer's heartbeat came `gap_ms` after its previous one, which was within
    /// the window then in force (a peer heard again after counting as silent is no sample).
    pub(crate) fn sample(&mut self, gap_ms: u64) {
        let gap_ms = gap_ms.min(MAX_SILENCE_MS);
        if gap_ms >= self.est_ms {
            self.est_ms = gap_ms;
        } else {
            self.est_ms -= (self.est_ms - gap_ms).div_ceil(32);
        }
    }

    /// A configured window (liveness, silence) stretched to the recent gaps.
    pub(crate) fn window_ms(&self, base_ms: u64) -> u64 {
        base_ms.max((3 * self.est_ms).min(MAX_SILENCE_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_follows_late_heartbeats_and_comes_back() {
        let mut g = HeartbeatGaps::default();
        for _ in 0..50 {
            g.sample(1_000);
        }
        assert_eq!(g.window_ms(4_000), 4_000, "heartbeats on time: the configured window");
        g.sample(3_000);
        assert_eq!(g.window_ms(4_000), 9_000, "one late heartbeat widens it at once");
        for _ in 0..300 {
            g.sample(1_000);
        }
        assert_eq!(g.window_ms(4_000), 4_000, "prompt heartbeats bring it back");
        g.sample(600_000);
        assert_eq!(g.window_ms(4_000), MAX_SILENCE_MS, "capped");
    }

    #[test]
    fn the_window_rises_with_a_late_bid_and_decays_back_to_the_base() {
        let mut l = Lateness::default();
        assert_eq!(l.window_ms(120), 120, "nothing late: the configured window");
        l.sample(2);
        assert_eq!(l.window_ms(120), 120);
        l.sample(400);
        assert_eq!(l.window_ms(120), 600, "one late bid widens it at once");
        assert_eq!(l.confirm_ms(60), 800);
        for _ in 0..200 {
            l.sample(1);
        }
        assert_eq!(l.window_ms(120), 120, "prompt bids bring it back");
        assert_eq!(l.confirm_ms(60), 60);
        l.sample(60_000);
        assert_eq!(l.window_ms(120), MAX_WINDOW_MS, "capped");
        assert_eq!(l.confirm_ms(60), MAX_CONFIRM_MS);
    }
}
