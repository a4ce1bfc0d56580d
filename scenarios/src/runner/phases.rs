//! The phases of a run: start the nodes (directly or through the monitor), wait for them to
//! mesh, then load (sources, queries, observers and the fault timeline together), idle,
//! settle until replicas converge, and read every store. Each phase ends early on Ctrl-C.
//! Returns whatever was observed, also when a phase failed, so the report shows it.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::{broadcast, mpsc, watch};

use crate::collect::{self, ANNOUNCE_CAP};
use crate::faults::{self, progress};
use crate::fleet::{Clock, Fleet, FleetView};
use crate::observe::{FaultRecord, Observations};
use crate::procs::LineEvent;
use crate::schema::{Plan, derive_seed};
use crate::sources;

pub struct Io {
    pub lines_tx: mpsc::Sender<LineEvent>,
    pub lines_rx: mpsc::Receiver<LineEvent>,
    pub peers_tx: watch::Sender<std::collections::BTreeMap<String, String>>,
    pub view: watch::Receiver<FleetView>,
    pub cancel: watch::Receiver<bool>,
}

/// Status polling period: the "audit ratio over time (polling every second)".
const POLL_PERIOD: Duration = Duration::from_secs(1);

async fn start_nodes(plan: &Plan, fleet: &mut Fleet, out: &Path) -> anyhow::Result<()> {
    let s = &plan.scenario;
    match &s.monitor {
        Some(m) => fleet.start_monitored(m, out).await?,
        None => fleet.start_many(&(0..s.nodes.count).collect::<Vec<_>>()).await?,
    }
    Ok(())
}

/// Waits until every node sees all the others (or `warmup_s` passes: then warns and goes on);
/// returns how long that took, in seconds.
async fn warmup(
    plan: &Plan,
    fleet: &Fleet,
    view: &watch::Receiver<FleetView>,
    cancel: &mut watch::Receiver<bool>,
) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs_f64(plan.scenario.warmup_s);
    let started = Instant::now();
    loop {
        let nodes = view.borrow().nodes.clone();
        let want = nodes.len().saturating_sub(1);
        let mut short = Vec::new();
        for n in &nodes {
            match n.client.status().await {
                Ok(st) if st.peers.len() >= want => {}
                Ok(st) => short.push(format!("{} sees {}", n.name, st.peers.len())),
                Err(e) => short.push(format!("{}: {e}", n.name)),
            }
        }
        if short.is_empty() {
            let s = started.elapsed().as_secs_f64();
            progress(fleet, &format!("{} nodes meshed after {s:.1} s", nodes.len()));
            return Some(s);
        }
        if Instant::now() >= deadline {
            progress(
                fleet,
                &format!("warning: not meshed after warmup_s (want {want} peers each): {}", short.join("; ")),
            );
            return None;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = cancel.wait_for(|c| *c) => return None,
        }
    }
}

/// Waits for a converged status round at or after `from_ms`, up to `limit`.
async fn settle(
    conv: &mut watch::Receiver<Option<u64>>,
    from_ms: u64,
    limit: Duration,
    cancel: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        r = tokio::time::timeout(limit, conv.wait_for(|c| c.is_some_and(|t| t >= from_ms))) => matches!(r, Ok(Ok(_))),
        _ = cancel.wait_for(|c| *c) => false,
    }
}

/// Runs every phase; returns the observations, the count of skipped queries and an error
/// when the run could not complete.
pub async fn execute(
    plan: &Plan,
    fleet: &mut Fleet,
    out: &Path,
    io: Io,
) -> (Observations, u64, Option<anyhow::Error>) {
    let Io { lines_tx, lines_rx, peers_tx, view, mut cancel } = io;
    let s = &plan.scenario;
    let early = Observations { monitored: s.monitor.is_some(), ..Observations::default() };
    tokio::select! {
        r = start_nodes(plan, fleet, out) => if let Err(e) = r {
            return (early, 0, Some(e.context("starting the nodes")));
        },
        _ = cancel.wait_for(|c| *c) => return (early, 0, Some(anyhow!("interrupted while starting nodes"))),
    }
    let mesh_s = warmup(plan, fleet, &view, &mut cancel).await;
    let outsiders = match fleet.start_outsiders(out).await {
        Ok(ids) => ids,
        Err(e) => return (early, 0, Some(anyhow!(e).context("starting the outsiders"))),
    };
    if !outsiders.is_empty() {
        progress(fleet, &format!("{} outsiders without the network key started", outsiders.len()));
    }
    let clock = Clock::start();
    fleet.clock = Some(clock);
    fleet.publish();
    progress(fleet, "load starts");

    let (stop_obs_tx, stop_obs) = watch::channel(false);
    let (stop_q_tx, stop_q) = watch::channel(false);
    let (stop_lines_tx, stop_lines) = watch::channel(false);
    let (conv_tx, mut conv_rx) = watch::channel(None);
    let (ann_tx, _) = broadcast::channel(ANNOUNCE_CAP);
    let names: BTreeSet<String> = plan.sources.iter().map(|s| s.name.clone()).collect();
    let prober =
        tokio::spawn(collect::probe_completions(view.clone(), ann_tx.subscribe(), clock, stop_obs.clone()));
    let queries = s.queries.clone().map(|q| {
        tokio::spawn(collect::query_load(
            q,
            derive_seed(plan.seed, 1_000),
            view.clone(),
            ann_tx.subscribe(),
            clock,
            stop_q,
        ))
    });
    let collector =
        tokio::spawn(collect::collect_lines(lines_rx, clock, names, ann_tx, peers_tx, stop_lines));
    let poller = tokio::spawn(collect::poll_status(view.clone(), clock, POLL_PERIOD, conv_tx, stop_obs));
    let placed = plan.sources.iter().map(|src| (src.clone(), fleet.lab.placement(&src.name))).collect();
    let senders = tokio::spawn(sources::run_sources(
        placed,
        fleet.bin.clone(),
        fleet.network_key.clone(),
        out.to_path_buf(),
        lines_tx,
        clock,
        cancel.clone(),
    ));

    let mut records = started_anomalous(s);
    records.extend(faults::run_timeline(fleet, &plan.faults, &mut cancel).await);
    faults::sleep_until_ms(fleet, (s.duration_s * 1000.0) as u64, &mut cancel).await;
    let load_end_ms = clock.now_ms();
    let _ = stop_q_tx.send(true);
    progress(fleet, "load phase over; waiting for the sources to finish");
    let source_runs = senders.await.unwrap_or_default();
    faults::sleep_until_ms(fleet, load_end_ms + (s.idle_s * 1000.0) as u64, &mut cancel).await;
    let idle_end_ms = clock.now_ms();
    progress(fleet, "settling: waiting for equal fingerprints on every live node");
    let converged = settle(&mut conv_rx, idle_end_ms, Duration::from_secs_f64(s.settle_s), &mut cancel).await;
    progress(fleet, if converged { "converged" } else { "not converged within settle_s" });
    let _ = stop_obs_tx.send(true);
    let samples = poller.await.unwrap_or_default();
    let completions = prober.await.unwrap_or_default();
    let (query_samples, skipped) = match queries {
        Some(h) => h.await.unwrap_or_default(),
        None => (Vec::new(), 0),
    };
    let interrupted = *cancel.borrow();
    let final_nodes =
        if interrupted { Vec::new() } else { collect::final_stores(&view.borrow().clone()).await };
    let end_ms = clock.now_ms();
    let _ = stop_lines_tx.send(true);
    let (announced, monitor_events) = collector.await.unwrap_or_default();
    for r in source_runs.iter().filter(|r| r.error.is_some() || r.exit_code != Some(0)) {
        progress(
            fleet,
            &format!(
                "warning: source {} ended with {:?} {}",
                r.name,
                r.exit_code,
                r.error.clone().unwrap_or_default()
            ),
        );
    }
    let obs = Observations {
        t0_unix_ms: clock.t0_unix_ms,
        load_end_ms,
        idle_end_ms,
        end_ms,
        announced,
        samples,
        queries: query_samples,
        completions,
        faults: records,
        live_counts: fleet.live_counts.clone(),
        monitor_events,
        final_nodes,
        monitored: s.monitor.is_some(),
        sources: source_runs,
        mesh_s,
        outsiders,
    };
    (obs, skipped, interrupted.then(|| anyhow!("interrupted")))
}

/// Nodes started with `--fault anomalous[=RATE]` are anomalous from the start: recorded as an
/// `anomalous` fault at 0 s so the bands, the restart delay and the anomalous-value check see
/// them like a timeline step. Only the nodes started before the load: a spare started later
/// by a `start` step with such flags is not recorded.
fn started_anomalous(s: &crate::schema::Scenario) -> Vec<FaultRecord> {
    s.node_names()
        .into_iter()
        .take(s.nodes.count)
        .filter_map(|name| {
            let rate = anomalous_rate(&s.extra_args_of(&name))?;
            Some(FaultRecord {
                at_ms: 0,
                done_ms: 0,
                kind: "anomalous".into(),
                targets: vec![name],
                detail: format!("--fault anomalous={rate} from the start"),
                rate: Some(rate),
                ok: true,
                error: None,
            })
        })
        .collect()
}

/// The rate of a `--fault anomalous[=RATE]` among node flags (`--fault X` or `--fault=X`).
fn anomalous_rate(args: &[String]) -> Option<f64> {
    let spec = args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--fault") {
        Some("") => args.get(i + 1).cloned(),
        Some(rest) => rest.strip_prefix('=').map(str::to_string),
        None => None,
    })?;
    match spec.split_once('=') {
        None if spec == "anomalous" => Some(1.0),
        Some(("anomalous", r)) => r.parse().ok().filter(|r: &f64| *r > 0.0),
        _ => None,
    }
}

#[cfg(test)]
mod anomalous_flag_tests {
    use super::anomalous_rate;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fault_flags_are_read_in_both_spellings() {
        assert_eq!(anomalous_rate(&args(&["--fault", "anomalous"])), Some(1.0));
        assert_eq!(anomalous_rate(&args(&["--x", "--fault=anomalous=0.5"])), Some(0.5));
        assert_eq!(anomalous_rate(&args(&["--fault", "anomalous=0"])), None);
        assert_eq!(anomalous_rate(&args(&["--fault"])), None);
        assert_eq!(anomalous_rate(&args(&["--no-mdns"])), None);
    }
}
