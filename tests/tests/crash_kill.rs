//! A short run of `argus-crashkill` in the suite: five SIGKILLs of a node during heavy writes,
//! and every result it had acknowledged is in its store after each restart (`just crash-kill`
//! runs a hundred).

use std::process::Command;

#[test]
fn sigkilled_node_keeps_every_acknowledged_result() {
    let out = Command::new(env!("CARGO_BIN_EXE_argus-crashkill"))
        .args(["--kills", "5", "--seed", "7"])
        .env("ARGUS_BIN", argus_tests::argus_bin())
        .output()
        .expect("argus-crashkill runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = text.lines().last().unwrap_or("");
    assert!(last.contains("5 SIGKILLs") && last.ends_with(" 0 lost"), "{text}");
    // Every kill checked a growing store, not an empty one.
    assert!(text.lines().filter(|l| l.starts_with("kill")).all(|l| !l.contains(" 0 acknowledged")), "{text}");
}
