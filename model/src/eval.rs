//! Detection quality: per-class average precision with all-point interpolation (the area under
//! the precision envelope), averaged over classes, at IoU 0.5 and over IoU 0.50:0.05:0.95.
//! Pure functions over detections and ground truth; never runs a model itself except in
//! [`evaluate_detector`], which only feeds generated scenes to one.

use argus_protocol::detection::Detection;

use crate::decode::{DecodeParams, iou};
use crate::inference::Detector;
use crate::scene::{self, GroundTruth, SceneConfig};

/// Score threshold used when evaluating: low, so the precision-recall curve is complete.
pub const EVAL_SCORE_THRESHOLD: f32 = 0.01;

/// mAP results.
#[derive(Debug, Clone, PartialEq)]
pub struct MapReport {
    /// mAP at IoU 0.5.
    pub map50: f64,
    /// mAP averaged over IoU 0.50, 0.55, ..., 0.95.
    pub map50_95: f64,
    /// AP at IoU 0.5 per class (`None` for classes without ground truth).
    pub ap50_per_class: Vec<Option<f64>>,
    pub images: usize,
    pub objects: usize,
    pub detections: usize,
}

/// All-point interpolated AP from detections `(score, is_true_positive)` of one class and the
/// number of ground-truth objects of that class. `num_gt` must be positive.
pub fn average_precision(mut scored: Vec<(f32, bool)>, num_gt: usize) -> f64 {
    assert!(num_gt > 0, "AP is undefined without ground truth");
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut recall = Vec::with_capacity(scored.len());
    let mut precision = Vec::with_capacity(scored.len());
    let (mut tp, mut fp) = (0usize, 0usize);
    for &(_, hit) in &scored {
        if hit {
            tp += 1
        } else {
            fp += 1
        }
        recall.push(tp as f64 / num_gt as f64);
        precision.push(tp as f64 / (tp + fp) as f64);
    }
    // Precision envelope: the best precision at any recall at least this high.
    for i in (0..precision.len().saturating_sub(1)).rev() {
        precision[i] = precision[i].max(precision[i + 1]);
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for (r, p) in recall.iter().zip(&precision) {
        ap += (r - prev_recall) * p;
        prev_recall = *r;
    }
    ap
}

/// AP per class at one IoU threshold. Within each image, detections are matched greedily in
/// descending score order to the unmatched same-class object of highest IoU (VOC rule: a
/// detection whose best object is already taken is a false positive).
pub fn ap_per_class(
    preds: &[Vec<Detection>],
    truth: &[Vec<GroundTruth>],
    num_classes: usize,
    iou_threshold: f32,
) -> Vec<Option<f64>> {
    assert_eq!(preds.len(), truth.len(), "one prediction list per image");
    let mut scored: Vec<Vec<(f32, bool)>> = vec![Vec::new(); num_classes];
    let mut num_gt = vec![0usize; num_classes];
    for (dets, gts) in preds.iter().zip(truth) {
        for g in gts {
            num_gt[g.class as usize] += 1;
        }
        let mut order: Vec<&Detection> = dets.iter().collect();
        order.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut taken = vec![false; gts.len()];
        for d in order {
            let class = d.class as usize;
            if class >= num_classes {
                continue;
            }
            let best = gts
                .iter()
                .enumerate()
                .filter(|(_, g)| g.class == d.class)
                .map(|(j, g)| (j, iou(&d.bbox, &g.bbox)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let hit = match best {
                Some((j, v)) if v >= iou_threshold && !taken[j] => {
                    taken[j] = true;
                    true
                }
                _ => false,
            };
            scored[class].push((d.score, hit));
        }
    }
    scored.into_iter().zip(num_gt).map(|(s, n)| (n > 0).then(|| average_precision(s, n))).collect()
}

fn mean_defined(aps: &[Option<f64>]) -> f64 {
    let defined: Vec<f64> = aps.iter().flatten().copied().collect();
    if defined.is_empty() { 0.0 } else { defined.iter().sum::<f64>() / defined.len() as f64 }
}

/// mAP@0.5 and mAP@0.5:0.95 of `preds` against `truth`.
pub fn mean_average_precision(
    preds: &[Vec<Detection>],
    truth: &[Vec<GroundTruth>],
    num_classes: usize,
) -> MapReport {
    let ap50 = ap_per_class(preds, truth, num_classes, 0.5);
    let map50_95 = (0..10)
        .map(|k| mean_defined(&ap_per_class(preds, truth, num_classes, 0.5 + 0.05 * k as f32)))
        .sum::<f64>()
        / 10.0;
    MapReport {
        map50: mean_defined(&ap50),
        map50_95,
        ap50_per_class: ap50,
        images: preds.len(),
        objects: truth.iter().map(Vec::len).sum(),
        detections: preds.iter().map(Vec::len).sum(),
    }
}

/// Runs `detector` over scenes `(seed, 0..count)` at the default scene config, `batch` images
/// per call, and scores it. The detector's threshold is lowered to [`EVAL_SCORE_THRESHOLD`].
pub fn evaluate_detector(detector: Detector, seed: u64, count: usize, batch: usize) -> MapReport {
    let params = DecodeParams { score_threshold: EVAL_SCORE_THRESHOLD, ..*detector.decode_params() };
    let detector = detector.with_decode_params(params);
    let num_classes = detector.model().labels().len();
    let cfg = SceneConfig::default();
    let mut preds = Vec::with_capacity(count);
    let mut truth = Vec::with_capacity(count);
    let indices: Vec<u64> = (0..count as u64).collect();
    for chunk in indices.chunks(batch.max(1)) {
        let scenes: Vec<scene::Scene> = chunk.iter().map(|&i| scene::generate(seed, i, &cfg)).collect();
        let images: Vec<image::RgbImage> = scenes.iter().map(|s| s.image.clone()).collect();
        preds.extend(detector.detect_batch(&images));
        truth.extend(scenes.into_iter().map(|s| s.objects));
    }
    mean_average_precision(&preds, &truth, num_classes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::detection::BBox;

    fn bb(x: f32, y: f32, s: f32) -> BBox {
        BBox { x_min: x, y_min: y, x_max: x + s, y_max: y + s }
    }
    fn det(class: u16, score: f32, bbox: BBox) -> Detection {
        Detection { class, score, bbox }
    }
    fn gt(class: u16, bbox: BBox) -> GroundTruth {
        GroundTruth { class, bbox }
    }

    #[test]
    fn all_point_interpolation_by_hand() {
        // Ranked: TP, FP, TP with 3 objects: P/R points (1, 1/3), (1/2, 1/3), (2/3, 2/3).
        // Envelope: 1 up to recall 1/3, then 2/3 up to 2/3: AP = 1/3 + 2/9 = 5/9.
        let ap = average_precision(vec![(0.9, true), (0.8, false), (0.7, true)], 3);
        assert!((ap - 5.0 / 9.0).abs() < 1e-12, "{ap}");
        assert_eq!(average_precision(vec![], 2), 0.0);
        assert_eq!(average_precision(vec![(0.5, true), (0.4, true)], 2), 1.0);
        // A false positive ranked last does not lower AP.
        assert_eq!(average_precision(vec![(0.5, true), (0.1, false)], 1), 1.0);
    }

    #[test]
    fn matching_counts_duplicates_and_iou_thresholds() {
        let truth = vec![
            vec![gt(0, bb(0.0, 0.0, 10.0)), gt(0, bb(50.0, 50.0, 10.0))],
            vec![gt(0, bb(20.0, 20.0, 10.0)), gt(1, bb(0.0, 0.0, 20.0))],
        ];
        let preds = vec![
            // Exact hit, then a duplicate on the same object (false positive).
            vec![det(0, 0.9, bb(0.0, 0.0, 10.0)), det(0, 0.8, bb(0.5, 0.0, 10.0))],
            // Shifted by 2 px: IoU 8/12 = 0.667 -> hit at 0.5, miss at 0.75. Class 1 exact.
            vec![det(0, 0.7, bb(22.0, 20.0, 10.0)), det(1, 0.95, bb(0.0, 0.0, 20.0))],
        ];
        let ap50 = ap_per_class(&preds, &truth, 3, 0.5);
        // Class 0 ranked: TP(.9) FP(.8) TP(.7) of 3 objects -> 5/9. Class 1: 1. Class 2: none.
        assert!((ap50[0].unwrap() - 5.0 / 9.0).abs() < 1e-9, "{ap50:?}");
        assert_eq!(ap50[1], Some(1.0));
        assert_eq!(ap50[2], None);
        let ap75 = ap_per_class(&preds, &truth, 3, 0.75);
        // Class 0 at 0.75: TP, FP, FP of 3 -> 1/3.
        assert!((ap75[0].unwrap() - 1.0 / 3.0).abs() < 1e-9, "{ap75:?}");
        let r = mean_average_precision(&preds, &truth, 3);
        assert!((r.map50 - (5.0 / 9.0 + 1.0) / 2.0).abs() < 1e-9);
        assert!(r.map50_95 < r.map50 && r.map50_95 > 0.0);
        assert_eq!((r.images, r.objects, r.detections), (2, 4, 4));
    }

    #[test]
    fn perfect_predictions_score_one_everywhere() {
        let truth = vec![vec![gt(0, bb(1.0, 2.0, 12.0)), gt(2, bb(30.0, 30.0, 20.0))]];
        let preds: Vec<Vec<Detection>> =
            truth.iter().map(|g| g.iter().map(|o| det(o.class, 0.9, o.bbox)).collect()).collect();
        let r = mean_average_precision(&preds, &truth, 3);
        assert_eq!((r.map50, r.map50_95), (1.0, 1.0));
    }
}
