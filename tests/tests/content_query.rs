//! Content queries on a running 3-node cluster (issue 15): results found by source and label
//! from the content index equal what a brute-force filter of the full listing finds; with
//! `consistency=majority` during a partition each side answers with what its side holds and
//! says how many nodes it asked and heard; after the heal the merged answer holds both sides'
//! images, confirmed by all three nodes; `argus query --label --since` prints the same set.

use std::collections::BTreeSet;
use std::time::Duration;

use argus_interface::api::{Page, StoredResult};
use argus_tests::*;

const TOKEN: &str = "admin-0123456789abcdef";

fn page(n: &NodeProc, query: &str) -> Page {
    let (status, v) = n.get(&format!("/v1/detections?{query}")).expect("query answered");
    assert_eq!(status, 200, "{query}: {v}");
    serde_json::from_value(v).expect("a page")
}

/// Every item of a content query, paged through (small pages, so paging is exercised).
fn all(n: &NodeProc, query: &str) -> (Vec<StoredResult>, Option<u64>, Option<u64>) {
    let (mut items, mut since) = (Vec::new(), String::new());
    loop {
        let p = page(n, &format!("{query}&limit=3{since}"));
        items.extend(p.items);
        match p.next {
            Some(c) => since = format!("&since={c}"),
            None => return (items, p.asked, p.answered),
        }
    }
}

fn ids(items: &[StoredResult]) -> BTreeSet<String> {
    items.iter().map(|r| r.image_id.clone()).collect()
}

fn sent(peers: &[String], seed: u64, name: &str) -> Vec<String> {
    let source =
        ["--synthetic", "--count", "8", "--seed", &seed.to_string(), "--name", name].map(String::from);
    send_in(&[], &["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"], &source, peers, 20.0, peers.len())
        .expect("the sender runs")
}

#[test]
fn content_queries_match_a_brute_force_filter_and_majority_spans_a_partition() {
    let dir = TempDir::new("content-query");
    std::fs::create_dir_all(&dir.0).unwrap();
    let token_file = dir.0.join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let flags = ["--backend", "flex", "--model", "shapes", "--admin-token", token_file.to_str().unwrap()];
    let a = NodeProc::start(&dir.0.join("a"), &[], &flags).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &flags).expect("b starts");
    let c = NodeProc::start(&dir.0.join("c"), &[a.addr(), b.addr()], &flags).expect("c starts");
    let everyone = [a.addr(), b.addr(), c.addr()];
    let cam1 = sent(&everyone, 1, "cam-1");
    let cam2 = sent(&everyone, 2, "cam-2");
    let stored_everywhere = |ids: &[String]| {
        [&a, &b, &c]
            .iter()
            .all(|n| ids.iter().all(|id| n.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200)))
    };
    assert!(wait_until(Duration::from_secs(60), || stored_everywhere(&cam1) && stored_everywhere(&cam2)));

    // By source, against the images each source sent.
    eprintln!("sent {} + {} images", cam1.len(), cam2.len());
    let (found, asked, _) = all(&a, "source=cam-1");
    assert_eq!(ids(&found), cam1.iter().cloned().collect(), "source=cam-1");
    assert!(found.iter().all(|r| r.source == "cam-1") && asked.is_none());
    // By label and score, against a brute-force filter of the full listing.
    let listing = block_on(a.client().all_detections()).unwrap().unwrap();
    assert_eq!(listing.len(), 16);
    let labels: BTreeSet<String> =
        listing.iter().flat_map(|r| r.detections.iter().map(|d| d.label.clone())).collect();
    assert!(!labels.is_empty(), "the synthetic scenes hold shapes");
    for label in &labels {
        for (source, min) in [(None, 0.0f32), (Some("cam-2"), 0.0), (None, 0.6)] {
            let expected: BTreeSet<String> = listing
                .iter()
                .filter(|r| source.is_none_or(|s| r.source == s))
                .filter(|r| r.detections.iter().any(|d| d.label == *label && d.score >= min))
                .map(|r| r.image_id.clone())
                .collect();
            let q = format!(
                "label={label}&min_score={min}{}",
                source.map(|s| format!("&source={s}")).unwrap_or_default()
            );
            let (found, _, _) = all(&a, &q);
            assert_eq!(ids(&found), expected, "{q}");
            let by_time: Vec<(u64, &String)> =
                found.iter().map(|r| (r.captured_at_ms, &r.image_id)).collect();
            assert!(by_time.windows(2).all(|w| w[0] < w[1]), "{q}: oldest first, once each");
        }
    }
    // Bad parameters are refused with a reason.
    for bad in [
        "min_score=2",
        "from_ms=9&to_ms=3",
        "colour=red",
        "limit=0&label=circle",
        "since=nonsense&label=circle",
    ] {
        let (status, v) = a.get(&format!("/v1/detections?{bad}")).unwrap();
        assert_eq!(status, 400, "{bad}: {v}");
    }

    // Majority before the partition: all three asked and answering, every item from all three.
    let (found, asked, answered) = all(&a, "source=cam-2&consistency=majority");
    assert_eq!((ids(&found), asked, answered), (cam2.iter().cloned().collect(), Some(3), Some(3)));
    assert!(found.iter().all(|r| r.corroborating == Some(3)), "{found:?}");

    // Partition {a, b} | {c}; new images on the {a, b} side only.
    let admin = |n: &NodeProc| n.client().with_token(Some(TOKEN.into()));
    block_on(admin(&a).block(std::slice::from_ref(&c.peer_id))).unwrap().unwrap();
    block_on(admin(&b).block(std::slice::from_ref(&c.peer_id))).unwrap().unwrap();
    block_on(admin(&c).block(&[a.peer_id.clone(), b.peer_id.clone()])).unwrap().unwrap();
    assert!(wait_until(Duration::from_secs(20), || status_ids(&c, "live_nodes").is_empty()), "c alone");
    assert!(wait_until(Duration::from_secs(20), || status_ids(&a, "live_nodes") == vec![b.peer_id.clone()]));
    let cam3 = sent(&[a.addr(), b.addr()], 3, "cam-3");
    assert!(wait_until(Duration::from_secs(60), || [&a, &b]
        .iter()
        .all(|n| cam3.iter().all(|id| n.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200)))));
    let (found, asked, answered) = all(&a, "source=cam-3&consistency=majority");
    eprintln!(
        "partition: a's side holds {} cam-3 images, asked {asked:?}, answered {answered:?}",
        found.len()
    );
    assert_eq!(
        (ids(&found), asked, answered),
        (cam3.iter().cloned().collect(), Some(2), Some(2)),
        "a's side"
    );
    let (found, asked, answered) = all(&c, "source=cam-3&consistency=majority");
    assert_eq!((found.len(), asked, answered), (0, Some(1), Some(1)), "c's side holds none of them");

    // Heal: c's majority answer gathers the images from the others at once (anti-entropy may
    // not have run yet), and all three confirm them once it has.
    block_on(admin(&a).unblock_all()).unwrap().unwrap();
    block_on(admin(&b).unblock_all()).unwrap().unwrap();
    block_on(admin(&c).unblock_all()).unwrap().unwrap();
    assert!(wait_until(Duration::from_secs(30), || status_ids(&c, "live_nodes").len() == 2), "c rejoins");
    let (found, asked, answered) = all(&c, "source=cam-3&consistency=majority");
    assert_eq!(
        (ids(&found), asked, answered),
        (cam3.iter().cloned().collect(), Some(3), Some(3)),
        "after the heal"
    );
    assert!(wait_until(Duration::from_secs(60), || {
        all(&c, "source=cam-3&consistency=majority").0.iter().all(|r| r.corroborating == Some(3))
    }));

    // The CLI prints the same set, one JSON object per line.
    let label = labels.iter().next().unwrap();
    let out = std::process::Command::new(argus_bin())
        .args(["query", "--http", &a.http, "--label", label, "--since", "10m", "--majority"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<StoredResult>(l).expect("one result per line").image_id)
        .collect();
    let (expected, _, _) = all(&a, &format!("label={label}&consistency=majority"));
    assert_eq!(printed, ids(&expected));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nodes asked 3, answered 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
