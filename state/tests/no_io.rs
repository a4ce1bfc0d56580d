//! The state machine cannot reach the store or the network: its crate depends on no async
//! runtime, socket library or database. This test reads the crate's own manifest and fails if
//! a dependency outside the allowed set is added (clippy.toml beside it also forbids reading
//! clocks, sleeping, spawning threads and opening files or sockets from std).

const ALLOWED: &[&str] = &["argus-protocol", "libp2p-identity", "blake3", "serde_bytes", "tracing"];

#[test]
fn the_state_depends_on_nothing_that_does_io() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let mut section = String::new();
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
        } else if section == "dependencies"
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            deps.push(name.trim().trim_end_matches(".workspace").to_string());
        }
    }
    assert!(!deps.is_empty(), "no dependencies read from the manifest");
    let extra: Vec<_> = deps.iter().filter(|d| !ALLOWED.contains(&d.as_str())).collect();
    assert!(extra.is_empty(), "argus-state may not depend on {extra:?}: the state machine must not do IO");
}
