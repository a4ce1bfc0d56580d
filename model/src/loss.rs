//! The training objective: CenterNet's penalty-reduced focal loss on the objectness heatmap,
//! softmax cross-entropy on the class logits around object centres, and L1 losses on centre
//! offsets and log box sizes at object centres. Pure tensor code.

use burn::prelude::*;

use crate::model::REG_CHANNELS;
use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid};

/// One batch's targets as tensors (see `data::Targets` for the layouts).
pub struct TargetTensors {
    /// `[B, 1, Ho, Wo]` objectness Gaussians.
    pub obj: Tensor<4>,
    /// `[B, 1, Ho, Wo]`: 1 at object centres.
    pub obj_pos: Tensor<4>,
    /// `[B, C, Ho, Wo]`: weighted one-hot classes near centres (see `data::ObjectTargets`).
    pub cls_weighted: Tensor<4>,
    /// Sum of the class weights in the batch (at least 1 to normalise).
    pub cls_weight_sum: f32,
    /// `[B, 4, Ho, Wo]`
    pub reg: Tensor<4>,
    /// `[B, 4, Ho, Wo]`: 1 at centre cells (repeated over the 4 regression channels).
    pub reg_mask: Tensor<4>,
    /// Number of objects in the batch (at least 1 to normalise).
    pub num_pos: f32,
}

/// Loss terms, each already weighted; `total` is what is differentiated.
pub struct LossParts {
    pub total: Tensor<1>,
    pub heat: Tensor<1>,
    pub class: Tensor<1>,
    pub offset: Tensor<1>,
    pub size: Tensor<1>,
}

/// `out`: `[B, 1 + C + 4, Ho, Wo]` from `DetectorNet::forward`.
pub fn detection_loss(out: Tensor<4>, t: &TargetTensors, size_weight: f32) -> LossParts {
    let [_, channels, _, _] = out.dims();
    let classes = channels - 1 - REG_CHANNELS;
    let logit = out.clone().narrow(1, 0, 1); // [B, 1, Ho, Wo]
    let class_logits = out.clone().narrow(1, 1, classes); // [B, C, Ho, Wo]
    let reg = out.narrow(1, 1 + classes, REG_CHANNELS); // [B, 4, Ho, Wo]
    let heat = focal_loss(logit, &t.obj, &t.obj_pos).div_scalar(t.num_pos); // [1]
    let log_p = log_softmax(class_logits, 1); // [B, C, Ho, Wo]
    let class = (log_p * t.cls_weighted.clone()).sum().neg().div_scalar(t.cls_weight_sum);
    let l1 = (reg - t.reg.clone()).abs() * t.reg_mask.clone(); // [B, 4, Ho, Wo]
    let offset = l1.clone().narrow(1, 0, 2).sum().div_scalar(t.num_pos);
    let size = l1.narrow(1, 2, 2).sum().div_scalar(t.num_pos).mul_scalar(size_weight);
    let total = heat.clone() + class.clone() + offset.clone() + size.clone();
    LossParts { total, heat, class, offset, size }
}

/// CenterNet's focal loss, summed (not normalised): `-(1-p)^2 log p` at centres and
/// `-(1-y)^4 p^2 log(1-p)` elsewhere, for logits `x` and Gaussian targets `y`.
fn focal_loss(x: Tensor<4>, y: &Tensor<4>, pos: &Tensor<4>) -> Tensor<1> {
    let p = sigmoid(x.clone());
    let log_p = log_sigmoid(x.clone());
    let log_1mp = log_sigmoid(x.neg());
    let positive = p.clone().neg().add_scalar(1.0).powf_scalar(2.0) * log_p * pos.clone();
    let neg_weight = y.clone().neg().add_scalar(1.0).powf_scalar(4.0);
    let not_pos = pos.clone().neg().add_scalar(1.0);
    let negative = p.powf_scalar(2.0) * log_1mp * neg_weight * not_pos;
    (positive + negative).sum().neg()
}
