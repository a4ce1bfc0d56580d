//! Network benchmark of real `argus` processes on loopback (mDNS off, bootstrap addresses):
//!
//! 1. Standalone: each node alone on its own CPU core is flooded with images; its throughput
//!    (images stored per second) is measured.
//! 2. Light load: the same nodes together, images at a low rate; the added latency of scheduling
//!    per image is announce -> stored (`first_ts_ms - captured_at_ms` of the stored result)
//!    minus the worker's mean inference time (from its `argus_inference_seconds` histogram).
//! 3. Saturation: the nodes together are flooded; throughput as a share of the sum of the
//!    standalone throughputs is the efficiency of sharing the work.
//!
//! Images are generated into a folder first and sent with `argus send --dir`, so the sender
//! spends no CPU on rendering. Node `i` is pinned to core `i mod cores` with `taskset` when it
//! exists; on a machine with fewer cores than nodes the shares are not independent, which the
//! output says. Run: `cargo run -p argus-tests --bin argus-netbench -- [--nodes N] [--images K]`
//! (`just bench-net`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use argus_interface::lines::SendLine;
use argus_model::scene::{self, SceneConfig};
use argus_tests::{NodeProc, TempDir, block_on, percentile, send_lines, wait_until};

mod apart;
mod cpu;
mod report;
use apart::standalone_concurrent;
use report::{inference_mean_ms, inference_ms, print_busy, print_counters, print_per_node, processed};

struct Opts {
    nodes: usize,
    images: usize,
    light_images: usize,
    light_rate: f64,
    flood_rate: f64,
    /// Audit ratio pinned to this (`--no-audit`: 0, which separates the cost of sharing work
    /// from the cost of audits); `None`: the node defaults (adaptive).
    audit_ratio: Option<f64>,
    /// The sender's `--inline-max-bytes` (its default when absent).
    inline_max: Option<usize>,
    /// Nodes measured alone; the others are counted at their mean (same binary and settings).
    standalone: Option<usize>,
    /// Also measure the standalone nodes all at once, each with its own sender (see
    /// `standalone_concurrent`).
    concurrent: bool,
}

fn parse_opts() -> anyhow::Result<Opts> {
    let mut o = Opts {
        nodes: 2,
        images: 300,
        light_images: 60,
        light_rate: 4.0,
        flood_rate: 2_000.0,
        audit_ratio: None,
        inline_max: None,
        standalone: None,
        concurrent: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--nodes" => o.nodes = val()?.parse()?,
            "--images" => o.images = val()?.parse()?,
            "--light-images" => o.light_images = val()?.parse()?,
            "--light-rate" => o.light_rate = val()?.parse()?,
            "--flood-rate" => o.flood_rate = val()?.parse()?,
            "--no-audit" => o.audit_ratio = Some(0.0),
            "--audit-ratio" => o.audit_ratio = Some(val()?.parse()?),
            "--inline-max-bytes" => o.inline_max = Some(val()?.parse()?),
            "--standalone-nodes" => o.standalone = Some(val()?.parse()?),
            "--concurrent-standalone" => o.concurrent = true,
            "-h" | "--help" => {
                println!(
                    "argus-netbench [--nodes N=2] [--images K=300 per node] [--light-images 60] \
                     [--light-rate 4] [--flood-rate 2000] [--no-audit | --audit-ratio R] [--inline-max-bytes B] [--standalone-nodes K] \
                     [--concurrent-standalone]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if o.audit_ratio.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        bail!("--audit-ratio must be within [0, 1]");
    }
    if o.nodes == 0 || o.images == 0 || o.light_images == 0 {
        bail!("--nodes, --images and --light-images must be at least 1");
    }
    Ok(o)
}

/// Writes scenes `start..start+count` of seed 77 as PNG files named in send order.
fn write_images(dir: &Path, start: u64, count: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let cfg = SceneConfig::default();
    for i in 0..count as u64 {
        let s = scene::generate(77, start + i, &cfg);
        std::fs::write(dir.join(format!("{:06}.png", start + i)), scene::encode_png(&s.image))?;
    }
    Ok(())
}

/// The sender stays (re-announcing what gossip lost under load) until every image is confirmed stored, at most this long after its last.
const SENDER_LINGER_S: u64 = 900;

fn send_dir(
    dir: &Path,
    peers: &[String],
    rate: f64,
    min_peers: usize,
    inline_max: Option<usize>,
) -> anyhow::Result<usize> {
    // Generated scenes of the shapes model (a folder defaults to coco).
    let mut args: Vec<String> = [
        "--no-mdns",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--dir",
        &dir.to_string_lossy(),
        "--model",
        "shapes",
        "--rate",
        &rate.to_string(),
        "--min-peers",
        &min_peers.to_string(),
        "--linger-s",
        &SENDER_LINGER_S.to_string(),
    ]
    .map(String::from)
    .to_vec();
    if let Some(b) = inline_max {
        args.extend(["--inline-max-bytes".to_string(), b.to_string()]);
    }
    let lines = send_lines(&[], &args, peers)?;
    Ok(lines.iter().filter(|l| matches!(l, SendLine::Announced(_))).count())
}

/// Every stored result on a node: (image id, captured_at_ms, first_ts_ms, worker).
fn stored(node: &NodeProc) -> anyhow::Result<Vec<(String, u64, u64, String)>> {
    let items = block_on(node.client().all_detections())??;
    Ok(items
        .into_iter()
        .map(|d| (d.image_id, d.captured_at_ms, d.first_ts_ms.unwrap_or(0), d.worker.unwrap_or_default()))
        .collect())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn start_node(dir: &Path, i: usize, peers: &[String], audit_ratio: Option<f64>) -> anyhow::Result<NodeProc> {
    let data = dir.join(format!("n{i}"));
    std::fs::create_dir_all(&data)?;
    let config = dir.join(format!("n{i}.toml"));
    let pinned = audit_ratio.map_or(String::new(), |r| {
        format!("[audit]\nratio_initial = {r:?}\nratio_min = {r:?}\nratio_max = {r:?}\n")
    });
    std::fs::write(&config, pinned)?;
    let config = config.to_string_lossy().to_string();
    let core = (i % cores()).to_string();
    let pin = Path::new("/usr/bin/taskset").exists();
    let prefix: Vec<String> = if pin { vec!["taskset".into(), "-c".into(), core] } else { Vec::new() };
    let args =
        ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0", "--config", &config];
    NodeProc::start_in(&prefix, &data, peers, &args)
}

/// Waits until `node` stores `want` results, then returns images/s over first announce to
/// last stored, and the results.
fn throughput(
    node: &NodeProc,
    want: usize,
    timeout: Duration,
) -> anyhow::Result<(f64, Vec<(String, u64, u64, String)>)> {
    // The node's register count while waiting (every 200 ms), the results once: listing every
    // result each time loaded the node being measured.
    let registers =
        || block_on(node.client().status()).ok().and_then(Result::ok).map_or(0, |s| s.store.registers);
    let done = wait_until(timeout, || registers() >= want as u64);
    let last = stored(node)?;
    if !done || last.len() < want {
        bail!("only {} of {want} results stored within {timeout:?}", last.len());
    }
    let first = last.iter().map(|r| r.1).min().unwrap_or(0);
    let end = last.iter().map(|r| r.2).max().unwrap_or(0);
    let secs = (end.saturating_sub(first) as f64 / 1e3).max(1e-3);
    Ok((last.len() as f64 / secs, last))
}

/// A node's start-up period (its first liveness window), in which its auctions close by their
/// timeout only.
const STARTUP_MS: u64 = 5_000;

fn main() -> anyhow::Result<()> {
    let o = parse_opts()?;
    let tmp = TempDir::new("netbench");
    let n = o.nodes;
    println!(
        "argus-netbench: {n} nodes on loopback, {} cores{}, {} images per node, flood rate {}/s{}",
        cores(),
        if Path::new("/usr/bin/taskset").exists() { " (node i pinned to core i mod cores)" } else { "" },
        o.images,
        o.flood_rate,
        match o.audit_ratio {
            Some(r) if r == 0.0 => ", audits off".to_string(),
            Some(r) => format!(", audit ratio pinned at {r}"),
            None => ", audits at the node defaults".to_string(),
        }
    );
    if cores() < n {
        println!("note: fewer cores than nodes: the nodes share cores, so the ratio below is a floor");
    }
    let mut next_index = 0u64;
    let mut batch = |count: usize, tag: &str| -> anyhow::Result<std::path::PathBuf> {
        let dir = tmp.0.join(tag);
        write_images(&dir, next_index, count)?;
        next_index += count as u64;
        Ok(dir)
    };

    // 1. Standalone throughput of each node.
    let mut standalone = Vec::new();
    let measured = o.standalone.unwrap_or(n).clamp(1, n);
    for i in 0..measured {
        let dir = batch(o.images, &format!("alone{i}"))?;
        let node = start_node(&tmp.0.join("alone"), i, &[], o.audit_ratio)?;
        let sent = send_dir(&dir, &[node.addr()], o.flood_rate, 1, o.inline_max)?;
        let (tput, _) = throughput(&node, sent, Duration::from_secs(600))?;
        let per_image = inference_mean_ms(&node).unwrap_or(0.0);
        println!("standalone n{i}: {sent} images, {tput:.1} images/s ({per_image:.1} ms per image)");
        standalone.push(tput);
        drop(node);
        std::fs::remove_dir_all(tmp.0.join("alone"))?;
    }
    let mean = standalone.iter().sum::<f64>() / standalone.len() as f64;
    if measured < n {
        println!("standalone n{measured}..n{}: not measured, counted at the mean {mean:.1} images/s", n - 1);
    }
    let sum: f64 = standalone.iter().sum::<f64>() + mean * (n - measured) as f64;
    // The same nodes alone but at the same time: what the machine does with no work shared,
    // under the same contention (cores, caches, memory) the nodes meet together.
    let concurrent_sum = if o.concurrent {
        let dirs =
            (0..n).map(|i| batch(o.images, &format!("apart{i}"))).collect::<anyhow::Result<Vec<_>>>()?;
        Some(standalone_concurrent(&tmp.0.join("apart"), &dirs, &o)?)
    } else {
        None
    };

    // 2. Together, light load: the latency that scheduling adds.
    let together = tmp.0.join("together");
    // mDNS on a LAN connects every node with every other; on loopback it is off, so each node
    // is given every node started before it (a star around one bootstrap node would make that
    // node relay every message to all the others, which no LAN does).
    let mut nodes: Vec<NodeProc> = Vec::with_capacity(n);
    for i in 0..n {
        let boot: Vec<String> = nodes.iter().map(NodeProc::addr).collect();
        nodes.push(start_node(&together, i, &boot, o.audit_ratio)?);
    }
    // A node's first liveness window closes every auction by its timeout (its view of the
    // peers and their loads is not settled yet): measure the steady state after it. Each start
    // above waited for the node's ready line, so the last one's window ends STARTUP_MS from now.
    std::thread::sleep(Duration::from_millis(STARTUP_MS));
    let all: Vec<String> = nodes.iter().map(NodeProc::addr).collect();
    let dir = batch(o.light_images, "light")?;
    let sent = send_dir(&dir, &all, o.light_rate, n, o.inline_max)?;
    let (_, results) = throughput(&nodes[0], sent, Duration::from_secs(300))?;
    let mean_inf: std::collections::HashMap<String, f64> =
        nodes.iter().map(|nd| (nd.peer_id.clone(), inference_mean_ms(nd).unwrap_or(0.0))).collect();
    let mut latency: Vec<f64> = results.iter().map(|r| r.2.saturating_sub(r.1) as f64).collect();
    let mut overhead: Vec<f64> = results
        .iter()
        .map(|r| r.2.saturating_sub(r.1) as f64 - mean_inf.get(&r.3).copied().unwrap_or(0.0))
        .collect();
    println!(
        "light load ({sent} images at {}/s): announce->stored p50 {:.0} ms p99 {:.0} ms; \
         minus inference (mean {:.1} ms): scheduling p50 {:.0} ms p99 {:.0} ms",
        o.light_rate,
        percentile(&mut latency, 0.5),
        percentile(&mut latency, 0.99),
        mean_inf.values().sum::<f64>() / mean_inf.len().max(1) as f64,
        percentile(&mut overhead, 0.5),
        percentile(&mut overhead, 0.99),
    );

    // 3. Together, flooded.
    let flood = batch(o.images * n, "flood")?;
    let before = results.len();
    let processed_before = processed(&nodes);
    let counter = |nd: &NodeProc, name: &str| {
        block_on(nd.client().status()).ok().and_then(Result::ok).and_then(|st| st.counter(name)).unwrap_or(0)
    };
    let read_before: Vec<u64> = nodes.iter().map(|nd| counter(nd, "image_bytes_received")).collect();
    let gossip_before: Vec<u64> = nodes.iter().map(|nd| counter(nd, "gossip_received")).collect();
    let audits_before: u64 = nodes.iter().map(|nd| counter(nd, "audits_performed")).sum();
    let cpu_before = cpu::by_thread(&nodes);
    let busy_before: Vec<(f64, f64)> =
        nodes.iter().map(|nd| inference_ms(nd).unwrap_or((0.0, 0.0))).collect();
    let sent = send_dir(&flood, &all, o.flood_rate, n, o.inline_max)?;
    let stored_all = match throughput(&nodes[0], before + sent, Duration::from_secs(120 + sent as u64 / 2)) {
        Ok((_, s)) => s,
        Err(e) => {
            // Say where the images are before giving up.
            for (i, nd) in nodes.iter().enumerate() {
                println!("n{i}: {} results stored", stored(nd).map_or(0, |s| s.len()));
            }
            print_counters(&nodes);
            return Err(e);
        }
    };
    let fresh: Vec<_> = stored_all.iter().filter(|r| !results.iter().any(|l| l.0 == r.0)).collect();
    let first_ms = fresh.iter().map(|r| r.1).min().unwrap_or(0);
    let end_ms = fresh.iter().map(|r| r.2).max().unwrap_or(0);
    let tput = fresh.len() as f64 / (end_ms.saturating_sub(first_ms) as f64 / 1e3).max(1e-3);
    let per_worker = nodes
        .iter()
        .enumerate()
        .map(|(i, nd)| format!("n{i} {}", fresh.iter().filter(|r| r.3 == nd.peer_id).count()))
        .collect::<Vec<_>>()
        .join(", ");
    println!("saturated together: {} images, {tput:.1} images/s (worked: {per_worker})", fresh.len());
    // Work runs beyond one per image: every node's own count of the images it ran, so a
    // duplicate counts even when its result only voted for the first one.
    let runs = processed(&nodes).saturating_sub(processed_before);
    let extra = runs.saturating_sub(fresh.len() as u64);
    println!(
        "duplicates under the flood: {runs} inferences for {} images, {extra} extra ({:.2} %)",
        fresh.len(),
        100.0 * extra as f64 / fresh.len().max(1) as f64
    );
    println!("throughput share: {tput:.1} / {sum:.1} (sum of standalone) = {:.2}", tput / sum.max(1e-9));
    if let Some(c) = concurrent_sum {
        println!(
            "throughput share against the standalone nodes run at once: {tput:.1} / {c:.1} = {:.2}",
            tput / c.max(1e-9)
        );
    }
    // Verification is work too: every audit is one more inference. Counting the flood's audit
    // inferences (those done by the time the last result is stored) beside its work runs
    // separates what scheduling loses from what auditing costs.
    let audits =
        nodes.iter().map(|nd| counter(nd, "audits_performed")).sum::<u64>().saturating_sub(audits_before);
    if audits > 0 {
        let per_image = (runs + audits) as f64 / fresh.len().max(1) as f64;
        println!(
            "audits: {audits} audit inferences beside {runs} work runs ({per_image:.3} inferences per image): \
             audits took {:.2} of the inferences; inference throughput share (work and audits) = {:.2}",
            audits as f64 / (runs + audits) as f64,
            tput * per_image / sum.max(1e-9)
        );
    }
    print_busy(&nodes, &busy_before, end_ms.saturating_sub(first_ms));
    cpu::print_split(&nodes, &cpu_before);
    let image_bytes: u64 =
        std::fs::read_dir(&flood)?.filter_map(|e| Some(e.ok()?.metadata().ok()?.len())).sum();
    let per_node: Vec<f64> = nodes
        .iter()
        .zip(&read_before)
        .map(|(nd, b)| {
            counter(nd, "image_bytes_received").saturating_sub(*b) as f64 / fresh.len().max(1) as f64 / 1024.0
        })
        .collect();
    println!(
        "image bytes received per node per image (inline and fetched): mean {:.1} KiB, max {:.1} KiB; \
         images average {:.1} KiB; inline up to {}",
        per_node.iter().sum::<f64>() / per_node.len().max(1) as f64,
        per_node.iter().copied().fold(0.0, f64::max),
        image_bytes as f64 / (o.images * n).max(1) as f64 / 1024.0,
        o.inline_max.map_or("the sender's default".to_string(), |b| format!("{b} bytes"))
    );
    print_per_node(&nodes, &gossip_before, fresh.len());
    print_counters(&nodes);
    Ok(())
}
