//! Majority reads: ask every live node for its register of an image (in parallel, each with a
//! timeout), then let `argus_state::majority` count which winner digest most nodes hold; answer
//! it with how many nodes corroborate it, how many were asked and how many answered, and repair
//! our own copy with the union of what the others hold.

use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_interface::api::StoredResult;
use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::rpc::QueryRequest;
use axum::http::StatusCode;
use futures::future::join_all;
use libp2p::PeerId;

use super::state::{HttpState, stored_result};
use crate::net::{Outbound, Response};

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
) -> Result<StoredResult, (StatusCode, String)> {
    let unavailable = |e: crate::daemon::store::StoreError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let own = s.store.get(image).await.map_err(unavailable)?;
    let answers = join_all(live.iter().map(|p| ask(s, *p, image))).await;
    let asked = live.len() + 1;
    let answered = 1 + answers.iter().filter(|a| a.is_some()).count();
    let answers: Vec<Option<Register>> = answers.into_iter().flatten().collect();
    let read = argus_state::majority::read(own.as_ref(), &answers);
    let Some((digest, corroborating)) = read.winner else {
        return Err((StatusCode::NOT_FOUND, format!("no node among {answered} answering holds {image}")));
    };
    let Some(merged) = read.merged else {
        return Err((StatusCode::NOT_FOUND, format!("no result for {image}")));
    };
    // Read repair: store the union when it holds more than our own copy.
    if read.repair
        && let Ok(m) = s.store.merge(merged.clone()).await
        && m.changed
    {
        s.metrics.sync_records_repaired.fetch_add(1, Ordering::Relaxed);
    }
    // `merged` holds the union; its own winner can differ from the majority's, which is the
    // one answered.
    let Some(mut v) = stored_result(&merged) else {
        return Err((StatusCode::NOT_FOUND, format!("no result for {image}")));
    };
    if let Some(cand) = merged.candidate(&digest) {
        v.digest = digest.to_string();
        v.votes = cand.votes() as u64;
        v.model = cand.model().name.clone();
        v.weights_id = cand.model().weights.to_string();
        v.detections = crate::models::labelled(&cand.model().name, cand.detections());
    }
    v.corroborating = Some(corroborating as u64);
    v.asked = Some(asked as u64);
    v.answered = Some(answered as u64);
    Ok(v)
}
