//! Node counters, gauges and latency histograms, shared between tasks as atomics (no locks),
//! and their rendering in the Prometheus text format. Never blocks, never allocates per update.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (ms) of the latency histogram buckets; the last bucket is +Inf.
pub const LATENCY_BUCKETS_MS: [u64; 14] =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, value_ms: u64) {
        let i = LATENCY_BUCKETS_MS.iter().position(|b| value_ms <= *b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(value_ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            match LATENCY_BUCKETS_MS.get(i) {
                Some(le) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_ms.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_count {}", self.count.load(Ordering::Relaxed));
    }
}

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// All of a node's metrics.
        #[derive(Default)]
        pub struct Metrics {
            $(#[doc = $help] pub $name: AtomicU64,)*
            /// Announcement (capture) to stored result, ms.
            pub latency_stored_ms: Histogram,
            /// One forward pass per image, ms.
            pub inference_ms: Histogram,
            /// Announcement to stored minus inference: the cost of scheduling, ms.
            pub scheduling_overhead_ms: Histogram,
        }

        impl Metrics {
            /// Counter values by name, for the status endpoint.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }

            /// Prometheus text exposition.
            pub fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP argus_{} {}", stringify!($name), $help);
                    let _ = writeln!(out, "argus_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                self.latency_stored_ms.render(&mut out, "argus_latency_stored_ms", "announce to stored result");
                self.inference_ms.render(&mut out, "argus_inference_ms", "forward pass per image");
                self.scheduling_overhead_ms.render(&mut out, "argus_scheduling_overhead_ms", "announce to stored minus inference");
                out
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
    images_taken_over: "images taken over from a holder that missed its deadline",
    images_processed: "images this node ran inference on",
    results_adopted: "own results that agreed with a peer's stored result for the same image and voted for it",
    inference_errors: "images that failed to decode or run",
    results_received: "results heard from peers",
    results_invalid: "results refused (bad signature, bad detections, a class the model lacks)",
    refused_unknown_model: "messages and uploads refused because they name a model this build does not know",
    announces_model_not_held: "announcements not bid for because this node does not run their model",
    audits_declined_model: "audit requests declined because this node lacks the model and weights",
    results_stored: "register merges that changed the store",
    fetches_sent: "image fetch requests sent",
    fetches_failed: "image fetch requests that failed",
    gossip_received: "valid gossip messages received",
    gossip_rejected: "gossip messages rejected by validation",
    gossip_bytes_sent: "gossip payload bytes published",
    net_events_dropped: "network events dropped because the node was behind",
    audits_requested: "audits this node asked for",
    audits_performed: "audits this node answered",
    audits_passed: "verdicts received that passed",
    audits_failed: "verdicts received that failed",
    audits_failed_against: "failed verdicts about this node's own results",
    queries_served: "query requests answered for peers",
    sync_bytes_sent: "bytes of registers sent for anti-entropy",
    sync_bytes_received: "bytes of registers received for anti-entropy",
    sync_ranges_compared: "range fingerprints compared",
    sync_records_repaired: "registers changed by anti-entropy or read repair",
    store_errors: "store operations that failed",
    queue_len: "gauge: images waiting for or in inference",
    peers: "gauge: connected peers",
    store_registers: "gauge: registers stored",
    audit_ratio_permille: "gauge: current audit ratio in 1/1000",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.inference_ms.observe(3);
        m.inference_ms.observe(3_000);
        m.images_processed.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("argus_images_processed 2"), "{text}");
        assert!(text.contains("argus_inference_ms_bucket{le=\"5\"} 1"), "{text}");
        assert!(text.contains("argus_inference_ms_bucket{le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("argus_inference_ms_sum 3003"), "{text}");
    }
}
