//! The model subsystem's one error type. Every fallible public function of this crate returns
//! `ModelError`; nothing here panics on bad input.

use std::path::PathBuf;

/// Errors from decoding images, loading weights and choosing backends.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The encoded image is larger than [`crate::image_io::MAX_INPUT_BYTES`].
    #[error("image input is {size_bytes} bytes, over the limit of {limit_bytes} bytes")]
    InputTooLarge { size_bytes: usize, limit_bytes: usize },
    /// Zero bytes, or an image with a zero width or height.
    #[error("empty image: {0}")]
    EmptyImage(String),
    /// The bytes are not PNG or JPEG (the formats this build decodes).
    #[error("unsupported image format: {0}")]
    UnsupportedFormat(String),
    /// Width or height over [`crate::image_io::MAX_DIMENSION_PX`], or the decoder would need more
    /// memory than [`crate::image_io::MAX_DECODE_ALLOC_BYTES`].
    #[error("image exceeds decode limits: {0}")]
    LimitsExceeded(String),
    /// The bytes claim a supported format but are corrupt or truncated.
    #[error("corrupt or truncated image: {0}")]
    CorruptImage(String),
    /// Weights could not be read, parsed, or do not fit the network.
    #[error("weights: {0}")]
    Weights(String),
    /// A weights file given with `--weights` could not be read.
    #[error("cannot read weights file {path}: {source}")]
    WeightsFile { path: PathBuf, source: std::io::Error },
    /// The model or training configuration is invalid.
    #[error("invalid config: {0}")]
    Config(String),
    /// The backend was not compiled in (for example `wgpu` without the `wgpu` feature).
    #[error("backend {0} is unavailable in this build (enable the cargo feature `{0}`)")]
    BackendUnavailable(String),
    /// A backend name that is none of `ndarray`, `flex`, `wgpu`.
    #[error("unknown backend {0:?}: expected ndarray, flex or wgpu")]
    UnknownBackend(String),
    /// A model name that is none of `shapes`, `coco`.
    #[error("unknown model {0:?}: expected shapes or coco")]
    UnknownModel(String),
    /// The backend failed while running the network or reading its output back.
    #[error("inference: {0}")]
    Inference(String),
    /// Encoding an image (PNG/JPEG) failed.
    #[error("encode: {0}")]
    Encode(String),
    /// File system error while writing outputs.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
