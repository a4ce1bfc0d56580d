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
//! source moves them in the same transaction (`update`). The queries that walk the index and
//! read the registers it names are in `query`.

use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::search::{Cursor, Search};
use heed::RwTxn;
use heed::types::Bytes;

use super::StoreError;

/// The index database.
pub type Index<'e> = heed::Database<'e, Bytes, Bytes>;

pub const CONTENT_KEY_BYTES: usize = 8 + 8 + 8 + 32;
/// The tag that stands for "any source" or "any label".
pub const ANY: [u8; 8] = [0; 8];

pub type Key = [u8; CONTENT_KEY_BYTES];

/// The 8-byte tag of a source or label name (never `ANY`).
pub fn tag(name: &str) -> [u8; 8] {
    let mut t = [0u8; 8];
    t.copy_from_slice(&blake3::hash(name.as_bytes()).as_bytes()[..8]);
    if t == ANY {
        t[7] = 1;
    }
    t
}

/// The index key of an image under a source and label tag.
pub fn key(source: [u8; 8], label: [u8; 8], ms: u64, image: &ImageId) -> Key {
    let mut k = [0u8; CONTENT_KEY_BYTES];
    k[..8].copy_from_slice(&source);
    k[8..16].copy_from_slice(&label);
    k[16..24].copy_from_slice(&ms.to_be_bytes());
    k[24..].copy_from_slice(image.as_bytes());
    k
}

/// Where an index key stands in (capture time, image id) order.
pub fn position(k: &[u8]) -> Result<Cursor, StoreError> {
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

/// Moves a register's entries from `old` (its `entries` before a change; empty for a new
/// register) to what `new` has.
pub fn update(index: &Index, wtxn: &mut RwTxn, old: &[(Key, f32)], new: &Register) -> Result<(), StoreError> {
    let new = entries(new);
    for (k, _) in old {
        if !new.iter().any(|(n, _)| n == k) {
            index.delete(wtxn, k)?;
        }
    }
    for (k, score) in &new {
        if !old.contains(&(*k, *score)) {
            index.put(wtxn, k, &score.to_be_bytes())?;
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
