//! Content queries between nodes (`SyncRequest::Search`, answered by `SyncResponse::Found`):
//! the registers whose winning result has a detection of a label, with a minimum score, from
//! a source, captured in a time range. A node answering `GET /v1/detections?...&consistency=
//! majority` asks every live node this and merges the pages.

use serde::{Deserialize, Serialize};

use crate::ids::ImageId;
use crate::limits::{MAX_NAME_LEN, MAX_SYNC_FETCH_LIMIT};
use crate::register_wire::RegisterWire;

/// A position in (capture time, image id) order: a page resumes strictly after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    pub ms: u64,
    pub image_id: ImageId,
}

/// What to find. Labels are class names under the result's model (`person`, `circle`); a
/// `None` filter matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A matching detection scores at least this (0..=1).
    pub min_score: f32,
    /// Capture time range, `[from_ms, to_ms)`.
    pub from_ms: u64,
    pub to_ms: u64,
    /// Most registers in the answer, 1..=`MAX_SYNC_FETCH_LIMIT`.
    pub limit: u32,
    /// Resume strictly after this position (which must lie in the range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Cursor>,
}

impl Search {
    /// Shape checks; `Validate` of `SyncRequest` calls it.
    pub fn validate(&self) -> Result<(), String> {
        for (what, v) in [("label", &self.label), ("source", &self.source)] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > MAX_NAME_LEN)
            {
                return Err(format!("{what}: {} bytes, 1..={MAX_NAME_LEN}", v.len()));
            }
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(format!("min_score {} outside 0..=1", self.min_score));
        }
        if self.from_ms > self.to_ms {
            return Err("time range ends before it starts".into());
        }
        if !(1..=MAX_SYNC_FETCH_LIMIT).contains(&self.limit) {
            return Err(format!("limit {} outside 1..={MAX_SYNC_FETCH_LIMIT}", self.limit));
        }
        if let Some(c) = self.after
            && !(self.from_ms..self.to_ms).contains(&c.ms)
        {
            return Err("cursor outside the time range".into());
        }
        Ok(())
    }
}

/// A page of registers in (capture time, image id) order. `next`: where the next page starts
/// (after the last register examined, which may be past the last one returned: a responder
/// stops after a bounded amount of index it walked); `None` when the range is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Found {
    pub registers: Vec<RegisterWire>,
    pub next: Option<Cursor>,
}
