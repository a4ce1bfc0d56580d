//! The coco model (NanoDet-g) on real photographs: the generated burn network matches
//! onnxruntime within 1e-4 (golden outputs from `model/coco/golden.py`), the photographs show
//! the objects they hold, and the CPU backends agree. The photographs come from package
//! registries (`scripts/fetch-photos.sh`); without them these tests say so and skip, unless
//! `ARGUS_REQUIRE_PHOTOS` is set (CI sets it), when they fail.

use std::path::{Path, PathBuf};

use argus_model::coco::decode::BOX_CHANNELS;
use argus_model::coco::{NanoDet, level_cells};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource};
use argus_protocol::results_agree;

/// Largest difference from onnxruntime allowed on any output value.
const MAX_ORT_DIFF: f32 = 1e-4;

fn photos() -> Option<Vec<(String, image::RgbImage)>> {
    argus_model::photos::for_test()
}

fn detector(backend: BackendKind) -> Detector {
    Detector::new(ModelKind::Coco, backend, WeightsSource::Embedded).unwrap()
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/coco_golden")
}

fn checksum(x: &[f32]) -> [f64; 2] {
    let sum = x.iter().map(|&v| f64::from(v)).sum();
    let weighted = x.iter().enumerate().map(|(i, &v)| f64::from(v) * (i % 97) as f64).sum();
    [sum, weighted]
}

#[test]
fn generated_network_matches_onnxruntime_on_the_photographs() {
    let Some(photos) = photos() else { return };
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("manifest.json")).unwrap()).unwrap();
    let stride = manifest["stride"].as_u64().unwrap() as usize;
    for backend in [BackendKind::Flex, BackendKind::NdArray] {
        let det = detector(backend);
        let mut worst_of_all = 0.0f32;
        for (name, img) in &photos {
            let stem = Path::new(name).file_stem().unwrap().to_string_lossy().to_string();
            let entry = &manifest["photos"][&stem];
            assert!(entry.is_object(), "no golden outputs for {stem}: rerun model/coco/golden.py");
            let (input, _) = NanoDet::prepare(&[img]);
            let [sum, weighted] = checksum(&input);
            let want = entry["input_checksum"].as_array().unwrap();
            assert!(
                (sum - want[0].as_f64().unwrap()).abs() < 1e-2
                    && (weighted - want[1].as_f64().unwrap()).abs() < 1.0,
                "{stem}: the preprocessed input differs from the one the golden outputs were made from \
                 (a different photograph, or preprocessing changed: rerun model/coco/golden.py)"
            );
            let out = det.coco_forward_raw(input, 1).unwrap();
            let ours: Vec<f32> = out
                .scores
                .iter()
                .chain(&out.boxes)
                .flat_map(|level| level.iter().step_by(stride).copied())
                .collect();
            let bytes = std::fs::read(golden_dir().join(format!("{stem}.f32"))).unwrap();
            let golden: Vec<f32> =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            assert_eq!(ours.len(), golden.len(), "{stem}: sampled output count");
            let worst = ours.iter().zip(&golden).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= MAX_ORT_DIFF, "{backend} on {stem}: differs from onnxruntime by {worst}");
            worst_of_all = worst_of_all.max(worst);
        }
        println!(
            "{backend}: {} photographs, worst difference from onnxruntime {worst_of_all:.2e}",
            photos.len()
        );
    }
}

#[test]
fn photographs_show_their_objects_with_labels() {
    let Some(photos) = photos() else { return };
    let det = detector(BackendKind::Flex);
    for (name, want) in argus_model::photos::EXPECTED {
        let (_, img) = photos.iter().find(|(n, _)| n == name).unwrap();
        let dets = det.try_detect_batch(std::slice::from_ref(img)).unwrap().remove(0);
        let found: Vec<(&str, f32)> = argus_model::labelled(ModelKind::Coco, &dets)
            .iter()
            .filter(|d| d.score >= 0.3)
            .map(|d| (d.label, d.score))
            .collect();
        println!("{name}: {found:?}");
        for label in *want {
            assert!(found.iter().any(|(l, _)| l == label), "{name}: no {label} at score >= 0.3 in {found:?}");
        }
        for d in &dets {
            let b = d.bbox;
            assert!(
                b.x_min >= 0.0
                    && b.y_min >= 0.0
                    && b.x_max <= img.width() as f32
                    && b.y_max <= img.height() as f32
            );
        }
    }
}

#[test]
fn flex_and_ndarray_agree_on_the_photographs() {
    let Some(photos) = photos() else { return };
    let images: Vec<image::RgbImage> = photos.into_iter().map(|(_, i)| i).collect();
    let (a, b) = (
        detector(BackendKind::Flex).detect_batch(&images),
        detector(BackendKind::NdArray).detect_batch(&images),
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(!x.is_empty(), "photograph {i}: nothing detected");
        assert!(results_agree(x, y), "photograph {i}: flex {x:?} vs ndarray {y:?}");
    }
}

#[test]
fn any_size_and_aspect_ratio_is_detected_without_fault() {
    let det = detector(BackendKind::Flex);
    for (w, h) in [(1, 1), (1, 3000), (3000, 1), (416, 416), (7, 640), (1000, 333)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let dets = det.try_detect_batch(&[img]).unwrap().remove(0);
        argus_protocol::detection::validate_detections(&dets).unwrap();
        for d in &dets {
            assert!(d.bbox.x_max <= w as f32 && d.bbox.y_max <= h as f32, "{w}x{h}: {d:?}");
        }
    }
    assert!(det.detect(&image::RgbImage::new(0, 0)).is_empty());
}

#[test]
fn embedded_weights_are_f16_and_load_on_every_cpu_backend() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/nanodet_g.f16.bpk")).unwrap();
    // 3.79 M parameters at 2 bytes each, plus the burnpack header: well under the f32 size.
    assert!(bytes.len() < 8_000_000, "{} bytes: not f16?", bytes.len());
    for backend in [BackendKind::Flex, BackendKind::NdArray] {
        let det = detector(backend);
        assert_eq!(det.weights_hash(), argus_model::weights::short_hash(&bytes));
        // A batch runs and keeps the level layout.
        let (input, _) = NanoDet::prepare(&[&image::RgbImage::new(32, 24), &image::RgbImage::new(24, 32)]);
        let out = det.coco_forward_raw(input, 2).unwrap();
        for (l, cells) in level_cells().iter().enumerate() {
            assert_eq!(out.scores[l].len(), 2 * cells * 80);
            assert_eq!(out.boxes[l].len(), 2 * cells * BOX_CHANNELS);
        }
    }
}

/// `just agree-coco`: flex and ndarray agree on >= 99% of 200 varied real images.
#[test]
#[ignore = "slow (minutes): run with `just agree-coco`"]
fn flex_and_ndarray_agree_on_200_varied_images() {
    let Some(photos) = photos() else { return };
    let images = argus_model::photos::varied(&photos, 200);
    let (a, b) = (
        detector(BackendKind::Flex).detect_batch(&images),
        detector(BackendKind::NdArray).detect_batch(&images),
    );
    let agree = a.iter().zip(&b).filter(|(x, y)| results_agree(x, y)).count();
    let detections: usize = a.iter().map(Vec::len).sum();
    println!("flex vs ndarray: {agree}/200 varied images agree ({detections} detections)");
    assert!(detections > 200, "too few detections to compare: {detections}");
    assert!(agree >= 198, "only {agree}/200 agree");
}
