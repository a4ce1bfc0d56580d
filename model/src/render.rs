//! Pixel painting for synthetic scenes: backgrounds (gradients, value noise, clutter), shape
//! fills with anti-aliased edges, and sensor noise, on an `f32` RGB canvas. Draws only what it
//! is told; never decides where objects go (that is `scene`).

use crate::rng::SplitMix64;
use crate::shapes::PlacedShape;

/// An RGB canvas of `f32` samples in `0.0..=255.0`, row-major, 3 samples per pixel.
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height, data: vec![0.0; (width * height * 3) as usize] }
    }

    fn idx(&self, x: u32, y: u32) -> usize {
        ((y * self.width + x) * 3) as usize
    }

    pub fn pixel(&self, x: u32, y: u32) -> [f32; 3] {
        let i = self.idx(x, y);
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    fn blend(&mut self, x: u32, y: u32, colour: [f32; 3], alpha: f32) {
        let i = self.idx(x, y);
        for (c, v) in colour.iter().enumerate() {
            self.data[i + c] = self.data[i + c] * (1.0 - alpha) + v * alpha;
        }
    }

    pub fn into_rgb(self) -> image::RgbImage {
        let bytes = self.data.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
        image::RgbImage::from_raw(self.width, self.height, bytes)
            .unwrap_or_else(|| unreachable!("canvas buffer is width*height*3 by construction"))
    }
}

pub fn random_colour(rng: &mut SplitMix64) -> [f32; 3] {
    [rng.range_f32(0.0, 255.0), rng.range_f32(0.0, 255.0), rng.range_f32(0.0, 255.0)]
}

/// Fills the canvas with a linear gradient between two colours plus low-frequency value noise.
pub fn paint_background(canvas: &mut Canvas, rng: &mut SplitMix64) {
    let (a, b) = (random_colour(rng), random_colour(rng));
    let angle = rng.range_f32(0.0, std::f32::consts::TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let (w, h) = (canvas.width as f32, canvas.height as f32);
    let span = (dx.abs() * w + dy.abs() * h).max(1.0);
    let offset = dx.min(0.0) * w + dy.min(0.0) * h;
    // Value noise: random values on a coarse lattice, bilinearly interpolated.
    let cell_px = rng.range_f32(12.0, 40.0);
    let amp = rng.range_f32(0.0, 50.0);
    let gw = (w / cell_px) as usize + 2;
    let gh = (h / cell_px) as usize + 2;
    let lattice: Vec<[f32; 3]> =
        (0..gw * gh).map(|_| [rng.normal_f32(), rng.normal_f32(), rng.normal_f32()]).collect();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let t = ((x as f32 * dx + y as f32 * dy - offset) / span).clamp(0.0, 1.0);
            let (gx, gy) = (x as f32 / cell_px, y as f32 / cell_px);
            let (ix, iy) = (gx as usize, gy as usize);
            let (fx, fy) = (gx - ix as f32, gy - iy as f32);
            let i = canvas.idx(x, y);
            for c in 0..3 {
                let l = |u: usize, v: usize| lattice[v * gw + u][c];
                let n = (l(ix, iy) * (1.0 - fx) + l(ix + 1, iy) * fx) * (1.0 - fy)
                    + (l(ix, iy + 1) * (1.0 - fx) + l(ix + 1, iy + 1) * fx) * fy;
                canvas.data[i + c] = a[c] * (1.0 - t) + b[c] * t + amp * n;
            }
        }
    }
}

/// Background clutter: thin line segments and small dots, all smaller or thinner than the
/// smallest object so that they stay distinguishable from the classes.
pub fn paint_clutter(canvas: &mut Canvas, rng: &mut SplitMix64, max_dot_radius_px: f32) {
    let (w, h) = (canvas.width as f32, canvas.height as f32);
    for _ in 0..rng.range_u32(0, 6) {
        let colour = random_colour(rng);
        let (x0, y0) = (rng.range_f32(0.0, w), rng.range_f32(0.0, h));
        let (x1, y1) = (rng.range_f32(0.0, w), rng.range_f32(0.0, h));
        let half_width = rng.range_f32(0.4, 1.0);
        paint_segment(canvas, [x0, y0], [x1, y1], half_width, colour);
    }
    for _ in 0..rng.range_u32(0, 12) {
        let colour = random_colour(rng);
        let (cx, cy) = (rng.range_f32(0.0, w), rng.range_f32(0.0, h));
        let r = rng.range_f32(0.8, max_dot_radius_px.max(0.8));
        paint_disc(canvas, [cx, cy], r, colour);
    }
}

fn paint_segment(canvas: &mut Canvas, p: [f32; 2], q: [f32; 2], half_width: f32, colour: [f32; 3]) {
    let (vx, vy) = (q[0] - p[0], q[1] - p[1]);
    let len2 = (vx * vx + vy * vy).max(1e-6);
    let x_lo = (p[0].min(q[0]) - 2.0).max(0.0) as u32;
    let x_hi = ((p[0].max(q[0]) + 2.0) as u32).min(canvas.width);
    let y_lo = (p[1].min(q[1]) - 2.0).max(0.0) as u32;
    let y_hi = ((p[1].max(q[1]) + 2.0) as u32).min(canvas.height);
    for y in y_lo..y_hi {
        for x in x_lo..x_hi {
            let (px, py) = (x as f32 + 0.5 - p[0], y as f32 + 0.5 - p[1]);
            let t = ((px * vx + py * vy) / len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - t * vx, py - t * vy);
            let d = (ex * ex + ey * ey).sqrt();
            let alpha = (half_width + 0.5 - d).clamp(0.0, 1.0);
            if alpha > 0.0 {
                canvas.blend(x, y, colour, alpha);
            }
        }
    }
}

fn paint_disc(canvas: &mut Canvas, c: [f32; 2], r: f32, colour: [f32; 3]) {
    let x_lo = (c[0] - r - 1.0).max(0.0) as u32;
    let x_hi = ((c[0] + r + 2.0) as u32).min(canvas.width);
    let y_lo = (c[1] - r - 1.0).max(0.0) as u32;
    let y_hi = ((c[1] + r + 2.0) as u32).min(canvas.height);
    for y in y_lo..y_hi {
        for x in x_lo..x_hi {
            let (dx, dy) = (x as f32 + 0.5 - c[0], y as f32 + 0.5 - c[1]);
            let alpha = (r + 0.5 - (dx * dx + dy * dy).sqrt()).clamp(0.0, 1.0);
            if alpha > 0.0 {
                canvas.blend(x, y, colour, alpha);
            }
        }
    }
}

/// Integer pixel range `(x_lo, y_lo, x_hi, y_hi)` (exclusive ends) that a shape can touch.
pub fn pixel_span(shape: &PlacedShape, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let (x0, y0, x1, y1) = shape.bbox();
    (
        x0.floor().max(0.0) as u32,
        y0.floor().max(0.0) as u32,
        (x1.ceil().max(0.0) as u32 + 1).min(width),
        (y1.ceil().max(0.0) as u32 + 1).min(height),
    )
}

/// Fills a shape with `colour`, shaded linearly across it by up to `shade` (fraction), with
/// anti-aliased edges.
pub fn paint_shape(canvas: &mut Canvas, shape: &PlacedShape, colour: [f32; 3], shade: [f32; 2]) {
    let (x_lo, y_lo, x_hi, y_hi) = pixel_span(shape, canvas.width, canvas.height);
    for y in y_lo..y_hi {
        for x in x_lo..x_hi {
            let alpha = shape.coverage(x, y);
            if alpha <= 0.0 {
                continue;
            }
            let u = (x as f32 + 0.5 - shape.centre[0]) / shape.radius;
            let v = (y as f32 + 0.5 - shape.centre[1]) / shape.radius;
            let k = 1.0 + shade[0] * u + shade[1] * v;
            let shaded = colour.map(|c| (c * k).clamp(0.0, 255.0));
            canvas.blend(x, y, shaded, alpha);
        }
    }
}

/// Adds independent Gaussian noise of standard deviation `sigma` to every sample.
pub fn add_noise(canvas: &mut Canvas, rng: &mut SplitMix64, sigma: f32) {
    if sigma <= 0.0 {
        return;
    }
    for v in canvas.data.iter_mut() {
        *v += sigma * rng.normal_f32();
    }
}
