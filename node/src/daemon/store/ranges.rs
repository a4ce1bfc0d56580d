//! Walks over the time index: paging for the HTTP API, range fingerprints and range fetches
//! for anti-entropy, and a whole-store summary. Read-only; runs on the store thread.

use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::register_wire::RegisterWire;
use argus_protocol::sync::{RangeFingerprint, fingerprint_entry, split_range, xor_into};
use std::ops::Bound;

use heed::{RoTxn, WithoutTls};

use super::lmdb::{self, Dbs, split_time_key, time_key};
use super::{Page, StoreError};

/// The `limit` registers of the time index's end, newest first.
pub fn latest(dbs: &Dbs, txn: &RoTxn<WithoutTls>, limit: usize) -> Result<Page, StoreError> {
    let mut registers = Vec::new();
    for item in dbs.by_time.rev_iter(txn)?.take(limit) {
        let (k, _) = item?;
        let (_, id) = split_time_key(k)?;
        match lmdb::get(dbs, txn, &id)? {
            Some(reg) => registers.push(reg),
            None => return Err(StoreError::Corrupt(format!("time index names missing {id}"))),
        }
    }
    Ok(Page { registers, next: None })
}

/// Count and order-independent fingerprint of every register in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub registers: u64,
    pub fingerprint: [u8; 32],
    pub newest_ms: Option<u64>,
}

fn state(v: &[u8]) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| StoreError::Corrupt("time index value of wrong length".into()))
}

/// Registers after `after` (exclusive) in capture-time order, at most `limit`.
pub fn list(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    after: Option<(u64, ImageId)>,
    limit: usize,
) -> Result<Page, StoreError> {
    let start = match after {
        Some((ms, id)) => std::ops::Bound::Excluded(time_key(ms, &id).to_vec()),
        None => std::ops::Bound::Unbounded,
    };
    let range = (start.as_ref().map(|v| v.as_slice()), std::ops::Bound::Unbounded);
    let mut registers = Vec::new();
    let mut next = None;
    for item in dbs.by_time.range(txn, &range)? {
        if registers.len() >= limit {
            break;
        }
        let (k, _) = item?;
        let (ms, id) = split_time_key(k)?;
        match lmdb::get(dbs, txn, &id)? {
            Some(reg) => registers.push(reg),
            None => {
                return Err(StoreError::Corrupt(format!("time index names missing {id}")));
            }
        }
        next = Some((ms, id));
    }
    if registers.len() < limit {
        next = None;
    }
    Ok(Page { registers, next })
}

fn bounds(start_ms: u64, end_ms: u64) -> ([u8; 40], [u8; 40]) {
    let lo = time_key(start_ms, &ImageId([0u8; 32]));
    let hi = time_key(end_ms, &ImageId([0u8; 32]));
    (lo, hi)
}

/// Fingerprints of `[start_ms, end_ms)` split into `parts` (as `sync::split_range`).
pub fn fingerprints(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    start_ms: u64,
    end_ms: u64,
    parts: u16,
) -> Result<Vec<RangeFingerprint>, StoreError> {
    let mut out = Vec::new();
    for (s, e) in split_range(start_ms, end_ms, parts) {
        let (lo, hi) = bounds(s, e);
        let mut acc = [0u8; 32];
        let mut count = 0;
        for item in dbs.by_time.range(txn, &(Bound::Included(&lo[..]), Bound::Excluded(&hi[..])))? {
            let (k, v) = item?;
            let (_, id) = split_time_key(k)?;
            xor_into(&mut acc, &fingerprint_entry(&id, &state(v)?));
            count += 1;
        }
        out.push(RangeFingerprint { start_ms: s, end_ms: e, count, fingerprint: acc });
    }
    Ok(out)
}

/// Up to `limit` registers of `[start_ms, end_ms)` in (capture time, image id) order, strictly
/// after the key (`start_ms`, `after`) when `after` is given; `true` when more remain.
pub fn fetch_range(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    start_ms: u64,
    end_ms: u64,
    after: Option<ImageId>,
    limit: usize,
) -> Result<(Vec<RegisterWire>, bool), StoreError> {
    let (lo, hi) = bounds(start_ms, end_ms);
    let cursor = after.map(|id| time_key(start_ms, &id));
    let from = match &cursor {
        Some(k) => Bound::Excluded(&k[..]),
        None => Bound::Included(&lo[..]),
    };
    let mut out = Vec::new();
    for item in dbs.by_time.range(txn, &(from, Bound::Excluded(&hi[..])))? {
        if out.len() >= limit {
            return Ok((out, true));
        }
        let (k, _) = item?;
        let (_, id) = split_time_key(k)?;
        if let Some(w) = lmdb::get_wire(dbs, txn, &id)? {
            out.push(w);
        }
    }
    Ok((out, false))
}

pub fn summary(dbs: &Dbs, txn: &RoTxn<WithoutTls>) -> Result<Summary, StoreError> {
    let mut acc = [0u8; 32];
    let mut registers = 0;
    let mut newest_ms = None;
    for item in dbs.by_time.iter(txn)? {
        let (k, v) = item?;
        let (ms, id) = split_time_key(k)?;
        xor_into(&mut acc, &fingerprint_entry(&id, &state(v)?));
        registers += 1;
        newest_ms = Some(ms);
    }
    Ok(Summary { registers, fingerprint: acc, newest_ms })
}

/// The stored results whose winner only `node` attested, at most `limit`. A scan of every
/// register (signatures verified): it runs when a worker becomes suspect, which is rare.
pub fn single_votes(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    node: &NodeId,
    limit: usize,
) -> Result<Vec<argus_state::SingleVote>, StoreError> {
    let mut out = Vec::new();
    for item in dbs.registers.iter(txn)? {
        let (k, _) = item?;
        let image = ImageId::from_slice(k).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let Some(reg) = lmdb::get(dbs, txn, &image)? else { continue };
        let Some((digest, c)) = reg.winner() else { continue };
        let mut by = c.attestations();
        if let (Some(a), None) = (by.next(), by.next())
            && a.node() == node
        {
            out.push(argus_state::SingleVote {
                image,
                digest: *digest,
                model: c.model().clone(),
                ts: a.ts(),
            });
            if out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}
