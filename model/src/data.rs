//! From images to network inputs and training targets: letterboxing to the network's input
//! size, pixel normalisation, and CenterNet targets (Gaussian centre heatmaps, offsets, log
//! sizes). Pure CPU code on `Vec<f32>`; tensors are made by the callers.

use crate::model::{REG_CHANNELS, STRIDE};
use crate::scene::GroundTruth;

/// How pixels become network inputs: channel order, then `(value - mean) / std` per input
/// channel. Letterbox padding gets `pad`, already normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelNorm {
    /// Feed the channels as B, G, R instead of R, G, B.
    pub bgr: bool,
    /// Per input channel, in input channel order, on the 0..=255 scale.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The input value of the padding around the letterboxed image, per input channel.
    pub pad: [f32; 3],
}

impl PixelNorm {
    /// The shapes detector's: RGB, `pixel / 255 - 0.5`, padding 0 (mid grey).
    pub const SHAPES: PixelNorm = PixelNorm { bgr: false, mean: [127.5; 3], std: [255.0; 3], pad: [0.0; 3] };

    fn apply(&self, rgb: [u8; 3]) -> [f32; 3] {
        let ordered = if self.bgr { [rgb[2], rgb[1], rgb[0]] } else { rgb };
        std::array::from_fn(|c| (f32::from(ordered[c]) - self.mean[c]) / self.std[c])
    }
}

/// How an original image maps into the network input: `input = original * scale + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub orig_width: u32,
    pub orig_height: u32,
}

impl Letterbox {
    pub fn new(orig_width: u32, orig_height: u32, in_width: usize, in_height: usize) -> Self {
        let scale =
            (in_width as f32 / orig_width.max(1) as f32).min(in_height as f32 / orig_height.max(1) as f32);
        let (w, h) = Self::scaled_size(orig_width, orig_height, scale, in_width, in_height);
        Self {
            scale,
            pad_x: ((in_width - w as usize) / 2) as f32,
            pad_y: ((in_height - h as usize) / 2) as f32,
            orig_width,
            orig_height,
        }
    }

    fn scaled_size(w: u32, h: u32, scale: f32, in_w: usize, in_h: usize) -> (u32, u32) {
        let sw = ((w as f32 * scale).round() as u32).clamp(1, in_w as u32);
        let sh = ((h as f32 * scale).round() as u32).clamp(1, in_h as u32);
        (sw, sh)
    }

    /// Maps an input-space x back to the original image, clamped to its width.
    pub fn to_orig_x(&self, x: f32) -> f32 {
        ((x - self.pad_x) / self.scale).clamp(0.0, self.orig_width as f32)
    }

    pub fn to_orig_y(&self, y: f32) -> f32 {
        ((y - self.pad_y) / self.scale).clamp(0.0, self.orig_height as f32)
    }
}

/// Letterboxes `img` into a `3 x in_height x in_width` planar buffer (appended to `out`) with
/// the shapes detector's normalisation. Returns the mapping.
pub fn letterbox_into(
    img: &image::RgbImage,
    in_width: usize,
    in_height: usize,
    out: &mut Vec<f32>,
) -> Letterbox {
    letterbox_norm_into(img, in_width, in_height, &PixelNorm::SHAPES, out)
}

/// Letterboxes `img` (aspect ratio kept, bilinear resize, centred, padded) into a
/// `3 x in_height x in_width` planar buffer appended to `out`, normalised by `norm`.
pub fn letterbox_norm_into(
    img: &image::RgbImage,
    in_width: usize,
    in_height: usize,
    norm: &PixelNorm,
    out: &mut Vec<f32>,
) -> Letterbox {
    let lb = Letterbox::new(img.width(), img.height(), in_width, in_height);
    let (sw, sh) = Letterbox::scaled_size(img.width(), img.height(), lb.scale, in_width, in_height);
    let resized;
    let src = if (sw, sh) == img.dimensions() {
        img
    } else {
        resized = image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
        &resized
    };
    let plane = in_width * in_height;
    let base = out.len();
    out.resize(base + 3 * plane, 0.0);
    for (c, value) in norm.pad.iter().enumerate() {
        out[base + c * plane..base + (c + 1) * plane].fill(*value);
    }
    let (px, py) = (lb.pad_x as usize, lb.pad_y as usize);
    for (x, y, p) in src.enumerate_pixels() {
        let i = (py + y as usize) * in_width + px + x as usize;
        for (c, value) in norm.apply(p.0).iter().enumerate() {
            out[base + c * plane + i] = *value;
        }
    }
    lb
}

/// Training targets for one image at the head's resolution.
pub struct Targets {
    /// `[C, Ho, Wo]` Gaussian peaks (1.0 at each object's centre cell).
    pub heat: Vec<f32>,
    /// `[4, Ho, Wo]` offset x, offset y, ln(w / STRIDE), ln(h / STRIDE) at centre cells.
    pub reg: Vec<f32>,
    /// `[1, Ho, Wo]` 1.0 at centre cells.
    pub mask: Vec<f32>,
}

/// Spread of the Gaussian relative to the box side (in output cells), and its floor.
const SIGMA_PER_CELL: f32 = 0.1;
const MIN_SIGMA_CELLS: f32 = 0.5;

/// Builds targets for `objects` (original-image boxes) under letterbox `lb`.
pub fn targets(
    objects: &[GroundTruth],
    lb: &Letterbox,
    num_classes: usize,
    out_h: usize,
    out_w: usize,
) -> Targets {
    let plane = out_h * out_w;
    let mut t = Targets {
        heat: vec![0.0; num_classes * plane],
        reg: vec![0.0; REG_CHANNELS * plane],
        mask: vec![0.0; plane],
    };
    let s = STRIDE as f32;
    for obj in objects {
        let class = obj.class as usize;
        assert!(class < num_classes, "class {class} out of range");
        let x0 = obj.bbox.x_min * lb.scale + lb.pad_x;
        let x1 = obj.bbox.x_max * lb.scale + lb.pad_x;
        let y0 = obj.bbox.y_min * lb.scale + lb.pad_y;
        let y1 = obj.bbox.y_max * lb.scale + lb.pad_y;
        let (w, h) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
        let (cx, cy) = ((x0 + x1) / (2.0 * s), (y0 + y1) / (2.0 * s));
        let ix = (cx.floor() as usize).min(out_w - 1);
        let iy = (cy.floor() as usize).min(out_h - 1);
        let sx = (w / s * SIGMA_PER_CELL).max(MIN_SIGMA_CELLS);
        let sy = (h / s * SIGMA_PER_CELL).max(MIN_SIGMA_CELLS);
        draw_gaussian(&mut t.heat[class * plane..(class + 1) * plane], out_w, ix, iy, sx, sy);
        let cell = iy * out_w + ix;
        t.reg[cell] = cx - ix as f32;
        t.reg[plane + cell] = cy - iy as f32;
        t.reg[2 * plane + cell] = (w / s).ln();
        t.reg[3 * plane + cell] = (h / s).ln();
        t.mask[cell] = 1.0;
    }
    t
}

/// Cells whose objectness target reaches this value carry a class target.
pub const CLASS_CORE: f32 = 0.3;

/// Objectness and class targets derived from per-class heatmaps `[C, plane]`.
pub struct ObjectTargets {
    /// `[plane]`: the highest class heatmap value per cell.
    pub obj: Vec<f32>,
    /// `[plane]`: 1.0 at object centres.
    pub obj_pos: Vec<f32>,
    /// `[C, plane]`: one-hot class of the dominant object, times its objectness, at cells where
    /// objectness reaches [`CLASS_CORE`]; 0 elsewhere.
    pub cls_weighted: Vec<f32>,
    /// Sum of the weights in `cls_weighted`.
    pub cls_weight_sum: f32,
}

pub fn object_targets(heat: &[f32], num_classes: usize) -> ObjectTargets {
    let plane = heat.len() / num_classes;
    let mut t = ObjectTargets {
        obj: vec![0.0; plane],
        obj_pos: vec![0.0; plane],
        cls_weighted: vec![0.0; num_classes * plane],
        cls_weight_sum: 0.0,
    };
    for cell in 0..plane {
        let (best, v) = (0..num_classes)
            .map(|c| (c, heat[c * plane + cell]))
            .fold((0, 0.0f32), |acc, x| if x.1 > acc.1 { x } else { acc });
        t.obj[cell] = v;
        if v >= 1.0 {
            t.obj_pos[cell] = 1.0;
        }
        if v >= CLASS_CORE {
            t.cls_weighted[best * plane + cell] = v;
            t.cls_weight_sum += v;
        }
    }
    t
}

fn draw_gaussian(heat: &mut [f32], out_w: usize, ix: usize, iy: usize, sx: f32, sy: f32) {
    let out_h = heat.len() / out_w;
    let (rx, ry) = ((3.0 * sx).ceil() as isize, (3.0 * sy).ceil() as isize);
    for dy in -ry..=ry {
        for dx in -rx..=rx {
            let (x, y) = (ix as isize + dx, iy as isize + dy);
            if x < 0 || y < 0 || x >= out_w as isize || y >= out_h as isize {
                continue;
            }
            let (fx, fy) = (dx as f32 / sx, dy as f32 / sy);
            let g = (-(fx * fx + fy * fy) / 2.0).exp();
            let v = &mut heat[y as usize * out_w + x as usize];
            *v = v.max(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::detection::BBox;

    #[test]
    fn letterbox_default_frame_pads_rows_only() {
        let img = image::RgbImage::from_pixel(160, 120, image::Rgb([255, 0, 0]));
        let mut buf = Vec::new();
        let lb = letterbox_into(&img, 160, 128, &mut buf);
        assert_eq!(buf.len(), 3 * 160 * 128);
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (1.0, 0.0, 4.0));
        assert_eq!(buf[0], 0.0); // top padding row (mid grey)
        assert_eq!(buf[4 * 160], 0.5); // first image row, red channel
        assert_eq!(buf[160 * 128 + 4 * 160], -0.5); // green channel
        assert_eq!(lb.to_orig_y(4.0), 0.0);
    }

    #[test]
    fn letterbox_downscales_wide_images_and_maps_back() {
        let img = image::RgbImage::new(640, 120);
        let mut buf = Vec::new();
        let lb = letterbox_into(&img, 160, 128, &mut buf);
        assert_eq!(lb.scale, 0.25);
        assert_eq!(lb.pad_x, 0.0);
        assert!((lb.to_orig_x(80.0) - 320.0).abs() < 1e-3);
    }

    #[test]
    fn targets_peak_at_the_centre_cell() {
        let gt = GroundTruth { class: 2, bbox: BBox { x_min: 10.0, y_min: 20.0, x_max: 30.0, y_max: 30.0 } };
        let lb = Letterbox::new(160, 128, 160, 128);
        let t = targets(&[gt], &lb, 5, 32, 40);
        let plane = 32 * 40;
        let cell = 6 * 40 + 5; // centre (20, 25) / 4 = (5.0, 6.25)
        assert_eq!(t.heat[2 * plane + cell], 1.0);
        assert_eq!(t.mask.iter().sum::<f32>(), 1.0);
        assert!((t.reg[plane + cell] - 0.25).abs() < 1e-6);
        assert!((t.reg[2 * plane + cell] - 5.0f32.ln()).abs() < 1e-6);
        assert!(t.heat[..2 * plane].iter().all(|&v| v == 0.0));
        let o = object_targets(&t.heat, 5);
        assert_eq!(o.obj[cell], 1.0);
        assert_eq!(o.obj_pos.iter().sum::<f32>(), 1.0);
        assert_eq!(o.cls_weighted[2 * plane + cell], 1.0);
        assert!(o.cls_weighted[..2 * plane].iter().all(|&v| v == 0.0));
        let core = o.obj.iter().filter(|&&v| v >= CLASS_CORE).sum::<f32>();
        assert!((o.cls_weight_sum - core).abs() < 1e-4);
    }
}
