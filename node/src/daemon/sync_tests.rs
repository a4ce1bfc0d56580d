//! Reconciliation converges: two real stores holding arbitrary overlapping sets of registers
//! (some of the same image with different attestations) reach the same state, equal to the
//! union, after one reconciliation in each direction, within a bounded number of round trips.

use std::sync::Arc;

use argus_protocol::attestation::Attestation;
use argus_protocol::detection::{BBox, Detection};
use argus_protocol::hlc::HlcTimestamp;
use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::result::result_digest;
use libp2p::identity::Keypair;
use proptest::prelude::*;

use super::*;
use crate::config::StoreConfig;
use argus_state::reconcile::MAX_ROUNDS;

/// The model every test result is of.
fn test_model() -> argus_protocol::model_ref::ModelRef {
    argus_protocol::model_ref::ModelRef::new("shapes", argus_protocol::ids::WeightsId([7; 32]))
}

struct StoreRemote(StoreHandle);

impl Remote for StoreRemote {
    async fn fingerprints(&self, start_ms: u64, end_ms: u64, parts: u16) -> Option<Vec<RangeFingerprint>> {
        self.0.fingerprints(start_ms, end_ms, parts).await.ok()
    }
    /// Answers as a node does (`answer`), then crosses the wire's limit: the response must
    /// encode within `MAX_SYNC_RESPONSE_BYTES` and decode with its validation.
    async fn fetch(
        &self,
        start_ms: u64,
        end_ms: u64,
        limit: u32,
        after: Option<ImageId>,
    ) -> Option<(Vec<RegisterWire>, bool)> {
        let resp = answer(&self.0, SyncRequest::Fetch { start_ms, end_ms, limit, after }).await;
        let bytes = argus_protocol::codec::encode_wire(&resp).ok()?;
        match argus_protocol::codec::decode_wire::<SyncResponse>(&bytes).ok()? {
            SyncResponse::Registers { registers, more } => Some((registers, more)),
            SyncResponse::Fingerprints(_) | SyncResponse::Found(_) => None,
        }
    }
}

fn register(key: &Keypair, image: u32, captured_ms: u64, class: u16) -> Register {
    let id = ImageId::of_bytes(&image.to_le_bytes());
    let dets = vec![Detection {
        class,
        score: 0.8,
        bbox: BBox { x_min: 1.0, y_min: 1.0, x_max: 20.0, y_max: 20.0 },
    }];
    let att = Attestation::sign(
        key,
        &id,
        &result_digest(&test_model(), &dets),
        HlcTimestamp::new(captured_ms + 5, 0),
    )
    .unwrap();
    let mut r = Register::new(id, captured_ms);
    r.insert(&test_model(), &dets, att).unwrap();
    r
}

fn open(tag: &str, n: usize) -> (StoreHandle, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("argus-sync-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (h, _, _) =
        crate::daemon::store::open(&dir, &StoreConfig::default(), Arc::new(Metrics::default())).unwrap();
    (h, dir)
}

/// Each entry: (image, capture ms, which store holds it: 0 = a, 1 = b, 2 = both, signer 0/1).
fn entries() -> impl Strategy<Value = Vec<(u32, u64, u8, u8)>> {
    prop::collection::vec((0u32..400, 0u64..4_000_000, 0u8..3, 0u8..2), 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn two_stores_converge_to_the_union(es in entries(), case in any::<u32>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let keys = [Keypair::generate_ed25519(), Keypair::generate_ed25519()];
        let ((a, da), (b, db)) = (open("a", case as usize), open("b", case as usize));
        let (u, du) = open("u", case as usize);
        let m = Metrics::default();
        rt.block_on(async {
            for &(img, ms, side, signer) in &es {
                // The same image keeps one capture time wherever it is stored.
                let ms = ms + u64::from(img) * 10_000;
                let reg = register(&keys[signer as usize], img, ms, 1);
                if side != 1 { a.merge(reg.clone()).await.unwrap(); }
                if side != 0 { b.merge(reg.clone()).await.unwrap(); }
                u.merge(reg).await.unwrap();
            }
            let ranges = digest_ranges(5_000_000);
            let theirs = local(&b, &ranges).await.unwrap();
            let r1 = reconcile(&a, &StoreRemote(b.clone()), &m, theirs, None).await;
            let theirs = local(&a, &ranges).await.unwrap();
            let r2 = reconcile(&b, &StoreRemote(a.clone()), &m, theirs, None).await;
            let (sa, sb, su) = (a.summary().await.unwrap(), b.summary().await.unwrap(), u.summary().await.unwrap());
            prop_assert_eq!(&sa, &su, "a holds the union");
            prop_assert_eq!(&sb, &su, "b holds the union");
            // log16 of the largest range in registers, times the ranges: well under the cap.
            prop_assert!(r1 + r2 <= 2 * MAX_ROUNDS / 4, "rounds {r1} + {r2}");
            Ok(())
        })?;
        for d in [da, db, du] { let _ = std::fs::remove_dir_all(d); }
    }
}

/// Stores `b` holds 2,000 registers; `a` lacks those with `missing(i)`. Returns the bytes
/// reconciliation moved and the bytes of the missing registers.
fn moved_for(tag: &str, missing: impl Fn(u32) -> bool) -> (usize, usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let key = Keypair::generate_ed25519();
    let ((a, da), (b, db)) = (open(&format!("{tag}a"), 0), open(&format!("{tag}b"), 0));
    let m = Metrics::default();
    let r = rt.block_on(async {
        let mut missing_bytes = 0;
        for i in 0..2_000u32 {
            let reg = register(&key, i, 1_000_000 + u64::from(i) * 37, 1);
            if !missing(i) {
                a.merge(reg.clone()).await.unwrap();
            } else {
                missing_bytes += wire_size(&reg.to_wire());
            }
            b.merge(reg).await.unwrap();
        }
        let theirs = local(&b, &digest_ranges(5_000_000)).await.unwrap();
        reconcile(&a, &StoreRemote(b.clone()), &m, theirs, None).await;
        assert_eq!(a.summary().await.unwrap(), b.summary().await.unwrap());
        (m.sync_bytes_received.load(Ordering::Relaxed) as usize, missing_bytes)
    });
    let _ = std::fs::remove_dir_all(da);
    let _ = std::fs::remove_dir_all(db);
    r
}

#[test]
fn traffic_after_a_partition_is_within_3x_of_what_was_missing() {
    // Two sides working at once: every other register, over a whole stretch of time.
    let (moved, missing) = moved_for("dense", |i| i % 2 == 0 && (500..1_500).contains(&i));
    eprintln!(
        "dense difference: moved {moved} B for {missing} B missing ({:.2}x)",
        moved as f64 / missing as f64
    );
    assert!(moved <= 3 * missing, "moved {moved} B for {missing} B missing");
}

#[test]
fn traffic_for_scattered_losses_grows_with_the_difference_not_the_store() {
    // 20 registers lost here and there among 2,000 (1%): moving the store would be ~100x.
    let (moved, missing) = moved_for("sparse", |i| i % 100 == 0);
    eprintln!(
        "scattered 1% loss: moved {moved} B for {missing} B missing ({:.2}x)",
        moved as f64 / missing as f64
    );
    assert!(moved <= 8 * missing, "moved {moved} B for {missing} B missing");
}

/// A register of 8 candidates (one per key) of 256 detections each: about 100 KiB.
fn large_register(keys: &[Keypair], image: u32, captured_ms: u64) -> Register {
    let id = ImageId::of_bytes(&(image + 1_000_000).to_le_bytes());
    let mut r = Register::new(id, captured_ms);
    for (k, key) in keys.iter().enumerate() {
        let dets: Vec<Detection> = (0..256)
            .map(|i| {
                let x = (i % 64) as f32 * 10.0 + k as f32;
                let y = (i / 64) as f32 * 10.0;
                Detection {
                    class: (i % 5) as u16,
                    score: 0.9,
                    bbox: BBox { x_min: x, y_min: y, x_max: x + 5.0, y_max: y + 5.0 },
                }
            })
            .collect();
        let digest = result_digest(&test_model(), &dets);
        let att = Attestation::sign(key, &id, &digest, HlcTimestamp::new(captured_ms + 5, k as u16)).unwrap();
        r.insert(&test_model(), &dets, att).unwrap();
    }
    r
}

#[test]
fn large_registers_converge_in_pages_that_fit_the_wire() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let keys: Vec<Keypair> = (0..8).map(|_| Keypair::generate_ed25519()).collect();
    let ((a, da), (b, db)) = (open("large-a", 0), open("large-b", 0));
    let m = Metrics::default();
    rt.block_on(async {
        // 200 registers of ~100 KiB, all captured in one millisecond range: one leaf to pull.
        let mut all = Vec::new();
        for i in 0..200u32 {
            let reg = large_register(&keys, i, 2_000_000 + u64::from(i % 4));
            all.push(reg.to_wire());
            b.merge(reg).await.unwrap();
        }
        let total: usize = all.iter().map(wire_size).sum();
        assert!(
            total > argus_protocol::limits::MAX_SYNC_RESPONSE_BYTES,
            "{total} B must exceed one response"
        );
        // Capped by count alone, the answer would not fit the wire: the old behaviour.
        let unpacked = SyncResponse::Registers { registers: all, more: false };
        assert!(argus_protocol::codec::encode_wire(&unpacked).is_err(), "an unpacked answer must not fit");
        let theirs = local(&b, &digest_ranges(5_000_000)).await.unwrap();
        reconcile(&a, &StoreRemote(b.clone()), &m, theirs, None).await;
        assert_eq!(a.summary().await.unwrap(), b.summary().await.unwrap(), "converged");
        assert_eq!(a.summary().await.unwrap().registers, 200);
    });
    let _ = std::fs::remove_dir_all(da);
    let _ = std::fs::remove_dir_all(db);
}

#[test]
fn registers_sharing_one_millisecond_page_through_past_the_fetch_limit() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let key = Keypair::generate_ed25519();
    let ((a, da), (b, db)) = (open("same-ms-a", 0), open("same-ms-b", 0));
    let m = Metrics::default();
    rt.block_on(async {
        // More than two pages' worth, every one captured in the same millisecond: a cursor of
        // capture time alone cannot get past the first page.
        let n = 2 * argus_protocol::limits::MAX_SYNC_FETCH_LIMIT + 88;
        for i in 0..n {
            b.merge(register(&key, i, 3_000_000, 1)).await.unwrap();
        }
        let theirs = local(&b, &digest_ranges(5_000_000)).await.unwrap();
        reconcile(&a, &StoreRemote(b.clone()), &m, theirs, None).await;
        assert_eq!(a.summary().await.unwrap().registers, u64::from(n));
        assert_eq!(a.summary().await.unwrap(), b.summary().await.unwrap(), "converged");
    });
    let _ = std::fs::remove_dir_all(da);
    let _ = std::fs::remove_dir_all(db);
}
