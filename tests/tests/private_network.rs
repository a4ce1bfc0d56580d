//! A private network on loopback (`--network-key`, libp2p pnet): nodes and a sender that hold
//! the same key connect and work together; a node without the key, and one with another key,
//! dial the network and never complete a connection, so they can neither gossip nor vote.
//! `argus keygen` writes the keys and refuses to replace one.

use std::process::Command;
use std::time::Duration;

use argus_tests::*;

fn keygen(path: &std::path::Path) -> std::process::Output {
    Command::new(argus_bin()).args(["keygen", "--out"]).arg(path).output().expect("argus keygen runs")
}

fn peers_of(n: &NodeProc) -> Vec<String> {
    status_ids(n, "peers")
}

#[test]
fn only_peers_with_the_network_key_can_connect() {
    let dir = TempDir::new("pnet");
    let (key, other) = (dir.0.join("swarm.key"), dir.0.join("other.key"));
    for k in [&key, &other] {
        let out = keygen(k);
        assert!(out.status.success(), "keygen: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("fingerprint"));
    }
    let again = keygen(&key);
    assert!(!again.status.success(), "keygen must not replace a key");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not replacing"), "{again:?}");

    // A malformed key stops the node at start, saying why.
    let bad = dir.0.join("bad.key");
    std::fs::write(&bad, "/key/swarm/psk/1.0.0/\n/base16/\nnot-hex\n").unwrap();
    let out = Command::new(argus_bin())
        .args(["node", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0", "--data"])
        .arg(dir.0.join("bad"))
        .arg("--network-key")
        .arg(&bad)
        .output()
        .expect("argus node runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("64 hexadecimal digits"), "{err}");

    let k = key.to_str().unwrap();
    let with_key = ["--backend", "flex", "--network-key", k];
    let a = NodeProc::start(&dir.0.join("a"), &[], &with_key).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &with_key).expect("b starts");
    let outsider =
        NodeProc::start(&dir.0.join("c"), &[a.addr(), b.addr()], &["--backend", "flex"]).expect("c starts");
    let wrong = NodeProc::start(
        &dir.0.join("d"),
        &[a.addr(), b.addr()],
        &["--backend", "flex", "--network-key", other.to_str().unwrap()],
    )
    .expect("d starts");
    assert!(wait_until(Duration::from_secs(30), || peers_of(&a).contains(&b.peer_id)), "a and b connect");
    // The outsiders keep redialling (bootstrap peers): for 6 s, no connection completes.
    let strangers = [&outsider.peer_id, &wrong.peer_id];
    for _ in 0..30 {
        for n in [&a, &b] {
            let p = peers_of(n);
            assert!(!strangers.iter().any(|s| p.contains(s)), "a keyed node connected to an outsider: {p:?}");
        }
        assert!(peers_of(&outsider).is_empty() && peers_of(&wrong).is_empty(), "outsiders stay alone");
        std::thread::sleep(Duration::from_millis(200));
    }

    let refused = |n: &NodeProc| {
        n.get("/v1/status").ok().and_then(|(_, v)| v["counters"]["connections_refused"].as_u64())
    };
    assert!(refused(&a).unwrap_or(0) + refused(&b).unwrap_or(0) > 0, "the refusals are counted");
    // A sender with the key reaches the keyed nodes; their results are stored on both.
    let net = ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--network-key", k];
    let ids = send_synthetic_in(&[], &net, &[a.addr(), b.addr()], 6, 7, 10.0, 2).expect("keyed sender runs");
    assert_eq!(ids.len(), 6);
    let stored = |n: &NodeProc| n.get("/v1/registers/digest").ok().and_then(|(_, v)| v["registers"].as_u64());
    assert!(wait_until(Duration::from_secs(30), || stored(&a) == Some(6) && stored(&b) == Some(6)));
    assert_eq!(stored(&outsider), Some(0), "the outsider heard nothing");
}
