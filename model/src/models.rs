//! The detectors argus knows, by name: `shapes` (trained here on synthetic scenes) and `coco`
//! (NanoDet-g, pretrained on COCO). A name is what travels on the wire and on command lines;
//! each model has its class labels, its input size and its default post-processing. Never
//! loads weights (that is `inference`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use argus_protocol::detection::{BBox, Detection};

use crate::decode::DecodeParams;
use crate::error::ModelError;

/// A named detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Five synthetic shape classes; the scenario suite and the mAP evaluation use it.
    Shapes,
    /// NanoDet-g, the 80 COCO classes, for real photographs.
    Coco,
}

/// Class names of the shapes model, indexed by `Detection::class`.
pub const SHAPES_LABELS: &[&str] = &["circle", "square", "triangle", "cross", "star"];

/// The 80 COCO detection classes in the order of NanoDet's outputs (COCO 2017 names).
pub const COCO_LABELS: &[&str] = &[
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Shapes, ModelKind::Coco];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Shapes => "shapes",
            ModelKind::Coco => "coco",
        }
    }

    /// Position in `ALL`, for per-model tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Class names, indexed by `Detection::class`.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            ModelKind::Shapes => SHAPES_LABELS,
            ModelKind::Coco => COCO_LABELS,
        }
    }

    /// The name of class `class`, or `None` when the model has no such class.
    pub fn label(self, class: u16) -> Option<&'static str> {
        self.labels().get(usize::from(class)).copied()
    }

    /// Post-processing a user of this model would expect.
    pub fn default_decode_params(self) -> DecodeParams {
        match self {
            ModelKind::Shapes => DecodeParams::default(),
            ModelKind::Coco => DecodeParams {
                // NanoDet's demo draws at 0.35; 0.3 keeps a little more recall.
                score_threshold: 0.3,
                // NanoDet's own class-aware NMS threshold.
                nms_iou: 0.6,
                // Real objects of different classes do overlap (a rider on a horse): no
                // cross-class suppression (an IoU never exceeds 1).
                cross_class_nms_iou: 1.0,
                max_detections: 100,
            },
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ModelError::UnknownModel(s.to_string()))
    }
}

/// A detection as people read it: the class index and its name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelledDetection {
    pub class: u16,
    /// The class name, or `"?"` for an index the model does not have.
    pub label: &'static str,
    pub score: f32,
    pub bbox: BBox,
}

/// Names every detection's class under `model`.
pub fn labelled(model: ModelKind, dets: &[Detection]) -> Vec<LabelledDetection> {
    dets.iter()
        .map(|d| LabelledDetection {
            class: d.class,
            label: model.label(d.class).unwrap_or("?"),
            score: d.score,
            bbox: d.bbox,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for m in ModelKind::ALL {
            assert_eq!(m.to_string().parse::<ModelKind>().unwrap(), m);
        }
        assert!(matches!("yolo".parse::<ModelKind>(), Err(ModelError::UnknownModel(_))));
    }

    #[test]
    fn label_sets() {
        assert_eq!(COCO_LABELS.len(), 80);
        assert_eq!(ModelKind::Coco.label(0), Some("person"));
        assert_eq!(ModelKind::Coco.label(16), Some("dog"));
        assert_eq!(ModelKind::Coco.label(80), None);
        assert_eq!(ModelKind::Shapes.label(3), Some("cross"));
    }
}
