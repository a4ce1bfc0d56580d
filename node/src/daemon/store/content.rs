//! The content index (`by_content`): which registers' winning result has a detection of a
//! label, from which source, captured when. Answers `GET /v1/detections?label=…&source=…`
//! by walking one key range, never the whole store.
//!
//! Key: `source tag (8) || label tag (8) || capture ms (u64 BE) || image id (32)`; value: the
//! highest score (f32 BE) of that label in the winner. A tag is the first 8 bytes of BLAKE3 of
//! the name; the all-zero tag stands for "any". Each register with a winner has an entry under
//! every (source, label) pair of `{any, its source} x {any, each label of its winner}` (the
//! "any label" entry carries the highest score of all, 0 for an empty result), so every
//! combination of filters is one prefix. A tag collision only widens a walk: each hit is
//! checked against the register itself (`matches`) before it is answered.
//!
//! Entries follow the register: a merge that changes the winner, the capture time or the
//! source moves them in the same transaction (`update`).

use std::ops::Bound;

use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::search::{Cursor, Search};
use heed::{RoTxn, RwTxn, WithoutTls};

use super::StoreError;
use super::lmdb::{self, Dbs};

pub const CONTENT_KEY_BYTES: usize = 8 + 8 + 8 + 32;
const ANY: [u8; 8] = [0; 8];
/// Most index entries one page walks before it answers with what it found and a cursor: a
/// filter on a high `min_score` cannot make one request walk the whole index.
pub const MAX_SCANNED_PER_PAGE: usize = 100_000;

type Key = [u8; CONTENT_KEY_BYTES];

fn tag(name: &str) -> [u8; 8] {
    let mut t = [0u8; 8];
    t.copy_from_slice(&blake3::hash(name.as_bytes()).as_bytes()[..8]);
    if t == ANY {
        t[7] = 1;
    }
    t
}

fn key(source: [u8; 8], label: [u8; 8], ms: u64, image: &ImageId) -> Key {
    let mut k = [0u8; CONTENT_KEY_BYTES];
    k[..8].copy_from_slice(&source);
    k[8..16].copy_from_slice(&label);
    k[16..24].copy_from_slice(&ms.to_be_bytes());
    k[24..].copy_from_slice(image.as_bytes());
    k
}

fn position(k: &[u8]) -> Result<Cursor, StoreError> {
    if k.len() != CONTENT_KEY_BYTES {
        return Err(StoreError::Corrupt("content index key of wrong length".into()));
    }
    let ms = u64::from_be_bytes(k[16..24].try_into().expect("8 bytes"));
    let image_id = ImageId::from_slice(&k[24..]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Cursor { ms, image_id })
}

/// The labels of a register's winner, each with its highest score, sorted by label; `None`
/// when the register has no winner.
pub fn winner_labels(reg: &Register) -> Option<Vec<(String, f32)>> {
    let (_, c) = reg.winner()?;
    let mut labels: Vec<(String, f32)> = Vec::new();
    for d in crate::models::labelled(&c.model().name, c.detections()) {
        match labels.iter_mut().find(|(l, _)| *l == d.label) {
            Some((_, s)) => *s = s.max(d.score),
            None => labels.push((d.label, d.score)),
        }
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    Some(labels)
}

/// A register's index entries: key and score.
pub(crate) fn entries(reg: &Register) -> Vec<(Key, f32)> {
    let Some(labels) = winner_labels(reg) else {
        return Vec::new();
    };
    let (ms, image) = (reg.captured_at_ms(), reg.image_id());
    let best = labels.iter().map(|(_, s)| *s).fold(0.0f32, f32::max);
    let mut sources = vec![ANY];
    if !reg.meta().source.is_empty() {
        sources.push(tag(&reg.meta().source));
    }
    let mut out = Vec::with_capacity(sources.len() * (1 + labels.len()));
    for s in sources {
        out.push((key(s, ANY, ms, image), best));
        out.extend(labels.iter().map(|(l, score)| (key(s, tag(l), ms, image), *score)));
    }
    out
}

/// Moves a register's entries from what `old` had to what `new` has.
pub fn update(dbs: &Dbs, wtxn: &mut RwTxn, old: Option<&Register>, new: &Register) -> Result<(), StoreError> {
    let old = old.map(entries).unwrap_or_default();
    let new = entries(new);
    for (k, _) in &old {
        if !new.iter().any(|(n, _)| n == k) {
            dbs.by_content.delete(wtxn, k)?;
        }
    }
    for (k, score) in &new {
        if !old.contains(&(*k, *score)) {
            dbs.by_content.put(wtxn, k, &score.to_be_bytes())?;
        }
    }
    Ok(())
}

/// Whether `reg` answers `q` (time range and cursor aside): its winner has a detection of the
/// label (any, without one) scoring at least `min_score`, and its source is the one asked for.
pub fn matches(reg: &Register, q: &Search) -> bool {
    if q.source.as_ref().is_some_and(|s| *s != reg.meta().source) {
        return false;
    }
    let Some(labels) = winner_labels(reg) else {
        return false;
    };
    match &q.label {
        Some(label) => labels.iter().any(|(l, s)| l == label && *s >= q.min_score),
        // As the "any label" entry: the highest score, 0 for an empty result.
        None => labels.iter().map(|(_, s)| *s).fold(0.0f32, f32::max) >= q.min_score,
    }
}

/// One page of a content query, in (capture time, image id) order: the matching registers
/// (at most `q.limit`) and where the next page starts (`None`: the range is done).
pub fn search(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    q: &Search,
    max_scanned: usize,
) -> Result<(Vec<Register>, Option<Cursor>), StoreError> {
    let source = q.source.as_deref().map_or(ANY, tag);
    let label = q.label.as_deref().map_or(ANY, tag);
    let lo = match q.after {
        Some(c) => Bound::Excluded(key(source, label, c.ms, &c.image_id)),
        None => Bound::Included(key(source, label, q.from_ms, &ImageId([0; 32]))),
    };
    let hi = Bound::Excluded(key(source, label, q.to_ms, &ImageId([0; 32])));
    let range = (lo.as_ref().map(|k| k.as_slice()), hi.as_ref().map(|k| k.as_slice()));
    let mut found = Vec::new();
    let mut last: Option<Cursor> = None;
    for (scanned, item) in dbs.by_content.range(txn, &range)?.enumerate() {
        if found.len() >= q.limit as usize || scanned >= max_scanned {
            return Ok((found, last));
        }
        let (k, v) = item?;
        let at = position(k)?;
        last = Some(at);
        let score = f32::from_be_bytes(
            v.try_into().map_err(|_| StoreError::Corrupt("content index value of wrong length".into()))?,
        );
        if score < q.min_score {
            continue;
        }
        match lmdb::get(dbs, txn, &at.image_id)? {
            Some(reg) if reg.captured_at_ms() == at.ms && matches(&reg, q) => found.push(reg),
            Some(_) => {}
            None => return Err(StoreError::Corrupt(format!("content index names missing {}", at.image_id))),
        }
    }
    Ok((found, None))
}

/// Rebuilds every register's time-index hash and content entries (schema migration).
pub fn rebuild(dbs: &Dbs, wtxn: &mut RwTxn) -> Result<u64, StoreError> {
    let ids: Vec<ImageId> = dbs
        .registers
        .iter(wtxn)?
        .map(|item| {
            let (k, _) = item?;
            ImageId::from_slice(k).map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .collect::<Result<_, StoreError>>()?;
    for id in &ids {
        if let Some(reg) = lmdb::get(dbs, wtxn, id)? {
            dbs.by_time.put(wtxn, &lmdb::time_key(reg.captured_at_ms(), id), &reg.state_hash())?;
            update(dbs, wtxn, None, &reg)?;
        }
    }
    Ok(ids.len() as u64)
}

/// The newest `limit` registers that match `label` and `source` (`None`: any), newest first:
/// the console's filtered view.
pub fn newest(
    dbs: &Dbs,
    txn: &RoTxn<WithoutTls>,
    label: Option<&str>,
    source: Option<&str>,
    limit: usize,
) -> Result<Vec<Register>, StoreError> {
    let (s, l) = (source.map_or(ANY, tag), label.map_or(ANY, tag));
    let lo = key(s, l, 0, &ImageId([0; 32]));
    let hi = key(s, l, u64::MAX, &ImageId([0xff; 32]));
    let q = Search {
        label: label.map(str::to_string),
        source: source.map(str::to_string),
        min_score: 0.0,
        from_ms: 0,
        to_ms: u64::MAX,
        limit: 1,
        after: None,
    };
    let mut found = Vec::new();
    let range = (Bound::Included(&lo[..]), Bound::Included(&hi[..]));
    for item in dbs.by_content.rev_range(txn, &range)?.take(MAX_SCANNED_PER_PAGE) {
        if found.len() >= limit {
            break;
        }
        let at = position(item?.0)?;
        if let Some(reg) = lmdb::get(dbs, txn, &at.image_id)?
            && reg.captured_at_ms() == at.ms
            && matches(&reg, &q)
        {
            found.push(reg);
        }
    }
    Ok(found)
}
