//! Every figure of a run, computed from the observations: losses, duplicates, latency and
//! throughput, convergence after each heal, queries during partitions, monitor restarts,
//! audit ratio, split votes. Pure; `checks.rs` compares these to thresholds and the report
//! stores them all.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::bands::{Band, BandKind, in_partition};
use crate::observe::{FinalNode, Observations, QueryOutcome, percentile, round_converged};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Convergence {
    /// What convergence is measured from: `heal`, `restart_all` or `end of load`.
    pub after: String,
    pub from_ms: u64,
    /// Time until every live node showed the same fingerprint; `None`: never within the run.
    pub converged_after_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryFigures {
    pub total: usize,
    pub answered: usize,
    pub found: usize,
    pub during_partition: usize,
    pub answered_during_partition: usize,
    pub found_during_partition: usize,
    pub mean_corroborating_during_partition: Option<f64>,
    pub mean_corroborating_outside: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestartDelay {
    pub node: String,
    pub fault: String,
    pub fault_at_ms: u64,
    /// Fault to the monitor's restart decision.
    pub decided_after_ms: Option<u64>,
    /// Fault to the node being up again (the monitor's `started` event after that
    /// decision); equal to `decided_after_ms` when the monitor reports no `started` events.
    pub restarted_after_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub announced: usize,
    pub required: usize,
    pub lost: usize,
    pub lost_examples: Vec<String>,
    pub missing_per_node: BTreeMap<String, usize>,
    pub nodes_expected_up: Vec<String>,
    pub nodes_not_answering: Vec<String>,
    pub processed_per_node: BTreeMap<String, f64>,
    /// Audits each node ran for other workers' results (its `audits_performed` counter).
    pub audits_per_node: BTreeMap<String, f64>,
    pub distinct_stored: usize,
    pub duplicates: f64,
    pub duplicate_ratio: Option<f64>,
    pub completed: usize,
    pub latency: Option<Latency>,
    pub throughput_per_s: Option<f64>,
    pub convergence: Vec<Convergence>,
    pub queries: QueryFigures,
    pub monitor_restarts: usize,
    pub restart_delays: Vec<RestartDelay>,
    pub audit_ratio_load_min: Option<f64>,
    pub audit_ratio_idle_max: Option<f64>,
    pub split_votes_ratio: Option<f64>,
    /// Images whose stored value (on some live node at the end) is vouched for only by a node
    /// that was anomalous when it produced it; `None` when no node was made anomalous.
    pub anomalous_values: Option<usize>,
    pub anomalous_examples: Vec<String>,
    /// Seconds until every node saw all the others (see `Observations::mesh_s`).
    pub mesh_s: Option<f64>,
    /// Member-outsider connections at the end (over every live member that answered); `None`
    /// without outsiders or without an answer.
    pub outsider_connections: Option<usize>,
    /// Images whose stored winner (on some live member) an outsider produced.
    pub outsider_values: Option<usize>,
    /// The members' `connections_refused` counters at the end, summed.
    pub connections_refused: u64,
    /// Per hostile member: seconds from when it could first misbehave until the last honest
    /// live member banned it: from the load's start (or its own, if later), or from its start
    /// when the ban came before the load (a flooder misbehaves from its start); `None` when
    /// some member had not banned it by the end.
    pub hostile_bans: BTreeMap<String, Option<f64>>,
}

pub fn compute(obs: &Observations, bands: &[Band]) -> Figures {
    let mut f = Figures { announced: obs.announced.len(), mesh_s: obs.mesh_s, ..Figures::default() };
    losses(obs, &mut f);
    work(obs, &mut f);
    timing(obs, &mut f);
    f.convergence = convergence(obs);
    f.queries = queries(obs, bands);
    restarts(obs, &mut f);
    audit(obs, &mut f);
    anomalous_values(obs, bands, &mut f);
    outsiders(obs, &mut f);
    hostile_bans(obs, &mut f);
    f
}

/// How long the honest members took to ban each hostile one (see `Figures::hostile_bans`).
fn hostile_bans(obs: &Observations, f: &mut Figures) {
    let members: Vec<_> = obs.final_nodes.iter().filter(|n| n.answering_member()).collect();
    for h in obs.final_nodes.iter().filter(|n| n.hostile) {
        let Some(peer) = &h.peer_id else {
            f.hostile_bans.insert(h.name.clone(), None);
            continue;
        };
        let at = |m: &FinalNode| m.bans.iter().find(|(p, _)| p == peer).map(|(_, t)| *t);
        let times: Option<Vec<u64>> = members.iter().map(|m| at(m)).collect();
        let slowest = times.filter(|t| !t.is_empty()).and_then(|t| t.into_iter().max());
        // A flooder misbehaves from its start, before the load; the others once images flow.
        let started = h.started_unix_ms.unwrap_or(obs.t0_unix_ms);
        let from = |t: u64| if t < obs.t0_unix_ms { started } else { started.max(obs.t0_unix_ms) };
        let secs = slowest.map(|t| (t as f64 - from(t) as f64) / 1e3);
        f.hostile_bans.insert(h.name.clone(), secs);
    }
}

/// What the outsiders (no network key) got in: connections to members, stored winners.
fn outsiders(obs: &Observations, f: &mut Figures) {
    let members: Vec<_> = obs.final_nodes.iter().filter(|n| n.answering_member()).collect();
    f.connections_refused = members.iter().filter_map(|n| n.connections_refused).sum();
    if obs.outsiders.is_empty() || members.is_empty() {
        return;
    }
    let outsider = |p: &str| obs.outsiders.iter().any(|o| o == p);
    f.outsider_connections =
        Some(members.iter().map(|n| n.peers.iter().filter(|p| outsider(p)).count()).sum());
    let mut won: BTreeSet<&str> = BTreeSet::new();
    for n in &members {
        for (id, w) in &n.winners {
            if w.worker.as_deref().is_some_and(outsider) {
                won.insert(id);
            }
        }
    }
    f.outsider_values = Some(won.len());
}

/// A stored winner produced by a node inside one of its anomalous bands and attested by no
/// other node is the anomalous value surviving: audits and re-audits of suspects must have
/// replaced it with an honest, better-voted one.
fn anomalous_values(obs: &Observations, bands: &[Band], f: &mut Figures) {
    let anomalous: Vec<&Band> = bands.iter().filter(|b| b.kind == BandKind::Anomalous).collect();
    if anomalous.is_empty() {
        return;
    }
    let peer_of =
        |name: &str| obs.final_nodes.iter().find(|n| n.name == name).and_then(|n| n.peer_id.clone());
    let windows: Vec<(String, u64, u64)> =
        anomalous.iter().filter_map(|b| Some((peer_of(b.node.as_deref()?)?, b.start_ms, b.end_ms))).collect();
    let mut bad: BTreeSet<&str> = BTreeSet::new();
    for n in obs.final_nodes.iter().filter(|n| n.answering_member()) {
        for (id, w) in &n.winners {
            let (Some(worker), Some(ts)) = (w.worker.as_deref(), w.first_ts_ms) else { continue };
            let t = ts.saturating_sub(obs.t0_unix_ms);
            if w.votes < 2 && windows.iter().any(|(p, s, e)| p == worker && *s <= t && t <= *e) {
                bad.insert(id);
            }
        }
    }
    f.anomalous_values = Some(bad.len());
    f.anomalous_examples = bad.iter().take(5).map(|s| s.chars().take(16).collect()).collect();
}

fn losses(obs: &Observations, f: &mut Figures) {
    let required = obs.required();
    f.required = required.len();
    let mut lost: BTreeSet<&str> = BTreeSet::new();
    for n in obs.final_nodes.iter().filter(|n| n.expected_live && !n.hostile) {
        f.nodes_expected_up.push(n.name.clone());
        if !n.responded {
            f.nodes_not_answering.push(n.name.clone());
            continue;
        }
        let missing: Vec<&str> =
            required.iter().copied().filter(|id| !n.candidates.contains_key(*id)).collect();
        f.missing_per_node.insert(n.name.clone(), missing.len());
        lost.extend(missing);
    }
    if f.nodes_expected_up.len() == f.nodes_not_answering.len() {
        // No live store answered: nothing announced can be shown to survive.
        lost.extend(required.iter().copied());
    }
    f.lost = lost.len();
    // Short ids keep the summary readable; report.json lists the figures in full.
    f.lost_examples = lost.iter().take(5).map(|s| s.chars().take(16).collect()).collect();
}

fn work(obs: &Observations, f: &mut Figures) {
    f.processed_per_node = obs.processed_per_node();
    if obs.samples.iter().any(|s| s.audits.is_some()) {
        f.audits_per_node = obs.audits_per_node();
    }
    let stored: BTreeMap<&str, u64> =
        obs.final_nodes.iter().filter(|n| !n.hostile).flat_map(|n| n.candidates.iter()).fold(
            BTreeMap::new(),
            |mut m, (id, c)| {
                let e = m.entry(id.as_str()).or_insert(0);
                *e = (*e).max(*c);
                m
            },
        );
    f.distinct_stored = stored.len();
    let total: f64 = f.processed_per_node.values().sum();
    f.duplicates = (total - stored.len() as f64).max(0.0);
    if !stored.is_empty() && !obs.samples.iter().all(|s| s.processed.is_none()) {
        f.duplicate_ratio = Some(f.duplicates / stored.len() as f64);
    }
    if !stored.is_empty() {
        f.split_votes_ratio = Some(stored.values().filter(|c| **c > 1).count() as f64 / stored.len() as f64);
    }
}

fn timing(obs: &Observations, f: &mut Figures) {
    let mut lat: Vec<f64> = Vec::new();
    let mut last_done = 0;
    for a in &obs.announced {
        if let Some(done) = obs.completions.get(&a.image_id) {
            lat.push(done.saturating_sub(a.t_ms) as f64);
            last_done = last_done.max(*done);
        }
    }
    f.completed = lat.len();
    if lat.is_empty() {
        return;
    }
    f.latency = Some(Latency {
        count: lat.len(),
        p50_ms: percentile(&mut lat, 50.0).unwrap_or(0.0),
        p90_ms: percentile(&mut lat, 90.0).unwrap_or(0.0),
        p99_ms: percentile(&mut lat, 99.0).unwrap_or(0.0),
        max_ms: percentile(&mut lat, 100.0).unwrap_or(0.0),
    });
    let first = obs.announced.iter().map(|a| a.t_ms).min().unwrap_or(0);
    let span_s = (last_done.saturating_sub(first) as f64 / 1000.0).max(1.0);
    f.throughput_per_s = Some(f.completed as f64 / span_s);
}

fn convergence(obs: &Observations) -> Vec<Convergence> {
    let rounds = obs.rounds();
    let first_converged = |from: u64| {
        rounds
            .iter()
            .find(|(_, s)| s.first().is_some_and(|x| x.t_ms >= from) && round_converged(s))
            .and_then(|(_, s)| s.first().map(|x| x.t_ms - from))
    };
    let mut out: Vec<Convergence> = obs
        .faults
        .iter()
        // A heal reconnects replicas; a restart of every node brings them back from disk.
        .filter(|r| (r.kind == "heal" || r.kind == "restart_all") && r.ok)
        .map(|r| Convergence {
            after: r.kind.clone(),
            from_ms: r.done_ms,
            converged_after_ms: first_converged(r.done_ms),
        })
        .collect();
    out.push(Convergence {
        after: "end of load".into(),
        from_ms: obs.load_end_ms,
        converged_after_ms: first_converged(obs.load_end_ms),
    });
    out
}

fn queries(obs: &Observations, bands: &[Band]) -> QueryFigures {
    let mut q = QueryFigures { total: obs.queries.len(), ..QueryFigures::default() };
    let (mut corr_in, mut corr_out) = (Vec::new(), Vec::new());
    for s in &obs.queries {
        let part = in_partition(bands, s.t_ms);
        let answered = !matches!(s.outcome, QueryOutcome::Failed { .. });
        let found = matches!(s.outcome, QueryOutcome::Found { .. });
        q.answered += answered as usize;
        q.found += found as usize;
        if part {
            q.during_partition += 1;
            q.answered_during_partition += answered as usize;
            q.found_during_partition += found as usize;
        }
        if let QueryOutcome::Found { corroborating: Some(c), .. } = s.outcome {
            if part { corr_in.push(c as f64) } else { corr_out.push(c as f64) }
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    q.mean_corroborating_during_partition = mean(&corr_in);
    q.mean_corroborating_outside = mean(&corr_out);
    q
}

fn restarts(obs: &Observations, f: &mut Figures) {
    let restarts: Vec<_> = obs.monitor_events.iter().filter(|e| e.event == "restart").collect();
    f.monitor_restarts = restarts.len();
    if !obs.monitored {
        return;
    }
    let emits_started = obs.monitor_events.iter().any(|e| e.event == "started");
    for r in obs.faults.iter().filter(|r| r.ok) {
        let faulty = matches!(r.kind.as_str(), "kill" | "pause")
            || (r.kind == "anomalous" && r.rate.unwrap_or(0.0) > 0.0);
        if !faulty {
            continue;
        }
        for node in &r.targets {
            let first = |kind: &str, from: u64| {
                obs.monitor_events
                    .iter()
                    .filter(|e| e.event == kind && &e.node == node && e.t_ms >= from)
                    .map(|e| e.t_ms)
                    .min()
            };
            let decided = first("restart", r.at_ms);
            let up = match (emits_started, decided) {
                (true, Some(d)) => first("started", d),
                (false, d) => d,
                (true, None) => None,
            };
            f.restart_delays.push(RestartDelay {
                node: node.clone(),
                fault: r.kind.clone(),
                fault_at_ms: r.at_ms,
                decided_after_ms: decided.map(|t| t - r.at_ms),
                restarted_after_ms: up.map(|t| t - r.at_ms),
            });
        }
    }
}

fn audit(obs: &Observations, f: &mut Figures) {
    let mut load_min: Option<f64> = None;
    let mut idle_max: Option<f64> = None;
    for (_, samples) in obs.rounds() {
        let ok: Vec<f64> = samples.iter().filter(|s| s.ok).map(|s| s.audit_ratio).collect();
        let (Some(first), false) = (samples.first(), ok.is_empty()) else {
            continue;
        };
        let mean = ok.iter().sum::<f64>() / ok.len() as f64;
        if first.t_ms <= obs.load_end_ms {
            load_min = Some(load_min.map_or(mean, |m| m.min(mean)));
        } else if first.t_ms <= obs.idle_end_ms {
            idle_max = Some(idle_max.map_or(mean, |m| m.max(mean)));
        }
    }
    f.audit_ratio_load_min = load_min;
    f.audit_ratio_idle_max = idle_max;
}
