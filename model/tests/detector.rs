//! The shipped detector: embedded weights load, detections are good on scenes never used in
//! training, any input size works, batches equal single calls, bad weights are refused, and
//! the ndarray and flex backends agree (protocol agreement rule) on 200 generated images.

use argus_model::eval::mean_average_precision;
use argus_model::scene::{self, SceneConfig};
use argus_model::{BackendKind, Detector, ModelError, ModelKind, WeightsSource};

/// Scenes from this stream are never used by training (training uses seed 1).
const HELD_OUT_SEED: u64 = 1_000_000;

fn scenes(seed: u64, count: u64) -> Vec<scene::Scene> {
    (0..count).map(|i| scene::generate(seed, i, &SceneConfig::default())).collect()
}

#[test]
fn detector_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Detector>();
}

#[test]
fn embedded_weights_identify_themselves() {
    let det = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::Embedded).unwrap();
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/detector.bpk")).unwrap();
    assert_eq!(det.weights_hash(), argus_model::weights::short_hash(&bytes));
    assert_eq!(det.weights_hash().len(), 8);
    assert_eq!(det.backend(), BackendKind::NdArray);
    let from_file = Detector::new(
        ModelKind::Shapes,
        BackendKind::NdArray,
        WeightsSource::File(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/detector.bpk").into()),
    )
    .unwrap();
    assert_eq!(from_file.weights_hash(), det.weights_hash());
    let img = scene::generate(HELD_OUT_SEED, 7, &SceneConfig::default()).image;
    assert_eq!(from_file.detect(&img), det.detect(&img));
}

#[test]
fn detections_match_ground_truth_on_held_out_scenes() {
    let det = Detector::new(ModelKind::Shapes, BackendKind::Flex, WeightsSource::Embedded).unwrap();
    let s = scenes(HELD_OUT_SEED + 1, 40);
    let images: Vec<_> = s.iter().map(|s| s.image.clone()).collect();
    let preds = det.detect_batch(&images);
    let truth: Vec<_> = s.into_iter().map(|s| s.objects).collect();
    let report = mean_average_precision(&preds, &truth, det.model().labels().len());
    assert!(report.objects > 80, "too few objects to judge: {}", report.objects);
    // At the default threshold (0.3) the full mAP target (0.95 at threshold 0.01, via `eval`)
    // is not reachable by construction; 0.9 still fails for any badly broken detector.
    assert!(report.map50 >= 0.9, "{report:?}");
}

#[test]
fn batch_results_equal_single_results() {
    let det = Detector::new(ModelKind::Shapes, BackendKind::Flex, WeightsSource::Embedded).unwrap();
    let images: Vec<_> = scenes(HELD_OUT_SEED + 2, 5).into_iter().map(|s| s.image).collect();
    let batch = det.detect_batch(&images);
    for (img, b) in images.iter().zip(&batch) {
        assert!(argus_protocol::results_agree(&det.detect(img), b));
    }
}

#[test]
fn any_input_size_works_and_boxes_stay_inside() {
    let det = Detector::new(ModelKind::Shapes, BackendKind::Flex, WeightsSource::Embedded).unwrap();
    assert!(det.detect(&image::RgbImage::new(0, 0)).is_empty());
    assert!(det.detect(&image::RgbImage::new(0, 5)).is_empty());
    for (w, h) in [(1, 1), (3, 500), (1000, 40), (320, 240), (97, 61)] {
        let cfg = if w >= 32 && h >= 32 { SceneConfig::scaled_to(w, h) } else { SceneConfig::default() };
        let img = if cfg.validate().is_ok() && w >= 32 && h >= 32 {
            scene::generate(HELD_OUT_SEED + 3, u64::from(w), &cfg).image
        } else {
            image::RgbImage::from_pixel(w, h, image::Rgb([200, 30, 30]))
        };
        for d in det.detect(&img) {
            let b = d.bbox;
            assert!(b.x_min >= 0.0 && b.y_min >= 0.0 && b.x_max <= w as f32 && b.y_max <= h as f32);
            assert!(b.x_min <= b.x_max && b.y_min <= b.y_max);
            assert!((0.0..=1.0).contains(&d.score));
        }
    }
    // A large frame of the default scene content, upscaled 2x, still finds most objects.
    let s = scene::generate(HELD_OUT_SEED + 4, 0, &SceneConfig::default());
    let big = image::imageops::resize(&s.image, 320, 240, image::imageops::FilterType::Triangle);
    let found = det.detect(&big).len();
    assert!(found + 1 >= s.objects.len(), "found {found} of {}", s.objects.len());
}

#[test]
fn bad_weights_are_refused() {
    let dir = std::env::temp_dir().join(format!("argus-model-badw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.bpk");
    std::fs::write(&junk, b"definitely not a burnpack file").unwrap();
    let r = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::File(junk));
    assert!(matches!(r, Err(ModelError::Weights(_))), "{:?}", r.err());
    let missing = dir.join("missing.bpk");
    let r = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::File(missing));
    assert!(matches!(r, Err(ModelError::WeightsFile { .. })), "{:?}", r.err());
    // Truncated real weights.
    let real = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/detector.bpk")).unwrap();
    let cut = dir.join("cut.bpk");
    std::fs::write(&cut, &real[..real.len() / 2]).unwrap();
    let r = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::File(cut));
    assert!(matches!(r, Err(ModelError::Weights(_))), "{:?}", r.err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ndarray_and_flex_agree_on_200_images() {
    let a = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::Embedded).unwrap();
    let b = Detector::new(ModelKind::Shapes, BackendKind::Flex, WeightsSource::Embedded).unwrap();
    let images: Vec<_> = scenes(HELD_OUT_SEED + 5, 200).into_iter().map(|s| s.image).collect();
    let (ra, rb) = (a.detect_batch(&images), b.detect_batch(&images));
    let agree = ra.iter().zip(&rb).filter(|(x, y)| argus_protocol::results_agree(x, y)).count();
    let detections: usize = ra.iter().map(Vec::len).sum();
    println!("ndarray vs flex: {agree}/200 images agree ({detections} detections)");
    assert!(detections > 300, "too few detections to compare: {detections}");
    assert!(agree >= 198, "only {agree}/200 agree");
}
