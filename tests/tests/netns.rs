//! Real `argus` processes in network namespaces on one bridge, discovering each other by mDNS:
//! 3 nodes and a sender, 200 synthetic images at 10/s; every image is stored on every node,
//! at most 1% are processed twice, and every stored result agrees with the detector run here.
//! The same with one node SIGKILLed mid-run while it holds work: nothing is lost and the work it
//! had claimed is taken over by the others.
//! Needs root and `ip netns`; otherwise it prints why and skips.

use std::time::Duration;

use argus_model::scene::{SceneConfig, generate};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource};
use argus_protocol::detection::Detection;
use argus_protocol::result::results_agree;
use argus_scenario::lab::Layout;
use argus_scenario::lab::netns::{NetnsLab, usable};
use argus_tests::*;

const SEED: u64 = 777;
const COUNT: u64 = 200;

fn stored(n: &NodeProc, id: &str) -> Option<Vec<Detection>> {
    stored_detections(n, id)
}

/// The tests of this file run one at a time: each floods a 2-core machine on its own.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Three nodes and a sender, each in its own namespace on one bridge, mDNS on.
fn lab(tag: &str) -> Option<(NetnsLab, TempDir, Vec<NodeProc>)> {
    if let Err(why) = usable() {
        eprintln!("SKIPPED: network namespaces unavailable here: {why}");
        return None;
    }
    let layout = Layout {
        nodes: vec!["n0".into(), "n1".into(), "n2".into()],
        sources: vec!["s0".into()],
        ..Default::default()
    };
    let lab = NetnsLab::create(&format!("argus-{tag}{}", std::process::id()), &layout).expect("lab");
    let dir = TempDir::new(tag);
    let mut nodes = Vec::new();
    for name in &layout.nodes {
        let sock = format!("unix:{}", dir.0.join(format!("{name}.sock")).display());
        let prefix = lab.placement(name).exec_prefix;
        let args = ["--listen", "/ip4/0.0.0.0/tcp/0", "--http", sock.as_str(), "--backend", "flex"];
        nodes.push(NodeProc::start_in(&prefix, &dir.0.join(name), &[], &args).expect("node starts"));
    }
    Some((lab, dir, nodes))
}

fn registers(n: &NodeProc) -> u64 {
    n.get("/v1/registers/digest").ok().and_then(|(_, v)| v["registers"].as_u64()).unwrap_or(0)
}

#[test]
fn three_nodes_in_namespaces_with_mdns_store_every_image() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some((mut lab, _dir, nodes)) = lab("t") else { return };
    let prefix = lab.placement("s0").exec_prefix;
    let ids = send_synthetic_in(&prefix, &["--listen", "/ip4/0.0.0.0/tcp/0"], &[], COUNT, SEED, 10.0, 3)
        .expect("sender runs over mDNS");
    assert_eq!(ids.len() as u64, COUNT);
    let all = wait_until(Duration::from_secs(60), || nodes.iter().all(|n| registers(n) >= COUNT));
    let refs: Vec<&NodeProc> = nodes.iter().collect();
    let processed = counter_sum(&refs, "images_processed");
    let taken_over = counter_sum(&refs, "images_taken_over");
    eprintln!("processed {processed} for {COUNT} images, {taken_over} taken over");
    assert!(all, "every node stores every image");
    assert!(processed <= COUNT + COUNT / 100, "at most 1% processed twice: {processed}");
    let detector =
        Detector::new(ModelKind::Shapes, BackendKind::Flex, WeightsSource::Embedded).expect("detector");
    for (i, id) in ids.iter().enumerate() {
        let local = detector.detect(&generate(SEED, i as u64, &SceneConfig::default()).image);
        for n in &nodes {
            let s = stored(n, id).unwrap_or_else(|| panic!("image {i} missing on {}", n.peer_id));
            assert!(results_agree(&local, &s), "image {i}: stored result disagrees with the detector");
        }
    }
    drop(nodes);
    lab.teardown().expect("lab teardown");
}

/// A node is SIGKILLed the moment it holds a backlog (`queue_len >= 2`: images it claimed and
/// has not finished) while a burst is flowing. The survivors store every image, the victim's
/// unfinished claims are taken over (their `images_taken_over` counter moves), and the work
/// done twice stays small.
#[test]
fn a_node_killed_with_claimed_work_in_namespaces_loses_nothing() {
    const KILL_SEED: u64 = 778;
    const KILL_COUNT: u64 = 300;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some((mut lab, _dir, mut nodes)) = lab("k") else { return };
    let prefix = lab.placement("s0").exec_prefix;
    let sender = std::thread::spawn(move || {
        send_synthetic_in(&prefix, &["--listen", "/ip4/0.0.0.0/tcp/0"], &[], KILL_COUNT, KILL_SEED, 60.0, 3)
    });
    // Wait for a node with a backlog (at most 30 s), then kill it at once.
    let mut victim = None;
    wait_until(Duration::from_secs(30), || {
        victim = nodes.iter().position(|n| {
            n.get("/v1/status").ok().and_then(|(_, v)| v["queue_len"].as_u64()).unwrap_or(0) >= 2
        });
        victim.is_some()
    });
    let victim = victim.expect("some node built a backlog of claimed images during the burst");
    nodes[victim].kill();
    let victim_id = nodes.remove(victim).peer_id.clone();
    let ids = sender.join().expect("sender thread").expect("sender runs");
    assert_eq!(ids.len() as u64, KILL_COUNT);
    let all = wait_until(Duration::from_secs(90), || {
        nodes.iter().all(|n| ids.iter().all(|id| stored(n, id).is_some()))
    });
    let missing: Vec<usize> =
        (0..ids.len()).filter(|&i| nodes.iter().any(|n| stored(n, &ids[i]).is_none())).collect();
    assert!(all, "survivors store every image; missing indices {missing:?}");
    let refs: Vec<&NodeProc> = nodes.iter().collect();
    let taken_over = counter_sum(&refs, "images_taken_over");
    eprintln!("victim {victim_id} killed with a backlog; survivors took over {taken_over} images");
    assert!(taken_over >= 1, "the victim's claimed, unfinished images were taken over");
    drop(nodes);
    lab.teardown().expect("lab teardown");
}
