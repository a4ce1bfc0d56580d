//! `argus-model`: train, evaluate, benchmark and run the detector, and write synthetic scenes.
//! Thin: parses flags and calls into the library; all logic lives in `argus_model`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use argus_model::scene::{self, ImageFormat, SceneConfig};
#[cfg(feature = "train")]
use argus_model::training::{self, TrainingConfig};
use argus_model::{BackendKind, Detector, ModelKind, WeightsSource, decode_image, draw, eval};
#[cfg(feature = "train")]
use burn::config::Config as _;
use clap::{Parser, Subcommand, ValueEnum};

#[path = "argus-model/cli_bench.rs"]
mod cli_bench;
#[cfg(feature = "train")]
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "argus-model", version, about = "argus detector: train, eval, detect, bench, scenes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train from scratch on generated scenes (seed `--train-seed`, indices 0..steps*batch).
    Train {
        #[arg(long, default_value = "flex")]
        backend: BackendKind,
        /// Training config JSON (a `TrainingConfig`); flags below override it.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        steps: Option<usize>,
        #[arg(long)]
        batch_size: Option<usize>,
        #[arg(long)]
        train_seed: Option<u64>,
        #[arg(long)]
        learning_rate: Option<f64>,
        /// Output weights (the JSON config is written beside it).
        #[arg(long, default_value = "model/weights/detector.bpk")]
        out: PathBuf,
        #[arg(long)]
        no_progress: bool,
    },
    /// mAP@0.5 and mAP@0.5:0.95 on scenes (SEED, 0..COUNT).
    Eval {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value = "flex")]
        backend: BackendKind,
        #[arg(long)]
        weights: Option<PathBuf>,
        #[arg(long, default_value_t = 16)]
        batch: usize,
    },
    /// Detect objects in PNG/JPEG files; one JSON line per file on stdout.
    Detect {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// `coco` (80 everyday classes, for photographs) or `shapes` (synthetic scenes).
        #[arg(long, default_value = "coco")]
        model: ModelKind,
        #[arg(long, default_value = "flex")]
        backend: BackendKind,
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Draw boxes and labels into this PNG (FILE-<n>.png for several inputs).
        #[arg(long)]
        draw: Option<PathBuf>,
        #[arg(long)]
        threshold: Option<f32>,
    },
    /// Latency, throughput, FLOPs and a GEMM reference per backend; for coco also
    /// onnxruntime's CPU latency on the same ONNX in the same run, and the ratio.
    Bench {
        #[arg(long, default_value = "shapes")]
        model: ModelKind,
        /// Backends to run, one after another (default: flex and ndarray).
        #[arg(long, value_delimiter = ',', default_value = "flex,ndarray")]
        backend: Vec<BackendKind>,
        #[arg(long)]
        weights: Option<PathBuf>,
        /// The larger batch (default: 16 for shapes, 8 for coco).
        #[arg(long)]
        batch: Option<usize>,
        /// Timed batch-1 calls (default: 100 for shapes, 20 for coco).
        #[arg(long)]
        iters: Option<usize>,
        /// PNG/JPEG inputs (default: generated scenes; for coco the photographs in
        /// $ARGUS_PHOTOS or ~/.cache/argus/photos when there are any).
        #[arg(long)]
        images: Option<PathBuf>,
        /// The ONNX file onnxruntime runs for the comparison (coco only; skipped when absent).
        #[arg(long, default_value = "../shared/models/nanodet_g.onnx")]
        onnx: PathBuf,
    },
    /// Rewrites NanoDet-g weights (a burnpack, f32 or f16) as f16, the form argus ships.
    HalfWeights {
        #[arg(long)]
        weights: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes each image's network input (f32, little endian, [3, H, W]) as OUT/NAME.f32, for
    /// reference runs of the same input in onnxruntime (`model/coco/golden.py`).
    DumpInput {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value = "coco")]
        model: ModelKind,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write scenes (SEED, 0..COUNT) and their ground truth (ground_truth.json) into a folder.
    Scenes {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "png")]
        format: Format,
        #[arg(long, default_value_t = 160)]
        width: u32,
        #[arg(long, default_value_t = 120)]
        height: u32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Png,
    Jpeg,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        #[cfg(feature = "train")]
        Command::Train {
            backend,
            config,
            steps,
            batch_size,
            train_seed,
            learning_rate,
            out,
            no_progress,
        } => {
            let mut cfg = match config {
                Some(p) => TrainingConfig::load(&p).with_context(|| format!("{}", p.display()))?,
                None => TrainingConfig::new(argus_model::model::ModelConfig::new()),
            };
            cfg.steps = steps.unwrap_or(cfg.steps);
            cfg.batch_size = batch_size.unwrap_or(cfg.batch_size);
            cfg.train_seed = train_seed.unwrap_or(cfg.train_seed);
            cfg.learning_rate = learning_rate.unwrap_or(cfg.learning_rate);
            println!("training on {backend}: {}", serde_json::to_string(&cfg)?);
            let summary = train(&cfg, backend, &out, !no_progress)?;
            println!("{}", serde_json::to_string(&summary)?);
            println!("weights: {} -> {}", summary.weights_hash, out.display());
        }
        #[cfg(not(feature = "train"))]
        Command::Train { .. } => {
            anyhow::bail!(
                "this build cannot train (no burn autodiff): cargo run --release -p argus-model --features train -- train ..."
            )
        }
        Command::Eval { seed, count, backend, weights, batch } => {
            let det = load(ModelKind::Shapes, backend, weights, true)?;
            let r = eval::evaluate_detector(det, seed, count, batch);
            println!("images: {}  objects: {}  detections: {}", r.images, r.objects, r.detections);
            for (name, ap) in argus_model::CLASS_NAMES.iter().zip(&r.ap50_per_class) {
                match ap {
                    Some(ap) => println!("AP@0.5 {name}: {ap:.4}"),
                    None => println!("AP@0.5 {name}: n/a (no objects)"),
                }
            }
            println!("mAP@0.5: {:.4}", r.map50);
            println!("mAP@0.5:0.95: {:.4}", r.map50_95);
        }
        Command::Detect { files, model, backend, weights, draw: draw_out, threshold } => {
            detect(files, model, backend, weights, draw_out, threshold)?;
        }
        Command::Bench { model, backend, weights, batch, iters, images, onnx } => {
            cli_bench::run(model, &backend, weights, batch, iters, images, &onnx)?;
        }
        Command::DumpInput { files, model, out } => dump_input(&files, model, &out)?,
        Command::HalfWeights { weights, out } => {
            let hash = argus_model::coco::save_f16(&WeightsSource::File(weights), &out)?;
            println!("weights: {hash} -> {} ({} bytes)", out.display(), std::fs::metadata(&out)?.len());
        }
        Command::Scenes { seed, count, out, format, width, height } => {
            scenes(seed, count, &out, format, width, height)?;
        }
    }
    Ok(())
}

/// Log line interval (steps) printed above the progress bar, so logs keep the loss curve.
#[cfg(feature = "train")]
const TRAIN_LOG_EVERY: usize = 50;

#[cfg(feature = "train")]
fn train(
    cfg: &TrainingConfig,
    backend: BackendKind,
    out: &std::path::Path,
    show_bar: bool,
) -> Result<training::TrainSummary> {
    let bar = if show_bar { ProgressBar::new(cfg.steps as u64) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} eta {eta} {msg}")?);
    let mut on_step = |p: &training::Progress| {
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.3}", p.loss_ema));
        if p.step % TRAIN_LOG_EVERY == 0 || p.step == p.steps {
            let line = format!(
                "step {:>5}/{} {:>7.1}s lr {:.2e} loss(ema) {:.4} heat {:.4} class {:.4} offset {:.4} \
                 size {:.4}",
                p.step, p.steps, p.elapsed_s, p.learning_rate, p.loss_ema, p.heat, p.class, p.offset, p.size
            );
            // A hidden bar (no terminal, or --no-progress) drops its println output.
            if bar.is_hidden() { println!("{line}") } else { bar.println(line) }
        }
    };
    let summary = training::train(cfg, backend, out, &mut on_step)?;
    bar.finish();
    Ok(summary)
}

fn load(
    model: ModelKind,
    backend: BackendKind,
    weights: Option<PathBuf>,
    to_stdout: bool,
) -> Result<Detector> {
    let source = weights.map(WeightsSource::File).unwrap_or(WeightsSource::Embedded);
    let det = Detector::new(model, backend, source.clone())?;
    let config = match det.shapes_config() {
        Some(cfg) => format!(" config: {}", serde_json::to_string(cfg)?),
        None => String::new(),
    };
    let line = format!(
        "model: {} weights: {} ({}) backend: {}{config}",
        det.model(),
        det.weights_hash(),
        match &source {
            WeightsSource::Embedded => "embedded".to_string(),
            WeightsSource::File(p) => p.display().to_string(),
        },
        det.backend(),
    );
    if to_stdout {
        println!("{line}")
    } else {
        eprintln!("{line}")
    }
    Ok(det)
}

fn detect(
    files: Vec<PathBuf>,
    model: ModelKind,
    backend: BackendKind,
    weights: Option<PathBuf>,
    draw_out: Option<PathBuf>,
    threshold: Option<f32>,
) -> Result<()> {
    let mut det = load(model, backend, weights, false)?;
    if let Some(t) = threshold {
        let params = argus_model::decode::DecodeParams { score_threshold: t, ..*det.decode_params() };
        det = det.with_decode_params(params);
    }
    let mut failures = 0;
    for (n, file) in files.iter().enumerate() {
        let result = std::fs::read(file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok((blake3::hash(&bytes).to_hex().to_string(), decode_image(&bytes)?)));
        let (image_id, img) = match result {
            Ok(v) => v,
            Err(e) => {
                failures += 1;
                println!("{}", serde_json::json!({"file": file, "error": e.to_string()}));
                continue;
            }
        };
        let dets = det.try_detect_batch(std::slice::from_ref(&img))?.pop().unwrap_or_default();
        let labelled = argus_model::labelled(model, &dets);
        println!(
            "{}",
            serde_json::json!({"file": file, "image_id": image_id, "model": model, "detections": labelled})
        );
        if let Some(out) = &draw_out {
            let mut canvas = img;
            draw::draw_detections(&mut canvas, &dets, model.labels());
            let path = if files.len() == 1 { out.clone() } else { numbered(out, n) };
            canvas.save(&path).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if failures > 0 {
        bail!("{failures} of {} files could not be read", files.len());
    }
    Ok(())
}

fn dump_input(files: &[PathBuf], model: ModelKind, out: &std::path::Path) -> Result<()> {
    if model != ModelKind::Coco {
        bail!("dump-input is for the coco model");
    }
    std::fs::create_dir_all(out)?;
    for file in files {
        let img = decode_image(&std::fs::read(file).with_context(|| format!("{}", file.display()))?)?;
        let (input, _) = argus_model::coco::NanoDet::prepare(&[&img]);
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        std::fs::write(out.join(format!("{stem}.f32")), bytes)?;
    }
    println!("wrote {} inputs to {}", files.len(), out.display());
    Ok(())
}

fn numbered(out: &std::path::Path, n: usize) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    out.with_file_name(format!("{stem}-{n}.png"))
}

fn scenes(seed: u64, count: usize, out: &PathBuf, format: Format, w: u32, h: u32) -> Result<()> {
    let cfg = if (w, h) == (160, 120) { SceneConfig::default() } else { SceneConfig::scaled_to(w, h) };
    cfg.validate()?;
    std::fs::create_dir_all(out)?;
    let (fmt, ext) = match format {
        Format::Png => (ImageFormat::Png, "png"),
        Format::Jpeg => (ImageFormat::Jpeg, "jpg"),
    };
    let mut truth = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let s = scene::generate(seed, i, &cfg);
        let name = format!("scene-{seed}-{i:06}.{ext}");
        let bytes = scene::encode(&s.image, fmt)?;
        std::fs::write(out.join(&name), &bytes)?;
        truth.push(serde_json::json!({
            "file": name,
            "seed": seed,
            "index": i,
            "image_id": blake3::hash(&bytes).to_hex().to_string(),
            "width": cfg.width,
            "height": cfg.height,
            "objects": s.objects,
        }));
    }
    let gt = serde_json::json!({"classes": argus_model::CLASS_NAMES, "scenes": truth});
    std::fs::write(out.join("ground_truth.json"), serde_json::to_string_pretty(&gt)? + "\n")?;
    println!("wrote {count} scenes to {}", out.display());
    Ok(())
}
