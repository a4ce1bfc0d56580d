//! The fault timeline executor: waits for each step's time, applies it to the fleet and the
//! lab, prints a progress line and records what happened (a failed step is recorded and the
//! run goes on; the checks then judge the damage). Stops early when the run is cancelled.
//! Never decides pass or fail itself.

use std::time::Duration;

use tokio::sync::watch;

use crate::fleet::{Fleet, FleetError, SlotState};
use crate::observe::FaultRecord;
use crate::schema::{Fault, TimedFault};

/// Sleeps until run time `at_ms`; false when cancelled first.
pub async fn sleep_until_ms(fleet: &Fleet, at_ms: u64, cancel: &mut watch::Receiver<bool>) -> bool {
    let Some(clock) = fleet.clock else {
        return true;
    };
    let deadline = tokio::time::Instant::from_std(clock.t0 + Duration::from_millis(at_ms));
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = cancel.wait_for(|c| *c) => false,
    }
}

pub fn progress(fleet: &Fleet, message: &str) {
    let t = fleet.clock.map_or(0, |c| c.now_ms());
    eprintln!("[{:>7.1}s] {message}", t as f64 / 1000.0);
}

/// Runs every step in order. Returns the records.
pub async fn run_timeline(
    fleet: &mut Fleet,
    faults: &[TimedFault],
    cancel: &mut watch::Receiver<bool>,
) -> Vec<FaultRecord> {
    let mut records = Vec::new();
    for step in faults {
        if !sleep_until_ms(fleet, step.at_ms, cancel).await {
            break;
        }
        match &step.fault {
            Fault::RollingRestart { interval_ms, fresh_data } => {
                rolling(fleet, step.at_ms, *interval_ms, *fresh_data, cancel, &mut records).await;
            }
            fault => {
                let record = apply_recorded(fleet, fault).await;
                records.push(record);
            }
        }
    }
    records
}

async fn rolling(
    fleet: &mut Fleet,
    at_ms: u64,
    interval_ms: u64,
    fresh: bool,
    cancel: &mut watch::Receiver<bool>,
    records: &mut Vec<FaultRecord>,
) {
    let running: Vec<String> =
        fleet.slots.iter().filter(|s| s.state == SlotState::Running).map(|s| s.name.clone()).collect();
    for (k, node) in running.iter().enumerate() {
        if !sleep_until_ms(fleet, at_ms + k as u64 * interval_ms, cancel).await {
            return;
        }
        let mut r = apply_recorded(fleet, &Fault::Restart { node: node.clone(), fresh_data: fresh }).await;
        r.detail = format!("rolling {}/{}{}", k + 1, running.len(), if fresh { ", fresh data" } else { "" });
        records.push(r);
    }
}

fn kind_of(fault: &Fault) -> String {
    let v = serde_json::to_value(fault).unwrap_or_default();
    v["fault"].as_str().unwrap_or("unknown").to_string()
}

async fn apply_recorded(fleet: &mut Fleet, fault: &Fault) -> FaultRecord {
    let at_ms = fleet.clock.map_or(0, |c| c.now_ms());
    let kind = kind_of(fault);
    let outcome = apply(fleet, fault).await;
    let done_ms = fleet.clock.map_or(0, |c| c.now_ms());
    let (targets, detail) = describe(fleet, fault);
    let rate = match fault {
        Fault::Anomalous { rate, .. } => Some(*rate),
        _ => None,
    };
    match &outcome {
        Ok(()) => progress(fleet, &format!("{kind} {detail} ({} ms)", done_ms - at_ms)),
        Err(e) => progress(fleet, &format!("{kind} {detail} FAILED: {e}")),
    }
    FaultRecord {
        at_ms,
        done_ms,
        kind,
        targets,
        detail,
        rate,
        ok: outcome.is_ok(),
        error: outcome.err().map(|e| e.to_string()),
    }
}

fn describe(fleet: &Fleet, fault: &Fault) -> (Vec<String>, String) {
    match fault {
        Fault::Partition { groups } => {
            let d =
                groups.iter().map(|(k, v)| format!("{k}=[{}]", v.join(","))).collect::<Vec<_>>().join(" | ");
            (Vec::new(), d)
        }
        Fault::Isolate { node } => (vec![node.clone()], node.clone()),
        Fault::Heal => (Vec::new(), String::new()),
        Fault::Kill { node } | Fault::Pause { node } | Fault::Resume { node } | Fault::Start { node } => {
            (vec![node.clone()], node.clone())
        }
        Fault::Restart { node, fresh_data } => {
            (vec![node.clone()], format!("{node}{}", if *fresh_data { " (fresh data)" } else { "" }))
        }
        Fault::Anomalous { node, rate } => (vec![node.clone()], format!("{node} rate={rate}")),
        Fault::KillAll | Fault::RestartAll => {
            let names: Vec<String> = fleet
                .slots
                .iter()
                .filter(|s| s.state != SlotState::NotStarted)
                .map(|s| s.name.clone())
                .collect();
            let d = names.join(",");
            (names, d)
        }
        Fault::RollingRestart { .. } => (Vec::new(), String::new()),
    }
}

/// Every endpoint of the lab: nodes, sources, monitor, outsiders.
fn all_endpoints(fleet: &Fleet) -> Vec<String> {
    let mut all: Vec<String> = fleet.slots.iter().map(|s| s.name.clone()).collect();
    all.extend(fleet.source_names.iter().cloned());
    if fleet.monitor.is_some() {
        all.push("monitor".into());
    }
    if fleet.network_key.is_some() && fleet.outsiders > 0 {
        all.push("outsiders".into());
    }
    all
}

async fn apply(fleet: &mut Fleet, fault: &Fault) -> Result<(), FleetError> {
    match fault {
        Fault::Partition { groups } => {
            let groups: Vec<Vec<String>> = groups.values().cloned().collect();
            let book = fleet.book();
            fleet.lab.partition(&groups, &book).await?;
        }
        Fault::Isolate { node } => {
            let rest: Vec<String> = all_endpoints(fleet).into_iter().filter(|e| e != node).collect();
            let book = fleet.book();
            fleet.lab.partition(&[vec![node.clone()], rest], &book).await?;
        }
        Fault::Heal => {
            let book = fleet.book();
            fleet.lab.heal(&book).await?;
        }
        Fault::Kill { node } => {
            let i = fleet.index(node)?;
            fleet.kill(i).await?;
        }
        Fault::Pause { node } => {
            let i = fleet.index(node)?;
            fleet.signal(i, libc::SIGSTOP)?;
            let paused = if fleet.monitor.is_some() { SlotState::Running } else { SlotState::Paused };
            fleet.set_state(i, paused);
        }
        Fault::Resume { node } => {
            let i = fleet.index(node)?;
            fleet.signal(i, libc::SIGCONT)?;
            fleet.set_state(i, SlotState::Running);
        }
        Fault::Restart { node, fresh_data } => {
            let i = fleet.index(node)?;
            fleet.restart(i, *fresh_data).await?;
        }
        Fault::Start { node } => {
            let i = fleet.index(node)?;
            fleet.start_many(&[i]).await?;
        }
        Fault::KillAll => {
            let live: Vec<usize> = (0..fleet.slots.len())
                .filter(|&i| matches!(fleet.slots[i].state, SlotState::Running | SlotState::Paused))
                .collect();
            for i in live {
                fleet.kill(i).await?;
            }
        }
        Fault::RestartAll => restart_all(fleet).await?,
        Fault::Anomalous { node, rate } => {
            let i = fleet.index(node)?;
            fleet
                .client(i)
                .set_anomalous(*rate)
                .await
                .map_err(|e| FleetError::Node { node: node.clone(), message: e.to_string() })?;
        }
        Fault::RollingRestart { .. } => {}
    }
    Ok(())
}

/// Stops every started node that still runs (gracefully), then starts them all together.
async fn restart_all(fleet: &mut Fleet) -> Result<(), FleetError> {
    let started: Vec<usize> =
        (0..fleet.slots.len()).filter(|&i| fleet.slots[i].state != SlotState::NotStarted).collect();
    for &i in &started {
        if let Some(mut p) = fleet.slots[i].proc.take() {
            p.stop(Duration::from_secs(10)).await;
        }
        fleet.slots[i].state = SlotState::Dead;
    }
    fleet.publish();
    fleet.start_many(&started).await
}
