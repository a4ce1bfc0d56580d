//! Training on generated scenes with burn's autodiff: a bounded producer thread renders and
//! encodes batches while the main thread runs Adam steps with warm-up and cosine decay. Writes
//! the weights (burnpack) and a JSON config beside them. Never reads scenes from evaluation
//! seeds: training draws from `train_seed` only.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::Serialize;

use crate::backend::BackendKind;
use crate::data::{letterbox_into, object_targets, targets};
use crate::error::ModelError;
use crate::loss::{TargetTensors, detection_loss};
use crate::model::{ModelConfig, REG_CHANNELS, STRIDE};
use crate::rng::SplitMix64;
use crate::scene::{self, SceneConfig};
use crate::weights::{self, WeightsMeta};

/// Training hyperparameters (the model's own, including its init seed, are inside).
#[derive(Config, Debug)]
pub struct TrainingConfig {
    pub model: ModelConfig,
    /// Optimiser steps. The shipped weights: 4800 steps of 16 frames at 96x96 in 26.4 min on
    /// a 2-core machine that was running other work too (flex backend), mAP@0.5 0.976 on
    /// held-out seed 1000000.
    #[config(default = 4800)]
    pub steps: usize,
    #[config(default = 16)]
    pub batch_size: usize,
    /// Peak learning rate (Adam).
    #[config(default = 1e-2)]
    pub learning_rate: f64,
    #[config(default = 150)]
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the peak (cosine decay).
    #[config(default = 0.02)]
    pub final_lr_fraction: f64,
    /// Scene stream used for training: scenes `(train_seed, 0..steps*batch_size)`.
    #[config(default = 1)]
    pub train_seed: u64,
    /// Fraction of training scenes rendered at a random frame size and letterboxed, so that
    /// other input sizes work too.
    #[config(default = 0.25)]
    pub multiscale_fraction: f32,
    /// Training crops: scenes are rendered at `scene_width x scene_height` and letterboxed to
    /// `train_input_width x train_input_height` (the network is fully convolutional, so it
    /// runs at its own `input_width x input_height` afterwards). Smaller, denser frames put
    /// more objects through the net per FLOP.
    #[config(default = 96)]
    pub train_input_width: usize,
    #[config(default = 96)]
    pub train_input_height: usize,
    #[config(default = 96)]
    pub scene_width: u32,
    #[config(default = 88)]
    pub scene_height: u32,
    /// Objects per training frame: `0..=max_objects` (denser than the 0-8 of a 160x120 frame).
    #[config(default = 6)]
    pub max_objects: u32,
    /// Weight of the log-size L1 loss.
    #[config(default = 1.0)]
    pub size_loss_weight: f32,
}

/// What a finished run reports (and writes into the JSON next to the weights).
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub steps: usize,
    pub images_seen: u64,
    pub wall_s: f64,
    pub final_loss: f32,
    pub backend: String,
    pub weights_hash: String,
}

/// Progress after one optimiser step, for the caller to display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Steps done so far (1-based).
    pub step: usize,
    pub steps: usize,
    /// Exponential moving average of the total loss.
    pub loss_ema: f32,
    /// This step's loss terms.
    pub heat: f32,
    pub class: f32,
    pub offset: f32,
    pub size: f32,
    pub learning_rate: f64,
    pub elapsed_s: f64,
}

/// One batch ready for the device (planar `f32` buffers).
struct HostBatch {
    images: Vec<f32>,
    obj: Vec<f32>,
    obj_pos: Vec<f32>,
    cls_weighted: Vec<f32>,
    cls_weight_sum: f32,
    reg: Vec<f32>,
    reg_mask: Vec<f32>,
    num_pos: usize,
}

fn scene_config_for(rng: &mut SplitMix64, cfg: &TrainingConfig) -> SceneConfig {
    let base = SceneConfig {
        width: cfg.scene_width,
        height: cfg.scene_height,
        max_objects: cfg.max_objects,
        ..SceneConfig::default()
    };
    if rng.chance(cfg.multiscale_fraction) {
        // Frames from 0.6x to 2x the training size, letterboxed: objects shrink or grow with
        // the frame, as when a larger camera frame is fed to the detector.
        let k = rng.range_f32(0.6, 2.0);
        let w = ((cfg.scene_width as f32 * k * rng.range_f32(0.8, 1.25)) as u32).max(48);
        let h = ((cfg.scene_height as f32 * k * rng.range_f32(0.8, 1.25)) as u32).max(48);
        let scaled = SceneConfig::scaled_to(w, h);
        let s = (w.min(h) as f32 / cfg.scene_width.min(cfg.scene_height) as f32).max(0.1);
        let varied = SceneConfig {
            min_object_px: (base.min_object_px * s).max(6.0),
            max_object_px: (base.max_object_px * s).min(w.min(h) as f32 - 2.0),
            ..scaled
        };
        if varied.validate().is_ok() { varied } else { base }
    } else {
        base
    }
}

fn make_batch(cfg: &TrainingConfig, step: usize) -> HostBatch {
    let m = &cfg.model;
    let (iw, ih) = (cfg.train_input_width, cfg.train_input_height);
    let (oh, ow) = (ih / STRIDE, iw / STRIDE);
    let b = cfg.batch_size;
    let mut out = HostBatch {
        images: Vec::with_capacity(b * 3 * iw * ih),
        obj: Vec::with_capacity(b * oh * ow),
        obj_pos: Vec::with_capacity(b * oh * ow),
        cls_weighted: Vec::with_capacity(b * m.num_classes * oh * ow),
        cls_weight_sum: 0.0,
        reg: Vec::with_capacity(b * REG_CHANNELS * oh * ow),
        reg_mask: Vec::with_capacity(b * REG_CHANNELS * oh * ow),
        num_pos: 0,
    };
    for i in 0..b {
        let index = (step * b + i) as u64;
        let mut rng = SplitMix64::for_item(cfg.train_seed ^ 0x5CA1_AB1E, index);
        let scene_cfg = scene_config_for(&mut rng, cfg);
        let s = scene::generate(cfg.train_seed, index, &scene_cfg);
        let lb = letterbox_into(&s.image, iw, ih, &mut out.images);
        let t = targets(&s.objects, &lb, m.num_classes, oh, ow);
        let o = object_targets(&t.heat, m.num_classes);
        out.num_pos += s.objects.len();
        out.obj.extend_from_slice(&o.obj);
        out.obj_pos.extend_from_slice(&o.obj_pos);
        out.cls_weighted.extend_from_slice(&o.cls_weighted);
        out.cls_weight_sum += o.cls_weight_sum;
        out.reg.extend_from_slice(&t.reg);
        for _ in 0..REG_CHANNELS {
            out.reg_mask.extend_from_slice(&t.mask);
        }
    }
    out
}

fn validate(cfg: &TrainingConfig) -> Result<(), ModelError> {
    cfg.model.validate()?;
    let scene = SceneConfig {
        width: cfg.scene_width,
        height: cfg.scene_height,
        max_objects: cfg.max_objects,
        ..SceneConfig::default()
    };
    scene.validate()?;
    let ok = cfg.batch_size > 0
        && cfg.steps > 0
        && cfg.learning_rate > 0.0
        && cfg.train_input_width % 16 == 0
        && cfg.train_input_height % 16 == 0
        && (32..=1024).contains(&cfg.train_input_width)
        && (32..=1024).contains(&cfg.train_input_height)
        && (0.0..=1.0).contains(&cfg.multiscale_fraction);
    if ok { Ok(()) } else { Err(ModelError::Config(format!("bad training config {cfg:?}"))) }
}

fn learning_rate(cfg: &TrainingConfig, step: usize) -> f64 {
    // Short runs (smoke tests) shrink the warm-up to a tenth of the run.
    let warmup = cfg.warmup_steps.min(cfg.steps / 10);
    if step < warmup {
        return cfg.learning_rate * (step + 1) as f64 / warmup as f64;
    }
    let span = (cfg.steps - warmup).max(1) as f64;
    let t = (step - warmup) as f64 / span;
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
    cfg.learning_rate * (cfg.final_lr_fraction + (1.0 - cfg.final_lr_fraction) * cosine)
}

/// Batches rendered ahead of the optimiser; two keep the producer busy without hoarding memory.
const PREFETCH_BATCHES: usize = 2;

/// Trains from scratch on `backend` and writes `out` (+ `out` with `.json`), calling
/// `on_step` after every optimiser step.
pub fn train(
    cfg: &TrainingConfig,
    backend: BackendKind,
    out: &Path,
    on_step: &mut dyn FnMut(&Progress),
) -> Result<TrainSummary, ModelError> {
    validate(cfg)?;
    let device = backend.device()?.autodiff();
    let mut net = cfg.model.init(&device);
    let mut optim = AdamConfig::new().init();
    let (tx, rx) = mpsc::sync_channel::<HostBatch>(PREFETCH_BATCHES);
    let producer_cfg = cfg.clone();
    let producer = std::thread::spawn(move || {
        for step in 0..producer_cfg.steps {
            if tx.send(make_batch(&producer_cfg, step)).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut ema = f32::NAN;
    let m = &cfg.model;
    let (iw, ih) = (cfg.train_input_width, cfg.train_input_height);
    let (oh, ow) = (ih / STRIDE, iw / STRIDE);
    let b = cfg.batch_size;
    for step in 0..cfg.steps {
        let hb = rx.recv().map_err(|_| ModelError::Config("scene producer stopped early".into()))?;
        let t4 = |v: Vec<f32>, c: usize, h: usize, w: usize| {
            Tensor::<4>::from_data(TensorData::new(v, [b, c, h, w]), &device)
        };
        let targets = TargetTensors {
            obj: t4(hb.obj, 1, oh, ow),
            obj_pos: t4(hb.obj_pos, 1, oh, ow),
            cls_weighted: t4(hb.cls_weighted, m.num_classes, oh, ow),
            cls_weight_sum: hb.cls_weight_sum.max(1.0),
            reg: t4(hb.reg, REG_CHANNELS, oh, ow),
            reg_mask: t4(hb.reg_mask, REG_CHANNELS, oh, ow),
            num_pos: hb.num_pos.max(1) as f32,
        };
        let images = t4(hb.images, 3, ih, iw);
        let parts = detection_loss(net.forward(images), &targets, cfg.size_loss_weight);
        let grads = GradientsParams::from_grads(parts.total.backward(), &net);
        let lr = learning_rate(cfg, step);
        net = optim.step(lr, net, grads);
        let loss: f32 = parts.total.into_scalar();
        ema = if ema.is_nan() { loss } else { 0.98 * ema + 0.02 * loss };
        on_step(&Progress {
            step: step + 1,
            steps: cfg.steps,
            loss_ema: ema,
            heat: parts.heat.into_scalar(),
            class: parts.class.into_scalar(),
            offset: parts.offset.into_scalar(),
            size: parts.size.into_scalar(),
            learning_rate: lr,
            elapsed_s: start.elapsed().as_secs_f64(),
        });
    }
    drop(rx);
    let _ = producer.join();
    let wall_s = start.elapsed().as_secs_f64();
    let mut summary = TrainSummary {
        steps: cfg.steps,
        images_seen: (cfg.steps * cfg.batch_size) as u64,
        wall_s,
        final_loss: ema,
        backend: backend.to_string(),
        weights_hash: String::new(),
    };
    let training = serde_json::json!({ "config": cfg, "summary": &summary });
    let meta = WeightsMeta { model: cfg.model.clone(), training };
    let hash = weights::save(&net.valid(), &meta, out)?;
    // The hash covers the weights file only, so it can go into the config JSON beside it.
    summary.weights_hash = hash.clone();
    let meta = WeightsMeta { training: serde_json::json!({ "config": cfg, "summary": &summary }), ..meta };
    weights::save_meta(&meta, out)?;
    Ok(summary)
}
