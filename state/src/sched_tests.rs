//! Fake-clock tests of the auction: several schedulers exchange their actions through a
//! simulated network that can lose, reorder and partition messages.

use super::*;

pub(super) fn cfg() -> SchedConfig {
    SchedConfig {
        bid_window_ms: 200,
        claim_grace_ms: 300,
        result_slack_ms: 1_000,
        claim_confirm_ms: 50,
        complete_confirm_ms: 0,
        max_open: 64,
        max_done: 128,
        bidders: 0,
    }
}

/// A tiny simulated cluster: node ids 0..n, image ids u32.
struct Sim {
    nodes: Vec<Scheduler<u32, u8>>,
    alive: Vec<bool>,
    /// reach[a][b]: messages from a reach b.
    reach: Vec<Vec<bool>>,
    /// (image, node) pairs that ran the image, in order.
    runs: Vec<(u32, u8, bool)>,
    now_ms: u64,
    /// Every node also expects a bid from a node that never bids (id 99), so windows close
    /// by their timeout only.
    phantom: bool,
    /// Links (from, to) that lose bids only; claims and results still cross them.
    lose_bids: Vec<(usize, usize)>,
}

impl Sim {
    fn new(n: u8) -> Self {
        let n_us = usize::from(n);
        Self {
            nodes: (0..n).map(|i| Scheduler::new(i, cfg())).collect(),
            alive: vec![true; n_us],
            reach: vec![vec![true; n_us]; n_us],
            runs: Vec::new(),
            now_ms: 0,
            phantom: false,
            lose_bids: Vec::new(),
        }
    }

    fn with_phantom(n: u8) -> Self {
        Self { phantom: true, ..Self::new(n) }
    }

    /// The peers node `i` expects bids from: every other node (a live view that has not yet
    /// noticed a death), and the phantom.
    fn expected(&self, i: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..self.nodes.len() as u8).filter(|p| usize::from(*p) != i).collect();
        if self.phantom {
            v.push(99);
        }
        v
    }

    /// Carries out node `i`'s claims and runs: a run finishes at once and its result reaches
    /// every node `i` reaches.
    fn apply(&mut self, i: usize, actions: Vec<Action<u32>>) {
        let n = self.nodes.len();
        for a in actions {
            let (image, takeover) = match a {
                Action::Claim { image, takeover, .. } => (image, takeover),
                Action::Reassert { image, .. } => (image, false),
                Action::Run { image, takeover } => {
                    // Runs at once: straight from the backlog to inference.
                    assert!(self.nodes[i].dispatch(&image), "a run we were just handed is ours");
                    self.runs.push((image, i as u8, takeover));
                    for to in 0..n {
                        if self.alive[to] && (to == i || self.reach[i][to]) {
                            self.nodes[to].on_result(&image);
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            let wait =
                self.nodes[i].open.get(&image).and_then(|o| o.bids.get(&(i as u8)).copied()).unwrap_or(10);
            for to in 0..n {
                if to != i && self.alive[to] && self.reach[i][to] {
                    let answer = self.nodes[to].on_claim(&image, i as u8, wait, wait, takeover, self.now_ms);
                    self.apply(to, answer.into_iter().collect());
                }
            }
        }
    }

    fn announce(&mut self, image: u32, waits: &[u32]) {
        let mut bids = Vec::new();
        for i in 0..self.nodes.len() {
            if !self.alive[i] {
                continue;
            }
            let expected = self.expected(i);
            let actions = self.nodes[i].on_announce(image, waits[i], Some(&expected), self.now_ms);
            for a in &actions {
                if let Action::Bid { image, wait_ms } = a {
                    bids.push((i, *image, *wait_ms));
                }
            }
            self.apply(i, actions);
        }
        self.deliver_bids(&bids);
    }

    fn deliver_bids(&mut self, bids: &[(usize, u32, u32)]) {
        for &(from, image, wait_ms) in bids {
            for to in 0..self.nodes.len() {
                if to != from
                    && self.alive[to]
                    && self.reach[from][to]
                    && !self.lose_bids.contains(&(from, to))
                {
                    let actions = self.nodes[to].on_bid(&image, from as u8, wait_ms, self.now_ms);
                    self.apply(to, actions);
                }
            }
        }
    }

    /// Advance the clock; winners claim, run instantly and publish results.
    fn step(&mut self, dt_ms: u64) {
        self.now_ms += dt_ms;
        for i in 0..self.nodes.len() {
            if self.alive[i] {
                let actions = self.nodes[i].tick(self.now_ms);
                self.apply(i, actions);
            }
        }
    }

    fn run_for(&mut self, total_ms: u64) {
        for _ in 0..total_ms / 50 {
            self.step(50);
        }
    }

    fn runners(&self, image: u32) -> Vec<u8> {
        self.runs.iter().filter(|r| r.0 == image).map(|r| r.1).collect()
    }
}

#[test]
fn lowest_wait_wins_exactly_once() {
    let mut sim = Sim::new(3);
    sim.announce(7, &[500, 20, 300]);
    sim.run_for(1_000);
    assert_eq!(sim.runners(7), vec![1]);
}

#[test]
fn ties_go_to_lowest_node_id() {
    let mut sim = Sim::new(4);
    sim.announce(1, &[50, 10, 10, 10]);
    sim.run_for(1_000);
    assert_eq!(sim.runners(1), vec![1]);
}

#[test]
fn every_expected_bid_in_closes_the_window_and_the_winner_runs_at_once() {
    let mut sim = Sim::new(3);
    sim.announce(3, &[40, 10, 20]);
    assert_eq!(sim.runs, vec![(3, 1, false)], "ran at t=0, without a window or a confirm period");
    sim.run_for(5_000);
    assert_eq!(sim.runners(3), vec![1], "and nobody else ran it");
}

#[test]
fn bids_that_overtake_the_announcement_count_toward_the_set() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, cfg());
    assert!(s.on_bid(&4, 1, 50, 0).is_empty(), "kept until the announcement");
    let a = s.on_announce(4, 10, Some(&[1]), 1);
    assert_eq!(
        a,
        vec![
            Action::Bid { image: 4, wait_ms: 10 },
            Action::Claim { image: 4, takeover: false, wait_ms: 10 },
            Action::Run { image: 4, takeover: false },
        ]
    );
}

#[test]
fn nothing_runs_before_the_window_closes_while_a_bid_is_missing() {
    let mut sim = Sim::with_phantom(2);
    sim.announce(3, &[0, 0]);
    sim.step(150);
    assert!(sim.runs.is_empty(), "ran inside the bid window: {:?}", sim.runs);
    sim.step(100);
    assert!(sim.runs.is_empty(), "ran before the claim was confirmed: {:?}", sim.runs);
    sim.step(50);
    assert_eq!(sim.runners(3), vec![0]);
}

#[test]
fn dead_winner_is_taken_over_by_next_bidder() {
    let mut sim = Sim::with_phantom(3);
    // Node 0 bids best, then dies before the window closes.
    sim.announce(9, &[5, 100, 200]);
    sim.alive[0] = false;
    sim.run_for(5_000);
    let runs: Vec<_> = sim.runs.iter().filter(|r| r.0 == 9).collect();
    assert_eq!(runs.len(), 1, "exactly one takeover: {runs:?}");
    assert_eq!(runs[0].1, 1, "next best bidder takes over");
    assert!(runs[0].2, "marked as takeover");
}

#[test]
fn chain_of_dead_winners_ends_at_a_live_node() {
    let mut sim = Sim::with_phantom(4);
    sim.announce(2, &[1, 2, 3, 4]);
    sim.alive[0] = false;
    sim.alive[1] = false;
    sim.alive[2] = false;
    sim.run_for(10_000);
    assert_eq!(sim.runners(2), vec![3]);
}

#[test]
fn a_missed_bid_is_resolved_by_claims_without_duplicate_work() {
    let mut sim = Sim::new(3);
    // Node 1 has the best bid, but its bid never reaches node 2; claims do get through.
    sim.lose_bids.push((1, 2));
    sim.announce(6, &[300, 10, 100]);
    sim.run_for(3_000);
    assert_eq!(sim.runners(6), vec![1], "node 2 yields to the better claim");
}

#[test]
fn lost_bid_leads_to_at_most_one_duplicate_and_never_a_loss() {
    let mut sim = Sim::new(3);
    // Everything node 1 sends to node 2 while the image is announced is lost: its bid, and
    // its claim and result, which follow at once since node 1 saw every bid.
    sim.reach[1][2] = false;
    sim.announce(4, &[300, 10, 100]);
    sim.reach[1][2] = true;
    sim.run_for(3_000);
    let r = sim.runners(4);
    assert!(r.contains(&1), "true winner ran: {r:?}");
    assert!(r.len() <= 2, "at most one duplicate: {r:?}");
}

#[test]
fn partition_both_sides_process_their_own_view() {
    let mut sim = Sim::new(4);
    for a in 0..4 {
        for b in 0..4 {
            sim.reach[a][b] = (a < 2) == (b < 2);
        }
    }
    sim.announce(11, &[40, 30, 20, 10]);
    sim.run_for(5_000);
    let mut r = sim.runners(11);
    r.sort();
    // Each side runs it once, with its own best bidder.
    assert_eq!(r, vec![1, 3]);
}

#[test]
fn reordered_claim_after_result_is_ignored() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, cfg());
    s.on_announce(5, 100, Some(&[1]), 0);
    s.on_bid(&5, 1, 10, 0);
    s.on_result(&5);
    s.on_claim(&5, 1, 10, 10, false, 10);
    assert_eq!(s.open_len(), 0);
    assert!(s.tick(10_000).is_empty());
    // A late re-announcement of a finished image is ignored too.
    assert!(s.on_announce(5, 100, Some(&[1]), 10_001).is_empty());
}

#[test]
fn local_failure_hands_over() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, cfg());
    // Node 2 never bids: the window closes by its timeout.
    s.on_announce(8, 1, Some(&[1, 2]), 0);
    assert!(s.on_bid(&8, 1, 50, 0).is_empty());
    assert_eq!(s.tick(250), vec![Action::Claim { image: 8, takeover: false, wait_ms: 1 }]);
    assert_eq!(s.tick(300), vec![Action::Run { image: 8, takeover: false }]);
    // Node 1 becomes responsible (and is told); we do not rerun while it is within its deadline.
    assert_eq!(s.on_local_failure(&8, 300), Some((1, 50)));
    assert!(s.tick(400).is_empty());
    // Node 1 never delivers: the rotation comes back to us.
    assert_eq!(s.tick(10_000), vec![Action::Claim { image: 8, takeover: true, wait_ms: 1 }]);
    // A takeover waits the claim grace for the holder to claim again.
    assert!(s.tick(10_100).is_empty());
    assert_eq!(s.tick(10_000 + cfg().claim_grace_ms), vec![Action::Run { image: 8, takeover: true }]);
}

#[test]
fn open_images_are_bounded() {
    let mut c = cfg();
    c.max_open = 3;
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, c);
    let mut dropped = Vec::new();
    for i in 0..5 {
        for a in s.on_announce(i, 10, Some(&[1]), 0) {
            if let Action::Dropped { image } = a {
                dropped.push(image);
            }
        }
    }
    assert_eq!(s.open_len(), 3);
    assert_eq!(dropped, vec![0, 1]);
}

#[test]
fn done_memory_is_bounded() {
    let mut c = cfg();
    c.max_done = 2;
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, c);
    for i in 0..4 {
        s.on_result(&i);
    }
    assert!(!s.is_done(&0) && !s.is_done(&1));
    assert!(s.is_done(&2) && s.is_done(&3));
}

/// A burst of images announced at once: each node bids as the node does, 10 ms per image it is
/// committed to (claimed or leading) plus the new one. The work spreads evenly instead of every
/// tie going to node 0, and every image runs exactly once.
#[test]
fn a_burst_spreads_over_the_nodes_by_committed_work() {
    // Windows stay open (a bid is missing), so the committed work is what spreads the bids.
    let mut sim = Sim::with_phantom(3);
    for image in 0..30u32 {
        let waits: Vec<u32> = sim.nodes.iter().map(|n| 10 * (n.committed() as u32 + 1)).collect();
        sim.announce(image, &waits);
    }
    assert_eq!(sim.nodes[0].committed(), 10, "node 0 leads a third of the open auctions");
    sim.run_for(2_000);
    let mut per_node = [0usize; 3];
    for image in 0..30 {
        let r = sim.runners(image);
        assert_eq!(r.len(), 1, "image {image} ran {r:?}");
        per_node[usize::from(r[0])] += 1;
    }
    assert_eq!(per_node, [10, 10, 10]);
    assert!(sim.nodes.iter().all(|n| n.committed() == 0), "nothing committed after the burst");
}

#[test]
fn a_holder_gets_its_estimate_and_half_again_before_a_takeover() {
    // We (node 0) bid 9,000 ms; node 1 bid 4,000 ms and claims at 250 ms.
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, cfg());
    s.on_announce(9, 9_000, Some(&[1]), 0);
    s.on_bid(&9, 1, 4_000, 0);
    s.on_claim(&9, 1, 4_000, 4_000, false, 250);
    // Deadline: 250 + 4,000 + 2,000 (half the estimate) + 1,000 (slack) = 7,250 ms. A fixed
    // slack alone would have taken it over at 5,250 ms, from a holder that is merely slow.
    assert!(s.tick(5_300).is_empty());
    assert!(s.tick(7_200).is_empty());
    assert_eq!(s.tick(7_250), vec![Action::Claim { image: 9, takeover: true, wait_ms: 9_000 }]);
}

/// The committed count is kept incrementally; after any sequence of events it must equal a
/// recount over the open auctions.
#[test]
fn the_committed_count_always_equals_a_recount() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut c = cfg();
    c.max_open = 16;
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, c);
    let mut now = 0;
    for _ in 0..20_000 {
        now += next(40);
        let image = next(40) as u32;
        let peer = 1 + next(3) as u8;
        match next(7) {
            0 | 1 => drop(s.on_announce(image, next(100) as u32, Some(&[1, 2]), now)),
            2 | 3 => drop(s.on_bid(&image, peer, next(100) as u32, now)),
            4 => {
                let wait = next(100) as u32;
                drop(s.on_claim(&image, peer, wait, wait, next(2) == 0, now))
            }
            5 => s.on_result(&image),
            6 if next(2) == 0 => drop(s.dispatch(&image)),
            _ => {
                if next(2) == 0 {
                    let _ = s.on_local_failure(&image, now);
                } else {
                    drop(s.tick(now));
                }
            }
        }
        let recount = s.open.values().filter(|o| o.counts(&0)).count();
        assert_eq!(s.committed(), recount);
    }
}
