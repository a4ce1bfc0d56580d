//! Detections: validation rejects every kind of bad number; the canonical digest ignores order
//! and the sign of zero but nothing else, and binds the model's name and weights; the agreement
//! rule tolerates backend noise, needs a
//! one-to-one matching, and finds one where a greedy pairing would not.

mod common;

use argus_protocol::detection::{BBox, DetectionError, validate_detections, validate_detections_in_image};
use argus_protocol::ids::WeightsId;
use argus_protocol::limits::{MAX_COORD_PX, MAX_DETECTIONS};
use argus_protocol::model_ref::ModelRef;
use argus_protocol::result::*;
use common::{det, model, other_model, retrained_model};
use proptest::prelude::*;

#[test]
fn validation_rejects_bad_numbers_and_boxes() {
    let ok = det(1, 0.5, 10.0, 10.0, 20.0, 20.0);
    assert!(validate_detections(&[ok]).is_ok());
    assert!(validate_detections(&[]).is_ok());
    for score in [f32::NAN, f32::INFINITY, -0.01, 1.01] {
        let mut d = ok;
        d.score = score;
        assert!(
            matches!(validate_detections(&[ok, d]), Err(DetectionError::BadScore { index: 1, .. })),
            "{score}"
        );
    }
    let bad_boxes = [
        BBox { x_min: f32::NAN, ..ok.bbox },
        BBox { y_max: f32::INFINITY, ..ok.bbox },
        BBox { x_min: f32::NEG_INFINITY, ..ok.bbox },
        BBox { x_min: -1.0, ..ok.bbox },
        BBox { x_min: 35.0, ..ok.bbox }, // inside out
        BBox { y_min: 35.0, ..ok.bbox },
        BBox { x_max: MAX_COORD_PX + 1.0, ..ok.bbox },
    ];
    for bbox in bad_boxes {
        let d = argus_protocol::Detection { bbox, ..ok };
        assert!(
            matches!(validate_detections(&[d]), Err(DetectionError::BadBox { index: 0, .. })),
            "{bbox:?}"
        );
    }
    let too_many = vec![ok; MAX_DETECTIONS + 1];
    assert!(matches!(validate_detections(&too_many), Err(DetectionError::TooMany { .. })));
    assert!(validate_detections(&too_many[..MAX_DETECTIONS]).is_ok());
    // Against the image size: the box must lie inside it.
    assert!(validate_detections_in_image(&[ok], 30, 30).is_ok());
    assert!(validate_detections_in_image(&[ok], 19, 30).is_err());
}

#[test]
fn digest_ignores_order_and_zero_sign_only() {
    let m = model();
    let a = det(1, 0.5, 0.0, 10.0, 20.0, 20.0);
    let b = det(2, 0.75, 5.0, 5.0, 5.0, 5.0);
    assert_eq!(result_digest(&m, &[a, b]), result_digest(&m, &[b, a]));
    let mut neg_zero = a;
    neg_zero.bbox.x_min = -0.0;
    assert_eq!(result_digest(&m, &[a]), result_digest(&m, &[neg_zero]));
    let mut nudged = a;
    nudged.score = f32::from_bits(a.score.to_bits() + 1);
    assert_ne!(result_digest(&m, &[a]), result_digest(&m, &[nudged]));
    assert_ne!(result_digest(&m, &[a]), result_digest(&m, &[a, a]));
    assert_ne!(result_digest(&m, &[]), result_digest(&m, &[a]));
    let mut other_class = a;
    other_class.class = 3;
    assert_ne!(result_digest(&m, &[a]), result_digest(&m, &[other_class]));
}

#[test]
fn digest_binds_the_model_name_and_weights() {
    let dets = [det(1, 0.5, 0.0, 10.0, 20.0, 20.0), det(2, 0.75, 5.0, 5.0, 5.0, 5.0)];
    let same_weights_other_name = ModelRef::new("shapes2", model().weights);
    let refs = [model(), other_model(), retrained_model(), same_weights_other_name];
    for (i, x) in refs.iter().enumerate() {
        for y in &refs[i + 1..] {
            assert_ne!(result_digest(x, &dets), result_digest(y, &dets), "{x:?} vs {y:?}");
            assert_ne!(result_digest(x, &[]), result_digest(y, &[]), "{x:?} vs {y:?}");
        }
    }
    let w = WeightsId([b'a'; 32]);
    assert_ne!(result_digest(&ModelRef::new("a", w), &[]), result_digest(&ModelRef::new("aa", w), &[]));
    // Total on names no validation admits: longer than 255 bytes is cut, never a panic.
    let huge = ModelRef::new("x".repeat(1000), w);
    let bytes = canonical_bytes(&huge, &[]);
    assert_eq!(bytes[RESULT_DOMAIN.len()], 255);
    assert_eq!(bytes.len(), RESULT_DOMAIN.len() + 1 + 255 + 32 + 4);
}

/// A fixed vector, also printed in docs/PROTOCOL.md so other implementations can check theirs.
#[test]
fn canonical_encoding_test_vector() {
    let dets = [det(2, 0.75, 5.0, 5.0, 5.0, 5.0), det(1, 0.5, 0.0, 10.0, 20.0, 20.0)];
    let m = ModelRef::new("coco", WeightsId([0xab; 32]));
    let bytes = canonical_bytes(&m, &dets);
    let expected = concat!(
        "61726775732f726573756c742f7632", // "argus/result/v2"
        "04",
        "636f636f", // "coco"
        "abababababababababababababababababababababababababababababababab",
        "00000002",
        "0001",
        "3f000000",
        "00000000",
        "41200000",
        "41a00000",
        "41f00000",
        "0002",
        "3f400000",
        "40a00000",
        "40a00000",
        "41200000",
        "41200000",
    );
    assert_eq!(hex::encode(&bytes), expected);
    assert_eq!(result_digest(&m, &dets).to_string(), blake3::hash(&bytes).to_hex().to_string());
    eprintln!("test vector digest: {}", result_digest(&m, &dets));
}

#[test]
fn iou_is_well_defined() {
    let a = BBox { x_min: 0.0, y_min: 0.0, x_max: 10.0, y_max: 10.0 };
    let b = BBox { x_min: 5.0, y_min: 0.0, x_max: 15.0, y_max: 10.0 };
    assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
    assert_eq!(a.iou(&a), 1.0);
    let point = BBox { x_min: 3.0, y_min: 3.0, x_max: 3.0, y_max: 3.0 };
    assert_eq!(point.iou(&point), 1.0);
    assert_eq!(point.iou(&BBox { x_min: 4.0, ..point }), 0.0);
    assert_eq!(a.iou(&BBox { x_min: 20.0, y_min: 20.0, x_max: 30.0, y_max: 30.0 }), 0.0);
}

#[test]
fn agreement_tolerates_backend_noise() {
    let cpu = [det(1, 0.90, 10.0, 10.0, 40.0, 40.0), det(2, 0.60, 100.0, 50.0, 20.0, 30.0)];
    let gpu = [det(2, 0.62, 101.0, 50.5, 20.0, 30.0), det(1, 0.8999, 10.2, 9.9, 40.0, 40.0)];
    assert!(results_agree(&cpu, &gpu));
    assert!(results_agree(&[], &[]));
    // Score difference at the bound agrees, beyond it does not.
    assert!(results_agree(&[det(1, 0.9, 0.0, 0.0, 9.0, 9.0)], &[det(1, 0.8, 0.0, 0.0, 9.0, 9.0)]));
    assert!(!results_agree(&[det(1, 0.9, 0.0, 0.0, 9.0, 9.0)], &[det(1, 0.79, 0.0, 0.0, 9.0, 9.0)]));
    // IoU at 0.5 agrees, below does not (10x10 boxes shifted by a third: IoU exactly 0.5).
    let base = det(1, 0.5, 0.0, 0.0, 30.0, 10.0);
    assert!(results_agree(&[base], &[det(1, 0.5, 10.0, 0.0, 30.0, 10.0)]));
    assert!(!results_agree(&[base], &[det(1, 0.5, 10.5, 0.0, 30.0, 10.0)]));
}

#[test]
fn agreement_needs_a_one_to_one_match() {
    let a = det(1, 0.9, 10.0, 10.0, 40.0, 40.0);
    let b = det(2, 0.9, 10.0, 10.0, 40.0, 40.0);
    assert!(!results_agree(&[a], &[b]), "class differs");
    assert!(!results_agree(&[a], &[a, a]), "count differs");
    assert!(!results_agree(&[a, b], &[a, a]), "one detection matched twice");
    // Greedy trap: x0 agrees with y0 and y1, x1 only with y0. Pairing x0-y0 first strands x1;
    // the augmenting path re-pairs x0-y1.
    let x0 = det(1, 0.5, 0.0, 0.0, 10.0, 10.0);
    let x1 = det(1, 0.5, 4.0, 0.0, 10.0, 10.0);
    let y0 = det(1, 0.5, 2.0, 0.0, 10.0, 10.0);
    let y1 = det(1, 0.5, 0.0, 0.0, 7.0, 10.0);
    assert!(detections_agree(&x0, &y0) && detections_agree(&x0, &y1) && detections_agree(&x1, &y0));
    assert!(!detections_agree(&x1, &y1));
    assert!(results_agree(&[x0, x1], &[y0, y1]));
    assert!(results_agree(&[x1, x0], &[y1, y0]));
    let too_many = vec![a; MAX_DETECTIONS + 1];
    assert!(!results_agree(&too_many, &too_many));
}

fn arb_det() -> impl Strategy<Value = argus_protocol::Detection> {
    (0u16..4, 0.0f32..=1.0, 0.0f32..500.0, 0.0f32..500.0, 0.0f32..100.0, 0.0f32..100.0)
        .prop_map(|(c, s, x, y, w, h)| det(c, s, x, y, w, h))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// A result agrees with any permutation of itself and has the same digest; agreement is
    /// symmetric.
    #[test]
    fn agreement_and_digest_ignore_order(dets in prop::collection::vec(arb_det(), 0..24),
                                         other in prop::collection::vec(arb_det(), 0..24),
                                         seed in any::<u64>()) {
        let mut shuffled = dets.clone();
        let n = shuffled.len();
        for i in (1..n).rev() {
            shuffled.swap(i, (seed.rotate_left(i as u32) % (i as u64 + 1)) as usize);
        }
        let m = model();
        prop_assert!(results_agree(&dets, &shuffled));
        prop_assert_eq!(result_digest(&m, &dets), result_digest(&m, &shuffled));
        prop_assert_eq!(results_agree(&dets, &other), results_agree(&other, &dets));
    }
}
