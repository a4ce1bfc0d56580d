//! The `Detector`: one named model's weights loaded onto one backend, images in, detections
//! out. Letterboxes any input size to the model's input, runs the forward pass in bounded
//! batches, reads the outputs back and decodes them on the CPU. Never decodes untrusted bytes
//! itself (see `image_io`).

use argus_protocol::detection::Detection;
use burn::prelude::*;

use crate::backend::BackendKind;
use crate::coco::{self, NanoDet};
use crate::data::{Letterbox, letterbox_into};
use crate::decode::{DecodeParams, decode};
use crate::error::ModelError;
use crate::model::{DetectorNet, ModelConfig};
use crate::models::ModelKind;
use crate::weights::{RawWeights, WeightsBlob, WeightsSource};

/// Images per forward pass; larger requests are split. Bounds activation memory: ~60 MB for
/// the shapes net at 64 images, ~70 MB per image for NanoDet-g at 416x416.
pub fn max_batch(model: ModelKind) -> usize {
    match model {
        ModelKind::Shapes => 64,
        ModelKind::Coco => 8,
    }
}

/// The network behind a detector.
enum Engine {
    Shapes { net: DetectorNet, config: ModelConfig },
    Coco(NanoDet),
}

/// A detector ready to run on one backend. `Send`: build it, then move it to the inference
/// thread.
pub struct Detector {
    model: ModelKind,
    engine: Engine,
    device: Device,
    backend: BackendKind,
    hash: String,
    blake3: [u8; 32],
    params: DecodeParams,
}

impl Detector {
    /// Loads `model` with `weights` onto `backend`. For wgpu, also runs a small computation so
    /// that a missing adapter is reported here rather than on the first image.
    pub fn new(
        model: ModelKind,
        backend: BackendKind,
        weights: WeightsSource,
    ) -> Result<Detector, ModelError> {
        let device = backend.device()?;
        let (engine, hash, blake3) = match model {
            ModelKind::Shapes => {
                let blob = WeightsBlob::load(&weights)?;
                let config = blob.meta.model.clone();
                let net = blob.apply(config.init(&device))?.valid();
                (Engine::Shapes { net, config }, blob.raw.hash, blob.raw.blake3)
            }
            ModelKind::Coco => {
                let raw = RawWeights::load(ModelKind::Coco, &weights)?;
                (Engine::Coco(NanoDet::load(&raw, &device)?), raw.hash, raw.blake3)
            }
        };
        let params = model.default_decode_params();
        let detector = Detector { model, engine, device, backend, hash, blake3, params };
        if backend == BackendKind::Wgpu {
            // A small matmul read back: fails fast without an adapter, and costs far less than
            // a forward pass of NanoDet on a software rasteriser.
            let run = std::panic::AssertUnwindSafe(|| crate::gemm::gemm_gflops(&detector.device, 8, 1));
            match std::panic::catch_unwind(run) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(ModelError::BackendUnavailable(format!("wgpu: {e}"))),
                Err(_) => {
                    return Err(ModelError::BackendUnavailable(
                        "wgpu: no usable adapter (the first forward pass failed)".into(),
                    ));
                }
            }
        }
        Ok(detector)
    }

    /// Replaces the post-processing parameters (score threshold, NMS, max detections).
    pub fn with_decode_params(mut self, params: DecodeParams) -> Self {
        self.params = params;
        self
    }

    pub fn decode_params(&self) -> &DecodeParams {
        &self.params
    }

    pub fn model(&self) -> ModelKind {
        self.model
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// Short BLAKE3 hex of the weight bytes.
    pub fn weights_hash(&self) -> &str {
        &self.hash
    }

    /// The full BLAKE3 of the weight bytes: the weights' identity.
    pub fn weights_blake3(&self) -> [u8; 32] {
        self.blake3
    }

    /// The shapes network's architecture (`None` for other models).
    pub fn shapes_config(&self) -> Option<&ModelConfig> {
        match &self.engine {
            Engine::Shapes { config, .. } => Some(config),
            Engine::Coco(_) => None,
        }
    }

    /// Floating-point operations of one forward pass on one image.
    pub fn flops_per_image(&self) -> u64 {
        match &self.engine {
            Engine::Shapes { config, .. } => config.flops_per_image(),
            Engine::Coco(_) => 2 * coco::MACS_PER_IMAGE,
        }
    }

    /// Detections for one image of any size (empty for a zero-sized image or a backend fault).
    pub fn detect(&self, image: &image::RgbImage) -> Vec<Detection> {
        self.detect_batch(std::slice::from_ref(image)).pop().unwrap_or_default()
    }

    /// Detections for each image, in order. A backend fault yields empty lists; use
    /// [`Detector::try_detect_batch`] to see it.
    pub fn detect_batch(&self, images: &[image::RgbImage]) -> Vec<Vec<Detection>> {
        self.try_detect_batch(images).unwrap_or_else(|_| vec![Vec::new(); images.len()])
    }

    /// Like [`Detector::detect_batch`], reporting backend faults.
    pub fn try_detect_batch(&self, images: &[image::RgbImage]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let mut results = vec![Vec::new(); images.len()];
        // Zero-sized images have nothing to detect and cannot be letterboxed.
        let usable: Vec<usize> =
            (0..images.len()).filter(|&i| images[i].width() > 0 && images[i].height() > 0).collect();
        for chunk in usable.chunks(max_batch(self.model)) {
            let batch: Vec<&image::RgbImage> = chunk.iter().map(|&i| &images[i]).collect();
            let dets = match &self.engine {
                Engine::Shapes { net, config } => self.run_shapes(net, config, &batch)?,
                Engine::Coco(nanodet) => self.run_coco(nanodet, &batch)?,
            };
            for (&i, d) in chunk.iter().zip(dets) {
                results[i] = d;
            }
        }
        Ok(results)
    }

    fn run_shapes(
        &self,
        net: &DetectorNet,
        cfg: &ModelConfig,
        images: &[&image::RgbImage],
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let (in_w, in_h) = (cfg.input_width, cfg.input_height);
        let mut input = Vec::with_capacity(images.len() * 3 * in_w * in_h);
        let boxes: Vec<Letterbox> =
            images.iter().map(|img| letterbox_into(img, in_w, in_h, &mut input)).collect();
        let shape = [images.len(), 3, in_h, in_w];
        let x = Tensor::<4>::from_data(TensorData::new(input, shape), &self.device);
        let head: Vec<f32> = net
            .forward(x)
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Inference(format!("{e:?}")))?;
        let [out_h, out_w] = cfg.output_size();
        let per_image = cfg.out_channels() * out_h * out_w;
        Ok(boxes
            .iter()
            .enumerate()
            .map(|(i, lb)| {
                let slice = &head[i * per_image..(i + 1) * per_image];
                decode(slice, cfg.num_classes, out_h, out_w, lb, &self.params)
            })
            .collect())
    }

    fn run_coco(
        &self,
        nanodet: &NanoDet,
        images: &[&image::RgbImage],
    ) -> Result<Vec<Vec<Detection>>, ModelError> {
        let (input, boxes) = NanoDet::prepare(images);
        let out = nanodet.forward_raw(input, images.len())?;
        Ok(boxes
            .iter()
            .enumerate()
            .map(|(i, lb)| coco::decode::decode(&out.levels(i), coco::NUM_CLASSES, lb, &self.params))
            .collect())
    }

    /// The COCO network's raw outputs on a prepared input (for comparisons with onnxruntime).
    pub fn coco_forward_raw(&self, input: Vec<f32>, batch: usize) -> Result<coco::RawOutputs, ModelError> {
        match &self.engine {
            Engine::Coco(nanodet) => nanodet.forward_raw(input, batch),
            Engine::Shapes { .. } => Err(ModelError::Inference("not the coco model".into())),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}
