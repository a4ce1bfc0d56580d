//! A single-precision GEMM on a backend's device: the machine's reference speed, for the
//! benchmark's ratio and the wgpu backend's first-use check.

use std::time::Instant;

use burn::prelude::*;

use crate::error::ModelError;

/// GFLOP/s of an `n x n x n` f32 matmul on `device` (2n³ flops per product), read back each
/// time so that lazy backends finish the work inside the timed region.
pub fn gemm_gflops(device: &Device, n: usize, iters: usize) -> Result<f64, ModelError> {
    let data = |k: usize| -> Vec<f32> { (0..n * n).map(|i| ((i * 7 + k) % 13) as f32 / 13.0).collect() };
    let a = Tensor::<2>::from_data(TensorData::new(data(1), [n, n]), device);
    let b = Tensor::<2>::from_data(TensorData::new(data(5), [n, n]), device);
    let run = || -> Result<f32, ModelError> {
        let c = a.clone().matmul(b.clone()).slice([0..1, 0..1]);
        c.into_data().try_into_vec::<f32>().map(|v| v[0]).map_err(|e| ModelError::Inference(format!("{e:?}")))
    };
    run()?;
    let start = Instant::now();
    for _ in 0..iters.max(1) {
        run()?;
    }
    let s = start.elapsed().as_secs_f64();
    Ok(2.0 * (n as f64).powi(3) * iters.max(1) as f64 / s / 1e9)
}
