//! The network on the NdArray backend: output shapes for several batch sizes, FLOP counting
//! from the layer shapes, and a weights save/load round trip that reproduces outputs.

use argus_model::model::{ModelConfig, REG_CHANNELS};
use burn::prelude::*;

fn small_config() -> ModelConfig {
    ModelConfig::new()
        .with_input_width(64)
        .with_input_height(48)
        .with_widths([4, 8, 8, 8])
        .with_head_channels(8)
}

#[test]
fn forward_shapes_follow_the_config() {
    let device = argus_model::BackendKind::NdArray.device().unwrap();
    for cfg in [ModelConfig::new(), small_config()] {
        let net = cfg.init(&device);
        for batch in [1, 3] {
            let x = Tensor::<4>::zeros([batch, 3, cfg.input_height, cfg.input_width], &device);
            let out = net.forward(x);
            let [oh, ow] = cfg.output_size();
            assert_eq!(out.dims(), [batch, 1 + cfg.num_classes + REG_CHANNELS, oh, ow]);
        }
    }
}

#[test]
fn flops_follow_the_layer_shapes() {
    let cfg = small_config();
    let shapes = cfg.conv_shapes();
    assert_eq!(shapes.len(), 14);
    // The last conv produces the head at stride 4.
    let &(_, out_c, k, h, w) = shapes.last().unwrap();
    assert_eq!((out_c, k, h, w), (cfg.out_channels(), 1, 12, 16));
    // First conv: 3 -> 4 channels, 3x3, 24x32 outputs: (2*3*9 + 1) * 4 * 24 * 32 flops.
    assert_eq!(shapes[0], (3, 4, 3, 24, 32));
    let conv_first = (2 * 3 * 9 + 1) * 4 * 24 * 32;
    assert!(cfg.flops_per_image() > conv_first as u64);
    // Doubling the input area doubles the work exactly (every layer is spatially uniform).
    let big = small_config().with_input_width(128);
    assert_eq!(big.flops_per_image(), 2 * cfg.flops_per_image());
}

#[test]
fn saved_weights_reload_to_the_same_outputs() {
    use argus_model::weights::{self, WeightsBlob, WeightsMeta, WeightsSource};
    let device = argus_model::BackendKind::NdArray.device().unwrap();
    let cfg = small_config().with_seed(9);
    let net = cfg.init(&device);
    let dir = std::env::temp_dir().join(format!("argus-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.bpk");
    let meta = WeightsMeta { model: cfg.clone(), training: serde_json::Value::Null };
    let hash = weights::save(&net, &meta, &path).unwrap();
    let blob = WeightsBlob::load(&WeightsSource::File(path.clone())).unwrap();
    assert_eq!(blob.raw.hash, hash);
    assert_eq!(blob.meta.model, cfg);
    // A differently seeded net loaded with the saved weights computes the same function.
    let other = blob.apply(cfg.clone().with_seed(10).init(&device)).unwrap();
    let x = Tensor::<4>::random([2, 3, 48, 64], burn::tensor::Distribution::Default, &device);
    let a: Vec<f32> = net.valid().forward(x.clone()).into_data().try_into_vec().unwrap();
    let b: Vec<f32> = other.valid().forward(x).into_data().try_into_vec().unwrap();
    assert_eq!(a, b);
    // Weights for another architecture do not fit.
    assert!(blob.apply(ModelConfig::new().init(&device)).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
