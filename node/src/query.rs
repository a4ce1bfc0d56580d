//! Majority reads: ask every live node for its register of an image (in parallel, each with a
//! timeout), count which winner digest most nodes hold, answer it with how many nodes
//! corroborate it, how many were asked and how many answered, then repair our own copy by
//! merging what the others hold (a union: it can only add votes and candidates).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_protocol::ids::{ImageId, ResultDigest};
use argus_protocol::register::Register;
use argus_protocol::rpc::QueryRequest;
use axum::http::StatusCode;
use futures::future::join_all;
use libp2p::PeerId;
use serde_json::{Value, json};

use crate::http::{HttpState, register_json};
use crate::net::{Outbound, Response};

/// Counts nodes per winner digest; `None` (a node without the image) counts as its own value.
pub fn tally(winners: &[Option<ResultDigest>]) -> Option<(ResultDigest, usize)> {
    let mut counts: HashMap<ResultDigest, usize> = HashMap::new();
    for d in winners.iter().flatten() {
        *counts.entry(*d).or_default() += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
}

async fn ask(s: &HttpState, peer: PeerId, image: ImageId) -> Option<Option<Register>> {
    let timeout = Duration::from_millis(s.query_timeout_ms);
    let req = Outbound::Query(QueryRequest { image_id: image });
    match tokio::time::timeout(timeout, s.net.request(peer, req)).await {
        Ok(Ok(Response::Query(r))) => {
            Some(r.register.and_then(|w| Register::from_wire(&w).ok().map(|(reg, _)| reg)))
        }
        _ => None,
    }
}

pub async fn majority(
    s: &HttpState,
    image: ImageId,
    live: Vec<PeerId>,
) -> Result<Value, (StatusCode, String)> {
    let unavailable = |e: crate::store::StoreError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let own = s.store.get(image).await.map_err(unavailable)?;
    let answers = join_all(live.iter().map(|p| ask(s, *p, image))).await;
    let asked = live.len() + 1;
    let answered = 1 + answers.iter().filter(|a| a.is_some()).count();
    let mut winners = vec![own.as_ref().and_then(|r| r.winner().map(|(d, _)| *d))];
    let mut merged = own.clone();
    for reg in answers.into_iter().flatten().flatten() {
        winners.push(reg.winner().map(|(d, _)| *d));
        match merged.as_mut() {
            Some(m) => {
                let _ = m.merge(&reg);
            }
            None => merged = Some(reg),
        }
    }
    let Some((digest, corroborating)) = tally(&winners) else {
        return Err((StatusCode::NOT_FOUND, format!("no node among {answered} answering holds {image}")));
    };
    let Some(merged) = merged else {
        return Err((StatusCode::NOT_FOUND, format!("no result for {image}")));
    };
    // Read repair: store the union when it holds more than our own copy.
    if own.as_ref().is_none_or(|o| o.state_hash() != merged.state_hash())
        && let Ok(m) = s.store.merge(merged.clone()).await
        && m.changed
    {
        s.metrics.sync_records_repaired.fetch_add(1, Ordering::Relaxed);
    }
    let mut v = register_json(&merged).unwrap_or_else(|| json!({}));
    if let Some(cand) = merged.candidate(&digest) {
        v["digest"] = json!(digest.to_string());
        v["votes"] = json!(cand.votes());
        v["model"] = json!(cand.model().name);
        v["weights_id"] = json!(cand.model().weights.to_string());
        v["detections"] = crate::models::labelled_json(&cand.model().name, cand.detections());
    }
    v["corroborating"] = json!(corroborating);
    v["asked"] = json!(asked);
    v["answered"] = json!(answered);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_picks_the_most_held_digest_and_ignores_absent() {
        let a = ResultDigest([1; 32]);
        let b = ResultDigest([2; 32]);
        assert_eq!(tally(&[Some(a), Some(b), Some(b), None]), Some((b, 2)));
        assert_eq!(tally(&[None, None]), None);
    }
}
