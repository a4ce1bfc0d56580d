//! Geometry of the object classes: each class is a closed outline in a unit frame (inside the
//! unit circle), placed by centre, scale and rotation. Pure math: no images, no randomness.

/// The object classes, in class-index order (index = `class` in detections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    Circle,
    Square,
    Triangle,
    Cross,
    Star,
}

impl ShapeKind {
    pub const ALL: [ShapeKind; 5] =
        [ShapeKind::Circle, ShapeKind::Square, ShapeKind::Triangle, ShapeKind::Cross, ShapeKind::Star];

    pub fn class(self) -> u16 {
        self as u16
    }

    /// Outline in unit coordinates (all vertices within the unit circle); empty for the circle,
    /// which is tested analytically.
    fn unit_outline(self) -> Vec<[f32; 2]> {
        match self {
            ShapeKind::Circle => Vec::new(),
            ShapeKind::Square => regular(4, 1.0, std::f32::consts::FRAC_PI_4),
            ShapeKind::Triangle => regular(3, 1.0, -std::f32::consts::FRAC_PI_2),
            ShapeKind::Cross => {
                let (a, b) = (1.0 / 3.0, 1.0);
                vec![
                    [-a, -b],
                    [a, -b],
                    [a, -a],
                    [b, -a],
                    [b, a],
                    [a, a],
                    [a, b],
                    [-a, b],
                    [-a, a],
                    [-b, a],
                    [-b, -a],
                    [-a, -a],
                ]
            }
            ShapeKind::Star => (0..10)
                .map(|i| {
                    let r = if i % 2 == 0 { 1.0 } else { 0.45 };
                    let t = -std::f32::consts::FRAC_PI_2 + i as f32 * std::f32::consts::PI / 5.0;
                    [r * t.cos(), r * t.sin()]
                })
                .collect(),
        }
    }
}

#[rustfmt::skip]
fn regular(n: usize, r: f32, phase: f32) -> Vec<[f32; 2]> {
    (0..n)
        .map(|i| {
            let t = phase + i as f32 * std::f32::consts::TAU / n as f32;
            [r * t.cos(), r * t.sin()]
        })
        .collect()
}

/// A shape placed in an image: pixel-space outline (or circle), ready for point tests.
#[derive(Debug, Clone)]
pub struct PlacedShape {
    pub kind: ShapeKind,
    pub centre: [f32; 2],
    /// Radius of the circumscribed circle in pixels.
    pub radius: f32,
    /// Vertices in pixel coordinates (empty for circles).
    pub outline: Vec<[f32; 2]>,
}

impl PlacedShape {
    /// Places `kind` so that the larger side of its axis-aligned box is `size_px`.
    pub fn new(kind: ShapeKind, centre: [f32; 2], size_px: f32, rotation: f32) -> Self {
        let (s, c) = rotation.sin_cos();
        let unit: Vec<[f32; 2]> =
            kind.unit_outline().iter().map(|&[x, y]| [c * x - s * y, s * x + c * y]).collect();
        let extent = if unit.is_empty() {
            2.0
        } else {
            let (x0, y0, x1, y1) = bounds(&unit);
            (x1 - x0).max(y1 - y0)
        };
        let radius = size_px / extent;
        let outline = unit.iter().map(|&[x, y]| [centre[0] + radius * x, centre[1] + radius * y]).collect();
        Self { kind, centre, radius, outline }
    }

    /// Tight axis-aligned box `(x_min, y_min, x_max, y_max)` in pixels.
    pub fn bbox(&self) -> (f32, f32, f32, f32) {
        if self.outline.is_empty() {
            let [cx, cy] = self.centre;
            (cx - self.radius, cy - self.radius, cx + self.radius, cy + self.radius)
        } else {
            bounds(&self.outline)
        }
    }

    /// Whether the point lies inside the shape (even-odd rule for polygons).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        if self.outline.is_empty() {
            let (dx, dy) = (x - self.centre[0], y - self.centre[1]);
            return dx * dx + dy * dy <= self.radius * self.radius;
        }
        let mut inside = false;
        let n = self.outline.len();
        for i in 0..n {
            let [xi, yi] = self.outline[i];
            let [xj, yj] = self.outline[(i + n - 1) % n];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
        }
        inside
    }

    /// Fraction of pixel `(px, py)` (the square `[px, px+1) x [py, py+1)`) covered, from a
    /// 4x4 grid of samples.
    pub fn coverage(&self, px: u32, py: u32) -> f32 {
        const N: u32 = 4;
        let mut hits = 0;
        for sy in 0..N {
            for sx in 0..N {
                let x = px as f32 + (sx as f32 + 0.5) / N as f32;
                let y = py as f32 + (sy as f32 + 0.5) / N as f32;
                hits += u32::from(self.contains(x, y));
            }
        }
        hits as f32 / (N * N) as f32
    }
}

fn bounds(points: &[[f32; 2]]) -> (f32, f32, f32, f32) {
    points.iter().fold(
        (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY),
        |(x0, y0, x1, y1), &[x, y]| (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn larger_box_side_is_the_requested_size() {
        for kind in ShapeKind::ALL {
            for rot in [0.0f32, 0.3, 1.0, 2.5] {
                let s = PlacedShape::new(kind, [50.0, 40.0], 20.0, rot);
                let (x0, y0, x1, y1) = s.bbox();
                let side = (x1 - x0).max(y1 - y0);
                assert!((side - 20.0).abs() < 1e-3, "{kind:?} rot {rot}: {side}");
                assert!(s.contains(50.0, 40.0));
                assert!(!s.contains(x0 - 1.0, y0 - 1.0));
            }
        }
    }

    #[test]
    fn coverage_is_full_inside_and_empty_outside() {
        let s = PlacedShape::new(ShapeKind::Square, [20.0, 20.0], 16.0, 0.0);
        assert_eq!(s.coverage(20, 20), 1.0);
        assert_eq!(s.coverage(2, 2), 0.0);
    }
}
