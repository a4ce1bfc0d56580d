//! The `Detector`: weights loaded onto one backend, images in, detections out. Letterboxes any
//! input size to the network's input, runs the forward pass in bounded batches, reads the head
//! back and decodes it on the CPU. Never decodes untrusted bytes itself (see `image_io`).

use argus_protocol::detection::Detection;
use burn::prelude::*;

use crate::backend::BackendKind;
use crate::data::{Letterbox, letterbox_into};
use crate::decode::{DecodeParams, decode};
use crate::error::ModelError;
use crate::model::{DetectorNet, ModelConfig};
use crate::weights::{WeightsBlob, WeightsMeta, WeightsSource};

/// Images per forward pass; larger requests are split. Bounds activation memory (~60 MB of
/// activations for the default net at this size).
pub const MAX_BATCH: usize = 64;

/// A detector ready to run on one backend. `Send`: build it, then move it to the inference
/// thread.
pub struct Detector {
    net: DetectorNet,
    device: Device,
    backend: BackendKind,
    meta: WeightsMeta,
    hash: String,
    params: DecodeParams,
}

impl Detector {
    /// Loads `weights` onto `backend`. For wgpu, also runs one forward pass so that a missing
    /// adapter is reported here rather than on the first image.
    pub fn new(backend: BackendKind, weights: WeightsSource) -> Result<Detector, ModelError> {
        let device = backend.device()?;
        let blob = WeightsBlob::load(&weights)?;
        let cfg = blob.meta.model.clone();
        let net = blob.apply(cfg.init(&device))?.valid();
        let detector = Detector {
            net,
            device,
            backend,
            meta: blob.meta,
            hash: blob.hash,
            params: DecodeParams::default(),
        };
        if backend == BackendKind::Wgpu {
            let probe = image::RgbImage::new(8, 8);
            let run = std::panic::AssertUnwindSafe(|| detector.try_detect_batch(&[probe]));
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

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// Short BLAKE3 hex of the weight bytes.
    pub fn weights_hash(&self) -> &str {
        &self.hash
    }

    pub fn config(&self) -> &ModelConfig {
        &self.meta.model
    }

    pub fn meta(&self) -> &WeightsMeta {
        &self.meta
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
        for chunk in usable.chunks(MAX_BATCH) {
            let batch: Vec<&image::RgbImage> = chunk.iter().map(|&i| &images[i]).collect();
            let dets = self.run_chunk(&batch)?;
            for (&i, d) in chunk.iter().zip(dets) {
                results[i] = d;
            }
        }
        Ok(results)
    }

    fn run_chunk(&self, images: &[&image::RgbImage]) -> Result<Vec<Vec<Detection>>, ModelError> {
        let cfg = &self.meta.model;
        let (in_w, in_h) = (cfg.input_width, cfg.input_height);
        let mut input = Vec::with_capacity(images.len() * 3 * in_w * in_h);
        let boxes: Vec<Letterbox> =
            images.iter().map(|img| letterbox_into(img, in_w, in_h, &mut input)).collect();
        let head = self.forward_raw(input, images.len())?;
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

    /// Runs the network on a prepared input `[batch, 3, H, W]` and returns the head output
    /// `[batch, 1 + C + 4, H/4, W/4]` flattened.
    pub fn forward_raw(&self, input: Vec<f32>, batch: usize) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.meta.model;
        let shape = [batch, 3, cfg.input_height, cfg.input_width];
        assert_eq!(input.len(), shape.iter().product::<usize>(), "input buffer size");
        let x = Tensor::<4>::from_data(TensorData::new(input, shape), &self.device);
        let out = self.net.forward(x);
        out.into_data().try_into_vec::<f32>().map_err(|e| ModelError::Inference(format!("{e:?}")))
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
}
