//! Which model produced a result: a model's name and the BLAKE3 of its weights file. Only the
//! *shape* of a name is checked here (length and alphabet); which names exist is the node's
//! business, never this crate's. Pure: no file is read here (the caller hashes the weights).

use serde::{Deserialize, Serialize};

use crate::ids::WeightsId;
use crate::limits::MAX_MODEL_NAME_LEN;

/// A model and the exact weights it ran with. Results of two model refs never agree, even when
/// their detections do: `result_digest` binds both, and `Register::agreeing` compares only
/// candidates of the same model ref.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    /// The model's name, e.g. `shapes` or `coco` (see `validate_model_name`).
    pub name: String,
    /// BLAKE3 of the model's weights file.
    pub weights: WeightsId,
}

impl ModelRef {
    /// A model ref; not validated (call `validate`).
    pub fn new(name: impl Into<String>, weights: WeightsId) -> Self {
        Self { name: name.into(), weights }
    }

    /// Ok when the name has a valid shape; the weights id is always well-formed.
    pub fn validate(&self) -> Result<(), String> {
        validate_model_name(&self.name)
    }
}

/// A model name is 1..=`MAX_MODEL_NAME_LEN` bytes of `[a-z0-9._-]`: short, ASCII and
/// lowercase, so it is safe in paths, logs and metrics labels, and two spellings of one model
/// cannot exist.
pub fn validate_model_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_MODEL_NAME_LEN {
        return Err(format!("model name: {} bytes, expected 1..={MAX_MODEL_NAME_LEN}", name.len()));
    }
    let allowed = |b: u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-');
    match name.bytes().position(|b| !allowed(b)) {
        None => Ok(()),
        Some(i) => Err(format!("model name: byte {i} is not one of [a-z0-9._-]")),
    }
}
