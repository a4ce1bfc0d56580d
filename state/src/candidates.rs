//! Which nodes bid for an image first: its candidates, the first `bidders` nodes in the
//! image's rendezvous order. Every node that knows the same set of nodes draws the same
//! candidates without a message, each image draws its own (so the work spreads like random
//! choices of `bidders` nodes, and the better of them wins), and a node joining or leaving
//! changes the candidates only of the images whose candidates it is.

use argus_protocol::ids::ImageId;
use libp2p_identity::PeerId;

use crate::sched::Entrants;

/// Domain of the bidding order, so that an image's candidates and its auditors of a suspect
/// (`audit::rendezvous`, no domain) are independent draws.
const BID_DOMAIN: &[u8] = b"argus bidders";

/// `nodes` in rendezvous order for `image`: smallest BLAKE3(domain, image id, node id) first.
/// Node ids are public keys, so a node cannot choose its place without a new identity per image.
pub(crate) fn ranked(domain: &[u8], image: &ImageId, nodes: &[PeerId]) -> Vec<PeerId> {
    let mut scored: Vec<([u8; 32], PeerId)> = nodes
        .iter()
        .map(|p| {
            let mut h = blake3::Hasher::new();
            h.update(domain);
            h.update(image.as_bytes());
            h.update(&p.to_bytes());
            (*h.finalize().as_bytes(), *p)
        })
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, p)| p).collect()
}

/// Who bids for `image` as `me` sees it: `others` are the other nodes that run its model
/// (`None` while this node cannot tell, then everyone bids and the window closes by its
/// timeout); `bidders` how many candidates (0: every node); `newcomer`: we joined a settled
/// network less than a liveness window ago (see `Entrants::newcomer`).
pub(crate) fn entrants(
    me: PeerId,
    image: &ImageId,
    others: Option<Vec<PeerId>>,
    bidders: usize,
    newcomer: bool,
) -> Entrants<PeerId> {
    if newcomer {
        return Entrants { expected: None, bid: false, standby: true, newcomer: true };
    }
    let Some(others) = others else {
        return Entrants { expected: None, bid: true, standby: false, newcomer: false };
    };
    if bidders == 0 || others.len() < bidders {
        return Entrants { expected: Some(others), bid: true, standby: false, newcomer: false };
    }
    let mut all = others;
    all.push(me);
    let all = ranked(BID_DOMAIN, image, &all);
    let candidates = &all[..bidders];
    let bid = candidates.contains(&me);
    let mut expected: Vec<PeerId> = candidates.iter().copied().filter(|p| *p != me).collect();
    expected.sort();
    Entrants { expected: Some(expected), bid, standby: true, newcomer: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p_identity::Keypair;

    fn nodes(n: usize) -> Vec<PeerId> {
        (0..n)
            .map(|i| {
                let mut secret = [7u8; 32];
                secret[0] = i as u8;
                Keypair::ed25519_from_bytes(secret).unwrap().public().to_peer_id()
            })
            .collect()
    }

    fn image(k: u32) -> ImageId {
        ImageId::of_bytes(&k.to_le_bytes())
    }

    /// Every node of the same set draws the same candidates, and exactly `bidders` of them
    /// bid; the others stand by.
    #[test]
    fn every_node_draws_the_same_candidates() {
        let all = nodes(9);
        for k in 0..50 {
            let img = image(k);
            let views: Vec<Entrants<PeerId>> = all
                .iter()
                .map(|me| {
                    entrants(*me, &img, Some(all.iter().filter(|p| *p != me).copied().collect()), 3, false)
                })
                .collect();
            let bidding: Vec<PeerId> =
                all.iter().zip(&views).filter(|(_, e)| e.bid).map(|(p, _)| *p).collect();
            assert_eq!(bidding.len(), 3, "image {k}");
            for (me, e) in all.iter().zip(&views) {
                let mut expected = e.expected.clone().unwrap();
                if e.bid {
                    expected.push(*me);
                }
                expected.sort();
                let mut want = bidding.clone();
                want.sort();
                assert_eq!(expected, want, "image {k}: every node expects the same candidates");
                assert!(e.standby);
            }
        }
    }

    /// Few nodes, an unknown view or `bidders` 0: everyone bids, nobody stands by.
    #[test]
    fn small_or_unknown_networks_bid_in_full() {
        let all = nodes(3);
        let img = image(1);
        let others = all[1..].to_vec();
        for (view, bidders) in [(Some(others.clone()), 3), (Some(others.clone()), 0), (None, 2)] {
            let e = entrants(all[0], &img, view.clone(), bidders, false);
            assert!(e.bid && !e.standby, "{bidders}");
            assert_eq!(e.expected, view);
        }
    }

    /// The work spreads: over many images each of 8 nodes is a candidate about 3/8 of the time.
    #[test]
    fn candidates_spread_over_the_nodes() {
        let all = nodes(8);
        let mut count = vec![0u32; 8];
        for k in 0..4_000 {
            let e = entrants(all[0], &image(k), Some(all[1..].to_vec()), 3, false);
            let mut c = e.expected.unwrap();
            if e.bid {
                c.push(all[0]);
            }
            for p in c {
                count[all.iter().position(|q| *q == p).unwrap()] += 1;
            }
        }
        // 1,500 expected each; a binomial's sd is ~31, so 1,350..1,650 is about 5 sd.
        assert!(count.iter().all(|&c| (1_350..=1_650).contains(&c)), "{count:?}");
    }
}
