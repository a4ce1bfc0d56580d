//! Validation of the fault timeline by simulation: each step is applied to a model of the
//! node states (not started, running, paused, dead) and the partition flag, so a step that
//! cannot apply (pausing a dead node, healing without a partition) is an error with its line.
//! The timeline must end with no partition and, without a monitor, no paused node and at
//! least one running node. Pure: no processes, no clock.

use std::collections::{BTreeMap, BTreeSet};

use super::validate::{Ctx, Fault, TimedFault, draw, rng_for, unused_fields};
use super::{FaultKind, Scenario, SchemaError, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Running,
    Paused,
    Dead,
}

struct Sim {
    states: BTreeMap<String, State>,
    partitioned: bool,
    monitored: bool,
}

impl Sim {
    fn in_state(&self, wanted: &[State]) -> Vec<String> {
        let mut names: Vec<String> =
            self.states.iter().filter(|(_, s)| wanted.contains(s)).map(|(n, _)| n.clone()).collect();
        names.sort_by_key(|n| n[1..].parse::<usize>().unwrap_or(usize::MAX));
        names
    }
}

/// Simulates the timeline of `s` and returns the resolved faults.
pub(super) fn simulate(s: &Scenario, cx: &Ctx, seed: u64) -> Result<Vec<TimedFault>, SchemaError> {
    let names = s.node_names();
    let mut sim = Sim {
        states: names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), if i < s.nodes.count { State::Running } else { State::NotStarted }))
            .collect(),
        partitioned: false,
        monitored: s.monitor.is_some(),
    };
    let mut rng = rng_for(seed);
    let mut busy_until_s = 0.0_f64;
    let mut out = Vec::new();
    for spanned in &s.timeline {
        let line = super::line_of(cx.text, spanned.span().start);
        let step = spanned.get_ref();
        if !(step.at_s.is_finite() && step.at_s >= 0.0 && step.at_s < s.duration_s) {
            return Err(
                cx.err(line, format!("at_s = {} must be within 0..duration_s ({})", step.at_s, s.duration_s))
            );
        }
        if step.at_s < busy_until_s {
            return Err(cx.err(
                line,
                format!("steps must be in time order and after the previous step ends ({busy_until_s:.1} s)"),
            ));
        }
        let unused = unused_fields(step);
        if !unused.is_empty() {
            return Err(cx.err(line, format!("`{:?}` does not take {}", step.fault, unused.join(", "))));
        }
        let fault = apply(step, &mut sim, s, &mut rng).map_err(|m| cx.err(line, m))?;
        busy_until_s = step.at_s;
        if let Fault::RollingRestart { interval_ms, .. } = &fault {
            let n = sim.in_state(&[State::Running]).len();
            busy_until_s = step.at_s + (n as f64) * (*interval_ms as f64) / 1000.0;
            if busy_until_s > s.duration_s {
                return Err(cx.err(
                    line,
                    format!("rolling_restart of {n} nodes ends at {busy_until_s:.1} s, after duration_s"),
                ));
            }
        }
        out.push(TimedFault { at_ms: (step.at_s * 1000.0) as u64, line, fault });
    }
    finish(&sim).map_err(|m| cx.err(cx.line("[[timeline]]", s.timeline.len().saturating_sub(1)), m))?;
    Ok(out)
}

fn finish(sim: &Sim) -> Result<(), String> {
    if sim.partitioned {
        return Err("the timeline ends partitioned: add a `heal` step so convergence can be checked".into());
    }
    if !sim.monitored && !sim.in_state(&[State::Paused]).is_empty() {
        return Err("the timeline ends with paused nodes: add `resume` steps".into());
    }
    if sim.in_state(&[State::Running, State::Paused]).is_empty() {
        return Err("the timeline ends with no running node: nothing could be checked".into());
    }
    Ok(())
}

/// The target of a single-node step: a known node name, or `random` among `candidates`.
fn target(step: &Step, sim: &Sim, allowed: &[State], rng: &mut rand::rngs::StdRng) -> Result<String, String> {
    let Some(name) = step.node.as_deref() else {
        return Err(format!("`{:?}` needs node = \"nX\" or \"random\"", step.fault));
    };
    if name == "random" {
        return draw(rng, &sim.in_state(allowed))
            .ok_or_else(|| "node = \"random\": no node is in a state this step applies to".into());
    }
    match sim.states.get(name) {
        None => Err(format!("no node named `{name}`")),
        Some(st) if !allowed.contains(st) => {
            Err(format!("node `{name}` is {st:?} here; `{:?}` needs one of {allowed:?}", step.fault))
        }
        Some(_) => Ok(name.to_string()),
    }
}

fn unmonitored(sim: &Sim, step: &Step) -> Result<(), String> {
    if sim.monitored {
        return Err(format!(
            "`{:?}` is not allowed with a [monitor]: the monitor owns node restarts",
            step.fault
        ));
    }
    Ok(())
}

fn apply(step: &Step, sim: &mut Sim, s: &Scenario, rng: &mut rand::rngs::StdRng) -> Result<Fault, String> {
    use State::*;
    let live = [Running, Paused];
    let started = [Running, Paused, Dead];
    Ok(match step.fault {
        FaultKind::Partition => {
            if sim.partitioned {
                return Err("already partitioned: heal first".into());
            }
            let groups = step.groups.clone().ok_or("`Partition` needs groups = { a = [..], b = [..] }")?;
            check_groups(&groups, s)?;
            sim.partitioned = true;
            Fault::Partition { groups }
        }
        FaultKind::Isolate => {
            if sim.partitioned {
                return Err("already partitioned: heal first".into());
            }
            let node = target(step, sim, &[Running, Paused, Dead, NotStarted], rng)?;
            sim.partitioned = true;
            Fault::Isolate { node }
        }
        FaultKind::Heal => {
            if !sim.partitioned {
                return Err("`heal` without a partition or isolation".into());
            }
            sim.partitioned = false;
            Fault::Heal
        }
        FaultKind::Kill => {
            let node = target(step, sim, &live, rng)?;
            // Under a monitor the node is expected back; the checks measure whether it is.
            sim.states.insert(node.clone(), if sim.monitored { Running } else { Dead });
            Fault::Kill { node }
        }
        FaultKind::Pause => {
            let node = target(step, sim, &[Running], rng)?;
            sim.states.insert(node.clone(), if sim.monitored { Running } else { Paused });
            Fault::Pause { node }
        }
        FaultKind::Resume => {
            let allowed: &[State] = if sim.monitored { &live } else { &[Paused] };
            let node = target(step, sim, allowed, rng)?;
            sim.states.insert(node.clone(), Running);
            Fault::Resume { node }
        }
        FaultKind::Restart => {
            unmonitored(sim, step)?;
            let node = target(step, sim, &started, rng)?;
            sim.states.insert(node.clone(), Running);
            Fault::Restart { node, fresh_data: step.fresh_data.unwrap_or(false) }
        }
        FaultKind::Start => {
            unmonitored(sim, step)?;
            let node = target(step, sim, &[NotStarted, Dead], rng)?;
            sim.states.insert(node.clone(), Running);
            Fault::Start { node }
        }
        FaultKind::KillAll => {
            unmonitored(sim, step)?;
            let victims = sim.in_state(&live);
            if victims.is_empty() {
                return Err("`kill_all` with no running node".into());
            }
            for n in victims {
                sim.states.insert(n, Dead);
            }
            Fault::KillAll
        }
        FaultKind::RestartAll => {
            unmonitored(sim, step)?;
            for n in sim.in_state(&started) {
                sim.states.insert(n, Running);
            }
            Fault::RestartAll
        }
        FaultKind::RollingRestart => {
            unmonitored(sim, step)?;
            let interval_s = step
                .interval_s
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or("`RollingRestart` needs interval_s > 0")?;
            if sim.in_state(&[Running]).is_empty() {
                return Err("`rolling_restart` with no running node".into());
            }
            Fault::RollingRestart {
                interval_ms: (interval_s * 1000.0) as u64,
                fresh_data: step.fresh_data.unwrap_or(false),
            }
        }
        FaultKind::Anomalous => {
            let node = target(step, sim, &[Running], rng)?;
            let rate = step
                .rate
                .filter(|r| r.is_finite() && (0.0..=1.0).contains(r))
                .ok_or("`Anomalous` needs rate within 0..=1")?;
            Fault::Anomalous { node, rate }
        }
    })
}

/// Every node, every source and the monitor (if any) must be in exactly one group: an
/// endpoint left linked to both sides would relay gossip across the partition.
fn check_groups(groups: &BTreeMap<String, Vec<String>>, s: &Scenario) -> Result<(), String> {
    if groups.len() < 2 || groups.values().any(|g| g.is_empty()) {
        return Err("a partition needs at least two non-empty groups".into());
    }
    let mut expected: BTreeSet<String> = s.node_names().into_iter().collect();
    expected.extend(s.sources.iter().map(|src| src.name.clone()));
    if s.monitor.is_some() {
        expected.insert("monitor".into());
    }
    if s.network.as_ref().is_some_and(|n| n.outsiders > 0) {
        expected.insert("outsiders".into());
    }
    let mut seen = BTreeSet::new();
    for member in groups.values().flatten() {
        if !expected.contains(member) {
            return Err(format!(
                "partition member `{member}` is not a node, a source, `monitor` or `outsiders`"
            ));
        }
        if !seen.insert(member.clone()) {
            return Err(format!("`{member}` is in two partition groups"));
        }
    }
    let missing: Vec<_> = expected.difference(&seen).cloned().collect();
    if !missing.is_empty() {
        return Err(format!("partition groups must place every endpoint; missing: {}", missing.join(", ")));
    }
    Ok(())
}
