//! NanoDet-g's head output to detections: per level, class scores (already sigmoid) and box
//! sides as a distribution over `REG_BINS` bins (distribution focal loss), decoded as the
//! expected bin times the level's stride from the cell centre; then a score threshold, a
//! pre-NMS cap and class-aware NMS. Pure CPU code on slices; never touches tensors.

use argus_protocol::detection::{BBox, Detection};

use crate::data::Letterbox;
use crate::decode::{DecodeParams, nms};

/// Bins per box side (reg_max 10 -> 0..=10).
pub const REG_BINS: usize = 11;
/// Values per cell in the box output: 4 sides x `REG_BINS`, side-major (left, top, right, bottom).
pub const BOX_CHANNELS: usize = 4 * REG_BINS;
/// The strides of the three output levels, finest first.
pub const STRIDES: [usize; 3] = [8, 16, 32];
/// Candidates kept before NMS, best first (NanoDet's own `nms_pre`).
pub const MAX_PRE_NMS: usize = 1000;

/// One output level of one image: `scores` is `[cells, num_classes]`, `boxes` is
/// `[cells, BOX_CHANNELS]`, both row-major, for a `grid_w`-wide grid at `stride`.
#[derive(Debug, Clone, Copy)]
pub struct Level<'a> {
    pub stride: usize,
    pub grid_w: usize,
    pub scores: &'a [f32],
    pub boxes: &'a [f32],
}

/// Expected value of the softmax distribution over one side's bins.
fn expected_bin(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (i, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        num += e * i as f32;
        den += e;
    }
    if den > 0.0 && num.is_finite() { num / den } else { 0.0 }
}

/// Decodes the levels of one image into detections in original-image pixels.
pub fn decode(
    levels: &[Level<'_>],
    num_classes: usize,
    lb: &Letterbox,
    params: &DecodeParams,
) -> Vec<Detection> {
    let mut found: Vec<(f32, usize, usize, u16)> = Vec::new(); // (score, level, cell, class)
    for (li, level) in levels.iter().enumerate() {
        assert_eq!(level.scores.len() % num_classes, 0, "score plane shape");
        let cells = level.scores.len() / num_classes;
        assert_eq!(level.boxes.len(), cells * BOX_CHANNELS, "box plane shape");
        for cell in 0..cells {
            let row = &level.scores[cell * num_classes..(cell + 1) * num_classes];
            for (class, &score) in row.iter().enumerate() {
                // NaN fails this comparison and is dropped.
                if score >= params.score_threshold && score <= 1.0 {
                    found.push((score, li, cell, class as u16));
                }
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2, a.3).cmp(&(b.1, b.2, b.3))));
    found.truncate(MAX_PRE_NMS);
    let dets = found
        .into_iter()
        .map(|(score, li, cell, class)| {
            let level = &levels[li];
            let s = level.stride as f32;
            let (cx, cy) =
                (((cell % level.grid_w) as f32 + 0.5) * s, ((cell / level.grid_w) as f32 + 0.5) * s);
            let sides = &level.boxes[cell * BOX_CHANNELS..(cell + 1) * BOX_CHANNELS];
            let d: Vec<f32> = sides.chunks_exact(REG_BINS).map(|bins| expected_bin(bins) * s).collect();
            let bbox = BBox {
                x_min: lb.to_orig_x(cx - d[0]),
                y_min: lb.to_orig_y(cy - d[1]),
                x_max: lb.to_orig_x(cx + d[2]),
                y_max: lb.to_orig_y(cy + d[3]),
            };
            Detection { class, score, bbox }
        })
        .collect();
    nms(dets, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_bin_of_peaked_and_flat_distributions() {
        let mut peaked = [-50.0f32; REG_BINS];
        peaked[3] = 50.0;
        assert!((expected_bin(&peaked) - 3.0).abs() < 1e-5);
        assert!((expected_bin(&[0.0; REG_BINS]) - 5.0).abs() < 1e-5);
        assert_eq!(expected_bin(&[f32::NAN; REG_BINS]), 0.0);
    }

    #[test]
    fn one_cell_decodes_to_its_box_in_original_pixels() {
        // A 4x4 grid at stride 8 (a 32x32 input) and an original image of 64x64 (scale 0.5).
        let classes = 3;
        let mut scores = vec![0.0f32; 16 * classes];
        let mut boxes = vec![-50.0f32; 16 * BOX_CHANNELS];
        let cell = 4 + 2; // row 1, column 2: centre (20, 12)
        scores[cell * classes + 2] = 0.9;
        scores[cell * classes + 1] = 0.2; // below the threshold
        for (side, bin) in [1usize, 1, 2, 0].iter().enumerate() {
            boxes[cell * BOX_CHANNELS + side * REG_BINS + bin] = 50.0;
        }
        let lb = Letterbox::new(64, 64, 32, 32);
        let level = Level { stride: 8, grid_w: 4, scores: &scores, boxes: &boxes };
        let params =
            DecodeParams { score_threshold: 0.3, cross_class_nms_iou: 1.0, ..DecodeParams::default() };
        let dets = decode(&[level], classes, &lb, &params);
        assert_eq!(dets.len(), 1, "{dets:?}");
        let b = dets[0].bbox;
        assert_eq!((dets[0].class, dets[0].score), (2, 0.9));
        // Sides in input pixels: left 8, top 8, right 16, bottom 0 -> (12, 4, 36, 12), doubled.
        for (got, want) in [(b.x_min, 24.0), (b.y_min, 8.0), (b.x_max, 64.0), (b.y_max, 24.0)] {
            assert!((got - want).abs() < 1e-3, "{b:?}");
        }
    }

    #[test]
    fn overlapping_boxes_of_one_class_are_suppressed_but_other_classes_stay() {
        let classes = 2;
        let mut scores = vec![0.0f32; 4 * classes];
        let boxes = vec![0.0f32; 4 * BOX_CHANNELS]; // every side 5 bins: identical-size boxes
        scores[0] = 0.8; // cell 0, class 0
        scores[classes] = 0.7; // cell 1, class 0, overlapping cell 0's box
        scores[classes + 1] = 0.6; // cell 1, class 1
        let lb = Letterbox::new(16, 16, 16, 16);
        let level = Level { stride: 8, grid_w: 2, scores: &scores, boxes: &boxes };
        let params =
            DecodeParams { score_threshold: 0.3, cross_class_nms_iou: 1.0, ..DecodeParams::default() };
        let got: Vec<(u16, f32)> =
            decode(&[level], classes, &lb, &params).iter().map(|d| (d.class, d.score)).collect();
        assert_eq!(got, vec![(0, 0.8), (1, 0.6)]);
    }
}
