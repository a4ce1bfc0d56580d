//! The network: a compact single-stage CenterNet-style detector. A strided conv backbone
//! (stride 16), a two-step top-down path back to stride 4, and a head giving per-class centre
//! heatmap logits plus box size and centre offset per cell. Pure tensor code: no decoding, no
//! image handling, no I/O.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::ModelError;

/// Output stride of the head relative to the network input.
pub const STRIDE: usize = 4;
/// Head layout: channel 0 is the objectness (centre heatmap) logit, channels `1..=C` the class
/// logits (softmax), then `REG_CHANNELS` box channels: offset x, offset y, ln(w/4), ln(h/4).
pub const REG_CHANNELS: usize = 4;

/// Architecture hyperparameters. The seed fixes the weight initialisation.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Number of object classes (heatmap channels).
    #[config(default = 5)]
    pub num_classes: usize,
    /// Network input width in pixels (images are letterboxed to it); a multiple of 16.
    #[config(default = 160)]
    pub input_width: usize,
    /// Network input height in pixels; a multiple of 16.
    #[config(default = 128)]
    pub input_height: usize,
    /// Channels at strides 2, 4, 8 and 16.
    #[config(default = "[16, 32, 64, 96]")]
    pub widths: [usize; 4],
    /// Channels of the head's hidden layer.
    #[config(default = 32)]
    pub head_channels: usize,
    /// Seed of the weight initialisation.
    #[config(default = 42)]
    pub seed: u64,
}

impl ModelConfig {
    pub fn validate(&self) -> Result<(), ModelError> {
        let ok = self.num_classes > 0
            && self.input_width % 16 == 0
            && self.input_height % 16 == 0
            && (16..=1024).contains(&self.input_width)
            && (16..=1024).contains(&self.input_height)
            && self.widths.iter().all(|&w| (1..=512).contains(&w))
            && (1..=512).contains(&self.head_channels);
        if ok { Ok(()) } else { Err(ModelError::Config(format!("bad model config {self:?}"))) }
    }

    /// Channels of the head output: objectness, C class logits, 4 box channels.
    pub fn out_channels(&self) -> usize {
        1 + self.num_classes + REG_CHANNELS
    }

    /// Head output size `[height, width]`.
    pub fn output_size(&self) -> [usize; 2] {
        [self.input_height / STRIDE, self.input_width / STRIDE]
    }

    /// Initialises a network on `device` (seeding the device with `self.seed` first).
    pub fn init(&self, device: &Device) -> DetectorNet {
        device.seed(self.seed);
        let [c1, c2, c3, c4] = self.widths;
        let out = self.out_channels();
        let mut head_out = Conv2dConfig::new([self.head_channels, out], [1, 1]).init(device);
        // Start objectness at a prior probability of ~0.1 (CenterNet's focal-loss trick).
        let bias: Vec<f32> = (0..out).map(|i| if i == 0 { -2.19 } else { 0.0 }).collect();
        head_out.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [out]), device)));
        DetectorNet {
            stem: ConvBlock::new(3, c1, 3, 2, device),
            s2: ConvBlock::new(c1, c1, 3, 1, device),
            down4: ConvBlock::new(c1, c2, 3, 2, device),
            s4: ConvBlock::new(c2, c2, 3, 1, device),
            down8: ConvBlock::new(c2, c3, 3, 2, device),
            s8: ConvBlock::new(c3, c3, 3, 1, device),
            down16: ConvBlock::new(c3, c4, 3, 2, device),
            s16: ConvBlock::new(c4, c4, 3, 1, device),
            lat16: ConvBlock::new(c4, c3, 1, 1, device),
            fuse8: ConvBlock::new(c3, c3, 3, 1, device),
            lat8: ConvBlock::new(c3, c2, 1, 1, device),
            fuse4: ConvBlock::new(c2, c2, 3, 1, device),
            head: ConvBlock::new(c2, self.head_channels, 3, 1, device),
            head_out,
        }
    }

    /// Every convolution as (in, out, kernel, output height, output width), in forward order.
    pub fn conv_shapes(&self) -> Vec<(usize, usize, usize, usize, usize)> {
        let [c1, c2, c3, c4] = self.widths;
        let (h, w) = (self.input_height, self.input_width);
        let at = |s: usize| (h / s, w / s);
        let layers = [
            (3, c1, 3, 2),
            (c1, c1, 3, 2),
            (c1, c2, 3, 4),
            (c2, c2, 3, 4),
            (c2, c3, 3, 8),
            (c3, c3, 3, 8),
            (c3, c4, 3, 16),
            (c4, c4, 3, 16),
            (c4, c3, 1, 16),
            (c3, c3, 3, 8),
            (c3, c2, 1, 8),
            (c2, c2, 3, 4),
            (c2, self.head_channels, 3, 4),
            (self.head_channels, self.out_channels(), 1, 4),
        ];
        layers.iter().map(|&(i, o, k, s)| (i, o, k, at(s).0, at(s).1)).collect()
    }

    /// Floating-point operations of one forward pass for one image, counting a multiply-add as
    /// two: convolutions (2·in·k²·out per output pixel, plus the bias add), batch-norm and ReLU
    /// (2 + 1 per conv output; batch norm folds to a scale and shift at inference), and the two
    /// skip additions.
    pub fn flops_per_image(&self) -> u64 {
        let convs: u64 =
            self.conv_shapes().iter().map(|&(i, o, k, h, w)| ((2 * i * k * k + 1) * o * h * w) as u64).sum();
        let shapes = self.conv_shapes();
        let norm_act: u64 =
            shapes[..shapes.len() - 1].iter().map(|&(_, o, _, h, w)| (3 * o * h * w) as u64).sum();
        let [_, c2, c3, _] = self.widths;
        let (h, w) = (self.input_height, self.input_width);
        let adds = (c3 * (h / 8) * (w / 8) + c2 * (h / 4) * (w / 4)) as u64;
        convs + norm_act + adds
    }
}

/// Convolution, batch normalisation, ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    norm: BatchNorm,
}

impl ConvBlock {
    fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        let conv = Conv2dConfig::new([c_in, c_out], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(device);
        Self { conv, norm: BatchNormConfig::new(c_out).init(device) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

/// The detector network. Build with [`ModelConfig::init`].
#[derive(Module, Debug)]
pub struct DetectorNet {
    stem: ConvBlock,
    s2: ConvBlock,
    down4: ConvBlock,
    s4: ConvBlock,
    down8: ConvBlock,
    s8: ConvBlock,
    down16: ConvBlock,
    s16: ConvBlock,
    lat16: ConvBlock,
    fuse8: ConvBlock,
    lat8: ConvBlock,
    fuse4: ConvBlock,
    head: ConvBlock,
    head_out: Conv2d,
}

fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]))
}

impl DetectorNet {
    /// `images`: `[B, 3, H, W]`, letterboxed, values `pixel / 255 - 0.5`.
    /// Returns `[B, 1 + C + 4, H/4, W/4]`: objectness logit, C class logits, then offset x,
    /// offset y (cells), ln(box width / 4), ln(box height / 4).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let x = self.stem.forward(images); // [B, c1, H/2, W/2]
        let x = self.s2.forward(x); // [B, c1, H/2, W/2]
        let x = self.down4.forward(x); // [B, c2, H/4, W/4]
        let f4 = self.s4.forward(x); // [B, c2, H/4, W/4]
        let x = self.down8.forward(f4.clone()); // [B, c3, H/8, W/8]
        let f8 = self.s8.forward(x); // [B, c3, H/8, W/8]
        let x = self.down16.forward(f8.clone()); // [B, c4, H/16, W/16]
        let f16 = self.s16.forward(x); // [B, c4, H/16, W/16]
        let top = upsample2(self.lat16.forward(f16)); // [B, c3, H/8, W/8]
        let p8 = self.fuse8.forward(top + f8); // [B, c3, H/8, W/8]
        let top = upsample2(self.lat8.forward(p8)); // [B, c2, H/4, W/4]
        let p4 = self.fuse4.forward(top + f4); // [B, c2, H/4, W/4]
        let h = self.head.forward(p4); // [B, head, H/4, W/4]
        self.head_out.forward(h) // [B, 1 + C + 4, H/4, W/4]
    }
}
