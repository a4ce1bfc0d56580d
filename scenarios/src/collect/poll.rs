//! Periodic observers: status + digest of every node each second (with a progress line every
//! few rounds and the time of the latest converged round), the completion prober (when does
//! each announced image first have a stored result), and the query load. Each runs until its
//! stop signal and returns what it saw; every call has the client's timeout.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::{RngExt, SeedableRng, rngs::StdRng};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

use crate::fleet::{Clock, FleetView, NodeView};
use crate::observe::{
    Announcement, QueryOutcome, QuerySample, StatusSample, round_converged, round_divergence,
};
use crate::schema::{Consistency, Queries};

/// Status rounds between two progress lines.
const PROGRESS_EVERY: u64 = 5;
/// Images probed per tick, oldest first.
const PROBE_BATCH: usize = 64;
const PROBE_PERIOD: Duration = Duration::from_millis(500);
/// Queries in flight at once; beyond it a tick is skipped (and counted).
const MAX_QUERIES_IN_FLIGHT: usize = 64;

async fn sample(n: NodeView, round: u64, t_ms: u64) -> StatusSample {
    let mut s = StatusSample {
        round,
        t_ms,
        node: n.name.clone(),
        expected_live: n.expected_live,
        hostile: n.hostile,
        ..StatusSample::default()
    };
    match n.client.status().await {
        Ok(st) => {
            s.ok = true;
            s.audit_ratio = st.audit_ratio;
            s.queue_len = st.queue_len;
            s.registers = st.store.registers;
            s.peers = st.peers.len();
            s.uptime_ms = st.uptime_ms;
            s.processed = st.counter("images_processed").map(|v| v as f64);
            s.audits = st.counter("audits_performed").map(|v| v as f64);
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    if s.ok {
        match n.client.digest().await {
            Ok(d) => s.fingerprint = Some(d.fingerprint),
            Err(e) => {
                s.ok = false;
                s.error = Some(e.to_string());
            }
        }
    }
    s
}

fn progress_line(t_ms: u64, round: &[&StatusSample]) -> String {
    let live = round.iter().filter(|s| s.ok).count();
    let (div, spread) = round_divergence(round);
    let regs: Vec<u64> = round.iter().filter(|s| s.ok).map(|s| s.registers).collect();
    let audit = round.iter().filter(|s| s.ok).map(|s| s.audit_ratio).sum::<f64>() / live.max(1) as f64;
    format!(
        "[{:>7.1}s] nodes answering {live}/{}, registers {}..{}, divergence {div} (spread {spread}), audit ratio {audit:.2}",
        t_ms as f64 / 1e3,
        round.len(),
        regs.iter().min().unwrap_or(&0),
        regs.iter().max().unwrap_or(&0),
    )
}

/// Samples every node of the current view each `period`. `converged` receives the time of
/// the latest round in which all live nodes showed one fingerprint.
pub async fn poll_status(
    view: watch::Receiver<FleetView>,
    clock: Clock,
    period: Duration,
    converged: watch::Sender<Option<u64>>,
    mut stop: watch::Receiver<bool>,
) -> Vec<StatusSample> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let t_ms = clock.now_ms();
        let nodes = view.borrow().nodes.clone();
        let mut set = JoinSet::new();
        for n in nodes {
            set.spawn(sample(n, round, t_ms));
        }
        let mut samples: Vec<StatusSample> = set.join_all().await;
        samples.sort_by(|a, b| a.node.cmp(&b.node));
        let refs: Vec<&StatusSample> = samples.iter().collect();
        if round_converged(&refs) {
            converged.send_replace(Some(t_ms));
        }
        if round % PROGRESS_EVERY == 0 && !samples.is_empty() {
            eprintln!("{}", progress_line(t_ms, &refs));
        }
        out.extend(samples);
    }
    out
}

fn drain(rx: &mut broadcast::Receiver<Announcement>, into: &mut impl Extend<Announcement>) {
    loop {
        match rx.try_recv() {
            Ok(a) => into.extend([a]),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "observer fell behind the announcements")
            }
            Err(_) => return,
        }
    }
}

/// Finds when each announced image first has a stored result: the node's `stored_at_ms`
/// when it reports one, else the time the probe first found it (resolution: the period).
pub async fn probe_completions(
    view: watch::Receiver<FleetView>,
    mut announcements: broadcast::Receiver<Announcement>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) -> BTreeMap<String, u64> {
    let mut done = BTreeMap::new();
    let mut pending: VecDeque<Announcement> = VecDeque::new();
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PROBE_PERIOD) => {}
            _ = stop.wait_for(|s| *s) => return done,
        }
        drain(&mut announcements, &mut pending);
        let live: Vec<NodeView> = view.borrow().nodes.iter().filter(|n| n.expected_live).cloned().collect();
        if live.is_empty() {
            continue;
        }
        let mut still = VecDeque::new();
        for (k, a) in pending.drain(..).enumerate() {
            if k >= PROBE_BATCH {
                still.push_back(a);
                continue;
            }
            turn += 1;
            let node = &live[turn % live.len()];
            match node.client.detection(&a.image_id, false).await {
                Ok(Some(d)) => {
                    let t =
                        d.first_ts_ms.map_or_else(|| clock.now_ms(), |u| u.saturating_sub(clock.t0_unix_ms));
                    done.insert(a.image_id, t);
                }
                _ => still.push_back(a),
            }
        }
        pending = still;
    }
}

async fn one_query(node: NodeView, image_id: String, majority: bool, clock: Clock) -> QuerySample {
    let t_ms = clock.now_ms();
    let outcome = match node.client.detection(&image_id, majority).await {
        Ok(Some(d)) => {
            QueryOutcome::Found { corroborating: d.corroborating, asked: d.asked, answered: d.answered }
        }
        Ok(None) => QueryOutcome::NotFound,
        Err(e) => QueryOutcome::Failed { error: e.to_string() },
    };
    QuerySample { t_ms, node: node.name, image_id, took_ms: clock.now_ms() - t_ms, outcome }
}

/// Asks random live nodes for random announced images at `q.rate_per_s` until `stop`.
pub async fn query_load(
    q: Queries,
    seed: u64,
    view: watch::Receiver<FleetView>,
    mut announcements: broadcast::Receiver<Announcement>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) -> (Vec<QuerySample>, u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<String> = Vec::new();
    let mut known = BTreeSet::new();
    let mut out = Vec::new();
    let mut skipped = 0u64;
    let mut set = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / q.rate_per_s));
    let timeout = Duration::from_millis(q.timeout_ms);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        while let Some(Ok(s)) = set.try_join_next() {
            out.push(s);
        }
        let mut fresh = Vec::new();
        drain(&mut announcements, &mut fresh);
        ids.extend(fresh.into_iter().filter(|a| known.insert(a.image_id.clone())).map(|a| a.image_id));
        let live: Vec<NodeView> = view.borrow().nodes.iter().filter(|n| n.expected_live).cloned().collect();
        if ids.is_empty() || live.is_empty() {
            continue;
        }
        if set.len() >= MAX_QUERIES_IN_FLIGHT {
            skipped += 1;
            continue;
        }
        let mut node = live[rng.random_range(0..live.len())].clone();
        node.client.timeout = timeout;
        let id = ids[rng.random_range(0..ids.len())].clone();
        set.spawn(one_query(node, id, q.consistency == Consistency::Majority, clock));
    }
    out.extend(set.join_all().await);
    out.sort_by_key(|s| s.t_ms);
    (out, skipped)
}
