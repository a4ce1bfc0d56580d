//! The namespace lab for real: builds namespaces and a bridge, proves unicast and multicast
//! links, partitions, heals, tears down and checks for leaks. Needs root and `ip netns`, so it
//! is ignored by default: `cargo test -p argus-scenario --test lab -- --ignored`.

use std::process::Command;

#[test]
#[ignore = "needs root and `ip netns`"]
fn namespace_lab_self_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_argus-scenario"))
        .args(["lab-check", "--nodes", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok   n0 reaches n2 (across): no"), "{stdout}");
    assert!(stdout.contains("ok   multicast n1 -> src after heal: yes"), "{stdout}");
}

#[test]
fn check_rejects_a_bad_file_and_accepts_the_shipped_ones() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_argus-scenario");
    let good: Vec<_> = [
        "partition",
        "crash",
        "anomalous",
        "anomalous-pair",
        "anomalous-trio",
        "audit-overload",
        "rolling-restart",
        "all-fail",
        "mixed-backends",
        "monitor-partition",
        "outsiders",
        "blackhole",
        "liar",
        "flooder",
        "photos",
        "photos-wgpu",
        "scale-32",
    ]
    .iter()
    .map(|n| dir.join(format!("{n}.toml")))
    .collect();
    let out = Command::new(bin).arg("check").args(&good).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let bad = std::env::temp_dir().join(format!("argus-sc-bad-{}.toml", std::process::id()));
    std::fs::write(&bad, "name = \"x\"\nseed = 1\nduration_s = 5\ncolour = 3\n[nodes]\ncount = 1\n").unwrap();
    let out = Command::new(bin).arg("check").arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("colour") && stdout.contains("line 4"), "{stdout}");
}

#[test]
fn a_missing_argus_binary_is_a_clear_error() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("partition.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_argus-scenario"))
        .arg("run")
        .arg(&file)
        .args(["--argus-bin", "/nonexistent/argus"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("argus binary was not found at /nonexistent/argus"), "{stderr}");
}
