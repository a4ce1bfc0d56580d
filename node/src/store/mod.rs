//! The store: vote-weighted registers in LMDB (heed), owned by one dedicated thread fed by a
//! bounded queue. Writes that queue up together are committed in one durable transaction
//! (batching amortises the fsync); every caller hears back only after its commit, so an
//! acknowledged write is on disk. Never runs LMDB on the async executor.
//!
//! - `lmdb`: databases, keys, per-operation functions.
//! - `ranges`: time-index paging and range fingerprints for anti-entropy.

pub mod lmdb;
pub mod ranges;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_protocol::ids::ImageId;
use argus_protocol::register::{Register, RegisterWire};
use argus_protocol::sync::RangeFingerprint;
use heed::{Env, WithoutTls};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::StoreConfig;
use crate::metrics::Metrics;
use lmdb::Dbs;

/// A store call that takes longer than this is reported as a timeout (a disk this slow is a
/// fault of its own).
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error, Clone)]
pub enum StoreError {
    #[error("store I/O: {0}")]
    Io(String),
    #[error("LMDB: {0}")]
    Lmdb(String),
    #[error("store map is full at its configured maximum of {max_bytes} bytes")]
    MapFull { max_bytes: usize },
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    #[error("invalid register: {0}")]
    Invalid(String),
    #[error("store thread is gone")]
    ChannelClosed,
    #[error("store call timed out")]
    Timeout,
}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError::Lmdb(e.to_string())
    }
}

fn is_map_full(e: &StoreError) -> bool {
    matches!(e, StoreError::Lmdb(m) if m.contains("MDB_MAP_FULL") || m.contains("map full") || m.contains("Environment mapsize limit reached"))
}

/// The result of merging a register into the store.
#[derive(Debug, Clone)]
pub struct Merged {
    pub register: Register,
    pub changed: bool,
}

/// A page of registers in capture-time order.
#[derive(Debug, Clone)]
pub struct Page {
    pub registers: Vec<Register>,
    /// Cursor of the last item, to pass as `after` for the next page.
    pub next: Option<(u64, ImageId)>,
}

pub enum Request {
    Merge {
        reg: Register,
        reply: oneshot::Sender<Result<Merged, StoreError>>,
    },
    Get {
        image: ImageId,
        reply: oneshot::Sender<Result<Option<Register>, StoreError>>,
    },
    GetWire {
        image: ImageId,
        reply: oneshot::Sender<Result<Option<RegisterWire>, StoreError>>,
    },
    List {
        after: Option<(u64, ImageId)>,
        limit: usize,
        reply: oneshot::Sender<Result<Page, StoreError>>,
    },
    Fingerprints {
        start_ms: u64,
        end_ms: u64,
        parts: u16,
        reply: oneshot::Sender<Result<Vec<RangeFingerprint>, StoreError>>,
    },
    FetchRange {
        start_ms: u64,
        end_ms: u64,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<RegisterWire>, bool), StoreError>>,
    },
    Summary {
        reply: oneshot::Sender<Result<ranges::Summary, StoreError>>,
    },
    SaveClock {
        ts: u64,
    },
}

/// Cloneable async handle to the store thread.
#[derive(Clone)]
pub struct StoreHandle {
    tx: mpsc::Sender<Request>,
}

impl StoreHandle {
    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| StoreError::ChannelClosed)?;
        match tokio::time::timeout(STORE_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::ChannelClosed),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    pub async fn merge(&self, reg: Register) -> Result<Merged, StoreError> {
        self.call(|reply| Request::Merge { reg, reply }).await
    }
    pub async fn get(&self, image: ImageId) -> Result<Option<Register>, StoreError> {
        self.call(|reply| Request::Get { image, reply }).await
    }
    pub async fn get_wire(&self, image: ImageId) -> Result<Option<RegisterWire>, StoreError> {
        self.call(|reply| Request::GetWire { image, reply }).await
    }
    pub async fn list(&self, after: Option<(u64, ImageId)>, limit: usize) -> Result<Page, StoreError> {
        self.call(|reply| Request::List { after, limit, reply }).await
    }
    pub async fn fingerprints(
        &self,
        start_ms: u64,
        end_ms: u64,
        parts: u16,
    ) -> Result<Vec<RangeFingerprint>, StoreError> {
        self.call(|reply| Request::Fingerprints { start_ms, end_ms, parts, reply }).await
    }
    pub async fn fetch_range(
        &self,
        start_ms: u64,
        end_ms: u64,
        limit: usize,
    ) -> Result<(Vec<RegisterWire>, bool), StoreError> {
        self.call(|reply| Request::FetchRange { start_ms, end_ms, limit, reply }).await
    }
    pub async fn summary(&self) -> Result<ranges::Summary, StoreError> {
        self.call(|reply| Request::Summary { reply }).await
    }
    /// Persists the clock's high-water mark (best effort; a full queue skips one save).
    pub fn save_clock(&self, ts: u64) {
        let _ = self.tx.try_send(Request::SaveClock { ts });
    }
}

/// Opens the store in `dir` and starts its thread. Returns the handle and the persisted clock.
pub fn open(
    dir: &Path,
    cfg: &StoreConfig,
    metrics: Arc<Metrics>,
) -> Result<(StoreHandle, u64, std::thread::JoinHandle<()>), StoreError> {
    let env = lmdb::open_env(dir, cfg.map_size_bytes)?;
    let (clock, count) = {
        let dbs = lmdb::open_dbs(&env)?;
        let rtxn = env.read_txn()?;
        (lmdb::load_clock(&dbs, &rtxn)?, dbs.registers.len(&rtxn)?)
    };
    metrics.store_registers.store(count, Ordering::Relaxed);
    info!(registers = count, dir = %dir.display(), "store opened");
    let (tx, rx) = mpsc::channel(cfg.queue_capacity);
    let cfg = cfg.clone();
    let join = std::thread::Builder::new()
        .name("argus-store".into())
        .spawn(move || run(env, rx, cfg, metrics))
        .map_err(|e| StoreError::Io(e.to_string()))?;
    Ok((StoreHandle { tx }, clock, join))
}

fn run(env: Env<WithoutTls>, mut rx: mpsc::Receiver<Request>, cfg: StoreConfig, metrics: Arc<Metrics>) {
    let dbs = match lmdb::open_dbs(&env) {
        Ok(d) => d,
        Err(e) => {
            error!(error = %e, "store thread cannot open databases");
            return;
        }
    };
    let mut map_size = env.info().map_size;
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < cfg.batch_max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let (writes, reads): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|r| matches!(r, Request::Merge { .. } | Request::SaveClock { .. }));
        if !writes.is_empty() {
            write_batch(&env, &dbs, writes, &cfg, &mut map_size, &metrics);
        }
        for r in reads {
            serve_read(&env, &dbs, r);
        }
    }
    if let Err(e) = env.force_sync() {
        error!(error = %e, "final store sync failed");
    }
}

/// Applies a batch of writes in one transaction, growing the map on MDB_MAP_FULL.
fn write_batch(
    env: &Env<WithoutTls>,
    dbs: &Dbs,
    writes: Vec<Request>,
    cfg: &StoreConfig,
    map_size: &mut usize,
    metrics: &Metrics,
) {
    loop {
        match try_write(env, dbs, &writes) {
            Ok(results) => {
                reply_writes(writes, results.into_iter().map(Ok).collect());
                if let Ok(rtxn) = env.read_txn()
                    && let Ok(n) = dbs.registers.len(&rtxn)
                {
                    metrics.store_registers.store(n, Ordering::Relaxed);
                }
                return;
            }
            Err(e) if is_map_full(&e) && *map_size < cfg.max_map_size_bytes => {
                let new_size = (*map_size * 2).min(cfg.max_map_size_bytes);
                warn!(from = *map_size, to = new_size, "LMDB map full: growing it");
                // SAFETY: this thread is the only user of the environment and holds no open
                // transaction here (try_write aborted its own on error).
                if let Err(e) = unsafe { env.resize(new_size) } {
                    error!(error = %e, "cannot grow the LMDB map");
                    metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                    let n = writes.len();
                    reply_writes(writes, vec![Err(StoreError::Lmdb(e.to_string())); n]);
                    return;
                }
                *map_size = new_size;
            }
            Err(e) => {
                let e = if is_map_full(&e) {
                    StoreError::MapFull { max_bytes: cfg.max_map_size_bytes }
                } else {
                    e
                };
                error!(error = %e, "store write batch failed");
                metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                let n = writes.len();
                reply_writes(writes, vec![Err(e); n]);
                return;
            }
        }
    }
}

/// One transaction for the whole batch. A register that fails validation fails alone.
fn try_write(
    env: &Env<WithoutTls>,
    dbs: &Dbs,
    writes: &[Request],
) -> Result<Vec<Option<Result<Merged, StoreError>>>, StoreError> {
    let mut wtxn = env.write_txn()?;
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        match w {
            Request::Merge { reg, .. } => match lmdb::merge(dbs, &mut wtxn, reg) {
                Ok((register, changed)) => out.push(Some(Ok(Merged { register, changed }))),
                Err(StoreError::Invalid(m)) => out.push(Some(Err(StoreError::Invalid(m)))),
                Err(e) => return Err(e),
            },
            Request::SaveClock { ts } => {
                lmdb::save_clock(dbs, &mut wtxn, *ts)?;
                out.push(None);
            }
            _ => out.push(None),
        }
    }
    wtxn.commit()?;
    Ok(out)
}

fn reply_writes(writes: Vec<Request>, results: Vec<Result<Option<Result<Merged, StoreError>>, StoreError>>) {
    for (w, r) in writes.into_iter().zip(results) {
        if let Request::Merge { reply, .. } = w {
            let r = match r {
                Ok(Some(inner)) => inner,
                Ok(None) => Err(StoreError::Invalid("no result for merge".into())),
                Err(e) => Err(e),
            };
            let _ = reply.send(r);
        }
    }
}

fn serve_read(env: &Env<WithoutTls>, dbs: &Dbs, r: Request) {
    let rtxn = match env.read_txn() {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "cannot open read transaction");
            return; // dropping the reply tells the caller
        }
    };
    match r {
        Request::Get { image, reply } => {
            let _ = reply.send(lmdb::get(dbs, &rtxn, &image));
        }
        Request::GetWire { image, reply } => {
            let _ = reply.send(lmdb::get_wire(dbs, &rtxn, &image));
        }
        Request::List { after, limit, reply } => {
            let _ = reply.send(ranges::list(dbs, &rtxn, after, limit));
        }
        Request::Fingerprints { start_ms, end_ms, parts, reply } => {
            let _ = reply.send(ranges::fingerprints(dbs, &rtxn, start_ms, end_ms, parts));
        }
        Request::FetchRange { start_ms, end_ms, limit, reply } => {
            let _ = reply.send(ranges::fetch_range(dbs, &rtxn, start_ms, end_ms, limit));
        }
        Request::Summary { reply } => {
            let _ = reply.send(ranges::summary(dbs, &rtxn));
        }
        Request::Merge { .. } | Request::SaveClock { .. } => {}
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
