//! GPU and CPU agree: the wgpu backend (e.g. Mesa lavapipe) and ndarray give agreeing results
//! (protocol agreement rule) on at least 99% of 200 generated images. Built only with the
//! `wgpu` feature; the test fails rather than skips when no adapter is found.
#![cfg(feature = "wgpu")]

use argus_model::scene::{self, SceneConfig};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource};

#[test]
fn ndarray_and_wgpu_agree_on_200_images() {
    let cpu = Detector::new(ModelKind::Shapes, BackendKind::NdArray, WeightsSource::Embedded).unwrap();
    let gpu = Detector::new(ModelKind::Shapes, BackendKind::Wgpu, WeightsSource::Embedded).unwrap();
    let images: Vec<_> =
        (0..200).map(|i| scene::generate(2_000_000, i, &SceneConfig::default()).image).collect();
    let (rc, rg) = (cpu.detect_batch(&images), gpu.detect_batch(&images));
    let agree = rc.iter().zip(&rg).filter(|(a, b)| argus_protocol::results_agree(a, b)).count();
    let detections: usize = rc.iter().map(Vec::len).sum();
    println!("ndarray vs wgpu: {agree}/200 images agree ({detections} detections)");
    assert!(detections > 300, "too few detections to compare: {detections}");
    assert!(agree >= 198, "only {agree}/200 agree");
}

/// Tolerant agreement of wgpu with ndarray on the coco model, over `images`.
fn coco_agreement(images: &[image::RgbImage]) -> (usize, usize) {
    let cpu = Detector::new(ModelKind::Coco, BackendKind::NdArray, WeightsSource::Embedded).unwrap();
    let gpu = Detector::new(ModelKind::Coco, BackendKind::Wgpu, WeightsSource::Embedded).unwrap();
    let (rc, rg) = (cpu.detect_batch(images), gpu.detect_batch(images));
    let agree = rc.iter().zip(&rg).filter(|(a, b)| argus_protocol::results_agree(a, b)).count();
    (agree, rc.iter().map(Vec::len).sum())
}

#[test]
fn coco_on_wgpu_agrees_with_ndarray_on_every_photograph() {
    let Some(photos) = argus_model::photos::for_test() else { return };
    let images: Vec<_> = photos.into_iter().map(|(_, i)| i).collect();
    let (agree, detections) = coco_agreement(&images);
    println!("coco, ndarray vs wgpu: {agree}/{} photographs agree ({detections} detections)", images.len());
    assert!(detections >= images.len(), "too few detections to compare: {detections}");
    assert_eq!(agree, images.len());
}

/// `just agree-coco-wgpu` (and the GPU check): 200 varied real images.
#[test]
#[ignore = "slow on a software rasteriser: run with `just agree-coco-wgpu`"]
fn coco_on_wgpu_agrees_with_ndarray_on_200_varied_images() {
    let Some(photos) = argus_model::photos::for_test() else { return };
    let images = argus_model::photos::varied(&photos, 200);
    let (agree, detections) = coco_agreement(&images);
    println!("coco, ndarray vs wgpu: {agree}/200 varied images agree ({detections} detections)");
    assert!(agree >= 198, "only {agree}/200 agree");
}
