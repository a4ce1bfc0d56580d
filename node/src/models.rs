//! The models a node serves and how model names from the wire map onto them: a served model is
//! a `ModelKind` with the identity of its weights (`ModelRef`: name + BLAKE3 of the weights
//! file). Also the labelled form of detections that people read (HTTP, CLI, JSON lines).
//! Pure lookups: never loads weights and never touches the network.

use argus_interface::api::{self, ModelInfo};
use argus_model::{Detector, ModelKind};
use argus_protocol::detection::Detection;
use argus_protocol::ids::WeightsId;
use argus_protocol::model_ref::ModelRef;

/// One model this node runs.
#[derive(Debug, Clone)]
pub struct ServedModel {
    pub kind: ModelKind,
    /// Name and weights as they travel on the wire.
    pub model_ref: ModelRef,
    /// Short hex of the weights' BLAKE3 (the first 8 hex digits of `model_ref.weights`).
    pub short_hash: String,
}

/// The models a node runs, in `ModelKind` order, each at most once.
#[derive(Debug, Clone, Default)]
pub struct Served(Vec<ServedModel>);

impl Served {
    pub fn of(detectors: &[Detector]) -> Served {
        let mut v: Vec<ServedModel> = detectors
            .iter()
            .map(|d| ServedModel {
                kind: d.model(),
                model_ref: ModelRef::new(d.model().as_str(), WeightsId(d.weights_blake3())),
                short_hash: d.weights_hash().to_string(),
            })
            .collect();
        v.sort_by_key(|m| m.kind);
        v.dedup_by_key(|m| m.kind);
        Served(v)
    }

    pub fn get(&self, kind: ModelKind) -> Option<&ServedModel> {
        self.0.iter().find(|m| m.kind == kind)
    }

    /// The served model with exactly this name and these weights.
    pub fn holding(&self, r: &ModelRef) -> Option<&ServedModel> {
        self.0.iter().find(|m| m.model_ref == *r)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ServedModel> {
        self.0.iter()
    }

    pub fn refs(&self) -> Vec<ModelRef> {
        self.0.iter().map(|m| m.model_ref.clone()).collect()
    }

    /// The models as the ready line and `/v1/status` list them.
    pub fn infos(&self) -> Vec<ModelInfo> {
        self.0
            .iter()
            .map(|m| ModelInfo {
                name: m.kind.as_str().to_string(),
                weights: m.short_hash.clone(),
                weights_id: m.model_ref.weights.to_string(),
                classes: m.kind.labels().len(),
            })
            .collect()
    }

    /// `shapes:6e383c93 coco:1a2b3c4d`, the one-string form (`weights` in the ready line).
    pub fn summary(&self) -> String {
        self.0.iter().map(|m| format!("{}:{}", m.kind, m.short_hash)).collect::<Vec<_>>().join(" ")
    }
}

/// The model a wire name stands for, when this build knows it.
pub fn known(name: &str) -> Option<ModelKind> {
    ModelKind::ALL.into_iter().find(|m| m.as_str() == name)
}

/// Detections with their class names under the model named `model` (`"?"` for a class the
/// model does not have, or for every class of a model this build does not know).
pub fn labelled(model: &str, dets: &[Detection]) -> Vec<api::Detection> {
    dets.iter()
        .map(|d| api::Detection {
            class: d.class,
            label: known(model).and_then(|m| m.label(d.class)).unwrap_or("?").to_string(),
            score: d.score,
            bbox: api::BBox {
                x_min: d.bbox.x_min,
                y_min: d.bbox.y_min,
                x_max: d.bbox.x_max,
                y_max: d.bbox.y_max,
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::detection::BBox;

    #[test]
    fn labels_follow_the_named_model() {
        let d = Detection {
            class: 16,
            score: 0.5,
            bbox: BBox { x_min: 0.0, y_min: 0.0, x_max: 1.0, y_max: 1.0 },
        };
        assert_eq!(labelled("coco", &[d])[0].label, "dog");
        assert_eq!(labelled("shapes", &[d])[0].label, "?");
        assert_eq!(labelled("yolo", &[d])[0].label, "?");
        assert_eq!((labelled("coco", &[d])[0].class, labelled("coco", &[d])[0].bbox.x_max), (16, 1.0));
        assert_eq!(known("coco"), Some(ModelKind::Coco));
        assert_eq!(known("Coco"), None);
    }
}
