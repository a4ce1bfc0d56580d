//! Crash consistency under SIGKILL: a node killed at random moments during heavy writes loses
//! nothing it had acknowledged. Two nodes on loopback (the victim and a witness) store every
//! result of a continuous synthetic stream (each result is written on both). Before each kill
//! the tool records what the victim had acknowledged: every result it answered for (its
//! `/v1/detections` pages) and every result it published (the witness's results whose worker
//! is the victim). Then it SIGKILLs the victim at a random moment (0.2-1.5 s later, while
//! results and merges are being written), restarts it on the same data folder, and checks that
//! its store holds every acknowledged result. Any missing one is a failure.
//!
//! Run: `cargo run -p argus-tests --bin argus-crashkill -- [--kills N] [--seed S]` (`just
//! crash-kill`; the `argus` binary beside it, or `ARGUS_BIN`). Prints each kill and the totals;
//! exits 1 on any loss.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_state::rng::Rng;
use argus_tests::{NodeProc, TempDir, block_on};

fn usage() -> ! {
    eprintln!("usage: argus-crashkill [--kills N] [--seed S]");
    std::process::exit(2)
}

fn ids(node: &NodeProc, worker: Option<&str>) -> anyhow::Result<BTreeSet<String>> {
    let all = block_on(node.client().all_detections())?.context("reading a node's detections")?;
    Ok(all
        .into_iter()
        .filter(|d| worker.is_none() || d.worker.as_deref() == worker)
        .map(|d| d.image_id)
        .collect())
}

fn sender(peers: &[String]) -> anyhow::Result<Child> {
    let mut cmd = Command::new(argus_tests::argus_bin());
    cmd.args(["send", "--synthetic", "--count", "1000000", "--seed", "9", "--rate", "25", "--linger-s", "1"])
        .args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--min-peers", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for p in peers {
        cmd.args(["--peer", p]);
    }
    cmd.spawn().context("starting argus send")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut kills, mut seed) = (100u64, 1u64);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match a.as_str() {
            "--kills" => kills = num(),
            "--seed" => seed = num(),
            _ => usage(),
        }
    }
    let mut rng = Rng::new(seed);
    let dir = TempDir::new("crashkill");
    let flags = ["--backend", "flex", "--model", "shapes"];
    let witness = NodeProc::start(&dir.0.join("witness"), &[], &flags)?;
    let victim_dir = dir.0.join("victim");
    let mut victim = NodeProc::start(&victim_dir, &[witness.addr()], &flags)?;
    let peer = victim.peer_id.clone();
    let mut send = sender(&[witness.addr(), victim.addr()])?;
    std::thread::sleep(Duration::from_secs(3));
    let t0 = Instant::now();
    let (mut checked, mut lost_total, mut stored_max) = (0usize, 0usize, 0usize);
    for k in 1..=kills {
        // What the victim acknowledged so far: answered by it, or published by it.
        let mut acked = ids(&victim, None)?;
        acked.extend(ids(&witness, Some(&peer))?);
        std::thread::sleep(Duration::from_millis(200 + rng.below(1_300)));
        victim.kill(); // SIGKILL (std's Child::kill), then reaped
        victim = NodeProc::start(&victim_dir, &[witness.addr()], &flags)
            .with_context(|| format!("restarting the victim after kill {k}"))?;
        if victim.peer_id != peer {
            bail!("kill {k}: the victim came back as {} instead of {peer}", victim.peer_id);
        }
        let now = ids(&victim, None)?;
        let lost: Vec<&String> = acked.iter().filter(|id| !now.contains(*id)).collect();
        checked += acked.len();
        lost_total += lost.len();
        stored_max = stored_max.max(now.len());
        println!(
            "kill {k:>3}: {} acknowledged before, {} stored after, {} lost{}",
            acked.len(),
            now.len(),
            lost.len(),
            lost.first().map(|id| format!(" (e.g. {})", &id[..16])).unwrap_or_default()
        );
    }
    let _ = send.kill();
    let _ = send.wait();
    println!(
        "argus-crashkill: {kills} SIGKILLs in {:.0} s; {checked} acknowledged results checked after restarts \
         (up to {stored_max} stored); {lost_total} lost",
        t0.elapsed().as_secs_f64()
    );
    if lost_total > 0 {
        std::process::exit(1);
    }
    Ok(())
}
