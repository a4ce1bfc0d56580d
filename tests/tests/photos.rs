//! Real photographs end to end: three `argus node` processes on loopback and `argus send --dir`
//! with the test photographs (the coco model, a folder's default). Every node stores a result
//! for every photograph, each detection carries its label, and the photographs show what they
//! hold. Without the photographs (`scripts/fetch-photos.sh`) the test says so and skips, unless
//! `ARGUS_REQUIRE_PHOTOS` is set.

use std::time::Duration;

use argus_protocol::ids::ImageId;
use argus_tests::*;

#[test]
fn three_nodes_store_every_photograph_with_labels() {
    let Ok(paths) = argus_model::photos::all() else {
        let _ = argus_model::photos::for_test(); // says why, or fails under ARGUS_REQUIRE_PHOTOS
        return;
    };
    let dir = TempDir::new("photos");
    let mut nodes: Vec<NodeProc> = Vec::new();
    for i in 0..3 {
        let peers: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
        nodes.push(
            NodeProc::start(&dir.0.join(format!("n{i}")), &peers, &["--backend", "flex"])
                .expect("node starts"),
        );
    }
    for n in &nodes {
        let (_, status) = n.get("/v1/status").unwrap();
        let models: Vec<&str> =
            status["models"].as_array().unwrap().iter().filter_map(|m| m["name"].as_str()).collect();
        assert_eq!(models, ["shapes", "coco"], "a node serves both models by default");
    }
    let peers: Vec<String> = nodes.iter().map(|n| n.addr()).collect();
    let source = ["--dir".to_string(), argus_model::photos::dir().display().to_string()];
    let net = ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"];
    let ids = send_in(&[], &net, &source, &peers, 4.0, 3).expect("sender runs");
    assert_eq!(ids.len(), paths.len(), "one announcement per photograph");
    let named: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let id = ImageId::of_bytes(&std::fs::read(p).unwrap()).to_string();
            (p.file_name().unwrap().to_string_lossy().to_string(), id)
        })
        .collect();
    let all_stored = wait_until(Duration::from_secs(180), || {
        nodes.iter().all(|n| {
            named.iter().all(|(_, id)| n.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200))
        })
    });
    assert!(all_stored, "every node stores a result for every photograph");
    for n in &nodes {
        for (name, id) in &named {
            let (_, v) = n.get(&format!("/v1/detections/{id}")).unwrap();
            assert_eq!(v["model"], "coco", "{name}");
            let dets = v["detections"].as_array().unwrap();
            let labels: Vec<(&str, f64)> = dets
                .iter()
                .map(|d| {
                    (d["label"].as_str().expect("every detection has a label"), d["score"].as_f64().unwrap())
                })
                .collect();
            if let Some((_, want)) = argus_model::photos::EXPECTED.iter().find(|(n, _)| n == name) {
                for label in *want {
                    assert!(
                        labels.iter().any(|(l, s)| l == label && *s >= 0.3),
                        "{name}: no {label} in {labels:?}"
                    );
                }
            }
        }
    }
}
