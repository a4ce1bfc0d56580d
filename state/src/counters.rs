//! The state's counters: plain numbers, owned by the state, read by whoever renders metrics.

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// Everything the protocol state counts.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Counters {
            $(#[doc = $help] pub $name: u64,)*
        }

        impl Counters {
            /// `(name, help, value)` for every counter, in declaration order.
            pub fn each(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$((stringify!($name), $help, self.$name),)*]
            }
        }
    };
}

counters! {
    images_announced: "images this node announced (HTTP uploads)",
    images_seen: "image announcements heard",
    images_dropped: "announced images dropped because the buffer was full",
    bids_sent: "bids published",
    images_won: "auctions won (claims published)",
    windows_closed_early: "bid windows closed early: a bid had come from every expected bidder",
    windows_timed_out: "bid windows closed by their timeout (a bid missing, or the view of the peers not settled)",
    auctions_escalated: "auctions opened to every node because none of the image's candidates was left (none bid in time, or every bidder missed its deadline)",
    images_taken_over: "images taken over from a holder that missed its deadline",
    images_processed: "images this node ran inference on",
    results_adopted: "own results that agreed with a peer's stored result for the same image and voted for it",
    inference_errors: "images that failed to decode or run",
    inference_refused: "jobs the inference queue could not take",
    runs_yielded: "images taken on and dropped from the backlog before inference, because a better claim or a result came first (duplicate work avoided)",
    claims_reasserted: "claims published again because a peer took over an image this node still held",
    claims_renewed: "claims published again by a holder still working on the image at half of the time the other nodes allow it, so they do not take it over",
    claims_released: "takeover claims for images this node had taken on but no longer had in hand (not waiting, fetched or running): the taker keeps them",
    stalls: "times this node did not run for a second or more (starved of CPU, stopped): the time it missed was not counted against its peers' silence or deadlines",
    steals_sent: "requests for work sent to the busiest holder while this node ran dry",
    images_handed_off: "images this node gave from its backlog to a node that asked for work",
    images_stolen: "images handed to this node by a busier holder",
    images_given_up: "images this node had taken on and could not run (bytes not to be had here, queue full), handed to the next bidder at once",
    results_received: "results heard from peers",
    results_republished: "own results published again because a peer claimed a takeover of a finished image",
    results_invalid: "results refused (bad signature, bad detections, a class the model lacks)",
    verdicts_invalid: "PASS verdicts refused because their attestation does not verify (forged, replayed for another digest, or garbage)",
    connections_closed_silent: "connections closed because their peer's heartbeats stopped (a link cut without a reset, or a gossip stream wedged by an over-limit frame)",
    offences_bad_gossip: "gossip the network layer refused (unsigned, undecodable, oversized, misaddressed), scored against the peer that sent it",
    offences_bad_attestation: "results and verdicts with an attestation that does not verify, scored against their signer",
    peers_banned: "peers banned: too many offences, or held work without delivering anything (a black hole)",
    gossip_from_banned: "gossip messages dropped because their author is banned",
    refused_unknown_model: "messages and uploads refused because they name a model this build does not know",
    announces_model_not_held: "announcements not bid for because this node does not run their model",
    audits_declined_model: "audit requests declined because this node lacks the model and weights",
    results_stored: "register merges that changed the store",
    image_bytes_received: "image bytes that reached this node: inline in announcements, and in answers to its fetches",
    fetches_sent: "image fetch requests sent",
    fetches_failed: "image fetch requests that failed",
    prefetches_sent: "image fetches sent ahead of a win, for images this node bid for (counted in fetches_sent too)",
    audits_requested: "audits this node asked for",
    audits_performed: "audits this node answered",
    audits_abandoned: "audits given up (image unavailable, undecodable, or the worker's result not stored)",
    audits_passed: "verdicts received that passed",
    audits_failed: "verdicts received that failed",
    audits_failed_against: "failed verdicts about this node's own results",
    queue_len: "gauge: images waiting for or in inference",
    peers: "gauge: connected peers",
    audit_ratio_permille: "gauge: current audit ratio in 1/1000",
}

/// The latency histograms the state observes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hist {
    /// One forward pass per image.
    Inference,
    /// Capture to stored result.
    LatencyStored,
    /// Capture to stored result, minus inference.
    SchedulingOverhead,
}
