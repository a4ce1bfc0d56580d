//! Unit tests of the restart policy, driven with a fake clock (plain ms values).

use super::*;

fn cfg() -> PolicyConfig {
    PolicyConfig {
        heartbeat_timeout_ms: 5_000,
        health_timeout_ms: 10_000,
        audit_fail_threshold: 3,
        audit_fail_min_auditors: 2,
        audit_window_ms: 60_000,
        restart_backoff_ms: 1_000,
        restart_backoff_max_ms: 30_000,
        restart_budget: 5,
        budget_window_ms: 600_000,
        startup_grace_ms: 15_000,
        ready_timeout_ms: 120_000,
    }
}

/// A policy with one node started at 0 and ready at `ready_ms`.
fn ready_at(c: PolicyConfig, ready_ms: u64) -> MonitorPolicy {
    let mut p = MonitorPolicy::new(c, 1);
    assert_eq!(p.tick(0), vec![Decision::Start { node: 0 }]);
    assert!(p.tick(1).is_empty(), "a starting node is not started twice");
    p.on_ready(0, ready_ms);
    p
}

fn auditor(i: u8) -> PeerId {
    PeerId::from_public_key(&libp2p::identity::Keypair::ed25519_from_bytes([i; 32]).unwrap().public())
}

fn restart_of(d: &[Decision]) -> (&Reason, bool, u64) {
    match d {
        [Decision::Restart { node: 0, reason, drop_fault, backoff_ms }] => (reason, *drop_fault, *backoff_ms),
        other => panic!("expected one restart of node 0, got {other:?}"),
    }
}

#[test]
fn every_node_is_started_at_the_first_tick() {
    let mut p = MonitorPolicy::new(cfg(), 3);
    let d = p.tick(0);
    assert_eq!(d, (0..3).map(|node| Decision::Start { node }).collect::<Vec<_>>());
    assert_eq!(p.view(1, 0).unwrap().state, "starting");
    assert!(p.view(3, 0).is_none());
}

#[test]
fn silence_before_the_first_heartbeat_is_reported_after_the_grace_not_restarted() {
    let mut p = ready_at(cfg(), 1_000);
    // 14.999 s after ready: still within the 15 s grace, although far past the 5 s timeout.
    assert!(p.tick(15_999).is_empty());
    assert_eq!(p.tick(16_000), vec![Decision::Unreachable { node: 0, silent_ms: 15_000 }]);
    assert_eq!(p.view(0, 16_000).unwrap().state, "unreachable");
}

#[test]
fn heartbeats_stopping_make_a_node_unreachable_once_and_never_restart_it() {
    let mut p = ready_at(cfg(), 1_000);
    for t in (2_000..=30_000).step_by(1_000) {
        p.on_heartbeat(0, t);
        p.on_probe(0, true, t);
        assert!(p.tick(t).is_empty(), "healthy at {t}");
    }
    assert_eq!(p.view(0, 31_500).unwrap().last_heartbeat_age_ms, Some(1_500));
    assert!(p.tick(34_999).is_empty());
    assert_eq!(p.tick(35_000), vec![Decision::Unreachable { node: 0, silent_ms: 5_000 }]);
    // A partition: the probe on the node's own socket keeps answering. Nothing for ten minutes.
    for t in (35_100..=635_000).step_by(100) {
        if t % 1_000 == 0 {
            p.on_probe(0, true, t);
        }
        assert!(p.tick(t).is_empty(), "unreachable but healthy at {t}: no restart, no second report");
    }
    let v = p.view(0, 635_000).unwrap();
    assert_eq!((v.state, v.restarts_total, v.unreachable_total), ("unreachable", 0, 1));
    // Heard again, then silent again: a second report.
    p.on_heartbeat(0, 636_000);
    assert!(p.tick(636_000).is_empty());
    assert_eq!(p.view(0, 636_000).unwrap().state, "up");
    p.on_probe(0, true, 640_000);
    assert_eq!(p.tick(641_000), vec![Decision::Unreachable { node: 0, silent_ms: 5_000 }]);
    assert_eq!(p.view(0, 641_000).unwrap().unreachable_total, 2);
}

#[test]
fn a_node_that_stops_answering_its_local_probe_is_restarted_after_the_health_timeout() {
    let mut p = ready_at(cfg(), 1_000);
    for t in (2_000..=20_000).step_by(1_000) {
        p.on_heartbeat(0, t);
        p.on_probe(0, true, t);
    }
    // SIGSTOP at 20.5 s: probes time out (each failure is no news), heartbeats stop.
    for t in (21_000..30_000).step_by(1_000) {
        p.on_probe(0, false, t);
        let d = p.tick(t);
        assert!(d.iter().all(|d| matches!(d, Decision::Unreachable { .. })), "no restart at {t}: {d:?}");
    }
    let d = p.tick(30_000);
    let (reason, drop_fault, backoff_ms) = restart_of(&d);
    assert_eq!(*reason, Reason::Unhealthy { silent_ms: 10_000 });
    assert!(!drop_fault, "a restart for health keeps the arguments");
    assert_eq!(backoff_ms, 1_000);
}

#[test]
fn a_probe_that_never_answered_counts_from_the_ready_line_and_no_probe_means_no_rule() {
    let mut p = ready_at(cfg(), 1_000);
    p.on_probe(0, false, 1_500);
    assert!(p.tick(10_999).is_empty());
    assert_eq!(*restart_of(&p.tick(11_000)).0, Reason::Unhealthy { silent_ms: 10_000 });
    // Never probed (no HTTP address): exits and audits alone decide.
    let mut q = ready_at(cfg(), 0);
    q.on_heartbeat(0, 1_000);
    for t in (1_100..=200_000).step_by(100) {
        assert!(q.tick(t).iter().all(|d| matches!(d, Decision::Unreachable { .. })));
    }
}

#[test]
fn restarts_are_bounded_whatever_the_evidence() {
    // A node failing its probe right after every start: backoff and budget, never a storm.
    let mut p = MonitorPolicy::new(cfg(), 1);
    let (mut now, mut restarts, mut starts) = (0, 0, 0);
    while now < 3_600_000 {
        for d in p.tick(now) {
            match d {
                Decision::Start { .. } => {
                    starts += 1;
                    p.on_ready(0, now);
                    p.on_probe(0, false, now);
                }
                Decision::Restart { .. } => restarts += 1,
                Decision::GiveUp { .. } => restarts += 100,
                Decision::Unreachable { .. } => {}
            }
        }
        now += 100;
    }
    // Five restarts in the ten-minute window, then it gives up for good.
    assert_eq!((restarts, starts), (105, 6));
}

fn image(i: u32) -> ImageId {
    ImageId::of_bytes(&i.to_le_bytes())
}

/// The node publishes a result for image `i` and `auditor` renders a verdict on it at `t`.
fn judged(p: &mut MonitorPolicy, i: u32, auditor_ix: u8, pass: bool, t: u64) {
    p.on_result(0, image(i));
    p.on_verdict(0, &image(i), auditor(auditor_ix), pass, t);
}

#[test]
fn enough_fails_within_the_window_trigger_one_restart_without_the_fault() {
    let mut p = ready_at(cfg(), 0);
    // No grace for audits: a node anomalous from its start is caught from its first results.
    let t0 = 1_000;
    p.on_heartbeat(0, t0);
    judged(&mut p, 1, 1, false, t0);
    judged(&mut p, 1, 2, true, t0);
    judged(&mut p, 2, 2, false, t0 + 100);
    assert!(p.tick(t0 + 100).is_empty(), "two fails are below the threshold");
    assert_eq!(p.view(0, t0 + 100).unwrap().audit_fails, 2);
    judged(&mut p, 3, 1, false, t0 + 200);
    judged(&mut p, 3, 2, false, t0 + 300);
    let d = p.tick(t0 + 300);
    let (reason, drop_fault, _) = restart_of(&d);
    assert_eq!(*reason, Reason::FailedAudits { fails: 4 });
    assert!(drop_fault, "a restart for failed audits drops the injected fault");
    // Verdicts still arriving about the old incarnation change nothing: one restart only.
    p.on_verdict(0, &image(2), auditor(1), false, t0 + 400);
    assert!(p.tick(t0 + 400).is_empty());
    assert_eq!(p.view(0, t0 + 400).unwrap().audit_fails, 0);
}

#[test]
fn verdicts_on_results_of_an_earlier_incarnation_do_not_count() {
    let mut p = ready_at(cfg(), 0);
    p.on_heartbeat(0, 500);
    for i in 0..3 {
        p.on_result(0, image(i));
    }
    p.on_exit(0, Some(1), None);
    restart_of(&p.tick(1_000));
    // In flight when the old process died: not the new incarnation's results.
    p.on_result(0, image(9));
    assert_eq!(p.tick(2_000), vec![Decision::Start { node: 0 }]);
    p.on_ready(0, 2_500);
    p.on_heartbeat(0, 3_000);
    for (i, a) in [(0, 1), (1, 2), (2, 3), (9, 4)] {
        p.on_verdict(0, &image(i), auditor(a), false, 3_000);
    }
    // A verdict on a result the monitor never saw published does not count either.
    p.on_verdict(0, &image(42), auditor(5), false, 3_000);
    assert!(p.tick(3_000).is_empty());
    assert_eq!(p.view(0, 3_000).unwrap().audit_fails, 0);
}

#[test]
fn fails_outside_the_window_or_from_one_auditor_do_not_count() {
    let mut p = ready_at(cfg(), 0);
    for (i, t) in [(1, 20_000), (2, 50_000)] {
        judged(&mut p, i, 1, false, t);
    }
    p.on_heartbeat(0, 85_000);
    judged(&mut p, 3, 2, false, 85_000);
    // At 85 s the window (60 s) holds the fails at 50 s and 85 s only.
    assert!(p.tick(85_000).is_empty());
    judged(&mut p, 4, 2, false, 86_000);
    judged(&mut p, 5, 2, false, 86_500);
    p.on_heartbeat(0, 86_500);
    // Three fails, all from one auditor: not corroborated.
    let mut q = ready_at(cfg(), 0);
    for (i, t) in [(1, 20_000), (2, 20_100), (3, 20_200)] {
        judged(&mut q, i, 3, false, t);
    }
    q.on_heartbeat(0, 20_200);
    assert!(q.tick(20_200).is_empty(), "one auditor alone cannot get a node restarted");
    assert!(matches!(restart_of(&p.tick(86_500)).0, Reason::FailedAudits { fails: 4 }));
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let mut c = cfg();
    c.restart_budget = 10;
    c.restart_backoff_max_ms = 5_000;
    let mut p = MonitorPolicy::new(c, 1);
    let mut now = 0;
    let mut backoffs = Vec::new();
    for _ in 0..5 {
        assert_eq!(p.tick(now), vec![Decision::Start { node: 0 }]);
        p.on_exit(0, Some(1), None);
        let d = p.tick(now + 10);
        let (reason, drop_fault, backoff_ms) = restart_of(&d);
        assert_eq!(*reason, Reason::Exited { code: Some(1), signal: None });
        assert!(!drop_fault);
        backoffs.push(backoff_ms);
        // Not started again before the backoff has passed.
        assert!(p.tick(now + 10 + backoff_ms - 1).is_empty());
        now += 10 + backoff_ms;
    }
    assert_eq!(backoffs, vec![1_000, 2_000, 4_000, 5_000, 5_000]);
}

#[test]
fn spent_budget_gives_up_for_good() {
    let mut p = MonitorPolicy::new(cfg(), 1);
    let mut now = 0;
    for i in 0..5 {
        assert_eq!(p.tick(now), vec![Decision::Start { node: 0 }], "start {i}");
        p.on_exit(0, None, Some(9));
        let d = p.tick(now + 1);
        now += 1 + restart_of(&d).2;
    }
    assert_eq!(p.tick(now), vec![Decision::Start { node: 0 }]);
    p.on_exit(0, None, Some(9));
    let d = p.tick(now + 1);
    assert_eq!(d, vec![Decision::GiveUp { node: 0, reason: Reason::Exited { code: None, signal: Some(9) } }]);
    // Nothing more, whatever happens.
    p.on_ready(0, now + 2);
    p.on_exit(0, Some(0), None);
    for t in [now + 2, now + 100_000, now + 10_000_000] {
        assert!(p.tick(t).is_empty());
    }
    let v = p.view(0, now + 2).unwrap();
    assert_eq!((v.state, v.restarts_total), ("gave_up", 5));
}

#[test]
fn restarts_leave_the_budget_window_and_the_backoff_resets() {
    let mut c = cfg();
    c.restart_budget = 2;
    c.budget_window_ms = 100_000;
    let mut p = MonitorPolicy::new(c, 1);
    let mut now = 0;
    for expected_backoff in [1_000, 2_000] {
        p.tick(now);
        p.on_exit(0, Some(1), None);
        assert_eq!(restart_of(&p.tick(now + 1)).2, expected_backoff);
        now += 1 + expected_backoff;
    }
    p.tick(now);
    // Long after both restarts left the window: a fresh budget and the initial backoff.
    now += 200_000;
    p.on_exit(0, Some(1), None);
    assert_eq!(restart_of(&p.tick(now)).2, 1_000);
}

#[test]
fn a_node_that_never_gets_ready_is_restarted() {
    let mut p = MonitorPolicy::new(cfg(), 1);
    p.tick(0);
    assert!(p.tick(119_999).is_empty());
    assert_eq!(*restart_of(&p.tick(120_000)).0, Reason::NotReady { waited_ms: 120_000 });
}

#[test]
fn exits_of_a_stopped_node_are_ignored() {
    let mut p = ready_at(cfg(), 0);
    p.on_exit(0, Some(0), None);
    restart_of(&p.tick(100));
    // The killed process reports its end while the node is down: no second restart.
    p.on_exit(0, None, Some(9));
    assert!(p.tick(200).is_empty());
    assert_eq!(p.tick(1_100), vec![Decision::Start { node: 0 }]);
}

#[test]
fn reasons_read_well() {
    assert_eq!(
        Reason::Unhealthy { silent_ms: 10_000 }.to_string(),
        "unhealthy: no answer to the local health probe for 10000 ms"
    );
    assert_eq!(Reason::Exited { code: None, signal: Some(9) }.to_string(), "exited by itself on signal 9");
    assert_eq!(Reason::FailedAudits { fails: 3 }.kind(), "failed_audits");
}

#[test]
fn sequential_first_starts_wait_for_the_ready_line_but_restarts_do_not() {
    let mut p = MonitorPolicy::new(cfg(), 3).with_sequential_start(true);
    assert_eq!(p.tick(0), vec![Decision::Start { node: 0 }]);
    assert!(p.tick(500).is_empty(), "n1 waits for n0's ready line");
    p.on_ready(0, 600);
    assert_eq!(p.tick(700), vec![Decision::Start { node: 1 }]);
    // n1 dies before it is ready: its restart waits for nobody, and n2 may start meanwhile.
    p.on_exit(1, Some(1), None);
    assert!(matches!(
        p.tick(800).as_slice(),
        [Decision::Restart { node: 1, .. }, Decision::Start { node: 2 }]
    ));
    // n2 is starting, yet n1's restart is not held back.
    assert_eq!(p.tick(1_800), vec![Decision::Start { node: 1 }]);
}
