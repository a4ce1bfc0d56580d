//! Checks over synthetic observations: a healthy run passes, and each kind of damage, missing
//! data or impossible threshold fails the check it should, naming it.
use std::collections::BTreeMap;

use super::*;
use crate::bands::{BandKind, bands};
use crate::figures::compute;
use crate::observe::*;

const NODES: [&str; 3] = ["n0", "n1", "n2"];

fn announce(i: u64) -> Announcement {
    Announcement {
        image_id: format!("img{i:03}"),
        source: "cam".into(),
        seq: i,
        captured_at_unix_ms: 1_000_000 + i * 500,
        t_ms: i * 500,
    }
}

fn fault(kind: &str, at_ms: u64, targets: &[&str]) -> FaultRecord {
    FaultRecord {
        at_ms,
        done_ms: at_ms + 10,
        kind: kind.into(),
        targets: targets.iter().map(|s| s.to_string()).collect(),
        detail: String::new(),
        rate: None,
        ok: true,
        error: None,
    }
}

/// 20 images over 10 s, each completed 300 ms after capture, stored on all three nodes; a
/// partition from 3 s to 6 s; status rounds every second; converged from 8 s on.
fn healthy() -> Observations {
    let announced: Vec<_> = (0..20).map(announce).collect();
    let completions = announced.iter().map(|a| (a.image_id.clone(), a.t_ms + 300)).collect();
    let store: BTreeMap<String, u64> = announced.iter().map(|a| (a.image_id.clone(), 1)).collect();
    let mut samples = Vec::new();
    for round in 0..15u64 {
        for (i, n) in NODES.iter().enumerate() {
            let converged = !(3..8).contains(&round);
            samples.push(StatusSample {
                round,
                t_ms: round * 1000,
                node: n.to_string(),
                expected_live: true,
                ok: true,
                audit_ratio: if round < 10 { 0.2 } else { 0.9 },
                uptime_ms: round * 1000 + 5000,
                processed: Some((round as f64 * 0.5).min(20.0 / 3.0).floor()),
                fingerprint: Some(if converged { "same".into() } else { format!("fp{i}") }),
                registers: 10,
                ..StatusSample::default()
            });
        }
    }
    let queries = (0..12u64)
        .map(|i| QuerySample {
            t_ms: i * 800,
            node: "n0".into(),
            image_id: "img000".into(),
            took_ms: 5,
            outcome: QueryOutcome::Found { corroborating: Some(2), asked: Some(2), answered: Some(2) },
        })
        .collect();
    Observations {
        t0_unix_ms: 1_000_000,
        load_end_ms: 10_000,
        idle_end_ms: 14_000,
        end_ms: 15_000,
        announced,
        samples,
        queries,
        completions,
        faults: vec![fault("partition", 3000, &[]), fault("heal", 6000, &[])],
        live_counts: vec![(0, 3)],
        final_nodes: NODES
            .iter()
            .map(|n| FinalNode {
                name: n.to_string(),
                expected_live: true,
                responded: true,
                error: None,
                candidates: store.clone(),
                ..FinalNode::default()
            })
            .collect(),
        ..Observations::default()
    }
}

fn thresholds() -> Checks {
    Checks {
        lost_max: 0,
        duplicate_ratio_max: Some(0.1),
        converge_max_s: Some(5.0),
        partition_answered_min_ratio: Some(0.9),
        audit_ratio_low_max: Some(0.5),
        audit_ratio_recovered_min: Some(0.8),
        latency_p50_max_ms: Some(1000.0),
        latency_p99_max_ms: Some(1000.0),
        throughput_min_per_s: Some(1.0),
        split_votes_max_ratio: Some(0.0),
        min_processed_per_node: Some(1),
        ..Checks::default()
    }
}

fn run(obs: &Observations, c: &Checks) -> Vec<CheckResult> {
    evaluate(c, &compute(obs, &bands(obs)))
}

fn named<'a>(results: &'a [CheckResult], name: &str) -> &'a CheckResult {
    results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no check {name}: {results:?}"))
}

#[test]
fn healthy_run_passes_every_check() {
    let results = run(&healthy(), &thresholds());
    for r in &results {
        assert!(r.passed, "{r:?}");
    }
    assert_eq!(results.len(), 13);
    let f = compute(&healthy(), &bands(&healthy()));
    assert_eq!(
        f.convergence[0].converged_after_ms,
        Some(1990),
        "heal done at 6.01 s, first converged round at 8 s"
    );
    assert_eq!(f.latency.as_ref().unwrap().p99_ms, 300.0);
    assert_eq!((f.queries.during_partition, f.queries.answered_during_partition), (4, 4));
}

#[test]
fn an_image_missing_on_one_node_is_lost() {
    let mut obs = healthy();
    obs.final_nodes[1].candidates.remove("img007");
    let results = run(&obs, &thresholds());
    let lost = named(&results, "lost");
    assert!(!lost.passed);
    assert_eq!(lost.value, "1");
    assert!(lost.detail.contains("img007") && lost.detail.contains("\"n1\": 1"), "{}", lost.detail);
}

#[test]
fn an_empty_run_fails_instead_of_passing_vacuously() {
    let obs = Observations { load_end_ms: 1000, end_ms: 2000, ..Observations::default() };
    let results = run(&obs, &thresholds());
    for name in [
        "workload",
        "nodes_up",
        "lost",
        "converge",
        "latency_p99",
        "throughput",
        "duplicates",
        "audit_ratio_drops",
    ] {
        assert!(!named(&results, name).passed, "{name} must fail without data");
    }
}

#[test]
fn a_node_that_does_not_answer_fails_liveness_and_cannot_hide_losses() {
    let mut obs = healthy();
    for n in &mut obs.final_nodes {
        n.responded = false;
        n.candidates.clear();
    }
    let results = run(&obs, &Checks::default());
    assert!(!named(&results, "nodes_up").passed);
    assert_eq!(named(&results, "lost").value, "20");
}

#[test]
fn an_impossible_threshold_fails_and_names_the_check() {
    let c = Checks { latency_p99_max_ms: Some(1.0), ..Checks::default() };
    let results = run(&healthy(), &c);
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).map(|r| r.name.as_str()).collect();
    assert_eq!(failed, vec!["latency_p99"]);
}

#[test]
fn no_convergence_after_heal_fails() {
    let mut obs = healthy();
    for s in &mut obs.samples {
        if s.node == "n2" && s.t_ms >= 3000 {
            s.fingerprint = Some("other".into());
        }
    }
    let r = run(&obs, &thresholds()).into_iter().find(|r| r.name == "converge").unwrap();
    assert!(!r.passed);
    assert_eq!(r.value, "never");
}

#[test]
fn images_announced_while_every_node_was_down_are_not_required() {
    let mut obs = healthy();
    obs.live_counts = vec![(0, 3), (4000, 0), (6000, 3)];
    for n in &mut obs.final_nodes {
        for i in 8..12 {
            n.candidates.remove(&format!("img{i:03}"));
        }
    }
    let f = compute(&obs, &bands(&obs));
    assert_eq!((f.required, f.lost), (16, 0), "4 images fell in the 4..6 s outage");
}

#[test]
fn processed_counters_add_up_across_restarts() {
    let mut obs = healthy();
    obs.samples.retain(|s| s.node == "n0");
    let uptimes = [1000, 2000, 3000, 500, 1500];
    let counts = [1.0, 4.0, 6.0, 0.0, 3.0];
    for (i, s) in obs.samples.iter_mut().take(5).enumerate() {
        s.uptime_ms = uptimes[i];
        s.processed = Some(counts[i]);
    }
    obs.samples.truncate(5);
    assert_eq!(obs.processed_per_node()["n0"], 9.0, "6 before the restart, 3 after");
}

#[test]
fn monitor_restart_delays_are_measured_and_a_missing_restart_fails() {
    let mut obs = healthy();
    obs.monitored = true;
    obs.faults = vec![fault("kill", 2000, &["n1"]), fault("pause", 5000, &["n2"])];
    obs.monitor_events = vec![MonitorEvent {
        t_ms: 6000,
        event: "restart".into(),
        node: "n1".into(),
        reason: "exited".into(),
    }];
    let c = Checks { restarts_min: Some(2), restart_max_s: Some(10.0), ..Checks::default() };
    let results = run(&obs, &c);
    assert!(!named(&results, "restarts").passed);
    let delay = named(&results, "restart_delay");
    assert!(
        !delay.passed
            && delay.detail.contains("kill n1: 4.0 s")
            && delay.detail.contains("pause n2: not restarted"),
        "{delay:?}"
    );
    obs.monitor_events.push(MonitorEvent {
        t_ms: 9000,
        event: "restart".into(),
        node: "n2".into(),
        reason: "heartbeat".into(),
    });
    let results = run(&obs, &c);
    assert!(named(&results, "restarts").passed && named(&results, "restart_delay").passed);
}

#[test]
fn bands_span_partition_to_heal_and_kill_to_restart() {
    let mut obs = healthy();
    obs.faults.push(fault("kill", 7000, &["n1"]));
    obs.faults.push(fault("restart", 9000, &["n1"]));
    let b = bands(&obs);
    let part = b.iter().find(|b| b.kind == BandKind::Partition).unwrap();
    assert_eq!((part.start_ms, part.end_ms), (3000, 6000));
    let down = b.iter().find(|b| b.kind == BandKind::Down).unwrap();
    assert_eq!((down.start_ms, down.end_ms), (7000, 9000));
}

#[test]
fn split_votes_and_duplicates_are_ratios_of_stored_images() {
    let mut obs = healthy();
    obs.final_nodes[0].candidates.insert("img001".into(), 2);
    for s in obs.samples.iter_mut().filter(|s| s.node == "n0") {
        s.processed = s.processed.map(|p| p + 4.0);
    }
    let f = compute(&obs, &bands(&obs));
    assert_eq!(f.split_votes_ratio, Some(1.0 / 20.0));
    // 6 + 6 + 6 processed before; n0 reports 4 more: 22 for 20 stored images.
    assert!((f.duplicate_ratio.unwrap() - 2.0 / 20.0).abs() < 1e-9, "{:?}", f.duplicate_ratio);
}

#[test]
fn with_started_events_the_delay_runs_until_the_node_is_back() {
    let mut obs = healthy();
    obs.monitored = true;
    obs.faults = vec![fault("pause", 2000, &["n1"]), fault("kill", 5000, &["n2"])];
    let ev = |t_ms, event: &str, node: &str| MonitorEvent {
        t_ms,
        event: event.into(),
        node: node.into(),
        reason: String::new(),
    };
    obs.monitor_events = vec![
        ev(0, "started", "n1"),
        ev(6000, "restart", "n1"),
        ev(9000, "started", "n1"),
        ev(5500, "restart", "n2"),
    ];
    let f = compute(&obs, &bands(&obs));
    let n1 = &f.restart_delays[0];
    assert_eq!((n1.decided_after_ms, n1.restarted_after_ms), (Some(4000), Some(7000)));
    let n2 = &f.restart_delays[1];
    assert_eq!(
        (n2.decided_after_ms, n2.restarted_after_ms),
        (Some(500), None),
        "restart decided, never back up"
    );
    let c = Checks { restart_max_s: Some(10.0), ..Checks::default() };
    let r = run(&obs, &c).into_iter().find(|r| r.name == "restart_delay").unwrap();
    assert!(!r.passed && r.detail.contains("kill n2: not restarted"), "{r:?}");
}

/// n2 is anomalous from 2 s until the monitor restarts it at 5 s. Its values from inside that
/// band that no other node attests count; corroborated ones, ones from outside the band and
/// other workers' ones do not. Without an anomalous band the check has no data.
#[test]
fn only_uncorroborated_values_from_the_anomalous_band_count() {
    let mut obs = healthy();
    let mut f = fault("anomalous", 2_000, &["n2"]);
    f.rate = Some(1.0);
    obs.faults.push(f);
    obs.monitor_events.push(MonitorEvent {
        t_ms: 5_000,
        event: "restart".into(),
        node: "n2".into(),
        reason: "failed audits".into(),
    });
    let winner = |worker: &str, votes: u64, t_ms: u64| Winner {
        worker: Some(worker.into()),
        votes,
        first_ts_ms: Some(obs.t0_unix_ms + t_ms),
    };
    let winners: BTreeMap<String, Winner> = [
        ("img004", winner("peer-n2", 1, 2_500)), // inside, alone: counts
        ("img005", winner("peer-n2", 2, 3_000)), // inside but attested by an auditor too
        ("img006", winner("peer-n2", 1, 6_000)), // after the restart
        ("img007", winner("peer-n0", 1, 3_000)), // another worker
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (i, n) in obs.final_nodes.iter_mut().enumerate() {
        n.peer_id = Some(format!("peer-{}", NODES[i]));
        n.winners = winners.clone();
    }
    let c = Checks { anomalous_values_max: Some(0), ..Checks::default() };
    let results = run(&obs, &c);
    let r = named(&results, "anomalous_values");
    assert!(!r.passed && r.value == "1", "{r:?}");
    assert!(r.detail.contains("img004"), "{r:?}");

    for n in &mut obs.final_nodes {
        n.winners.remove("img004");
    }
    assert!(named(&run(&obs, &c), "anomalous_values").passed);

    obs.faults.retain(|f| f.kind != "anomalous");
    let r = run(&obs, &c);
    assert!(!named(&r, "anomalous_values").passed, "no anomalous band: no data, not a pass");
}

#[test]
fn a_node_that_audited_too_little_fails_audits_per_node() {
    let mut obs = healthy();
    // n0 and n1 audit 2 results per round (up to 12); n2 stops at 3, and restarts at round 10
    // with a fresh counter that reaches 2: 5 in all.
    for s in &mut obs.samples {
        s.audits = Some(match s.node.as_str() {
            "n2" if s.round >= 10 => {
                s.uptime_ms = (s.round - 10) * 1000;
                ((s.round - 10) as f64).min(2.0)
            }
            "n2" => (s.round as f64).min(3.0),
            _ => (s.round as f64 * 2.0).min(12.0),
        });
    }
    let c = Checks { min_audits_per_node: Some(5), ..thresholds() };
    let f = compute(&obs, &bands(&obs));
    assert_eq!(f.audits_per_node["n0"], 12.0);
    assert_eq!(f.audits_per_node["n2"], 5.0, "3 before the restart, 2 after");
    assert!(named(&run(&obs, &c), "audits_per_node").passed);

    let c = Checks { min_audits_per_node: Some(6), ..thresholds() };
    let r = run(&obs, &c);
    let check = named(&r, "audits_per_node");
    assert!(!check.passed);
    assert!(check.detail.contains("n2=5"), "{check:?}");

    // No counter at all: no data, which fails.
    let mut bare = healthy();
    bare.samples.iter_mut().for_each(|s| s.audits = None);
    assert!(!named(&run(&bare, &c), "audits_per_node").passed);
}

#[test]
fn mesh_check_passes_in_time_and_fails_late_or_without_data() {
    let c = Checks { mesh_max_s: Some(5.0), ..Checks::default() };
    let mut obs = healthy();
    obs.mesh_s = Some(2.4);
    assert!(named(&run(&obs, &c), "mesh").passed);
    obs.mesh_s = Some(5.6);
    let late = run(&obs, &c);
    assert!(!named(&late, "mesh").passed);
    assert_eq!(named(&late, "mesh").value, "5.600 s");
    obs.mesh_s = None;
    assert_eq!(named(&run(&obs, &c), "mesh").value, "no data", "never meshed fails");
}
