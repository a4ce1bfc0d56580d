//! Content queries: walks of the content index (`content`) that read the registers it names
//! and check each against the query. Read-only; runs on the store thread.

use std::ops::Bound;

use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::search::{Cursor, Search};
use heed::{RoTxn, WithoutTls};

use super::StoreError;
use super::content::{ANY, key, matches, position, tag};
use super::lmdb::{self, Dbs};

/// Most index entries one page walks before it answers with what it found and a cursor: a
/// filter on a high `min_score` cannot make one request walk the whole index.
pub const MAX_SCANNED_PER_PAGE: usize = 100_000;

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
        found.extend(hit(dbs, txn, at, q)?);
    }
    Ok((found, None))
}

/// The register an index entry at `at` names, when it answers `q` (an entry may outlive a
/// moved capture time only within its own transaction, so a missing register is corruption).
fn hit(dbs: &Dbs, txn: &RoTxn<WithoutTls>, at: Cursor, q: &Search) -> Result<Option<Register>, StoreError> {
    match lmdb::get(dbs, txn, &at.image_id)? {
        Some(reg) => Ok((reg.captured_at_ms() == at.ms && matches(&reg, q)).then_some(reg)),
        None => Err(StoreError::Corrupt(format!("content index names missing {}", at.image_id))),
    }
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
        found.extend(hit(dbs, txn, position(item?.0)?, &q)?);
    }
    Ok(found)
}
