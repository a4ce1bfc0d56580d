//! Tests of scenario parsing and validation.
use super::*;

fn minimal() -> String {
    r#"
name = "t"
seed = 1
duration_s = 30

[nodes]
count = 3

[[sources]]
name = "cam0"
rate_per_s = 2.0
count = 20
"#
    .to_string()
}

fn plan_of(text: &str) -> Result<Plan, SchemaError> {
    let path = Path::new("t.toml");
    let s = Scenario::parse(text, path)?;
    super::plan(s, text, path, None)
}

fn invalid_line(r: Result<Plan, SchemaError>) -> (usize, String) {
    match r {
        Err(SchemaError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn minimal_scenario_plans() {
    let p = plan_of(&minimal()).unwrap();
    assert_eq!(p.scenario.node_names(), vec!["n0", "n1", "n2"]);
    assert_eq!(p.seed, 1);
    assert!(p.faults.is_empty());
    let SourceKind::Synthetic { seed, count } = p.sources[0].kind.clone() else { panic!() };
    assert_eq!(count, 20);
    assert_eq!(seed, derive_seed(1, 0), "source seed derives from the scenario seed");
    assert_ne!(derive_seed(1, 0), derive_seed(2, 0));
}

#[test]
fn seed_override_replaces_file_seed() {
    let text = minimal();
    let path = Path::new("t.toml");
    let s = Scenario::parse(&text, path).unwrap();
    let p = super::plan(s, &text, path, Some(99)).unwrap();
    assert_eq!(p.seed, 99);
    assert_eq!(p.scenario.seed, 99);
}

#[test]
fn unknown_top_level_key_names_key_and_line() {
    let text = minimal().replace("duration_s = 30", "duration_s = 30\ndurration_s = 4");
    let Err(SchemaError::Parse { message, .. }) = plan_of(&text) else { panic!("must fail") };
    assert!(message.contains("durration_s"), "{message}");
    assert!(message.contains("line 5"), "{message}");
}

#[test]
fn unknown_key_in_timeline_step_names_line() {
    let text = minimal() + "\n[[timeline]]\nat_s = 1\nfault = \"kill\"\nnode = \"n1\"\nsignal = 9\n";
    let Err(SchemaError::Parse { message, .. }) = plan_of(&text) else { panic!("must fail") };
    assert!(message.contains("signal"), "{message}");
    assert!(message.contains("line 18"), "{message}");
}

#[test]
fn field_unused_by_kind_is_an_error_with_line() {
    let text = minimal() + "\n[[timeline]]\nat_s = 1\nfault = \"kill\"\nnode = \"n1\"\nrate = 0.5\n";
    let (line, msg) = invalid_line(plan_of(&text));
    assert_eq!(line, 14, "the line of the step's [[timeline]] header");
    assert!(msg.contains("rate"), "{msg}");
}

#[test]
fn partition_must_place_every_endpoint() {
    let text = minimal()
        + "\n[[timeline]]\nat_s = 1\nfault = \"partition\"\ngroups = { a = [\"n0\"], b = [\"n1\", \"n2\"] }\n"
        + "\n[[timeline]]\nat_s = 5\nfault = \"heal\"\n";
    let (_, msg) = invalid_line(plan_of(&text));
    assert!(msg.contains("missing: cam0"), "{msg}");
    let fixed = text.replace("[\"n0\"]", "[\"n0\", \"cam0\"]");
    let p = plan_of(&fixed).unwrap();
    assert_eq!(p.faults.len(), 2);
    assert_eq!(p.faults[1].fault, Fault::Heal);
    assert_eq!(p.faults[0].at_ms, 1000);
}

#[test]
fn timeline_must_end_healed() {
    let text = minimal() + "\n[[timeline]]\nat_s = 1\nfault = \"isolate\"\nnode = \"n2\"\n";
    let (_, msg) = invalid_line(plan_of(&text));
    assert!(msg.contains("heal"), "{msg}");
}

#[test]
fn impossible_steps_are_rejected() {
    let kill_pause = minimal()
        + "\n[[timeline]]\nat_s = 1\nfault = \"kill\"\nnode = \"n1\"\n"
        + "\n[[timeline]]\nat_s = 2\nfault = \"pause\"\nnode = \"n1\"\n";
    let (line, msg) = invalid_line(plan_of(&kill_pause));
    assert_eq!(line, 19);
    assert!(msg.contains("Dead"), "{msg}");
    let out_of_order = minimal()
        + "\n[[timeline]]\nat_s = 5\nfault = \"kill\"\nnode = \"n1\"\n"
        + "\n[[timeline]]\nat_s = 2\nfault = \"restart\"\nnode = \"n1\"\n";
    assert!(invalid_line(plan_of(&out_of_order)).1.contains("time order"));
    let all_dead = minimal() + "\n[[timeline]]\nat_s = 5\nfault = \"kill_all\"\n";
    assert!(invalid_line(plan_of(&all_dead)).1.contains("no running node"));
}

#[test]
fn random_target_is_seeded() {
    let text = minimal() + "\n[[timeline]]\nat_s = 1\nfault = \"kill\"\nnode = \"random\"\n";
    let path = Path::new("t.toml");
    let pick = |seed| {
        let s = Scenario::parse(&text, path).unwrap();
        match super::plan(s, &text, path, Some(seed)).unwrap().faults[0].fault.clone() {
            Fault::Kill { node } => node,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(pick(7), pick(7));
    let picks: std::collections::BTreeSet<String> = (0..32).map(pick).collect();
    assert!(picks.len() > 1, "different seeds must reach different nodes: {picks:?}");
}

#[test]
fn runner_flags_and_overlong_sources_are_rejected() {
    let flags = minimal().replace("count = 3", "count = 3\nargs = [\"--no-mdns\"]");
    assert!(invalid_line(plan_of(&flags)).1.contains("--no-mdns"));
    let slow = minimal().replace("rate_per_s = 2.0", "rate_per_s = 0.5");
    assert!(invalid_line(plan_of(&slow)).1.contains("after duration_s"));
    let none = "name = \"t\"\nseed = 1\nduration_s = 3\n[nodes]\ncount = 1\n";
    assert!(invalid_line(plan_of(none)).1.contains("workload"));
}

#[test]
fn monitor_owns_restarts_and_restart_checks_need_it() {
    let with_monitor = minimal().replace("[nodes]", "[monitor]\n\n[nodes]")
        + "\n[[timeline]]\nat_s = 1\nfault = \"restart\"\nnode = \"n1\"\n";
    assert!(invalid_line(plan_of(&with_monitor)).1.contains("monitor"));
    let check = minimal() + "\n[checks]\nrestarts_min = 1\n";
    assert!(invalid_line(plan_of(&check)).1.contains("[monitor]"));
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") && path.file_name().unwrap() != "Cargo.toml" {
            let plan = Scenario::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(path.file_stem().unwrap().to_str().unwrap(), plan.scenario.name);
            names.push(plan.scenario.name);
        }
    }
    names.sort();
    let want = [
        "all-fail",
        "anomalous",
        "anomalous-pair",
        "anomalous-trio",
        "audit-overload",
        "blackhole",
        "crash",
        "flooder",
        "liar",
        "mixed-backends",
        "monitor-partition",
        "outsiders",
        "partition",
        "photos",
        "photos-wgpu",
        "rolling-restart",
        "scale-32",
    ];
    assert_eq!(names, want);
}

#[test]
fn source_model_is_checked_and_home_folders_resolve() {
    let with = |extra: &str| minimal().replace("count = 20\n", &format!("count = 20\n{extra}\n"));
    let p = plan_of(&with("model = \"shapes\"")).unwrap();
    assert_eq!(p.sources[0].model.as_deref(), Some("shapes"));
    let (_, message) = invalid_line(plan_of(&with("model = \"yolo\"")));
    assert!(message.contains("yolo"), "{message}");
    let text = minimal().replace("count = 20\n", "dir = \"~/pics\"\nmodel = \"coco\"\n");
    let p = plan_of(&text).unwrap();
    let SourceKind::Dir { path } = &p.sources[0].kind else { panic!() };
    let home = std::env::var_os("HOME").expect("HOME is set in tests");
    assert_eq!(*path, Path::new(&home).join("pics"));
}

#[test]
fn hostile_members_are_told_by_their_fault_flag() {
    let text = "name = \"h\"\nseed = 1\nduration_s = 5\n[nodes]\ncount = 4\nargs = [\"--backend\", \"flex\"]\n\
                [nodes.overrides.n1]\nargs = [\"--fault\", \"liar\"]\n[nodes.overrides.n2]\nargs = [\"--fault=blackhole\"]\n\
                [nodes.overrides.n3]\nargs = [\"--fault\", \"anomalous\"]\n";
    let s: Scenario = toml::from_str(text).unwrap();
    let hostile: Vec<bool> = ["n0", "n1", "n2", "n3"].iter().map(|n| s.is_hostile(n)).collect();
    assert_eq!(hostile, [false, true, true, false], "an anomalous worker is audited, not banned");
}
