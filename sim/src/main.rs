//! `argus-sim`: runs seeded simulations of an argus cluster and checks their invariants.
//!
//! `argus-sim --seeds 10000` runs seeds 0..10000 on every core; `argus-sim --seed 42` replays
//! one seed and prints its report; `--bidders N` sets how many candidates bid for each image at
//! first in every seed (0: every node), instead of each seed's own draw. A failing seed prints the command that replays it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use argus_sim::{Report, run_seed_with};

fn usage() -> ! {
    eprintln!(
        "usage: argus-sim [--seeds N] [--start S] [--threads T] [--bidders B] | --seed S [--bidders B]"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut seeds, mut start, mut one, mut threads, mut bidders) = (1_000u64, 0u64, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match a.as_str() {
            "--seeds" => seeds = num(),
            "--start" => start = num(),
            "--seed" => one = Some(num()),
            "--threads" => threads = Some(num() as usize),
            "--bidders" => bidders = Some(num() as usize),
            _ => usage(),
        }
    }
    if let Some(seed) = one {
        let r = run_seed_with(seed, bidders);
        print_report(&r, bidders);
        std::process::exit(if r.ok() { 0 } else { 1 });
    }
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t0 = Instant::now();
    let next = AtomicU64::new(start);
    let failed: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    let kinds: Mutex<std::collections::BTreeMap<&'static str, u64>> = Mutex::default();
    let totals = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= start + seeds {
                        break;
                    }
                    let r = run_seed_with(seed, bidders);
                    totals[0].fetch_add(r.images as u64, Ordering::Relaxed);
                    totals[1].fetch_add(r.work_runs, Ordering::Relaxed);
                    totals[2].fetch_add(r.faults, Ordering::Relaxed);
                    let mut k = kinds.lock().unwrap_or_else(|e| e.into_inner());
                    for kind in &r.kinds {
                        *k.entry(kind).or_default() += 1;
                    }
                    drop(k);
                    if !r.ok() {
                        failed.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    }
                }
            });
        }
    });
    let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    failed.sort_by_key(|r| r.seed);
    for r in &failed {
        print_report(r, bidders);
    }
    let [images, runs, faults] = totals.map(|t| t.into_inner());
    println!(
        "argus-sim: {} seeds ({}..{}) in {:.1} s on {} threads: {} failed; {} images, {} work runs ({:.3} per image), {} faults",
        seeds,
        start,
        start + seeds,
        t0.elapsed().as_secs_f64(),
        threads,
        failed.len(),
        images,
        runs,
        runs as f64 / images.max(1) as f64,
        faults
    );
    let kinds = kinds.into_inner().unwrap_or_else(|e| e.into_inner());
    let cover: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("argus-sim: seeds per fault kind: {}", cover.join(", "));
    std::process::exit(if failed.is_empty() { 0 } else { 1 });
}

fn print_report(r: &Report, bidders: Option<usize>) {
    let status = if r.ok() { "ok" } else { "FAILED" };
    println!("seed {}: {status}: {}", r.seed, r.shape);
    println!(
        "  {} images, {} work runs, {} faults, {} registers pulled by anti-entropy, longest wait for a store {} ms",
        r.images, r.work_runs, r.faults, r.sync_pulled, r.max_wait_ms
    );
    for f in &r.failures {
        println!("  - {f}");
    }
    if !r.ok() {
        let b = bidders.map(|b| format!(" --bidders {b}")).unwrap_or_default();
        println!("  replay: cargo run --release -p argus-sim{} -- --seed {}{b}", sabotage_flag(), r.seed);
    }
}

/// The cargo flag that rebuilds this sabotaged simulator, if it is one.
fn sabotage_flag() -> &'static str {
    if cfg!(feature = "sabotage-no-takeover") {
        " --features sabotage-no-takeover"
    } else if cfg!(feature = "sabotage-no-merge") {
        " --features sabotage-no-merge"
    } else {
        ""
    }
}
