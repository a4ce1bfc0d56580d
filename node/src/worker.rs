//! The inference worker: one dedicated thread that owns the node's detectors (one per model it
//! serves), fed by a bounded queue. Waiting jobs are decoded and run together, one batch per
//! model (up to `max_batch` jobs drained at once). The async side never waits on a forward
//! pass: it `try_send`s jobs and reads results from a channel.
//!
//! The worker publishes its load through atomics (jobs queued and the moving average of
//! per-image inference time, per model; the start of the batch in flight) so the scheduler can
//! bid an honest wait time: one thread runs every model, so a wait is the sum over models.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_model::{BackendKind, Detector, ModelKind, decode_image};
use argus_protocol::detection::Detection;
use argus_protocol::ids::ImageId;
use tokio::sync::mpsc;
use tracing::{error, warn};

/// Why an image is being run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// We won (or took over) the auction.
    Work { takeover: bool },
    /// A peer asked us to audit its result.
    Audit { worker: libp2p::PeerId, digest: argus_protocol::ids::ResultDigest },
}

#[derive(Debug)]
pub struct Job {
    pub image: ImageId,
    /// The model to run (one this worker holds; `WorkerHandle::try_submit` checks).
    pub model: ModelKind,
    pub captured_at_ms: u64,
    pub bytes: Arc<Vec<u8>>,
    pub purpose: Purpose,
}

#[derive(Debug)]
pub struct Done {
    pub job: Job,
    pub outcome: Result<Vec<Detection>, String>,
    pub inference_ms: u32,
}

const MODELS: usize = ModelKind::ALL.len();

/// Load figures shared with the async side.
#[derive(Default)]
pub struct Load {
    /// Jobs accepted and not yet finished (queued + running), all models.
    pub jobs: AtomicU64,
    /// The same, per model (`ModelKind::index`).
    pub jobs_by_model: [AtomicU64; MODELS],
    /// Exponential moving average of per-image inference time per model, microseconds.
    pub avg_us: [AtomicU64; MODELS],
    /// Milliseconds since `epoch` at which the running batch started; 0 when idle.
    pub busy_since_ms: AtomicU64,
}

impl Load {
    /// Moving average of per-image inference time for `model`, ms (at least 1).
    pub fn avg_ms(&self, model: ModelKind) -> u64 {
        self.avg_us[model.index()].load(Ordering::Relaxed).div_ceil(1_000).max(1)
    }

    /// Estimated wait before a newly accepted image of `model` would be finished, in ms,
    /// given `committed` images won or being won in auctions and not queued yet (counted at
    /// this model's cost).
    pub fn wait_ms(&self, epoch: Instant, model: ModelKind, committed: usize) -> u32 {
        let queued: u64 = ModelKind::ALL
            .iter()
            .map(|m| self.jobs_by_model[m.index()].load(Ordering::Relaxed) * self.avg_ms(*m))
            .sum();
        let avg_ms = self.avg_ms(model);
        let busy = self.busy_since_ms.load(Ordering::Relaxed);
        let elapsed = if busy == 0 { 0 } else { (epoch.elapsed().as_millis() as u64).saturating_sub(busy) };
        // Queued work plus our own new image, minus what the running batch has already done.
        let total = queued + (committed as u64 + 1) * avg_ms;
        total.saturating_sub(elapsed.min(avg_ms)).min(u64::from(u32::MAX)) as u32
    }

    /// Mean of the per-model averages of the models in use (for heartbeats), ms.
    pub fn avg_ms_overall(&self) -> u32 {
        let used: Vec<u64> =
            self.avg_us.iter().map(|a| a.load(Ordering::Relaxed)).filter(|&v| v > 0).collect();
        if used.is_empty() {
            0
        } else {
            (used.iter().sum::<u64>() / used.len() as u64).div_ceil(1_000) as u32
        }
    }

    fn finished(&self, model: ModelKind) {
        self.jobs.fetch_sub(1, Ordering::Relaxed);
        self.jobs_by_model[model.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct WorkerHandle {
    pub tx: mpsc::Sender<Job>,
    pub load: Arc<Load>,
    pub backend: BackendKind,
    /// The models this worker runs, with their weights.
    pub models: crate::models::Served,
    pub epoch: Instant,
}

impl WorkerHandle {
    /// Queues a job without waiting; gives it back when the queue is full, the thread died or
    /// the worker does not hold the job's model.
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        if self.models.get(job.model).is_none() {
            return Err(job);
        }
        let model = job.model;
        self.load.jobs.fetch_add(1, Ordering::Relaxed);
        self.load.jobs_by_model[model.index()].fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(job).map_err(|e| {
            self.load.finished(model);
            match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            }
        })
    }
}

/// Starts the worker thread with loaded detectors (at least one, one per model, all on one
/// backend).
pub fn start(
    detectors: Vec<Detector>,
    queue_capacity: usize,
    max_batch: usize,
    done: mpsc::Sender<Done>,
) -> std::io::Result<WorkerHandle> {
    assert!(!detectors.is_empty(), "a worker needs at least one detector");
    let (tx, rx) = mpsc::channel(queue_capacity);
    let load = Arc::new(Load::default());
    let epoch = Instant::now();
    let backend = detectors[0].backend();
    let models = crate::models::Served::of(&detectors);
    let l = load.clone();
    std::thread::Builder::new()
        .name("argus-infer".into())
        .spawn(move || run(detectors, rx, max_batch.max(1), done, l, epoch))?;
    Ok(WorkerHandle { tx, load, backend, models, epoch })
}

fn run(
    detectors: Vec<Detector>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    done: mpsc::Sender<Done>,
    load: Arc<Load>,
    epoch: Instant,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        // Drained together; run as one batch per model below.
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        for detector in &detectors {
            let (batch, rest): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| j.model == detector.model());
            jobs = rest;
            if !batch.is_empty() && !run_one_model(detector, batch, &done, &load, epoch) {
                return;
            }
        }
        // `try_submit` admits only models held here; should one slip through, it fails visibly.
        for job in jobs {
            error!(image = %job.image, model = %job.model, "job for a model this worker does not hold");
            load.finished(job.model);
            let outcome = Err(format!("model {} is not run here", job.model));
            if done.blocking_send(Done { job, outcome, inference_ms: 0 }).is_err() {
                return;
            }
        }
    }
}

/// Runs one model's batch and reports each job; false when the node stopped listening.
fn run_one_model(
    detector: &Detector,
    jobs: Vec<Job>,
    done: &mpsc::Sender<Done>,
    load: &Load,
    epoch: Instant,
) -> bool {
    let model = detector.model();
    load.busy_since_ms.store((epoch.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
    let started = Instant::now();
    let outputs = run_batch(detector, &jobs);
    let per_image = started.elapsed() / jobs.len() as u32;
    update_average(&load.avg_us[model.index()], per_image);
    load.busy_since_ms.store(0, Ordering::Relaxed);
    let inference_ms = per_image.as_millis().min(u128::from(u32::MAX)) as u32;
    for (job, outcome) in jobs.into_iter().zip(outputs) {
        load.finished(model);
        if done.blocking_send(Done { job, outcome, inference_ms }).is_err() {
            warn!("node stopped listening for results: worker exits");
            return false;
        }
    }
    true
}

/// Decodes every job's image and runs the decodable ones in one batch.
fn run_batch(detector: &Detector, jobs: &[Job]) -> Vec<Result<Vec<Detection>, String>> {
    let decoded: Vec<_> = jobs.iter().map(|j| decode_image(&j.bytes).map_err(|e| e.to_string())).collect();
    let images: Vec<_> = decoded.iter().filter_map(|d| d.as_ref().ok().cloned()).collect();
    let mut results = if images.is_empty() { Vec::new() } else { detector.detect_batch(&images) }.into_iter();
    decoded
        .into_iter()
        .map(|d| match d {
            Ok(_) => results.next().ok_or_else(|| {
                error!("detector returned fewer results than images");
                "detector returned no result".to_string()
            }),
            Err(e) => Err(e),
        })
        .collect()
}

fn update_average(avg_us: &AtomicU64, per_image: Duration) {
    let sample = per_image.as_micros().min(u128::from(u64::MAX)) as u64;
    let old = avg_us.load(Ordering::Relaxed);
    // EWMA with weight 1/8: follows a change of load within a few batches.
    let new = if old == 0 { sample } else { old - old / 8 + sample / 8 };
    avg_us.store(new.max(1), Ordering::Relaxed);
}
