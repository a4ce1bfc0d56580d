//! The majority read: a node asks every live node for its register of an image, counts which
//! winner digest most nodes hold, and repairs its own copy with the union of what answered.
//! Pure: the caller asks the nodes and writes the repair.

use std::collections::HashMap;

use argus_protocol::ids::ResultDigest;
use argus_protocol::register::Register;

/// Counts nodes per winner digest; `None` (a node without the image) counts for nothing.
/// Ties go to the smaller digest, so every node answers alike.
pub fn tally(winners: &[Option<ResultDigest>]) -> Option<(ResultDigest, usize)> {
    let mut counts: HashMap<ResultDigest, usize> = HashMap::new();
    for d in winners.iter().flatten() {
        *counts.entry(*d).or_default() += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// A majority read's outcome.
#[derive(Debug)]
pub struct Majority {
    /// The winner most nodes hold, and how many hold it.
    pub winner: Option<(ResultDigest, usize)>,
    /// The union of every register read (ours and the answers).
    pub merged: Option<Register>,
    /// True when the union holds more than our own copy: write it back (read repair).
    pub repair: bool,
}

/// Tallies our register and the answers of the nodes asked (`None`: that node has none).
pub fn read(own: Option<&Register>, answers: &[Option<Register>]) -> Majority {
    let mut winners = vec![own.and_then(|r| r.winner().map(|(d, _)| *d))];
    let mut merged = own.cloned();
    for reg in answers.iter().flatten() {
        winners.push(reg.winner().map(|(d, _)| *d));
        match merged.as_mut() {
            Some(m) => {
                let _ = m.merge(reg);
            }
            None => merged = Some(reg.clone()),
        }
    }
    let repair = match (&merged, own) {
        (Some(m), Some(o)) => m.state_hash() != o.state_hash(),
        (Some(_), None) => true,
        (None, _) => false,
    };
    Majority { winner: tally(&winners), merged, repair }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_picks_the_most_held_digest_and_ignores_absent() {
        let a = ResultDigest([1; 32]);
        let b = ResultDigest([2; 32]);
        assert_eq!(tally(&[Some(a), Some(b), Some(b), None]), Some((b, 2)));
        assert_eq!(tally(&[Some(b), Some(a)]), Some((a, 1)), "ties go to the smaller digest");
        assert_eq!(tally(&[None, None]), None);
        let m = read(None, &[None]);
        assert!(m.winner.is_none() && m.merged.is_none() && !m.repair);
    }
}
