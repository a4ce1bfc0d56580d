//! Throughput and latency measurement: end-to-end `detect` latency at batch 1 and a larger
//! batch, the network's FLOPs per image from its layer shapes, achieved GFLOP/s, and a same-run
//! single-precision GEMM on the same backend as the machine's reference. Measures only; never
//! asserts timing goals (those belong to the person reading the numbers).

use std::time::Instant;

use crate::error::ModelError;
use crate::gemm::gemm_gflops;
use crate::inference::Detector;
use crate::scene::{self, SceneConfig};

/// Benchmark parameters.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Timed single-image `detect` calls.
    pub iters_batch1: usize,
    /// The larger batch size.
    pub large_batch: usize,
    /// Timed `detect_batch` calls at the larger batch.
    pub iters_large: usize,
    /// GEMM size (n x n times n x n).
    pub gemm_n: usize,
    pub gemm_iters: usize,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self { iters_batch1: 100, large_batch: 16, iters_large: 10, gemm_n: 512, gemm_iters: 10 }
    }
}

/// Latency figures for one batch size.
#[derive(Debug, Clone)]
pub struct BatchStats {
    pub batch: usize,
    /// Per-image latency percentiles, milliseconds (call latency divided by the batch).
    pub per_image_ms_p50: f64,
    pub per_image_ms_p99: f64,
    pub images_per_s: f64,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub backend: String,
    pub model: String,
    pub batch1: BatchStats,
    pub large: BatchStats,
    pub flops_per_image: u64,
    /// Network GFLOP/s achieved at the larger batch.
    pub model_gflops: f64,
    pub gemm_n: usize,
    pub gemm_gflops: f64,
}

fn percentile(sorted_ms: &[f64], q: f64) -> f64 {
    let rank = ((sorted_ms.len() as f64 - 1.0) * q).round() as usize;
    sorted_ms[rank.min(sorted_ms.len() - 1)]
}

pub fn time_calls(batch: usize, iters: usize, mut call: impl FnMut()) -> BatchStats {
    call(); // warm-up (allocations, kernel compilation on GPU)
    let mut ms = Vec::with_capacity(iters);
    let start = Instant::now();
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        call();
        ms.push(t.elapsed().as_secs_f64() * 1e3 / batch as f64);
    }
    let total_s = start.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    BatchStats {
        batch,
        per_image_ms_p50: percentile(&ms, 0.5),
        per_image_ms_p99: percentile(&ms, 0.99),
        images_per_s: (iters.max(1) * batch) as f64 / total_s,
    }
}

/// `count` generated default scenes, the benchmark's input when no photographs are given.
pub fn scenes(count: usize) -> Vec<image::RgbImage> {
    let scene_cfg = SceneConfig::default();
    (0..count.max(1) as u64).map(|i| scene::generate(7_000_000, i, &scene_cfg).image).collect()
}

/// Runs the benchmark: batch 1 cycles through `images`, the large batch is the first
/// `cfg.large_batch` of them (repeated when there are fewer).
pub fn run(
    detector: &Detector,
    cfg: &BenchConfig,
    images: &[image::RgbImage],
) -> Result<BenchReport, ModelError> {
    if images.is_empty() {
        return Err(ModelError::Config("the benchmark needs at least one image".into()));
    }
    let images: Vec<image::RgbImage> =
        (0..cfg.large_batch.max(1)).map(|i| images[i % images.len()].clone()).collect();
    let mut k = 0usize;
    let batch1 = time_calls(1, cfg.iters_batch1, || {
        let _ = detector.detect(&images[k % images.len()]);
        k += 1;
    });
    let large = time_calls(images.len(), cfg.iters_large, || {
        let _ = detector.detect_batch(&images);
    });
    let flops = detector.flops_per_image();
    let gemm = gemm_gflops(detector.device(), cfg.gemm_n, cfg.gemm_iters)?;
    Ok(BenchReport {
        backend: detector.backend().to_string(),
        model: detector.model().to_string(),
        model_gflops: flops as f64 * large.images_per_s / 1e9,
        batch1,
        large,
        flops_per_image: flops,
        gemm_n: cfg.gemm_n,
        gemm_gflops: gemm,
    })
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "model: {}  backend: {}", self.model, self.backend)?;
        for s in [&self.batch1, &self.large] {
            writeln!(
                f,
                "batch {:>3}: per-image latency p50 {:.2} ms  p99 {:.2} ms  {:.1} images/s",
                s.batch, s.per_image_ms_p50, s.per_image_ms_p99, s.images_per_s
            )?;
        }
        writeln!(
            f,
            "model FLOPs per image: {} ({:.1} MFLOP)",
            self.flops_per_image,
            self.flops_per_image as f64 / 1e6
        )?;
        writeln!(f, "model achieved (batch {}): {:.2} GFLOP/s", self.large.batch, self.model_gflops)?;
        writeln!(
            f,
            "GEMM {0}x{0}x{0} f32 on {1}: {2:.2} GFLOP/s",
            self.gemm_n, self.backend, self.gemm_gflops
        )?;
        write!(f, "model / GEMM ratio: {:.3}", self.model_gflops / self.gemm_gflops)
    }
}
