//! The `coco` model: NanoDet-g (80 COCO classes, weights Apache-2.0, see `model/coco/NOTICE`).
//! `nanodet_g` is Rust generated once from the ONNX graph by burn-onnx (`model/coco/convert.sh`)
//! and committed; the weights ship as f16 and are widened to f32 on load. This module letterboxes
//! to 416x416 with NanoDet's BGR mean/std, runs the network and decodes its three output levels.
//! Never decodes untrusted bytes (see `image_io`).

pub mod decode;
#[allow(clippy::all, unused)]
#[rustfmt::skip]
mod nanodet_g;

use burn::prelude::*;
use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::DType;

use crate::data::{Letterbox, PixelNorm, letterbox_norm_into};
use crate::error::ModelError;
use crate::models::ModelKind;
use crate::weights::{RawWeights, WeightsSource, short_hash};
use decode::{BOX_CHANNELS, Level, STRIDES};

/// The network's input side, in pixels (square).
pub const INPUT_SIZE: usize = 416;
/// Output classes.
pub const NUM_CLASSES: usize = 80;
/// Multiply-accumulates of one forward pass, counted from the ONNX graph's convolutions
/// (`model/coco/golden.py` prints it); a FLOP is two of them.
pub const MACS_PER_IMAGE: u64 = 2_090_083_840;

/// NanoDet's input normalisation (BGR order, per-channel mean and std on the 0..=255 scale);
/// padding is black, as in NanoDet's own resize.
pub const NORM: PixelNorm = PixelNorm {
    bgr: true,
    mean: [103.53, 116.28, 123.675],
    std: [57.375, 57.12, 58.395],
    pad: [-103.53 / 57.375, -116.28 / 57.12, -123.675 / 58.395],
};

/// Cells per output level: `(416 / stride)^2`.
pub fn level_cells() -> [usize; 3] {
    STRIDES.map(|s| (INPUT_SIZE / s) * (INPUT_SIZE / s))
}

/// The network's raw outputs for a batch: per level, class scores `[batch, cells, 80]` and box
/// distributions `[batch, cells, 44]`, flattened row-major.
#[derive(Debug, Clone)]
pub struct RawOutputs {
    pub batch: usize,
    pub scores: [Vec<f32>; 3],
    pub boxes: [Vec<f32>; 3],
}

impl RawOutputs {
    /// The three levels of image `i` of the batch.
    pub fn levels(&self, i: usize) -> [Level<'_>; 3] {
        let cells = level_cells();
        std::array::from_fn(|l| Level {
            stride: STRIDES[l],
            grid_w: INPUT_SIZE / STRIDES[l],
            scores: &self.scores[l][i * cells[l] * NUM_CLASSES..(i + 1) * cells[l] * NUM_CLASSES],
            boxes: &self.boxes[l][i * cells[l] * BOX_CHANNELS..(i + 1) * cells[l] * BOX_CHANNELS],
        })
    }
}

/// NanoDet-g loaded onto one device.
pub struct NanoDet {
    net: nanodet_g::Model,
    device: Device,
}

impl NanoDet {
    /// Loads f16 (or f32) burnpack weights; every tensor must fit the network. Every float
    /// tensor is cast to f32 on the way in: loaded as stored, f16 parameters "load" and the first
    /// convolution panics on a dtype mismatch. (burn-store's `HalfPrecisionAdapter` would also
    /// widen f16, but it turns an f32 file into f16, so a `--weights` file in f32 would break.)
    pub fn load(weights: &RawWeights, device: &Device) -> Result<NanoDet, ModelError> {
        let mut net = nanodet_g::Model::new(device);
        let mut store = weights.store().with_from_adapter(FloatCastAdapter::to(DType::F32));
        let result = net.load_from(&mut store).map_err(|e| ModelError::Weights(format!("burnpack: {e}")))?;
        if !result.is_success() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(ModelError::Weights(format!("weights do not fit NanoDet-g: {result}")));
        }
        Ok(NanoDet { net, device: device.clone() })
    }

    /// Letterboxes each image into one input batch `[n, 3, 416, 416]`.
    pub fn prepare(images: &[&image::RgbImage]) -> (Vec<f32>, Vec<Letterbox>) {
        let mut input = Vec::with_capacity(images.len() * 3 * INPUT_SIZE * INPUT_SIZE);
        let boxes = images
            .iter()
            .map(|img| letterbox_norm_into(img, INPUT_SIZE, INPUT_SIZE, &NORM, &mut input))
            .collect();
        (input, boxes)
    }

    /// Runs the network on a prepared input of `batch` images.
    pub fn forward_raw(&self, input: Vec<f32>, batch: usize) -> Result<RawOutputs, ModelError> {
        let shape = [batch, 3, INPUT_SIZE, INPUT_SIZE];
        assert_eq!(input.len(), shape.iter().product::<usize>(), "input buffer size");
        let x = Tensor::<4>::from_data(TensorData::new(input, shape), &self.device);
        let (a, b, c, d, e, f) = self.net.forward(x);
        let mut scores: [Vec<f32>; 3] = Default::default();
        let mut boxes: [Vec<f32>; 3] = Default::default();
        let cells = level_cells();
        for t in [a, b, c, d, e, f] {
            let [n, cell_count, channels] = t.dims();
            let level = cells.iter().position(|&c| c == cell_count);
            let data =
                t.into_data().try_into_vec::<f32>().map_err(|e| ModelError::Inference(format!("{e:?}")))?;
            match (n == batch, level, channels) {
                (true, Some(l), NUM_CLASSES) => scores[l] = data,
                (true, Some(l), BOX_CHANNELS) => boxes[l] = data,
                _ => {
                    return Err(ModelError::Inference(format!(
                        "unexpected NanoDet output [{n}, {cell_count}, {channels}]"
                    )));
                }
            }
        }
        if scores.iter().chain(&boxes).any(Vec::is_empty) {
            return Err(ModelError::Inference("NanoDet returned an incomplete set of outputs".into()));
        }
        Ok(RawOutputs { batch, scores, boxes })
    }
}

/// Loads NanoDet-g weights (f32 or f16) and writes them to `out` as f16 through burn-store's
/// `HalfPrecisionAdapter`, refusing the result unless it reloads to the same outputs on a test
/// input. Returns the new file's short hash.
pub fn save_f16(source: &WeightsSource, out: &std::path::Path) -> Result<String, ModelError> {
    #[allow(deprecated)]
    let device = Device::ndarray();
    let original = NanoDet::load(&RawWeights::load(ModelKind::Coco, source)?, &device)?;
    let mut store = BurnpackStore::from_file(out)
        .auto_extension(false)
        .overwrite(true)
        .with_to_adapter(HalfPrecisionAdapter::new());
    original.net.save_into(&mut store).map_err(|e| ModelError::Weights(format!("save: {e}")))?;
    let half =
        NanoDet::load(&RawWeights::load(ModelKind::Coco, &WeightsSource::File(out.to_path_buf()))?, &device)?;
    let probe: Vec<f32> =
        (0..3 * INPUT_SIZE * INPUT_SIZE).map(|i| ((i * 37) % 255) as f32 / 64.0 - 2.0).collect();
    let (a, b) = (original.forward_raw(probe.clone(), 1)?, half.forward_raw(probe, 1)?);
    let worst = a
        .scores
        .iter()
        .chain(&a.boxes)
        .zip(b.scores.iter().chain(&b.boxes))
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0f32, f32::max);
    if worst > 0.0 {
        return Err(ModelError::Weights(format!("the f16 weights change the outputs (by up to {worst})")));
    }
    Ok(short_hash(&std::fs::read(out)?))
}
