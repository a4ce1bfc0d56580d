//! Training targets and head decoding are inverses: encoding a scene's ground truth as a head
//! output and decoding it gives the ground truth back (mAP 1 at IoU 0.5 and nearly 1 over
//! 0.5:0.95). A bug in either direction would cap what training can reach.

use argus_model::data::{Letterbox, letterbox_into, object_targets, targets};
use argus_model::decode::{DecodeParams, decode};
use argus_model::eval::mean_average_precision;
use argus_model::model::ModelConfig;
use argus_model::scene::{self, SceneConfig};

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

fn round_trip(scene_cfg: &SceneConfig, seed: u64) -> (f64, f64) {
    let m = ModelConfig::new();
    let [oh, ow] = m.output_size();
    let mut preds = Vec::new();
    let mut truth = Vec::new();
    for i in 0..100 {
        let s = scene::generate(seed, i, scene_cfg);
        let mut buf = Vec::new();
        let lb: Letterbox = letterbox_into(&s.image, m.input_width, m.input_height, &mut buf);
        let t = targets(&s.objects, &lb, m.num_classes, oh, ow);
        let o = object_targets(&t.heat, m.num_classes);
        // Objectness as logits; class logits 10 for the target class where one is set.
        let mut head: Vec<f32> = o.obj.iter().map(|&h| logit(h)).collect();
        head.extend(o.cls_weighted.iter().map(|&w| if w > 0.0 { 10.0 } else { 0.0 }));
        head.extend_from_slice(&t.reg);
        let params = DecodeParams { score_threshold: 0.5, ..DecodeParams::default() };
        assert_eq!(head.len(), m.out_channels() * oh * ow);
        preds.push(decode(&head, m.num_classes, oh, ow, &lb, &params));
        truth.push(s.objects);
    }
    let r = mean_average_precision(&preds, &truth, m.num_classes);
    (r.map50, r.map50_95)
}

#[test]
fn encoded_targets_decode_back_to_ground_truth() {
    let (map50, map50_95) = round_trip(&SceneConfig::default(), 77);
    assert!(map50 > 0.99, "{map50}");
    assert!(map50_95 > 0.97, "{map50_95}");
    // Other frame sizes go through the letterbox both ways.
    let (map50, _) = round_trip(&SceneConfig::scaled_to(256, 192), 78);
    assert!(map50 > 0.99, "{map50}");
}
