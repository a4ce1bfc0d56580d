//! What the netbench reads back from the nodes and prints: counters, histograms, inference
//! busy share, gossip per image and resident memory.

use std::time::Duration;

use argus_interface::http;
use argus_tests::{NodeProc, block_on};

/// The sum of the nodes' `images_processed` counters (work inferences, audits excluded).
pub(crate) fn processed(nodes: &[NodeProc]) -> u64 {
    nodes.iter().filter_map(|nd| block_on(nd.client().status()).ok()?.ok()?.counter("images_processed")).sum()
}

/// The counters that say where scheduling time and duplicate work went, per node.
pub(crate) const SCHED_COUNTERS: [&str; 24] = [
    "gossip_received",
    "bids_sent",
    "auctions_escalated",
    "gossip_rejected",
    "net_events_dropped",
    "publish_dropped",
    "runs_yielded",
    "steals_sent",
    "images_stolen",
    "images_won",
    "images_processed",
    "images_taken_over",
    "claims_renewed",
    "claims_reasserted",
    "claims_released",
    "results_republished",
    "windows_closed_early",
    "windows_timed_out",
    "inference_refused",
    "images_dropped",
    "fetches_sent",
    "fetches_failed",
    "audits_performed",
    "stalls",
];

pub(crate) fn print_counters(nodes: &[NodeProc]) {
    for (i, nd) in nodes.iter().enumerate() {
        let Some(status) = block_on(nd.client().status()).ok().and_then(Result::ok) else {
            println!("n{i}: status unavailable");
            continue;
        };
        let line: Vec<String> =
            SCHED_COUNTERS.iter().map(|c| format!("{c} {}", status.counter(c).unwrap_or(0))).collect();
        println!("n{i}: {}", line.join(", "));
    }
}

/// Gossip messages each node received per image of the flood, and each node's resident memory
/// (VmRSS from /proc, Linux only).
pub(crate) fn print_per_node(nodes: &[NodeProc], gossip_before: &[u64], images: usize) {
    let gossip: Vec<f64> = nodes
        .iter()
        .zip(gossip_before)
        .map(|(nd, b)| {
            let now = block_on(nd.client().status())
                .ok()
                .and_then(Result::ok)
                .and_then(|s| s.counter("gossip_received"));
            now.unwrap_or(0).saturating_sub(*b) as f64 / images.max(1) as f64
        })
        .collect();
    let rss_mib: Vec<f64> =
        nodes.iter().filter_map(|nd| rss_kib(nd.child.id())).map(|k| k as f64 / 1024.0).collect();
    println!(
        "gossip messages received per node per image: mean {:.1}, max {:.1}; resident memory per node: mean {:.0} MiB, max {:.0} MiB ({} of {} read)",
        gossip.iter().sum::<f64>() / gossip.len().max(1) as f64,
        gossip.iter().copied().fold(0.0, f64::max),
        rss_mib.iter().sum::<f64>() / rss_mib.len().max(1) as f64,
        rss_mib.iter().copied().fold(0.0, f64::max),
        rss_mib.len(),
        nodes.len()
    );
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A Prometheus histogram's `_sum` and `_count` from a node's `/metrics`.
pub(crate) fn histogram(node: &NodeProc, name: &str) -> Option<(f64, f64)> {
    let text = http_text(&node.http, "/metrics").ok()?;
    let get = |suffix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}_{suffix} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some((get("sum")?, get("count")?))
}

/// The node's inference histogram (`argus_inference_seconds`): its sum in ms, and its count.
pub(crate) fn inference_ms(node: &NodeProc) -> Option<(f64, f64)> {
    let (sum_s, count) = histogram(node, "argus_inference_seconds")?;
    Some((sum_s * 1e3, count))
}

/// The node's mean inference time per image, ms.
pub(crate) fn inference_mean_ms(node: &NodeProc) -> Option<f64> {
    let (sum, count) = inference_ms(node)?;
    (count > 0.0).then(|| sum / count)
}

/// How busy each node's inference was over a window: the growth of its `argus_inference_seconds`
/// sum (each job's share of its batch's time) against the window, and its time per image.
pub(crate) fn print_busy(nodes: &[NodeProc], before: &[(f64, f64)], window_ms: u64) {
    for (i, nd) in nodes.iter().enumerate() {
        let (sum, count) = inference_ms(nd).unwrap_or((0.0, 0.0));
        let (ds, dc) = (sum - before[i].0, count - before[i].1);
        println!(
            "n{i}: inference busy {:.2} s of {:.2} s ({:.0} %), {:.1} ms per image",
            ds / 1e3,
            window_ms as f64 / 1e3,
            100.0 * ds / (window_ms as f64).max(1.0),
            if dc > 0.0 { ds / dc } else { 0.0 }
        );
    }
}

pub(crate) fn http_text(addr: &str, path: &str) -> anyhow::Result<String> {
    let r = block_on(http::get(&http::Endpoint::parse(addr), path, Duration::from_secs(10)))??;
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}
