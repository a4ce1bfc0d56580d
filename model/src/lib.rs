//! argus-model: the object detectors of argus. Two named models (`ModelKind`): `shapes`, a
//! compact CenterNet-style network trained here on synthetic scenes with ground truth, and
//! `coco`, NanoDet-g pretrained on COCO (80 classes). Weights, inference on ndarray / flex /
//! wgpu, training and mAP evaluation (shapes), benchmarks. Never touches the network or the
//! node's state.
//!
//! Layout:
//! - `models`: `ModelKind` (`shapes`, `coco`), class labels, default post-processing.
//! - `coco`: NanoDet-g (generated burn code, f16 weights, BGR letterbox, DFL decoding).
//! - `photos`: where the real test photographs are (fetched from package registries).
//! - `scene`: deterministic `(seed, index) -> image + ground truth`; PNG/JPEG encoding.
//! - `shapes`: geometry of the five object classes.
//! - `render`: backgrounds, clutter, anti-aliased shape fills, noise.
//! - `rng`: the tiny fixed PRNG behind every random choice.
//! - `data`: letterboxing, normalisation and training targets.
//! - `model`: the network (`ModelConfig`, `DetectorNet`), FLOP count.
//! - `loss`: focal heatmap loss + L1 offset/size losses.
//! - `training`: the training loop (`TrainingConfig`, `train`; the `train` feature).
//! - `decode`: head decoding, score threshold, NMS, IoU.
//! - `inference`: `Detector` (one model on one backend), the object the node uses.
//! - `weights`: embedded / file weights, burnpack save and load, BLAKE3 identity.
//! - `backend`: `BackendKind` and its burn device.
//! - `image_io`: bounded decoding of untrusted PNG/JPEG bytes.
//! - `eval`: mAP@0.5 and mAP@0.5:0.95.
//! - `bench`: latency, throughput, FLOPs, GEMM reference.
//! - `draw`: boxes and labels on images.
//! - `error`: `ModelError`.

pub mod backend;
pub mod bench;
pub mod coco;
pub mod data;
pub mod decode;
pub mod draw;
pub mod error;
pub mod eval;
pub mod gemm;
pub mod image_io;
pub mod inference;
pub mod loss;
pub mod model;
pub mod models;
pub mod photos;
pub mod render;
pub mod rng;
pub mod scene;
pub mod shapes;
#[cfg(feature = "train")]
pub mod training;
pub mod weights;

pub use argus_protocol::detection::{BBox, Detection};
pub use backend::BackendKind;
pub use error::ModelError;
pub use image_io::{decode_image, thumbnail_jpeg};
pub use inference::Detector;
pub use models::{LabelledDetection, ModelKind, labelled};
pub use weights::WeightsSource;

/// Class names of the shapes model, indexed by `Detection::class`.
pub const CLASS_NAMES: &[&str] = models::SHAPES_LABELS;
