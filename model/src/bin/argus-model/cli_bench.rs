//! `argus-model bench`: the library's benchmark on each chosen backend, and for the coco model
//! onnxruntime's CPU latency on the same ONNX in the same run (`model/coco/bench_ort.py`, run
//! as a child process with the same thread count), with the ratio burn / onnxruntime.
//! Measures and prints only; asserts no timing goal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use argus_model::bench::{self, BatchStats, BenchConfig};
use argus_model::{BackendKind, ModelKind, decode_image};

/// onnxruntime's per-image latency at one batch size, as the script prints it.
#[derive(Debug, serde::Deserialize)]
struct OrtBatch {
    batch: usize,
    per_image_ms_p50: f64,
    per_image_ms_p99: f64,
    images_per_s: f64,
}

#[derive(Debug, serde::Deserialize)]
struct OrtReport {
    onnxruntime: String,
    threads: usize,
    batches: Vec<OrtBatch>,
}

/// The whole onnxruntime run may take at most this long (it is a few seconds here).
const ORT_TIMEOUT: Duration = Duration::from_secs(600);

pub fn run(
    model: ModelKind,
    backends: &[BackendKind],
    weights: Option<PathBuf>,
    batch: Option<usize>,
    iters: Option<usize>,
    images: Option<PathBuf>,
    onnx: &Path,
) -> Result<()> {
    let coco = model == ModelKind::Coco;
    let cfg = BenchConfig {
        iters_batch1: iters.unwrap_or(if coco { 20 } else { 100 }),
        large_batch: batch.unwrap_or(if coco { 8 } else { 16 }),
        iters_large: if coco { 3 } else { 10 },
        ..BenchConfig::default()
    };
    let inputs = inputs(model, images, cfg.large_batch)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("inputs: {} images, {threads} threads", inputs.len());
    let mut networks = Vec::new();
    for &backend in backends {
        let det = super::load(model, backend, weights.clone(), true)?;
        let report = bench::run(&det, &cfg, &inputs)?;
        println!("{report}");
        if coco {
            let net = network_only(&det, &inputs, &cfg)?;
            for b in &net {
                println!(
                    "network only, batch {:>3}: per-image latency p50 {:.2} ms  p99 {:.2} ms  {:.1} images/s  {:.2} GFLOP/s",
                    b.batch,
                    b.per_image_ms_p50,
                    b.per_image_ms_p99,
                    b.images_per_s,
                    det.flops_per_image() as f64 * b.images_per_s / 1e9
                );
            }
            networks.push((backend, net));
        }
        println!();
    }
    if coco {
        match onnxruntime(onnx, threads, cfg.large_batch, cfg.iters_batch1) {
            Ok(ort) => print_ratios(&ort, &networks),
            Err(e) => println!("onnxruntime: not measured ({e:#})"),
        }
    }
    Ok(())
}

/// The COCO network alone (no resize, no decoding) at batch 1 and the large batch, the same
/// thing onnxruntime is timed on.
fn network_only(
    det: &argus_model::Detector,
    inputs: &[image::RgbImage],
    cfg: &BenchConfig,
) -> Result<Vec<BatchStats>> {
    let mut out = Vec::new();
    for (batch, iters) in [
        (1, cfg.iters_batch1),
        (cfg.large_batch.min(argus_model::inference::max_batch(ModelKind::Coco)), cfg.iters_large),
    ] {
        let refs: Vec<&image::RgbImage> = (0..batch).map(|i| &inputs[i % inputs.len()]).collect();
        let (input, _) = argus_model::coco::NanoDet::prepare(&refs);
        let mut failed = None;
        let stats = bench::time_calls(batch, iters, || {
            if let Err(e) = det.coco_forward_raw(input.clone(), batch) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        out.push(stats);
    }
    Ok(out)
}

/// The benchmark's images: `--images DIR`, else for coco the test photographs when present,
/// else generated scenes.
fn inputs(model: ModelKind, images: Option<PathBuf>, count: usize) -> Result<Vec<image::RgbImage>> {
    let dir = images.or_else(|| {
        let photos = argus_model::photos::dir();
        (model == ModelKind::Coco && photos.is_dir()).then_some(photos)
    });
    let Some(dir) = dir else { return Ok(bench::scenes(count)) };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "jpeg" | "png")))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        out.push(decode_image(&std::fs::read(&f)?).with_context(|| format!("{}", f.display()))?);
    }
    if out.is_empty() {
        bail!("no PNG or JPEG files in {}", dir.display());
    }
    println!("inputs from {}", dir.display());
    Ok(out)
}

fn onnxruntime(onnx: &Path, threads: usize, batch: usize, iters: usize) -> Result<OrtReport> {
    if !onnx.is_file() {
        bail!("{} not found (pass --onnx FILE)", onnx.display());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("coco/bench_ort.py");
    let python = std::env::var("ARGUS_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg(&script)
        .args(["--onnx".as_ref(), onnx.as_os_str()])
        .args([
            "--threads",
            &threads.to_string(),
            "--batch",
            &format!("1,{batch}"),
            "--iters",
            &iters.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {python} {}", script.display()))?;
    let deadline = std::time::Instant::now() + ORT_TIMEOUT;
    while child.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            bail!("onnxruntime took over {} s", ORT_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} exited with {} (is onnxruntime installed? pip install onnxruntime)",
            script.display(),
            out.status
        );
    }
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    serde_json::from_str(&last).with_context(|| format!("parsing {last:?}"))
}

fn print_ratios(ort: &OrtReport, networks: &[(BackendKind, Vec<BatchStats>)]) {
    println!("onnxruntime {} CPU, {} intra-op threads, same ONNX:", ort.onnxruntime, ort.threads);
    for b in &ort.batches {
        println!(
            "batch {:>3}: per-image latency p50 {:.2} ms  p99 {:.2} ms  {:.1} images/s",
            b.batch, b.per_image_ms_p50, b.per_image_ms_p99, b.images_per_s
        );
    }
    println!("\nratio burn / onnxruntime, network-only per-image latency p50, same run:");
    for (backend, stats) in networks {
        for ours in stats {
            match ort.batches.iter().find(|b| b.batch == ours.batch) {
                Some(b) => println!(
                    "{backend:<8} batch {:>3}: {:.2}x  ({:.1} ms vs {:.1} ms)",
                    ours.batch,
                    ours.per_image_ms_p50 / b.per_image_ms_p50,
                    ours.per_image_ms_p50,
                    b.per_image_ms_p50
                ),
                None => {
                    println!("{backend:<8} batch {:>3}: onnxruntime did not run this batch size", ours.batch)
                }
            }
        }
    }
}
