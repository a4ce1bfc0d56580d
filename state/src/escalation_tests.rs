//! Fake-clock tests of candidate bidding (a node that is not one of an image's candidates
//! follows the auction without bidding, and bids once no candidate is left) and of the
//! overtime a late but live holder gets.

use super::tests::cfg;
use super::*;
use crate::auction::escalate_at;

/// Node 5's view: candidates 1 and 2; we (and nodes 3 and 4) stand by.
fn follower() -> Scheduler<u32, u8> {
    Scheduler::new(5, cfg())
}

fn not_a_candidate() -> Entrants<u8> {
    Entrants { expected: Some(vec![1, 2]), bid: false, standby: true, newcomer: false }
}

fn bids(actions: &[Action<u32>]) -> Vec<u32> {
    actions
        .iter()
        .filter_map(|a| if let Action::Bid { wait_ms, .. } = a { Some(*wait_ms) } else { None })
        .collect()
}

#[test]
fn a_node_that_is_not_a_candidate_follows_without_bidding() {
    let mut s = follower();
    let a = s.on_announce_with(7, 10, not_a_candidate(), 0);
    assert!(a.is_empty(), "no bid from a non-candidate: {a:?}");
    assert_eq!(s.committed(), 0, "an image we do not bid for is not our work");
    assert!(s.on_bid(&7, 1, 30, 5).is_empty());
    assert!(s.on_bid(&7, 2, 20, 6).is_empty(), "the best candidate holds it, not us");
    assert_eq!(s.closed_early, 1, "both candidates' bids close the window");
    // However long the candidates take, nobody stands in while one of them is left.
    let mut all = Vec::new();
    for t in (0..10_000).step_by(50) {
        all.extend(s.tick(t));
        if t >= 2_000 && t % 500 == 0 {
            // Node 2 missed its deadline; node 1 took it over and renews its claim.
            assert!(s.on_claim(&7, 1, 30, 30, t == 2_000, t).is_none());
        }
    }
    assert_eq!(s.past_holders(&7), vec![2]);
    s.on_result(&7);
    assert!(bids(&all).is_empty() && s.escalated == 0, "{all:?}");
}

#[test]
fn silent_candidates_open_the_auction_to_every_node() {
    let mut s = follower();
    assert!(s.on_announce_with(7, 10, not_a_candidate(), 0).is_empty());
    let at = escalate_at(0, &cfg(), false);
    for t in (50..at).step_by(50) {
        assert!(s.tick(t).is_empty(), "t={t}: candidates that have not bid may only be late");
    }
    let a = s.tick(at);
    assert_eq!(bids(&a), vec![10], "no candidate bid: we bid our held-back estimate");
    assert_eq!(s.escalated, 1);
    assert!(s.on_bid(&7, 3, 50, at + 10).is_empty());
    assert!(s.on_bid(&7, 4, 70, at + 11).is_empty(), "an escalated window closes by its timeout only");
    let close = at + cfg().bid_window_ms;
    assert_eq!(
        s.tick(close),
        vec![Action::Claim { image: 7, takeover: false, wait_ms: 10 }],
        "ours is the best"
    );
    let run = close + cfg().claim_confirm_ms;
    assert_eq!(
        s.run_due(run),
        vec![Action::Run { image: 7, takeover: false }],
        "after the full confirm period"
    );
}

#[test]
fn when_every_candidate_misses_its_deadline_the_standby_nodes_take_over() {
    let mut s = follower();
    s.on_announce_with(7, 10, not_a_candidate(), 0);
    s.on_bid(&7, 1, 20, 1);
    s.on_bid(&7, 2, 30, 1);
    // Node 1 holds it until the claim grace and its allowance pass; then node 2 is next.
    let mut t = 0;
    let mut escalated_at = None;
    while t < 10_000 && escalated_at.is_none() {
        t += 50;
        if !bids(&s.tick(t)).is_empty() {
            escalated_at = Some(t);
        }
    }
    let at = escalated_at.expect("the standby nodes bid once both candidates failed");
    assert_eq!(s.past_holders(&7), vec![1, 2], "both candidates had their turn first");
    // The escalated window closes; ours is the best bid: a takeover claim, run after the
    // confirm period.
    s.on_bid(&7, 3, 100, at + 1);
    s.on_bid(&7, 4, 200, at + 2);
    let close = at + cfg().bid_window_ms;
    assert_eq!(s.tick(close), vec![Action::Claim { image: 7, takeover: true, wait_ms: 10 }]);
    assert!(s.run_due(close + cfg().claim_confirm_ms).is_empty(), "a takeover waits the claim grace");
    assert_eq!(s.run_due(close + cfg().claim_grace_ms), vec![Action::Run { image: 7, takeover: true }]);
}

#[test]
fn a_candidate_whose_partner_is_silent_wins_without_escalating() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(1, cfg());
    let e = Entrants { expected: Some(vec![2]), bid: true, standby: true, newcomer: false };
    assert_eq!(bids(&s.on_announce_with(7, 40, e, 0)), vec![40]);
    assert_eq!(s.committed(), 1, "we lead the auction: our work to come");
    let a = s.tick(200);
    assert_eq!(a, vec![Action::Claim { image: 7, takeover: false, wait_ms: 40 }]);
    assert_eq!(s.run_due(250), vec![Action::Run { image: 7, takeover: false }]);
    assert_eq!(s.escalated, 0);
}

#[test]
fn a_late_candidate_claim_beats_an_escalated_bidder_that_has_not_started() {
    let mut s = follower();
    s.on_announce_with(7, 90, not_a_candidate(), 0);
    let at = escalate_at(0, &cfg(), false);
    assert_eq!(bids(&s.tick(at)).len(), 1);
    s.on_bid(&7, 3, 100, at + 1);
    let close = at + cfg().bid_window_ms;
    assert_eq!(s.tick(close).len(), 1, "we claim");
    assert_eq!(s.run_due(close + cfg().claim_confirm_ms).len(), 1, "and take it on");
    assert_eq!(s.committed(), 1, "it waits in our backlog");
    // Candidate 1 was only slow: its bid and claim arrive now, with a better wait.
    s.on_bid(&7, 1, 20, close + 60);
    assert!(s.on_claim(&7, 1, 20, 20, false, close + 61).is_none());
    assert!(!s.dispatch(&7), "we yielded to the better claim before inference");
    assert_eq!(s.committed(), 0);
}

/// A holder we still hear from is slow, not gone: it gets twice the slack past its deadline.
#[test]
fn a_live_holder_gets_overtime_before_a_takeover() {
    let first_takeover = |live: bool| {
        let mut s: Scheduler<u32, u8> = Scheduler::new(2, cfg());
        if live {
            s.set_live([1]);
        }
        s.on_announce(7, 50, Some(&[1]), 0);
        s.on_bid(&7, 1, 10, 1);
        (0..20_000u64).step_by(10).find(|t| s.tick(*t).iter().any(|a| matches!(a, Action::Claim { .. })))
    };
    let (gone, live) = (first_takeover(false).unwrap(), first_takeover(true).unwrap());
    assert_eq!(live - gone, 2 * cfg().result_slack_ms, "gone at {gone} ms, live at {live} ms");
}

/// A node up for less than a liveness window bids only when nobody else does.
#[test]
fn a_newcomer_follows_a_settled_bidder_and_bids_only_into_silence() {
    let newcomer = Entrants { expected: None, bid: false, standby: true, newcomer: true };
    let mut s = follower();
    assert!(s.on_announce_with(7, 0, newcomer.clone(), 0).is_empty(), "its empty queue's bid stays back");
    s.on_bid(&7, 1, 500, 20);
    let all: Vec<_> = (0..2_000).step_by(50).flat_map(|t| s.tick(t)).collect();
    assert!(all.is_empty() && s.escalated == 0, "a settled candidate bid: it holds the image: {all:?}");

    let mut s = follower();
    s.on_announce_with(8, 0, newcomer, 0);
    let window = cfg().bid_window_ms;
    assert!(s.tick(window - 1).is_empty());
    assert_eq!(bids(&s.tick(window)), vec![0], "nobody bid within a window: a network starting together");
    assert_eq!(s.tick(2 * window), vec![Action::Claim { image: 8, takeover: false, wait_ms: 0 }]);
}

/// A silent candidate we still hear from is late, not gone: standby nodes give it overtime.
#[test]
fn a_live_silent_candidate_gets_overtime_before_escalation() {
    let first_bid = |live: bool| {
        let mut s = follower();
        if live {
            s.set_live([2]);
        }
        s.on_announce_with(7, 10, not_a_candidate(), 0);
        (0..20_000u64).step_by(10).find(|t| !bids(&s.tick(*t)).is_empty())
    };
    let (gone, live) = (first_bid(false).unwrap(), first_bid(true).unwrap());
    assert_eq!(gone, escalate_at(0, &cfg(), false));
    assert_eq!(live - gone, 2 * cfg().result_slack_ms);
}

/// `tick` steps only the auctions whose timer came (see `Scheduler::timers`): a thousand open
/// images cost nothing between their deadlines, every window still closes on time, and an
/// auction that ends leaves no timer behind.
#[test]
fn ticks_step_only_the_auctions_that_are_due() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(0, SchedConfig { max_open: 2_000, ..cfg() });
    for image in 0..1_000u32 {
        s.on_announce(image, 10, Some(&[1]), u64::from(image));
    }
    assert_eq!(s.timers.len(), 1_000, "one timer per open auction");
    assert!(s.tick(150).is_empty(), "no window has ended");
    assert!(s.timers.first().is_some_and(|(t, _)| *t == 200), "the first window ends at 200 ms");
    // Node 1 never bids: each window closes by its 200 ms timeout, and we claim each image.
    let claims = s.tick(1_199).iter().filter(|a| matches!(a, Action::Claim { .. })).count();
    assert_eq!(claims, 1_000);
    assert_eq!(s.timed_out, 1_000);
    for image in 0..1_000u32 {
        s.on_result(&image);
    }
    assert!(s.timers.is_empty() && s.open_len() == 0);
}
