//! Node counters, gauges and latency histograms, exposed through `prometheus-client`. The
//! protocol state's own counters (`argus_state::Counters`) are copied in by the actor after each
//! event; the rest are atomics shared between tasks. `Metrics` is a prometheus-client
//! `Collector`: nothing is encoded until a scrape reads the atomics (`registry` builds the
//! node's registry, libp2p's metrics join it in `net::start`, `exposition` writes it out).
//! Recording never blocks beyond one short mutex (the core counters), and never allocates.
//!
//! Names follow Prometheus's conventions: `argus_` prefix, counters end in `_total` (the
//! encoder adds it), latencies in seconds, gauges are gauges (their help starts `gauge: `).

pub mod exposition;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use argus_state::Counters;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (ms) of the latency histogram buckets; the last bucket is +Inf. Observed in ms,
/// exposed in seconds (0.001 ... 30).
pub const LATENCY_BUCKETS_MS: [u64; 14] =
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000];

/// Help texts that start with this mark a gauge (a level that goes down too, not a count).
const GAUGE: &str = "gauge: ";

/// A latency histogram of lock-free atomics, observed in whole milliseconds.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_ms: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, value_ms: u64) {
        let i = LATENCY_BUCKETS_MS.iter().position(|b| value_ms <= *b).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(value_ms, Ordering::Relaxed);
    }

    /// Encodes the histogram as `{name}_seconds` (the encoder makes the buckets cumulative).
    fn encode(&self, enc: &mut DescriptorEncoder, name: &str, help: &str) -> fmt::Result {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let le = LATENCY_BUCKETS_MS.get(i).map_or(f64::INFINITY, |ms| *ms as f64 / 1e3);
                (le, n.load(Ordering::Relaxed))
            })
            .collect();
        // The count is the buckets' total, so `_count` always equals the `+Inf` bucket.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_ms.load(Ordering::Relaxed) as f64 / 1e3;
        let mut m = enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

/// One counter (`argus_{name}_total`) or gauge (`argus_{name}`, help starting with `GAUGE`).
fn scalar(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let name = format!("argus_{name}");
    match help.strip_prefix(GAUGE) {
        Some(help) => {
            ConstGauge::new(value).encode(enc.encode_descriptor(&name, help, None, MetricType::Gauge)?)
        }
        None => {
            ConstCounter::new(value).encode(enc.encode_descriptor(&name, help, None, MetricType::Counter)?)
        }
    }
}

macro_rules! counters {
    ($($name:ident: $help:literal),* $(,)?) => {
        /// All of a node's metrics.
        #[derive(Debug, Default)]
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
        }

        /// Read at each scrape.
        impl Collector for Metrics {
            fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
                for (name, help, value) in self.core().each() {
                    scalar(&mut enc, name, help, value)?;
                }
                $(scalar(&mut enc, stringify!($name), $help, self.$name.load(Ordering::Relaxed))?;)*
                self.latency_stored_ms.encode(&mut enc, "argus_latency_stored", "announce (capture) to stored result")?;
                self.inference_ms.encode(&mut enc, "argus_inference", "forward pass per image")?;
                self.scheduling_overhead_ms.encode(
                    &mut enc,
                    "argus_scheduling_overhead",
                    "announce to stored minus inference: the cost of scheduling",
                )
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
    gossip_streams_wedged: "connections closed because a peer's own gossip reached this node only relayed by others for 30 s: the peer's stream to it was wedged (libp2p-gossipsub drops an inbound stream that carried an over-limit frame, and the sender keeps writing into it)",
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

/// The node's registry: its own metrics, read at each scrape. `net::start` adds libp2p's.
pub fn registry(metrics: &Arc<Metrics>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(metrics.clone()));
    r
}

/// Adds one to a counter of refusals; returns the new count when it is 1, 2, 4, 8, ...: a
/// log line then, so a flood of bad input cannot flood the log.
pub(crate) fn log_worthy(counter: &AtomicU64) -> Option<u64> {
    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_power_of_two().then_some(n)
}

#[cfg(test)]
mod tests;
