//! The store thread's writes: one transaction per batch, the map grown on MDB_MAP_FULL, and
//! every caller answered once its write is durable.

use std::sync::atomic::Ordering;

use heed::{Env, WithoutTls};
use tracing::{error, warn};

use super::lmdb::{self, Dbs};
use super::{Merged, Request, StoreError, is_map_full};
use crate::config::StoreConfig;
use crate::metrics::Metrics;

/// Applies a batch of writes in one transaction, growing the map on MDB_MAP_FULL.
pub(super) fn write_batch(
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
            Request::SaveAuditRecord { record } => {
                let wire: Vec<(Vec<u8>, u32, u64)> =
                    record.iter().map(|(p, f, c)| (p.to_bytes(), *f, *c)).collect();
                match argus_protocol::codec::encode(&wire, lmdb::MAX_AUDIT_RECORD_BYTES) {
                    Ok(bytes) => lmdb::save_audit_record(dbs, &mut wtxn, &bytes)?,
                    Err(e) => warn!(error = %e, "audit record too large: not saved"),
                }
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
