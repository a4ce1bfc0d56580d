//! Store tests on real LMDB files in temporary directories.

use super::*;
use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::result::result_digest;
use libp2p::identity::Keypair;

/// The model every test result is of.
fn test_model() -> argus_protocol::model_ref::ModelRef {
    argus_protocol::model_ref::ModelRef::new("shapes", argus_protocol::ids::WeightsId([7; 32]))
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("argus-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn register(key: &Keypair, n: u64, class: u16) -> Register {
    let image = ImageId::of_bytes(&n.to_le_bytes());
    let dets = vec![Detection {
        class,
        score: 0.9,
        bbox: BBox { x_min: 1.0, y_min: 2.0, x_max: 30.0, y_max: 40.0 },
    }];
    let digest = result_digest(&test_model(), &dets);
    let att = Attestation::sign(key, &image, &digest, HlcTimestamp::new(1_000 + n, 0)).unwrap();
    let mut reg = Register::new(image, 1_000 + n);
    reg.insert(&test_model(), &dets, att).unwrap();
    reg
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn merges_survive_reopen_and_are_idempotent() {
    let dir = tmp("reopen");
    let key = Keypair::generate_ed25519();
    let cfg = StoreConfig::default();
    let rt = rt();
    {
        let (h, _, join) = open(&dir, &cfg, Arc::new(Metrics::default())).unwrap();
        rt.block_on(async {
            for n in 0..50 {
                assert!(h.merge(register(&key, n, 1)).await.unwrap().changed);
            }
            // The same register again changes nothing.
            assert!(!h.merge(register(&key, 7, 1)).await.unwrap().changed);
        });
        drop(h);
        join.join().unwrap();
    }
    let m = Arc::new(Metrics::default());
    let (h, _, _) = open(&dir, &cfg, m.clone()).unwrap();
    assert_eq!(m.store_registers.load(Ordering::Relaxed), 50);
    rt.block_on(async {
        let got = h.get(*register(&key, 7, 1).image_id()).await.unwrap().unwrap();
        assert_eq!(got.winner().unwrap().1.votes(), 1);
        let s = h.summary().await.unwrap();
        assert_eq!(s.registers, 50);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn second_candidate_and_second_vote_are_merged() {
    let dir = tmp("votes");
    let (a, b) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
    let rt = rt();
    let (h, _, _) = open(&dir, &StoreConfig::default(), Arc::new(Metrics::default())).unwrap();
    rt.block_on(async {
        h.merge(register(&a, 1, 1)).await.unwrap();
        h.merge(register(&b, 1, 1)).await.unwrap();
        let m = h.merge(register(&b, 1, 2)).await.unwrap();
        assert!(m.changed);
        assert_eq!(m.register.len(), 2, "two candidates");
        let (_, winner) = m.register.winner().unwrap();
        assert_eq!(winner.votes(), 2, "class-1 result has two votes");
        assert_eq!(winner.detections()[0].class, 1);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paging_and_fingerprints_agree_across_stores() {
    let (d1, d2) = (tmp("fp1"), tmp("fp2"));
    let key = Keypair::generate_ed25519();
    let rt = rt();
    let (h1, _, _) = open(&d1, &StoreConfig::default(), Arc::new(Metrics::default())).unwrap();
    let (h2, _, _) = open(&d2, &StoreConfig::default(), Arc::new(Metrics::default())).unwrap();
    rt.block_on(async {
        for n in 0..30 {
            h1.merge(register(&key, n, 1)).await.unwrap();
            // Store 2 receives them in another order and misses one.
            if n != 17 {
                h2.merge(register(&key, 29 - n, 1)).await.unwrap();
            }
        }
        let f1 = h1.fingerprints(0, 2_000, 4).await.unwrap();
        let f2 = h2.fingerprints(0, 2_000, 4).await.unwrap();
        let differing: Vec<_> = f1.iter().zip(&f2).filter(|(a, b)| a != b).collect();
        assert_eq!(differing.len(), 1, "exactly the part holding the missing register differs");
        assert!(differing[0].0.start_ms <= 1_012 && 1_012 < differing[0].0.end_ms);
        let mut seen = 0;
        let mut after = None;
        loop {
            let page = h1.list(after, 7).await.unwrap();
            seen += page.registers.len();
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, 30);
        let (regs, more) = h1.fetch_range(1_000, 1_010, None, 4).await.unwrap();
        assert_eq!(regs.len(), 4);
        assert!(more);
        // A continuation page starts strictly after the last register of the previous one.
        let last = regs.last().unwrap();
        let (next, _) = h1.fetch_range(last.captured_at_ms, 1_010, Some(last.image_id), 4).await.unwrap();
        assert!(next.iter().all(|w| regs.iter().all(|r| r.image_id != w.image_id)), "no register twice");
        assert!(!next.is_empty());
    });
    let _ = std::fs::remove_dir_all(&d1);
    let _ = std::fs::remove_dir_all(&d2);
}

#[test]
fn full_map_grows_then_refuses_cleanly_at_its_maximum() {
    let dir = tmp("full");
    let key = Keypair::generate_ed25519();
    let cfg = StoreConfig { map_size_bytes: 64 * 1024, max_map_size_bytes: 512 * 1024, ..Default::default() };
    let rt = rt();
    let (h, _, _) = open(&dir, &cfg, Arc::new(Metrics::default())).unwrap();
    rt.block_on(async {
        let mut stored = 0;
        let mut refused = None;
        for n in 0..5_000 {
            match h.merge(register(&key, n, 1)).await {
                Ok(_) => stored += 1,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert!(stored > 200, "the map grew beyond its initial 64 KiB: {stored} stored");
        assert!(matches!(refused, Some(StoreError::MapFull { .. })), "{refused:?}");
        // The store still answers reads after refusing a write.
        assert_eq!(h.summary().await.unwrap().registers, stored);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
