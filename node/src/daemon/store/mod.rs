//! The store: vote-weighted registers in LMDB (heed), owned by one dedicated thread fed by a
//! bounded queue. Writes that queue up together are committed in one durable transaction
//! (batching amortises the fsync); every caller hears back only after its commit, so an
//! acknowledged write is on disk. Never runs LMDB on the async executor.
//!
//! - `lmdb`: databases, keys, per-operation functions.
//! - `ranges`: time-index paging and range fingerprints for anti-entropy.
//! - `content`: the content index (label, source, time); `query`: the walks that answer
//!   content queries from it.

pub mod content;
pub mod lmdb;
pub mod query;
pub mod ranges;
mod writes;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::register::Register;
use argus_protocol::register_wire::RegisterWire;
use argus_protocol::search::{Cursor, Search};
use argus_protocol::sync::RangeFingerprint;
use argus_state::{AuditRecord, SingleVote};
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
    Latest {
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
        after: Option<ImageId>,
        limit: usize,
        reply: oneshot::Sender<Result<(Vec<RegisterWire>, bool), StoreError>>,
    },
    Summary {
        reply: oneshot::Sender<Result<ranges::Summary, StoreError>>,
    },
    Newest {
        label: Option<String>,
        source: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<Register>, StoreError>>,
    },
    Search {
        query: Search,
        reply: oneshot::Sender<Result<(Vec<Register>, Option<Cursor>), StoreError>>,
    },
    SingleVotes {
        node: NodeId,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<SingleVote>, StoreError>>,
    },
    SaveClock {
        ts: u64,
    },
    SaveAuditRecord {
        record: AuditRecord,
    },
    AuditRecord {
        reply: oneshot::Sender<Result<AuditRecord, StoreError>>,
    },
    /// Commit what is queued before it, then stop the thread.
    Shutdown,
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
    /// The `limit` registers captured last, newest first (`next` is `None`).
    pub async fn latest(&self, limit: usize) -> Result<Page, StoreError> {
        self.call(|reply| Request::Latest { limit, reply }).await
    }
    pub async fn fingerprints(
        &self,
        start_ms: u64,
        end_ms: u64,
        parts: u16,
    ) -> Result<Vec<RangeFingerprint>, StoreError> {
        self.call(|reply| Request::Fingerprints { start_ms, end_ms, parts, reply }).await
    }
    /// Up to `limit` registers of `[start_ms, end_ms)` in (capture time, image id) order,
    /// strictly after (`start_ms`, `after`) when `after` is given; `true` when more remain.
    pub async fn fetch_range(
        &self,
        start_ms: u64,
        end_ms: u64,
        after: Option<ImageId>,
        limit: usize,
    ) -> Result<(Vec<RegisterWire>, bool), StoreError> {
        self.call(|reply| Request::FetchRange { start_ms, end_ms, after, limit, reply }).await
    }
    /// One page of a content query (`query::search`): matching registers and where the next
    /// page starts (`None`: done).
    pub async fn search(&self, query: Search) -> Result<(Vec<Register>, Option<Cursor>), StoreError> {
        self.call(|reply| Request::Search { query, reply }).await
    }
    /// The newest `limit` registers of a label and a source (`query::newest`).
    pub async fn newest(
        &self,
        label: Option<String>,
        source: Option<String>,
        limit: usize,
    ) -> Result<Vec<Register>, StoreError> {
        self.call(|reply| Request::Newest { label, source, limit, reply }).await
    }
    pub async fn summary(&self) -> Result<ranges::Summary, StoreError> {
        self.call(|reply| Request::Summary { reply }).await
    }
    /// Results whose winner only `node` attested (see `ranges::single_votes`).
    pub async fn single_votes(&self, node: NodeId, limit: usize) -> Result<Vec<SingleVote>, StoreError> {
        self.call(|reply| Request::SingleVotes { node, limit, reply }).await
    }
    /// Persists the clock's high-water mark (best effort; a full queue skips one save).
    pub fn save_clock(&self, ts: u64) {
        let _ = self.tx.try_send(Request::SaveClock { ts });
    }
    /// Replaces the persisted audit record (best effort, like the clock: the next change
    /// saves it again).
    pub fn save_audit_record(&self, record: AuditRecord) {
        let _ = self.tx.try_send(Request::SaveAuditRecord { record });
    }
    /// Asks the store thread to commit what is queued and stop (it then joins).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Request::Shutdown).await;
    }
    /// The persisted audit record; peer ids that do not parse are left out.
    pub async fn audit_record(&self) -> Result<AuditRecord, StoreError> {
        self.call(|reply| Request::AuditRecord { reply }).await
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
    let mut stop = false;
    while !stop && let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < cfg.batch_max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        stop = batch.iter().any(|r| matches!(r, Request::Shutdown));
        let (writes, reads): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| {
            matches!(r, Request::Merge { .. } | Request::SaveClock { .. } | Request::SaveAuditRecord { .. })
        });
        if !writes.is_empty() {
            writes::write_batch(&env, &dbs, writes, &cfg, &mut map_size, &metrics);
        }
        for r in reads {
            serve_read(&env, &dbs, r);
        }
    }
    if let Err(e) = env.force_sync() {
        error!(error = %e, "final store sync failed");
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
        Request::Latest { limit, reply } => {
            let _ = reply.send(ranges::latest(dbs, &rtxn, limit));
        }
        Request::Fingerprints { start_ms, end_ms, parts, reply } => {
            let _ = reply.send(ranges::fingerprints(dbs, &rtxn, start_ms, end_ms, parts));
        }
        Request::FetchRange { start_ms, end_ms, after, limit, reply } => {
            let _ = reply.send(ranges::fetch_range(dbs, &rtxn, start_ms, end_ms, after, limit));
        }
        Request::Summary { reply } => {
            let _ = reply.send(ranges::summary(dbs, &rtxn));
        }
        Request::Newest { label, source, limit, reply } => {
            let _ = reply.send(query::newest(dbs, &rtxn, label.as_deref(), source.as_deref(), limit));
        }
        Request::Search { query, reply } => {
            let _ = reply.send(query::search(dbs, &rtxn, &query, query::MAX_SCANNED_PER_PAGE));
        }
        Request::SingleVotes { node, limit, reply } => {
            let _ = reply.send(ranges::single_votes(dbs, &rtxn, &node, limit));
        }
        Request::AuditRecord { reply } => {
            let r = lmdb::load_audit_record(dbs, &rtxn).map(|v| {
                v.into_iter()
                    .filter_map(|(p, f, c)| Some((libp2p::PeerId::from_bytes(&p).ok()?, f, c)))
                    .collect()
            });
            let _ = reply.send(r);
        }
        Request::Merge { .. }
        | Request::SaveClock { .. }
        | Request::SaveAuditRecord { .. }
        | Request::Shutdown => {}
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "content_tests.rs"]
mod content_tests;
