//! The inference worker: one dedicated thread that owns the node's detectors (one per model it
//! serves), fed by a bounded queue. Waiting jobs are decoded and run together, one batch per
//! model (up to `max_batch` jobs drained at once). The actor never waits on a forward pass: it
//! `try_submit`s jobs and reads results from a channel. Each result carries its share of its
//! batch's time, from which the protocol state learns the per-image cost it bids with.

use std::time::Instant;

use argus_model::{BackendKind, Detector, decode_image, thumbnail_jpeg};
use argus_protocol::detection::Detection;
use argus_protocol::limits::MAX_THUMBNAIL_BYTES;
use argus_protocol::meta::Thumbnail;
use argus_state::{Job, Purpose};
use tokio::sync::mpsc;
use tracing::{error, warn};

#[derive(Debug)]
pub struct Done {
    pub job: Job,
    pub outcome: Result<Vec<Detection>, String>,
    /// This job's share of its batch's time, ms.
    pub inference_ms: u32,
    /// A small JPEG of the image for the register (work jobs only, when thumbnails are on).
    pub thumbnail: Option<Thumbnail>,
}

pub struct WorkerHandle {
    pub tx: mpsc::Sender<Job>,
    pub backend: BackendKind,
    /// The models this worker runs, with their weights.
    pub models: crate::models::Served,
}

impl WorkerHandle {
    /// Queues a job without waiting; gives it back when the queue is full, the thread died or
    /// the worker does not hold the job's model and weights.
    pub fn try_submit(&self, job: Job) -> Result<(), Job> {
        if self.models.holding(&job.model).is_none() {
            return Err(job);
        }
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
        })
    }
}

/// Starts the worker thread with loaded detectors (at least one, one per model, all on one
/// backend).
pub fn start(
    detectors: Vec<Detector>,
    queue_capacity: usize,
    max_batch: usize,
    thumbnail_px: u32,
    done: mpsc::Sender<Done>,
) -> std::io::Result<WorkerHandle> {
    assert!(!detectors.is_empty(), "a worker needs at least one detector");
    let (tx, rx) = mpsc::channel(queue_capacity);
    let backend = detectors[0].backend();
    let models = crate::models::Served::of(&detectors);
    std::thread::Builder::new()
        .name("argus-infer".into())
        .spawn(move || run(detectors, rx, max_batch.max(1), thumbnail_px, done))?;
    Ok(WorkerHandle { tx, backend, models })
}

/// How much lower than the node's other threads the inference thread runs (a nice value).
/// On a busy core the network and the protocol state then answer promptly: a bid that sits
/// behind a forward pass arrives after its window closed, and the auction decides on a partial
/// view. Inference loses nothing by it: it runs whenever those threads have nothing to do.
const WORKER_NICE: i32 = 10;

/// Lowers this thread's priority (Linux sets it per thread; threads it starts inherit it).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on this thread's own id; no memory is shared.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, WORKER_NICE) };
        if rc != 0 {
            warn!(error = %std::io::Error::last_os_error(), "could not lower the inference thread's priority");
        }
    }
}

fn run(
    detectors: Vec<Detector>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    thumbnail_px: u32,
    done: mpsc::Sender<Done>,
) {
    lower_priority();
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
                jobs.into_iter().partition(|j| j.model.name == detector.model().as_str());
            jobs = rest;
            if !batch.is_empty() && !run_one_model(detector, batch, thumbnail_px, &done) {
                return;
            }
        }
        // `try_submit` admits only models held here; should one slip through, it fails visibly.
        for job in jobs {
            error!(image = %job.image, model = %job.model.name, "job for a model this worker does not hold");
            let outcome = Err(format!("model {} is not run here", job.model.name));
            if done.blocking_send(Done { job, outcome, inference_ms: 0, thumbnail: None }).is_err() {
                return;
            }
        }
    }
}

/// Runs one model's batch and reports each job; false when the node stopped listening.
fn run_one_model(detector: &Detector, jobs: Vec<Job>, thumbnail_px: u32, done: &mpsc::Sender<Done>) -> bool {
    let started = Instant::now();
    let (outputs, thumbnails) = run_batch(detector, &jobs, thumbnail_px);
    let per_image = started.elapsed() / jobs.len() as u32;
    let inference_ms = per_image.as_millis().clamp(1, u128::from(u32::MAX)) as u32;
    for ((job, outcome), thumbnail) in jobs.into_iter().zip(outputs).zip(thumbnails) {
        if done.blocking_send(Done { job, outcome, inference_ms, thumbnail }).is_err() {
            warn!("node stopped listening for results: worker exits");
            return false;
        }
    }
    true
}

type Outcomes = (Vec<Result<Vec<Detection>, String>>, Vec<Option<Thumbnail>>);

/// Decodes every job's image and runs the decodable ones in one batch; makes each work job's
/// thumbnail (its result's register keeps it) from the decoded image.
fn run_batch(detector: &Detector, jobs: &[Job], thumbnail_px: u32) -> Outcomes {
    let decoded: Vec<_> = jobs.iter().map(|j| decode_image(&j.bytes).map_err(|e| e.to_string())).collect();
    let thumbnails = jobs
        .iter()
        .zip(&decoded)
        .map(|(job, d)| match (&job.purpose, d) {
            (Purpose::Work { .. }, Ok(img)) => {
                let jpeg = thumbnail_jpeg(img, thumbnail_px, MAX_THUMBNAIL_BYTES)?;
                Some(Thumbnail { width: img.width(), height: img.height(), jpeg: jpeg.into() })
            }
            _ => None,
        })
        .collect();
    let images: Vec<_> = decoded.iter().filter_map(|d| d.as_ref().ok().cloned()).collect();
    let mut results = if images.is_empty() { Vec::new() } else { detector.detect_batch(&images) }.into_iter();
    let outcomes = decoded
        .into_iter()
        .map(|d| match d {
            Ok(_) => results.next().ok_or_else(|| {
                error!("detector returned fewer results than images");
                "detector returned no result".to_string()
            }),
            Err(e) => Err(e),
        })
        .collect();
    (outcomes, thumbnails)
}
