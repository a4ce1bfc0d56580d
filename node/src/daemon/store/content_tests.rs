//! The content index against a brute-force scan: random registers (sources, labels, scores,
//! capture times; later merges that change winners, capture times and sources) in a real LMDB
//! file, random queries paged through to the end, and every answer compared with filtering
//! all stored registers by hand.

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::{ImageId, WeightsId};
use argus_protocol::meta::ImageMeta;
use argus_protocol::model_ref::ModelRef;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use argus_protocol::search::{Cursor, Search};
use libp2p::identity::Keypair;
use proptest::prelude::*;

use super::content;
use super::lmdb;

const SOURCES: [&str; 3] = ["", "cam-1", "cam-2"];
/// The shapes model's labels are few, so queries by label hit often.
const LABELS: [&str; 3] = ["circle", "square", "triangle"];

fn model() -> ModelRef {
    ModelRef::new("shapes", WeightsId([3; 32]))
}

/// One random result: image `n`, `k` detections of random classes and scores.
#[derive(Debug, Clone)]
struct Gen {
    image: u8,
    ms: u64,
    source: usize,
    dets: Vec<(u16, u8)>,
    signer: u8,
}

fn any_write() -> impl Strategy<Value = Gen> {
    (0u8..40, 0u64..50, 0usize..3, proptest::collection::vec((0u16..5, 0u8..=100), 0..4), 0u8..3)
        .prop_map(|(image, ms, source, dets, signer)| Gen { image, ms, source, dets, signer })
}

fn register(g: &Gen, keys: &[Keypair]) -> Register {
    let image = ImageId::of_bytes(&[g.image]);
    let dets: Vec<Detection> = g
        .dets
        .iter()
        .enumerate()
        .map(|(i, (class, score))| Detection {
            class: *class,
            score: f32::from(*score) / 100.0,
            bbox: BBox { x_min: i as f32, y_min: 0.0, x_max: i as f32 + 10.0, y_max: 10.0 },
        })
        .collect();
    let digest = result_digest(&model(), &dets);
    let key = &keys[usize::from(g.signer)];
    let att = Attestation::sign(key, &image, &digest, HlcTimestamp::new(1_000 + g.ms, 0)).unwrap();
    let mut reg = Register::new(image, 1_000 + g.ms);
    reg.insert(&model(), &dets, att).unwrap();
    reg.join_meta(&ImageMeta { source: SOURCES[g.source].into(), thumbnail: None }).unwrap();
    reg
}

fn query() -> impl Strategy<Value = Search> {
    (
        proptest::option::of(0usize..LABELS.len() + 1),
        proptest::option::of(0usize..3),
        0u8..=100,
        0u64..60,
        0u64..60,
        1u32..7,
    )
        .prop_map(|(label, source, min, a, b, limit)| Search {
            // Index LABELS.len() stands for a label no model has.
            label: label.map(|i| LABELS.get(i).copied().unwrap_or("giraffe").to_string()),
            source: source.map(|i| SOURCES[i].to_string()).filter(|s| !s.is_empty()),
            min_score: f32::from(min) / 100.0,
            from_ms: 1_000 + a.min(b),
            to_ms: 1_000 + a.max(b),
            limit,
            after: None,
        })
}

fn cursor(r: &Register) -> Cursor {
    Cursor { ms: r.captured_at_ms(), image_id: *r.image_id() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn paged_search_equals_a_brute_force_scan(
        writes in proptest::collection::vec(any_write(), 1..60),
        queries in proptest::collection::vec(query(), 1..12),
        max_scanned in 1usize..8,
    ) {
        let dir = std::env::temp_dir().join(format!("argus-content-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        let env = lmdb::open_env(&dir, 64 << 20).unwrap();
        let dbs = lmdb::open_dbs(&env).unwrap();
        let keys: Vec<Keypair> = (0..3).map(|_| Keypair::generate_ed25519()).collect();
        {
            let mut wtxn = env.write_txn().unwrap();
            for g in &writes {
                lmdb::merge(&dbs, &mut wtxn, &register(g, &keys)).unwrap();
            }
            wtxn.commit().unwrap();
        }
        let rtxn = env.read_txn().unwrap();
        let all: Vec<Register> = dbs
            .registers
            .iter(&rtxn)
            .unwrap()
            .map(|item| lmdb::get(&dbs, &rtxn, &ImageId::from_slice(item.unwrap().0).unwrap()).unwrap().unwrap())
            .collect();
        // The index holds exactly the entries of the registers as stored: merges that moved a
        // winner, a capture time or a source left nothing behind.
        let mut expected_index: Vec<(Vec<u8>, Vec<u8>)> = all
            .iter()
            .flat_map(content::entries)
            .map(|(k, score)| (k.to_vec(), score.to_be_bytes().to_vec()))
            .collect();
        expected_index.sort();
        let index: Vec<(Vec<u8>, Vec<u8>)> =
            dbs.by_content.iter(&rtxn).unwrap().map(|i| { let (k, v) = i.unwrap(); (k.to_vec(), v.to_vec()) }).collect();
        prop_assert_eq!(index, expected_index);
        for q in &queries {
            let mut expected: Vec<Cursor> = all
                .iter()
                .filter(|r| (q.from_ms..q.to_ms).contains(&r.captured_at_ms()) && content::matches(r, q))
                .map(cursor)
                .collect();
            expected.sort();
            // Page through, with a tiny walk bound so that pages also end early.
            let mut got = Vec::new();
            let mut page = q.clone();
            for _ in 0..10_000 {
                let (regs, next) = super::query::search(&dbs, &rtxn, &page, max_scanned).unwrap();
                prop_assert!(regs.len() <= q.limit as usize);
                got.extend(regs.iter().map(cursor));
                match next {
                    Some(n) => page.after = Some(n),
                    None => break,
                }
            }
            prop_assert_eq!(&got, &expected, "query {:?}", q);
            // A majority merge of identical pages is the page itself, each item held by all.
            let (regs, next) = super::query::search(&dbs, &rtxn, q, usize::MAX).unwrap();
            let (merged, merged_next) = crate::daemon::http::search::merge_pages(q, vec![(regs.clone(), next), (regs.clone(), next)]);
            prop_assert_eq!(merged.iter().map(|(r, _)| cursor(r)).collect::<Vec<_>>(), regs.iter().map(cursor).collect::<Vec<_>>());
            prop_assert!(merged.iter().all(|(_, n)| *n == 2));
            prop_assert_eq!(merged_next, next);
        }
        drop(rtxn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A store written by schema 2 (no content index, old state hashes) is migrated when opened:
/// its registers are found by content and its time index carries the new state hashes.
#[test]
fn a_schema_2_store_is_migrated() {
    let dir = std::env::temp_dir().join(format!("argus-content-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keys = vec![Keypair::generate_ed25519()];
    let g = Gen { image: 1, ms: 5, source: 1, dets: vec![(0, 90)], signer: 0 };
    let reg = register(&g, &keys);
    {
        let env = lmdb::open_env(&dir, 64 << 20).unwrap();
        let dbs = lmdb::open_dbs(&env).unwrap();
        let mut wtxn = env.write_txn().unwrap();
        lmdb::merge(&dbs, &mut wtxn, &reg).unwrap();
        // Make it look like schema 2: no index, a stale hash.
        dbs.by_content.clear(&mut wtxn).unwrap();
        dbs.by_time.put(&mut wtxn, &lmdb::time_key(reg.captured_at_ms(), reg.image_id()), &[9; 32]).unwrap();
        dbs.meta.put(&mut wtxn, b"schema", &2u32.to_be_bytes()).unwrap();
        wtxn.commit().unwrap();
    }
    let env = lmdb::open_env(&dir, 64 << 20).unwrap();
    let dbs = lmdb::open_dbs(&env).unwrap();
    let rtxn = env.read_txn().unwrap();
    let stored =
        dbs.by_time.get(&rtxn, &lmdb::time_key(reg.captured_at_ms(), reg.image_id())).unwrap().unwrap();
    assert_eq!(stored, reg.state_hash());
    let q = Search {
        label: Some("circle".into()),
        source: Some("cam-1".into()),
        min_score: 0.5,
        from_ms: 0,
        to_ms: u64::MAX,
        limit: 10,
        after: None,
    };
    let (found, next) = super::query::search(&dbs, &rtxn, &q, usize::MAX).unwrap();
    assert_eq!((found.len(), next), (1, None));
    assert_eq!(dbs.meta.get(&rtxn, b"schema").unwrap().unwrap(), lmdb::SCHEMA_VERSION.to_be_bytes());
    drop(rtxn);
    let _ = std::fs::remove_dir_all(&dir);
}
