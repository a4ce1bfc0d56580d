//! The training objective: CenterNet's penalty-reduced focal loss on the class heatmaps plus
//! L1 losses on centre offsets and log box sizes at object centres. Pure tensor code.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};

/// One batch's targets as tensors (see `data::Targets` for the layouts).
pub struct TargetTensors {
    /// `[B, C, Ho, Wo]`
    pub heat: Tensor<4>,
    /// `[B, 4, Ho, Wo]`
    pub reg: Tensor<4>,
    /// `[B, 4, Ho, Wo]`: 1 at centre cells (repeated over the 4 regression channels).
    pub reg_mask: Tensor<4>,
    /// `[B, C, Ho, Wo]`: 1 where `heat == 1` (object centres).
    pub pos_mask: Tensor<4>,
    /// Number of objects in the batch (at least 1 to normalise).
    pub num_pos: f32,
}

/// Loss terms, each already weighted; `total` is what is differentiated.
pub struct LossParts {
    pub total: Tensor<1>,
    pub heat: Tensor<1>,
    pub offset: Tensor<1>,
    pub size: Tensor<1>,
}

/// `out`: `[B, C + 4, Ho, Wo]` from `DetectorNet::forward`.
pub fn detection_loss(out: Tensor<4>, t: &TargetTensors, size_weight: f32) -> LossParts {
    let [_, channels, _, _] = out.dims();
    let classes = channels - 4;
    let logits = out.clone().narrow(1, 0, classes); // [B, C, Ho, Wo]
    let reg = out.narrow(1, classes, 4); // [B, 4, Ho, Wo]
    let p = sigmoid(logits.clone()); // [B, C, Ho, Wo]
    let log_p = log_sigmoid(logits.clone()); // log p
    let log_1mp = log_sigmoid(logits.neg()); // log (1 - p)
    // Positives: -(1 - p)^2 log p at centres.
    let one_minus_p = p.clone().neg().add_scalar(1.0);
    let pos = one_minus_p.powf_scalar(2.0) * log_p * t.pos_mask.clone();
    // Negatives, down-weighted near centres by (1 - heat)^4: -p^2 log(1 - p).
    let neg_weight = t.heat.clone().neg().add_scalar(1.0).powf_scalar(4.0);
    let not_pos = t.pos_mask.clone().neg().add_scalar(1.0);
    let neg = p.powf_scalar(2.0) * log_1mp * neg_weight * not_pos;
    let heat = (pos + neg).sum().neg().div_scalar(t.num_pos); // [1]
    let l1 = (reg - t.reg.clone()).abs() * t.reg_mask.clone(); // [B, 4, Ho, Wo]
    let offset = l1.clone().narrow(1, 0, 2).sum().div_scalar(t.num_pos);
    let size = l1.narrow(1, 2, 2).sum().div_scalar(t.num_pos).mul_scalar(size_weight);
    LossParts { total: heat.clone() + offset.clone() + size.clone(), heat, offset, size }
}
