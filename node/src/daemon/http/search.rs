//! Content queries over HTTP: `GET /v1/detections?label=…&min_score=…&source=…&from_ms=…&to_ms=…`
//! answered from this node's content index, or with `consistency=majority` from every live
//! node's, merged.
//!
//! A majority page is exact for the nodes that answered: each node answers one page of the
//! same query from the same cursor, and a node's page covers the range only up to its own
//! `next`; so the merged page ends at the smallest `next` any node gave (everything before it
//! was seen by every node that answered), and the next page resumes there. Registers of one
//! image from several nodes are merged (the register join) and the merged register is checked
//! against the query again; each item says how many nodes returned it.

use std::collections::BTreeMap;
use std::time::Duration;

use argus_interface::api::{self, Page};
use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::rpc::{SyncRequest, SyncResponse};
use argus_protocol::search::{Cursor, Found, Search};
use axum::http::StatusCode;
use futures::future::join_all;
use libp2p::PeerId;
use serde::Deserialize;

use super::state::{HttpState, stored_result};
use crate::daemon::store::content::matches;
use crate::net::{Outbound, Response};

/// The query string of `GET /v1/detections` with content filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub label: Option<String>,
    pub min_score: Option<f32>,
    pub source: Option<String>,
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// `MS-IMAGEID`: the `next` of the previous page.
    pub since: Option<String>,
    pub limit: Option<usize>,
    pub consistency: Option<String>,
}

impl SearchQuery {
    /// Whether any content filter is given (otherwise the plain time-ordered listing answers).
    pub fn is_content(&self) -> bool {
        self.label.is_some()
            || self.min_score.is_some()
            || self.source.is_some()
            || self.from_ms.is_some()
            || self.to_ms.is_some()
            || self.consistency.is_some()
    }

    /// The protocol's query, checked (`Search::validate`), with a clear error for each bad
    /// parameter.
    pub fn to_search(&self) -> Result<Search, String> {
        let after = match self.since.as_deref() {
            None | Some("") => None,
            Some(c) => Some(super::parse_cursor(c).map(|(ms, image_id)| Cursor { ms, image_id })?),
        };
        let limit = self.limit.unwrap_or(api::DEFAULT_PAGE);
        let max = argus_protocol::limits::MAX_SYNC_FETCH_LIMIT as usize;
        if !(1..=max).contains(&limit) {
            return Err(format!("limit {limit} outside 1..={max} for a content query"));
        }
        let q = Search {
            label: self.label.clone().filter(|l| !l.is_empty()),
            source: self.source.clone().filter(|s| !s.is_empty()),
            min_score: self.min_score.unwrap_or(0.0),
            from_ms: self.from_ms.unwrap_or(0),
            to_ms: self.to_ms.unwrap_or(u64::MAX),
            limit: limit as u32,
            after,
        };
        q.validate()?;
        Ok(q)
    }
}

fn cursor_text(c: &Cursor) -> String {
    format!("{}-{}", c.ms, c.image_id)
}

fn cursor_of(reg: &Register) -> Cursor {
    Cursor { ms: reg.captured_at_ms(), image_id: *reg.image_id() }
}

/// One page from this node's index.
pub async fn local(s: &HttpState, q: Search) -> Result<Page, (StatusCode, String)> {
    let (registers, next) =
        s.store.search(q).await.map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Page {
        items: registers.iter().filter_map(stored_result).collect(),
        next: next.as_ref().map(cursor_text),
        asked: None,
        answered: None,
    })
}

/// A peer's page: its registers verified (a register that fails is dropped), `None` when it
/// did not answer in time.
async fn ask(s: &HttpState, peer: PeerId, q: Search) -> Option<(Vec<Register>, Option<Cursor>)> {
    let timeout = Duration::from_millis(s.query_timeout_ms);
    let req = Outbound::Sync(SyncRequest::Search(q));
    match tokio::time::timeout(timeout, s.net.request(peer, req)).await {
        Ok(Ok(Response::Sync(SyncResponse::Found(Found { registers, next })))) => {
            let regs = registers.iter().filter_map(|w| Register::from_wire(w).ok().map(|(r, _)| r)).collect();
            Some((regs, next))
        }
        _ => None,
    }
}

/// One page merged from every live node's answer (this node's included).
pub async fn majority(s: &HttpState, q: Search, live: Vec<PeerId>) -> Result<Page, (StatusCode, String)> {
    let own =
        s.store.search(q.clone()).await.map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let answers = join_all(live.iter().map(|p| ask(s, *p, q.clone()))).await;
    let asked = live.len() as u64 + 1;
    let answered = 1 + answers.iter().filter(|a| a.is_some()).count() as u64;
    let pages: Vec<(Vec<Register>, Option<Cursor>)> =
        std::iter::once(own).chain(answers.into_iter().flatten()).collect();
    let (items, next) = merge_pages(&q, pages);
    Ok(Page {
        items: items
            .into_iter()
            .filter_map(|(reg, n)| {
                let mut v = stored_result(&reg)?;
                v.corroborating = Some(n);
                Some(v)
            })
            .collect(),
        next: next.as_ref().map(cursor_text),
        asked: Some(asked),
        answered: Some(answered),
    })
}

/// Merges nodes' pages of the same query (see the module doc): the matching registers in
/// order, each with how many pages held it, and where the next page starts.
pub fn merge_pages(
    q: &Search,
    pages: Vec<(Vec<Register>, Option<Cursor>)>,
) -> (Vec<(Register, u64)>, Option<Cursor>) {
    let bound = pages.iter().filter_map(|(_, next)| *next).min();
    let mut by_image: BTreeMap<ImageId, (Register, u64)> = BTreeMap::new();
    for (registers, _) in pages {
        for reg in registers {
            match by_image.get_mut(reg.image_id()) {
                Some((held, n)) => {
                    if held.merge(&reg).is_ok() {
                        *n += 1;
                    }
                }
                None => {
                    by_image.insert(*reg.image_id(), (reg, 1));
                }
            }
        }
    }
    let in_page = |c: &Cursor| {
        (q.from_ms..q.to_ms).contains(&c.ms)
            && q.after.is_none_or(|a| *c > a)
            && bound.is_none_or(|b| *c <= b)
    };
    let mut items: Vec<(Cursor, Register, u64)> = by_image
        .into_values()
        .map(|(reg, n)| (cursor_of(&reg), reg, n))
        .filter(|(c, reg, _)| in_page(c) && matches(reg, q))
        .collect();
    items.sort_by_key(|item| item.0);
    let limit = q.limit as usize;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|(c, _, _)| *c)
    } else {
        bound
    };
    (items.into_iter().map(|(_, reg, n)| (reg, n)).collect(), next)
}
