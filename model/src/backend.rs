//! Which burn backend runs the network: names, parsing, and the mapping to a burn `Device`.
//! Never initialises a GPU on its own; `Wgpu` exists in every build but is only usable when the
//! `wgpu` cargo feature is compiled in.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// A compute backend for inference, training and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-ndarray: the reference CPU backend (direct convolution).
    NdArray,
    /// burn-flex: burn 0.22's pure-Rust CPU backend (im2col + gemm), several times faster.
    Flex,
    /// burn-wgpu: GPU through wgpu (Vulkan/Metal/...); needs the `wgpu` cargo feature.
    Wgpu,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::NdArray, BackendKind::Flex, BackendKind::Wgpu];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::NdArray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Whether this build contains the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::NdArray | BackendKind::Flex => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The burn device for this backend (inference: no autodiff).
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            // burn 0.22 marks ndarray deprecated in favour of flex; argus keeps it as the
            // reference CPU backend the design names.
            #[allow(deprecated)]
            BackendKind::NdArray => Ok(Device::ndarray()),
            BackendKind::Flex => Ok(Device::flex()),
            BackendKind::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, ModelError> {
    Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, ModelError> {
    Err(ModelError::BackendUnavailable("wgpu".into()))
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndarray" => Ok(BackendKind::NdArray),
            "flex" => Ok(BackendKind::Flex),
            "wgpu" => Ok(BackendKind::Wgpu),
            _ => Err(ModelError::UnknownBackend(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in BackendKind::ALL {
            assert_eq!(b.to_string().parse::<BackendKind>().unwrap(), b);
        }
        assert!(matches!("cuda".parse::<BackendKind>(), Err(ModelError::UnknownBackend(_))));
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_is_unavailable_without_the_feature() {
        assert!(matches!(BackendKind::Wgpu.device(), Err(ModelError::BackendUnavailable(_))));
    }
}
