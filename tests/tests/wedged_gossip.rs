//! A gossip frame over the receivers' limit (issue 14, "a wedged connection"). libp2p-gossipsub
//! drops the inbound stream that carried it and the sender keeps writing into its end, so the
//! sender's later gossip to each receiver is lost on that connection. Node c, started with
//! `--fault oversize-once` (its own frame limit raised), sends one such frame to a and b 5 s
//! after it starts; d joins right after the frame, with fresh streams, and relays c's gossip
//! to a and b. Each of a and b must replace its connection to c, counted: by the wedge rule
//! (`gossip_streams_wedged`: c's own gossip reaches it only relayed, for 30 s), or by the
//! silent-connection rule (`connections_closed_silent`) if d's relaying began too late to mask
//! the silence. Afterwards c is live everywhere and works with the others.

use std::time::Duration;

use argus_tests::*;

fn counter(n: &NodeProc, name: &str) -> u64 {
    counter_sum(&[n], name)
}

fn live_nodes(n: &NodeProc) -> Vec<String> {
    status_ids(n, "live_nodes")
}

#[test]
fn the_receivers_of_an_over_limit_frame_replace_the_connection_and_hear_its_sender_again() {
    let dir = TempDir::new("wedged");
    let flags = ["--backend", "flex", "--model", "shapes"];
    let a = NodeProc::start(&dir.0.join("a"), &[], &flags).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &flags).expect("b starts");
    let faulty = [&flags[..], &["--fault", "oversize-once"][..]].concat();
    let c = NodeProc::start(&dir.0.join("c"), &[a.addr(), b.addr()], &faulty).expect("c starts");
    let c_log = dir.0.join("c.log");
    let sent = || std::fs::read_to_string(&c_log).is_ok_and(|l| l.contains("publishing one gossip frame"));
    assert!(wait_until(Duration::from_secs(20), sent), "c sends its frame");
    let d = NodeProc::start(&dir.0.join("d"), &[a.addr(), b.addr(), c.addr()], &flags).expect("d starts");
    let receivers = [&a, &b];
    let replaced =
        |n: &NodeProc| counter(n, "connections_closed_silent") + counter(n, "gossip_streams_wedged");
    assert!(
        wait_until(Duration::from_secs(60), || receivers.iter().all(|n| replaced(n) >= 1)),
        "a and b replace their connections to c: {:?}",
        receivers.iter().map(|n| replaced(n)).collect::<Vec<_>>()
    );
    let how: Vec<(u64, u64)> = receivers
        .iter()
        .map(|n| (counter(n, "connections_closed_silent"), counter(n, "gossip_streams_wedged")))
        .collect();
    eprintln!("connections replaced (silent, wedged) at a and b: {how:?}");
    // Once replaced, c's own gossip reaches each of them again.
    let all = [&a, &b, &d];
    assert!(
        wait_until(Duration::from_secs(20), || all.iter().all(|n| live_nodes(n).contains(&c.peer_id))),
        "c is live everywhere again"
    );
    let ids = send_synthetic(&[a.addr(), c.addr()], 12, 5, 20.0, 4).expect("the sender runs");
    assert_eq!(ids.len(), 12);
    for n in [&a, &b, &c, &d] {
        let stored = |id: &String| n.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200);
        assert!(wait_until(Duration::from_secs(30), || ids.iter().all(stored)), "all stored on every node");
    }
}
