//! GPU and CPU agree: the wgpu backend (e.g. Mesa lavapipe) and ndarray give agreeing results
//! (protocol agreement rule) on at least 99% of 200 generated images. Built only with the
//! `wgpu` feature; the test fails rather than skips when no adapter is found.
#![cfg(feature = "wgpu")]

use argus_model::scene::{self, SceneConfig};
use argus_model::{BackendKind, Detector, WeightsSource};

#[test]
fn ndarray_and_wgpu_agree_on_200_images() {
    let cpu = Detector::new(BackendKind::NdArray, WeightsSource::Embedded).unwrap();
    let gpu = Detector::new(BackendKind::Wgpu, WeightsSource::Embedded).unwrap();
    let images: Vec<_> =
        (0..200).map(|i| scene::generate(2_000_000, i, &SceneConfig::default()).image).collect();
    let (rc, rg) = (cpu.detect_batch(&images), gpu.detect_batch(&images));
    let agree = rc.iter().zip(&rg).filter(|(a, b)| argus_protocol::results_agree(a, b)).count();
    let detections: usize = rc.iter().map(Vec::len).sum();
    println!("ndarray vs wgpu: {agree}/200 images agree ({detections} detections)");
    assert!(detections > 300, "too few detections to compare: {detections}");
    assert!(agree >= 198, "only {agree}/200 agree");
}
