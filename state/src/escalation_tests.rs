//! Fake-clock tests of candidate bidding: a node that is not one of an image's candidates
//! follows the auction without bidding, and bids once no candidate is left.

use super::tests::cfg;
use super::*;

/// Node 5's view: candidates 1 and 2, nodes 3 and 4 standing by with us.
fn follower() -> Scheduler<u32, u8> {
    Scheduler::new(5, cfg())
}

fn not_a_candidate() -> Entrants<u8> {
    Entrants { expected: Some(vec![1, 2]), bid: false, standby: Some(vec![3, 4]) }
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
    // However long the candidates take, nobody stands by while one of them is left.
    let mut all = Vec::new();
    for t in (0..10_000).step_by(50) {
        all.extend(s.tick(t));
        if t >= 2_000 && t % 500 == 0 {
            // Node 2 missed its deadline; node 1 took it over and renews its claim.
            assert!(s.on_claim(&7, 1, 30, t == 2_000, t).is_none());
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
    assert!(s.tick(150).is_empty(), "the window is still open");
    let a = s.tick(200);
    assert_eq!(bids(&a), vec![10], "no candidate bid in the window: we bid our held-back estimate");
    assert_eq!(s.escalated, 1);
    assert!(s.on_bid(&7, 3, 50, 210).is_empty());
    let a = s.on_bid(&7, 4, 70, 211);
    assert_eq!(
        a,
        vec![
            Action::Claim { image: 7, takeover: false, wait_ms: 10 },
            Action::Run { image: 7, takeover: false }
        ],
        "every standby bid is in and ours is the best"
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
        let a = s.tick(t);
        if !bids(&a).is_empty() {
            escalated_at = Some(t);
        }
    }
    let at = escalated_at.expect("the standby nodes bid once both candidates failed");
    assert_eq!(s.past_holders(&7), vec![1, 2], "both candidates had their turn first");
    // The escalated window closes with every standby bid; ours is the best: a takeover claim,
    // run after the (full) confirm period, since a failed holder may still answer.
    s.on_bid(&7, 3, 100, at + 1);
    let a = s.on_bid(&7, 4, 200, at + 2);
    assert_eq!(a, vec![Action::Claim { image: 7, takeover: true, wait_ms: 10 }]);
    assert_eq!(s.run_due(at + 2 + cfg().claim_confirm_ms), vec![Action::Run { image: 7, takeover: true }]);
}

#[test]
fn a_candidate_whose_partner_is_silent_wins_without_escalating() {
    let mut s: Scheduler<u32, u8> = Scheduler::new(1, cfg());
    let e = Entrants { expected: Some(vec![2]), bid: true, standby: Some(vec![3, 4]) };
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
    s.tick(200);
    s.on_bid(&7, 3, 100, 201);
    let a = s.on_bid(&7, 4, 200, 202);
    assert_eq!(a.len(), 2, "we claim and take it on: {a:?}");
    assert_eq!(s.committed(), 1, "it waits in our backlog");
    // Candidate 1 was only slow: its bid and claim arrive now, with a better wait.
    s.on_bid(&7, 1, 20, 203);
    assert!(s.on_claim(&7, 1, 20, false, 204).is_none());
    assert!(!s.dispatch(&7), "we yielded to the better claim before inference");
    assert_eq!(s.committed(), 0);
}
