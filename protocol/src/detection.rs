//! Detections as every crate sees them: an axis-aligned box in the pixel coordinates of the
//! original image, a class index and a confidence score, plus their validation. Never depends
//! on a model backend, and never lets a NaN, an infinity or an inside-out box through
//! `validate_detections`.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_COORD_PX, MAX_DETECTIONS};

/// Axis-aligned box in pixels of the original image, `x_min <= x_max`, `y_min <= y_max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BBox {
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

/// One detected object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// Class index into the model's class list.
    pub class: u16,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
    pub bbox: BBox,
}

/// Why a list of detections was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DetectionError {
    #[error("{count} detections, at most {max} allowed")]
    TooMany { count: usize, max: usize },
    #[error("detection {index}: score {score} is not a finite number in 0..=1")]
    BadScore { index: usize, score: f32 },
    #[error("detection {index}: box {bbox:?} is not finite, inside out, or outside 0..={max_x}x0..={max_y}")]
    BadBox { index: usize, bbox: BBox, max_x: f32, max_y: f32 },
}

impl BBox {
    /// Area in square pixels (0 for degenerate boxes).
    pub fn area(&self) -> f32 {
        (self.x_max - self.x_min).max(0.0) * (self.y_max - self.y_min).max(0.0)
    }

    /// Intersection over union in `0..=1`. Two degenerate (zero-area) boxes have IoU 1 when
    /// they are equal and 0 otherwise, so the ratio is never NaN.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x_max.min(other.x_max) - self.x_min.max(other.x_min)).max(0.0);
        let iy = (self.y_max.min(other.y_max) - self.y_min.max(other.y_min)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            (inter / union).clamp(0.0, 1.0)
        } else if self == other {
            1.0
        } else {
            0.0
        }
    }

    fn is_valid(&self, max_x: f32, max_y: f32) -> bool {
        let coords = [self.x_min, self.y_min, self.x_max, self.y_max];
        coords.iter().all(|c| c.is_finite() && *c >= 0.0)
            && self.x_min <= self.x_max
            && self.y_min <= self.y_max
            && self.x_max <= max_x
            && self.y_max <= max_y
    }
}

/// Checks count, scores and boxes, with boxes bounded by `MAX_COORD_PX` (use this when the
/// image size is unknown, e.g. when checking a gossiped result).
pub fn validate_detections(detections: &[Detection]) -> Result<(), DetectionError> {
    validate_within(detections, MAX_COORD_PX, MAX_COORD_PX)
}

/// Like `validate_detections`, with boxes bounded by the image size in pixels.
pub fn validate_detections_in_image(
    detections: &[Detection],
    width_px: u32,
    height_px: u32,
) -> Result<(), DetectionError> {
    validate_within(detections, width_px as f32, height_px as f32)
}

fn validate_within(detections: &[Detection], max_x: f32, max_y: f32) -> Result<(), DetectionError> {
    if detections.len() > MAX_DETECTIONS {
        return Err(DetectionError::TooMany { count: detections.len(), max: MAX_DETECTIONS });
    }
    for (index, d) in detections.iter().enumerate() {
        if !(d.score.is_finite() && (0.0..=1.0).contains(&d.score)) {
            return Err(DetectionError::BadScore { index, score: d.score });
        }
        if !d.bbox.is_valid(max_x, max_y) {
            return Err(DetectionError::BadBox { index, bbox: d.bbox, max_x, max_y });
        }
    }
    Ok(())
}
