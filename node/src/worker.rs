//! The inference worker: one dedicated thread that owns the detector, fed by a bounded queue.
//! Waiting jobs are decoded and run together in one batch (up to `max_batch`). The async side
//! never waits on a forward pass: it `try_send`s jobs and reads results from a channel.
//!
//! The worker publishes its load through atomics (jobs queued, moving average of per-image
//! inference time, start of the batch in flight) so the scheduler can bid an honest wait time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_model::{BackendKind, Detector, decode_image};
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

/// Load figures shared with the async side.
#[derive(Default)]
pub struct Load {
    /// Jobs accepted and not yet finished (queued + running).
    pub jobs: AtomicU64,
    /// Exponential moving average of per-image inference time, microseconds.
    pub avg_us: AtomicU64,
    /// Milliseconds since `epoch` at which the running batch started; 0 when idle.
    pub busy_since_ms: AtomicU64,
}

impl Load {
    /// Estimated wait before a newly accepted image would be finished, in ms, given
    /// `committed` images won or being won in auctions and not queued yet.
    pub fn wait_ms(&self, epoch: Instant, committed: usize) -> u32 {
        let avg_ms = self.avg_us.load(Ordering::Relaxed).div_ceil(1_000).max(1);
        let jobs = self.jobs.load(Ordering::Relaxed) + committed as u64;
        let busy = self.busy_since_ms.load(Ordering::Relaxed);
        let elapsed = if busy == 0 { 0 } else { (epoch.elapsed().as_millis() as u64).saturating_sub(busy) };
        // Queued work plus our own new image, minus what the running batch has already done.
        let total = (jobs + 1) * avg_ms;
        total.saturating_sub(elapsed.min(avg_ms)).min(u64::from(u32::MAX)) as u32
    }
}

pub struct WorkerHandle {
    pub tx: mpsc::Sender<Job>,
    pub load: Arc<Load>,
    pub backend: BackendKind,
    pub weights: String,
    pub epoch: Instant,
}

impl WorkerHandle {
    /// Queues a job without waiting; gives it back when the queue is full or the thread died.
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        self.load.jobs.fetch_add(1, Ordering::Relaxed);
        self.tx.try_send(job).map_err(|e| {
            self.load.jobs.fetch_sub(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            }
        })
    }
}

/// Starts the worker thread with a loaded detector.
pub fn start(
    detector: Detector,
    queue_capacity: usize,
    max_batch: usize,
    done: mpsc::Sender<Done>,
) -> std::io::Result<WorkerHandle> {
    let (tx, rx) = mpsc::channel(queue_capacity);
    let load = Arc::new(Load::default());
    let epoch = Instant::now();
    let backend = detector.backend();
    let weights = detector.weights_hash().to_string();
    let l = load.clone();
    std::thread::Builder::new()
        .name("argus-infer".into())
        .spawn(move || run(detector, rx, max_batch.max(1), done, l, epoch))?;
    Ok(WorkerHandle { tx, load, backend, weights, epoch })
}

fn run(
    detector: Detector,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    done: mpsc::Sender<Done>,
    load: Arc<Load>,
    epoch: Instant,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        load.busy_since_ms.store((epoch.elapsed().as_millis() as u64).max(1), Ordering::Relaxed);
        let started = Instant::now();
        let outputs = run_batch(&detector, &jobs);
        let per_image = started.elapsed() / jobs.len() as u32;
        update_average(&load, per_image);
        load.busy_since_ms.store(0, Ordering::Relaxed);
        let inference_ms = per_image.as_millis().min(u128::from(u32::MAX)) as u32;
        for (job, outcome) in jobs.into_iter().zip(outputs) {
            load.jobs.fetch_sub(1, Ordering::Relaxed);
            if done.blocking_send(Done { job, outcome, inference_ms }).is_err() {
                warn!("node stopped listening for results: worker exits");
                return;
            }
        }
    }
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

fn update_average(load: &Load, per_image: Duration) {
    let sample = per_image.as_micros().min(u128::from(u64::MAX)) as u64;
    let old = load.avg_us.load(Ordering::Relaxed);
    // EWMA with weight 1/8: follows a change of load within a few batches.
    let new = if old == 0 { sample } else { old - old / 8 + sample / 8 };
    load.avg_us.store(new.max(1), Ordering::Relaxed);
}
