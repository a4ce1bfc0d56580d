//! Turning the head's raw output into detections: sigmoid, 3x3 peak picking on the class
//! heatmaps, box reconstruction, mapping back through the letterbox, score threshold and
//! per-class non-maximum suppression. Pure CPU code; never touches tensors or backends.

use argus_protocol::detection::{BBox, Detection};
use serde::{Deserialize, Serialize};

use crate::data::Letterbox;
use crate::model::{REG_CHANNELS, STRIDE};

/// Post-processing parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeParams {
    /// Detections scoring below this are dropped.
    pub score_threshold: f32,
    /// Same-class boxes overlapping a better one by more than this IoU are suppressed.
    pub nms_iou: f32,
    /// Boxes of *any* class overlapping a better one by more than this IoU are suppressed:
    /// scenes never stack two objects that closely, so such a pair is one object that two
    /// class heatmaps both claim.
    pub cross_class_nms_iou: f32,
    /// At most this many detections per image, best first.
    pub max_detections: usize,
}

impl Default for DecodeParams {
    fn default() -> Self {
        Self {
            // Scenes hold at most 8 objects; 0.3 keeps recall high with few false positives.
            score_threshold: 0.3,
            // Scenes keep objects >= 70% visible, so true neighbours rarely overlap above 0.6.
            nms_iou: 0.6,
            cross_class_nms_iou: 0.7,
            max_detections: 100,
        }
    }
}

/// Intersection over union of two boxes (0 when either is empty).
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let iw = (a.x_max.min(b.x_max) - a.x_min.max(b.x_min)).max(0.0);
    let ih = (a.y_max.min(b.y_max) - a.y_min.max(b.y_min)).max(0.0);
    let inter = iw * ih;
    let area = |r: &BBox| (r.x_max - r.x_min).max(0.0) * (r.y_max - r.y_min).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes one image's head output `[1 + C + 4, out_h, out_w]` (row-major, as read back
/// from the tensor) into detections in original-image pixels. Each 3x3 peak of the
/// objectness map is one candidate; its class is the softmax argmax there and its score is
/// objectness times that class's probability.
pub fn decode(
    head: &[f32],
    num_classes: usize,
    out_h: usize,
    out_w: usize,
    lb: &Letterbox,
    params: &DecodeParams,
) -> Vec<Detection> {
    let plane = out_h * out_w;
    assert_eq!(head.len(), (1 + num_classes + REG_CHANNELS) * plane, "head shape mismatch");
    let obj = &head[..plane];
    let reg = &head[(1 + num_classes) * plane..];
    let mut found = Vec::new();
    for y in 0..out_h {
        for x in 0..out_w {
            let cell = y * out_w + x;
            let objectness = sigmoid(obj[cell]);
            if objectness < params.score_threshold || !is_peak(obj, out_w, out_h, x, y) {
                continue;
            }
            let (class, prob) = best_class(&head[plane..(1 + num_classes) * plane], plane, cell);
            let score = objectness * prob;
            if score < params.score_threshold {
                continue;
            }
            let s = STRIDE as f32;
            let cx = (x as f32 + reg[cell]) * s;
            let cy = (y as f32 + reg[plane + cell]) * s;
            let w = reg[2 * plane + cell].clamp(-4.0, 6.0).exp() * s;
            let h = reg[3 * plane + cell].clamp(-4.0, 6.0).exp() * s;
            let bbox = BBox {
                x_min: lb.to_orig_x(cx - w / 2.0),
                y_min: lb.to_orig_y(cy - h / 2.0),
                x_max: lb.to_orig_x(cx + w / 2.0),
                y_max: lb.to_orig_y(cy + h / 2.0),
            };
            found.push(Detection { class: class as u16, score, bbox });
        }
    }
    nms(found, params)
}

/// The most likely class at `cell` of the class logits `[C, plane]` and its softmax
/// probability (ties: the lowest class index).
fn best_class(logits: &[f32], plane: usize, cell: usize) -> (usize, f32) {
    let classes = logits.len() / plane;
    let at = |c: usize| logits[c * plane + cell];
    let best = (1..classes).fold(0, |b, c| if at(c) > at(b) { c } else { b });
    let max = at(best);
    let denom: f32 = (0..classes).map(|c| (at(c) - max).exp()).sum();
    (best, 1.0 / denom)
}

/// Whether `(x, y)` is a maximum of its 3x3 neighbourhood (ties count as peaks).
fn is_peak(heat: &[f32], w: usize, h: usize, x: usize, y: usize) -> bool {
    let v = heat[y * w + x];
    for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
            if heat[ny * w + nx] > v {
                return false;
            }
        }
    }
    true
}

/// Greedy non-maximum suppression (per class at `nms_iou`, across classes at
/// `cross_class_nms_iou`); returns at most `max_detections`, best first. The order is total
/// (score, then class, then position), so equal inputs give equal outputs.
pub fn nms(mut dets: Vec<Detection>, params: &DecodeParams) -> Vec<Detection> {
    dets.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.class.cmp(&b.class))
            .then(a.bbox.y_min.total_cmp(&b.bbox.y_min))
            .then(a.bbox.x_min.total_cmp(&b.bbox.x_min))
    });
    let mut kept: Vec<Detection> = Vec::new();
    for d in dets {
        if kept.len() >= params.max_detections {
            break;
        }
        let suppressed = kept.iter().any(|k| {
            let v = iou(&k.bbox, &d.bbox);
            v > params.cross_class_nms_iou || (k.class == d.class && v > params.nms_iou)
        });
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bb(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x_min: x0, y_min: y0, x_max: x1, y_max: y1 }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&bb(0.0, 0.0, 10.0, 10.0), &bb(0.0, 0.0, 10.0, 10.0)), 1.0);
        assert_eq!(iou(&bb(0.0, 0.0, 10.0, 10.0), &bb(20.0, 20.0, 30.0, 30.0)), 0.0);
        let v = iou(&bb(0.0, 0.0, 10.0, 10.0), &bb(5.0, 0.0, 15.0, 10.0));
        assert!((v - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(iou(&bb(0.0, 0.0, 0.0, 0.0), &bb(0.0, 0.0, 0.0, 0.0)), 0.0);
    }

    #[test]
    fn nms_suppresses_same_class_overlap_and_cross_class_duplicates() {
        let d = |class, score, x| Detection { class, score, bbox: bb(x, 0.0, x + 10.0, 10.0) };
        let p = DecodeParams { nms_iou: 0.5, cross_class_nms_iou: 1.0, ..DecodeParams::default() };
        let input = vec![d(0, 0.5, 1.0), d(0, 0.9, 0.0), d(1, 0.8, 0.0), d(0, 0.7, 30.0)];
        let got: Vec<(u16, f32)> = nms(input.clone(), &p).iter().map(|k| (k.class, k.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.8), (0, 0.7)]);
        let one = DecodeParams { max_detections: 1, ..p };
        assert_eq!(nms(vec![d(0, 0.9, 0.0), d(1, 0.8, 0.0)], &one).len(), 1);
        // Across classes only near-identical boxes are merged.
        let cross = DecodeParams { cross_class_nms_iou: 0.7, ..p };
        let got: Vec<u16> = nms(input, &cross).iter().map(|k| k.class).collect();
        assert_eq!(got, vec![0, 0]);
        let apart = vec![d(0, 0.9, 0.0), d(1, 0.8, 4.0)]; // IoU 6/14 < 0.7: both stay
        assert_eq!(nms(apart, &cross).len(), 2);
    }

    #[test]
    fn decode_reads_a_synthetic_head() {
        let (c, h, w) = (2usize, 8usize, 10usize);
        let plane = h * w;
        let mut head = vec![0.0f32; (1 + c + REG_CHANNELS) * plane];
        head[..plane].fill(-10.0);
        // One peak at cell (x=3, y=2) of class 1, offset (0.5, 0.25), size 8x4 px.
        let cell = 2 * w + 3;
        head[cell] = 2.0;
        head[cell + 1] = 1.0; // a lower neighbour: not a peak
        head[plane + cell] = -1.0; // class 0 logit
        head[2 * plane + cell] = 1.0; // class 1 logit
        let r = (1 + c) * plane;
        head[r + cell] = 0.5;
        head[r + plane + cell] = 0.25;
        head[r + 2 * plane + cell] = 2.0f32.ln();
        head[r + 3 * plane + cell] = 0.0;
        let lb = Letterbox::new(40, 32, 40, 32);
        let dets = decode(&head, c, h, w, &lb, &DecodeParams::default());
        assert_eq!(dets.len(), 1, "{dets:?}");
        let d = dets[0];
        assert_eq!(d.class, 1);
        let p1 = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((d.score - sigmoid(2.0) * p1).abs() < 1e-6, "{}", d.score);
        let (cx, cy) = (3.5 * 4.0, 2.25 * 4.0);
        assert!((d.bbox.x_min - (cx - 4.0)).abs() < 1e-4 && (d.bbox.x_max - (cx + 4.0)).abs() < 1e-4);
        assert!((d.bbox.y_min - (cy - 2.0)).abs() < 1e-4 && (d.bbox.y_max - (cy + 2.0)).abs() < 1e-4);
    }
}
