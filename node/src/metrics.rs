//! Node counters, gauges and latency histograms, and their rendering in the Prometheus text
//! format. The protocol state's own counters (`argus_state::Counters`) are copied in by the
//! actor after each event; the rest are atomics shared between tasks.

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use argus_state::Counters;

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
            /// The protocol state's counters, as of its last event.
            core: Mutex<Counters>,
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
                let mut v: Vec<(&'static str, u64)> = self.core().each().into_iter().map(|(n, _, v)| (n, v)).collect();
                v.extend([$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]);
                v
            }

            /// Replaces the protocol state's counters.
            pub fn set_core(&self, c: &Counters) {
                let mut core = self.core.lock().unwrap_or_else(|e| e.into_inner());
                if *core != *c {
                    *core = c.clone();
                }
            }

            /// The protocol state's counters.
            pub fn core(&self) -> Counters {
                self.core.lock().unwrap_or_else(|e| e.into_inner()).clone()
            }

            /// Prometheus text exposition.
            pub fn render(&self) -> String {
                let mut out = String::new();
                for (name, help, value) in self.core().each() {
                    let _ = writeln!(out, "# HELP argus_{name} {help}");
                    let _ = writeln!(out, "argus_{name} {value}");
                }
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
    gossip_received: "valid gossip messages received",
    gossip_rejected: "gossip messages rejected by validation (all kinds; each kind below)",
    gossip_rejected_unsigned: "gossip messages rejected: not signed by their author",
    gossip_rejected_wrong_version: "gossip messages rejected: another protocol version",
    gossip_rejected_oversized: "gossip messages rejected: over the size limit",
    gossip_rejected_undecodable: "gossip messages rejected: malformed CBOR or an invalid message",
    gossip_rejected_misaddressed: "gossip messages rejected: unknown or wrong topic, or an author field that is not the signer",
    gossip_streams_wedged: "connections closed because a peer's own gossip reached this node only relayed by others for 10 s: the peer's stream to it was wedged (libp2p-gossipsub drops an inbound stream that carried an over-limit frame, and the sender keeps writing into it)",
    connections_refused: "incoming connections whose handshake failed (a peer without this network's key, or with another)",
    gossip_bytes_sent: "gossip payload bytes published",
    net_events_dropped: "network events dropped because the node was behind",
    publish_dropped: "gossip messages and network commands dropped because the swarm task's queue was full",
    queries_served: "query requests answered for peers",
    sync_bytes_sent: "bytes of registers sent for anti-entropy",
    sync_bytes_received: "bytes of registers received for anti-entropy",
    sync_ranges_compared: "range fingerprints compared",
    sync_records_repaired: "registers changed by anti-entropy or read repair",
    store_errors: "store operations that failed",
    store_registers: "gauge: registers stored",
}

/// Adds one to a counter of refusals; returns the new count when it is 1, 2, 4, 8, ...: a
/// log line then, so a flood of bad input cannot flood the log.
pub(crate) fn log_worthy(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_power_of_two().then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.inference_ms.observe(3);
        m.inference_ms.observe(3_000);
        m.set_core(&Counters { images_processed: 2, ..Counters::default() });
        m.queries_served.fetch_add(3, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("argus_images_processed 2"), "{text}");
        assert!(text.contains("argus_queries_served 3"), "{text}");
        assert!(text.contains("argus_inference_ms_bucket{le=\"5\"} 1"), "{text}");
        assert!(text.contains("argus_inference_ms_bucket{le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("argus_inference_ms_sum 3003"), "{text}");
    }

    /// Every metric the shipped Grafana dashboard queries exists on a node's or the monitor's
    /// `/metrics` (a renamed metric must take the dashboard with it).
    #[test]
    fn the_dashboard_queries_only_metrics_that_exist() {
        let dashboard = include_str!("../../docs/grafana/argus-cluster.json");
        let mut snap = crate::monitor::http::Snapshot::default();
        snap.restarts_total.insert("exited".into(), 1);
        snap.nodes.push(crate::monitor::http::NodeStatus { name: "n0".into(), ..Default::default() });
        let exposed =
            format!("{}{}", Metrics::default().render(), crate::monitor::http::render_metrics(&snap));
        let names: std::collections::BTreeSet<&str> = exposed
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let queried: Vec<&str> = dashboard
            .match_indices("argus_")
            .map(|(i, _)| {
                let rest = &dashboard[i..];
                &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
            })
            .collect();
        assert!(queried.len() >= 10, "the dashboard queries argus metrics: {queried:?}");
        let missing: Vec<&&str> = queried.iter().filter(|q| !names.contains(**q)).collect();
        assert!(missing.is_empty(), "the dashboard queries metrics nobody exposes: {missing:?}");
    }
}
