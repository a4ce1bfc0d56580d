//! Where a model's weights come from: the burnpack embedded in the binary (the shapes model's
//! with its JSON config; NanoDet-g's as f16), or a file given with `--weights` (the shapes
//! config from `FILE.json` beside it when present). Also the weights' identity, a short BLAKE3
//! hash of the file's bytes. Never trusts a file's size: files are
//! length-checked before they are read.

use std::path::{Path, PathBuf};

use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::model::{DetectorNet, ModelConfig};
use crate::models::ModelKind;

/// Largest weights file accepted (the shipped ones are 1.1 MB and 7.6 MB).
pub const MAX_WEIGHTS_BYTES: u64 = 64 * 1024 * 1024;

/// `include_bytes!` gives no alignment guarantee, and burnpack's zero-copy loading needs its
/// tensor data aligned; this wrapper aligns the embedded bytes to 256 (burnpack's alignment).
#[repr(C, align(256))]
struct Aligned<B: ?Sized>(B);

static EMBEDDED_BPK: &Aligned<[u8]> = &Aligned(*include_bytes!("../weights/detector.bpk"));
static EMBEDDED_JSON: &str = include_str!("../weights/detector.json");
/// NanoDet-g, f16 (every weight of it is exactly representable in f16); see `model/coco/`.
static EMBEDDED_COCO_BPK: &Aligned<[u8]> = &Aligned(*include_bytes!("../weights/nanodet_g.f16.bpk"));

/// Which weights to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsSource {
    /// The weights compiled into this binary (`model/weights/detector.bpk` for shapes,
    /// `model/weights/nanodet_g.f16.bpk` for coco).
    Embedded,
    /// A burnpack file (for shapes, written by `argus-model train`).
    File(PathBuf),
}

/// The JSON written next to the weights: the architecture plus whatever produced the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeightsMeta {
    pub model: ModelConfig,
    /// The training configuration and summary (free-form, for the record).
    #[serde(default)]
    pub training: serde_json::Value,
}

enum BlobData {
    Static(&'static [u8]),
    Owned(Bytes),
}

/// A model's weight bytes, embedded or read from a file, with their short hash.
pub struct RawWeights {
    data: BlobData,
    /// Short BLAKE3 hex of the burnpack bytes.
    pub hash: String,
    /// The full BLAKE3 of the burnpack bytes (the weights' identity on the wire).
    pub blake3: [u8; 32],
}

impl RawWeights {
    pub fn load(model: ModelKind, source: &WeightsSource) -> Result<Self, ModelError> {
        let data = match source {
            WeightsSource::Embedded => {
                let data: &'static [u8] = match model {
                    ModelKind::Shapes => &EMBEDDED_BPK.0,
                    ModelKind::Coco => &EMBEDDED_COCO_BPK.0,
                };
                if data.is_empty() {
                    return Err(ModelError::Weights(format!("no {model} weights embedded in this build")));
                }
                BlobData::Static(data)
            }
            WeightsSource::File(path) => BlobData::Owned(Bytes::from_bytes_vec(read_weights_file(path)?)),
        };
        let blake3 = *blake3::hash(match &data {
            BlobData::Static(d) => d,
            BlobData::Owned(b) => b,
        })
        .as_bytes();
        Ok(RawWeights { data, hash: short_hex(&blake3), blake3 })
    }

    /// A burnpack store reading these bytes.
    pub fn store(&self) -> BurnpackStore {
        match &self.data {
            BlobData::Static(data) => BurnpackStore::from_static(data),
            BlobData::Owned(bytes) => BurnpackStore::from_bytes(Some(bytes.clone())),
        }
    }
}

/// Reads a weights file, refusing one over `MAX_WEIGHTS_BYTES` before reading it.
fn read_weights_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    let io_err = |source| ModelError::WeightsFile { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(io_err)?.len();
    if len > MAX_WEIGHTS_BYTES {
        return Err(ModelError::Weights(format!(
            "{} is {len} bytes, over {MAX_WEIGHTS_BYTES}",
            path.display()
        )));
    }
    std::fs::read(path).map_err(io_err)
}

/// The shapes model's weight bytes with their description.
pub struct WeightsBlob {
    pub raw: RawWeights,
    pub meta: WeightsMeta,
}

/// Short BLAKE3 hex (first 4 bytes, 8 hex digits) identifying a weights file.
pub fn short_hash(bytes: &[u8]) -> String {
    short_hex(blake3::hash(bytes).as_bytes())
}

/// The short form of a full BLAKE3 hash: its first 4 bytes in hex.
fn short_hex(blake3: &[u8; 32]) -> String {
    hex::encode(&blake3[..4])
}

/// The sidecar config path for a weights file: `detector.bpk` -> `detector.json`.
pub fn meta_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

fn parse_meta(text: &str) -> Result<WeightsMeta, ModelError> {
    let meta: WeightsMeta =
        serde_json::from_str(text).map_err(|e| ModelError::Weights(format!("weights config JSON: {e}")))?;
    meta.model.validate()?;
    Ok(meta)
}

impl WeightsBlob {
    /// The shapes model's weights and their config.
    pub fn load(source: &WeightsSource) -> Result<Self, ModelError> {
        let raw = RawWeights::load(ModelKind::Shapes, source)?;
        let meta = match source {
            WeightsSource::Embedded => parse_meta(EMBEDDED_JSON)?,
            WeightsSource::File(path) => {
                let meta_file = meta_path(path);
                if meta_file.exists() {
                    let text = std::fs::read_to_string(&meta_file)
                        .map_err(|source| ModelError::WeightsFile { path: meta_file.clone(), source })?;
                    parse_meta(&text)?
                } else {
                    WeightsMeta { model: ModelConfig::new(), training: serde_json::Value::Null }
                }
            }
        };
        Ok(Self { raw, meta })
    }

    /// Applies the weights to `net`, failing when a tensor is missing, unused or mis-shaped.
    pub fn apply(&self, mut net: DetectorNet) -> Result<DetectorNet, ModelError> {
        let mut store = self.raw.store();
        let result = net.load_from(&mut store).map_err(|e| ModelError::Weights(format!("burnpack: {e}")))?;
        if !result.is_success() || !result.missing.is_empty() || !result.unused.is_empty() {
            return Err(ModelError::Weights(format!("weights do not fit the network: {result}")));
        }
        Ok(net)
    }
}

/// Saves `net`'s weights to `path` (a `.bpk` burnpack) and the metadata beside it.
pub fn save(net: &DetectorNet, meta: &WeightsMeta, path: &Path) -> Result<String, ModelError> {
    let mut store = BurnpackStore::from_file(path).auto_extension(false).overwrite(true);
    net.save_into(&mut store).map_err(|e| ModelError::Weights(format!("save: {e}")))?;
    save_meta(meta, path)?;
    Ok(short_hash(&std::fs::read(path)?))
}

/// Writes the JSON config that sits beside the weights file `path`.
pub fn save_meta(meta: &WeightsMeta, path: &Path) -> Result<(), ModelError> {
    let json =
        serde_json::to_string_pretty(meta).map_err(|e| ModelError::Weights(format!("config JSON: {e}")))?;
    std::fs::write(meta_path(path), json + "\n")?;
    Ok(())
}
