//! The node's HTTP API (JSON), served on TCP or a Unix socket, and the operator's console
//! (HTML, `console`); see docs/NODE-INTERFACE.md.
//! Handlers only translate: reads go to the store handle, uploads and live-node lists to the
//! actor, majority reads to `majority`. Request bodies are capped (413 above the cap) and every
//! bad input is a 4xx with a message, never a panic.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use argus_interface::api::{self, Ack, FaultBody, Page, PeersBody, Status, StoreStatus, Uploaded};
use argus_protocol::ids::ImageId;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use libp2p::PeerId;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::daemon::actor::Command;
use crate::net::NetCommand;
use search::SearchQuery;
pub use state::{HttpState, NodeInfo, stored_result};

pub mod auth;
mod console;
mod majority;
pub mod search;
mod state;

type Reply = Result<Response, (StatusCode, String)>;

fn err(code: StatusCode, msg: impl Into<String>) -> (StatusCode, String) {
    (code, msg.into())
}

fn unavailable(e: impl std::fmt::Display) -> (StatusCode, String) {
    err(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The API's routes. `admin`: the admin endpoints exist, behind this bearer token; `upload`:
/// uploads need this one (see `auth`).
pub fn router(
    state: HttpState,
    max_body_bytes: usize,
    admin: Option<Arc<str>>,
    upload: Option<Arc<str>>,
) -> Router {
    let mut uploads = Router::new().route("/v1/images", post(upload_image));
    if let Some(token) = upload {
        uploads = uploads.route_layer(from_fn_with_state(token, auth::require_bearer));
    }
    let mut r = Router::new()
        .route("/", get(console::page))
        .route("/images/{image_id}", get(console::image))
        .route("/images/{image_id}/thumbnail.jpg", get(console::thumbnail))
        .route("/v1/status", get(status))
        .route("/v1/detections", get(list))
        .route("/v1/detections/{image_id}", get(detections))
        .route("/v1/registers/digest", get(digest))
        .route("/metrics", get(metrics))
        .merge(uploads);
    if let Some(token) = admin {
        let admin = Router::new()
            .route("/v1/admin/block", post(block))
            .route("/v1/admin/unblock", post(unblock))
            .route("/v1/admin/fault", post(set_fault))
            .route_layer(from_fn_with_state(token, auth::require_bearer));
        r = r.merge(admin);
    }
    r.layer(DefaultBodyLimit::max(max_body_bytes)).with_state(state)
}

/// Asks the node's actor something (`make` wraps the reply channel), for at most 5 s.
async fn ask<T>(
    s: &HttpState,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, (StatusCode, String)> {
    let (reply, rx) = oneshot::channel();
    s.core.send(make(reply)).await.map_err(unavailable)?;
    tokio::time::timeout(std::time::Duration::from_secs(5), rx)
        .await
        .map_err(unavailable)?
        .map_err(unavailable)
}

async fn live_nodes(s: &HttpState) -> Result<Vec<PeerId>, (StatusCode, String)> {
    ask(s, |reply| Command::LiveNodes { reply }).await
}

async fn status(State(s): State<HttpState>) -> Reply {
    let peers = s.net.peers().await.map_err(unavailable)?;
    let live = live_nodes(&s).await?;
    let bans = ask(&s, |reply| Command::Bans { reply }).await?;
    let summary = s.store.summary().await.map_err(unavailable)?;
    let core = s.metrics.core();
    Ok(Json(Status {
        peer_id: s.info.peer_id.to_string(),
        name: s.info.name.clone(),
        backend: s.info.backend.clone(),
        weights: s.info.models.summary(),
        models: s.info.models.infos(),
        peers: peers.iter().map(|p| p.to_string()).collect(),
        live_nodes: live.iter().map(|p| p.to_string()).collect(),
        queue_len: core.queue_len as u64,
        audit_ratio: core.audit_ratio_permille as f64 / 1000.0,
        fault_anomalous: s.fault_ppm.load(Ordering::Relaxed) as f64 / 1e6,
        uptime_ms: s.info.started.elapsed().as_millis() as u64,
        store: StoreStatus { registers: summary.registers },
        counters: s.metrics.snapshot().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        bans,
    })
    .into_response())
}

#[derive(Deserialize)]
struct DetQuery {
    consistency: Option<String>,
}

async fn detections(State(s): State<HttpState>, Path(id): Path<String>, Query(q): Query<DetQuery>) -> Reply {
    let image: ImageId =
        id.parse().map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad image id: {e}")))?;
    match q.consistency.as_deref() {
        None | Some("local") => {
            let reg = s.store.get(image).await.map_err(unavailable)?;
            match reg.as_ref().and_then(stored_result) {
                Some(v) => Ok(Json(v).into_response()),
                None => Err(err(StatusCode::NOT_FOUND, format!("no result for {image}"))),
            }
        }
        Some("majority") => {
            let live = live_nodes(&s).await?;
            let v = majority::majority(&s, image, live).await?;
            Ok(Json(v).into_response())
        }
        Some(other) => {
            Err(err(StatusCode::BAD_REQUEST, format!("consistency must be local or majority, not {other:?}")))
        }
    }
}

fn parse_cursor(c: &str) -> Result<(u64, ImageId), String> {
    let (ms, id) = c.split_once('-').ok_or("cursor is MS-IMAGEID")?;
    Ok((ms.parse().map_err(|_| "bad cursor time")?, id.parse().map_err(|_| "bad cursor id")?))
}

/// `GET /v1/detections`: every stored result in capture-time order, or with content filters
/// (`search`) the ones that match, from the content index.
async fn list(State(s): State<HttpState>, query: Result<Query<SearchQuery>, QueryRejection>) -> Reply {
    let Query(q) = query.map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    if q.is_content() {
        let search = q.to_search().map_err(|e| err(StatusCode::BAD_REQUEST, e))?;
        let page = match q.consistency.as_deref() {
            None | Some("local") => search::local(&s, search).await?,
            Some("majority") => search::majority(&s, search, live_nodes(&s).await?).await?,
            Some(other) => {
                let m = format!("consistency must be local or majority, not {other:?}");
                return Err(err(StatusCode::BAD_REQUEST, m));
            }
        };
        return Ok(Json(page).into_response());
    }
    let after = match q.since.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).map_err(|e| err(StatusCode::BAD_REQUEST, e))?),
    };
    let limit = q.limit.unwrap_or(api::DEFAULT_PAGE).clamp(1, api::MAX_PAGE);
    let page = s.store.list(after, limit).await.map_err(unavailable)?;
    let items = page.registers.iter().filter_map(stored_result).collect();
    let next = page.next.map(|(ms, id)| format!("{ms}-{id}"));
    Ok(Json(Page { items, next, asked: None, answered: None }).into_response())
}

async fn digest(State(s): State<HttpState>) -> Reply {
    let sum = s.store.summary().await.map_err(unavailable)?;
    Ok(Json(api::Digest { registers: sum.registers, fingerprint: hex::encode(sum.fingerprint) })
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// The model the image needs; photographs are the common upload, so `coco` by default.
    model: Option<String>,
    /// The source's name in the announcement (kept with the result); this node's name by default.
    source: Option<String>,
}

async fn upload_image(State(s): State<HttpState>, Query(q): Query<UploadQuery>, body: Bytes) -> Reply {
    if body.is_empty() {
        return Err(err(StatusCode::BAD_REQUEST, "empty body: send PNG or JPEG bytes"));
    }
    let model = q.model.unwrap_or_else(|| argus_model::ModelKind::Coco.to_string());
    let (reply, rx) = oneshot::channel();
    let source = q.source.filter(|n| !n.is_empty());
    s.core
        .send(Command::Announce { bytes: body.to_vec(), model, source, reply })
        .await
        .map_err(unavailable)?;
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), rx)
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    match r {
        Ok(id) => Ok((StatusCode::ACCEPTED, Json(Uploaded { image_id: id.to_string() })).into_response()),
        Err(e) if e.starts_with("unknown model") => {
            Err(err(StatusCode::BAD_REQUEST, format!("{e}: expected shapes or coco")))
        }
        Err(e) => Err(err(StatusCode::BAD_REQUEST, e)),
    }
}

/// Classic text or OpenMetrics, as the scraper asks (see `metrics::exposition`).
async fn metrics(State(s): State<HttpState>, headers: HeaderMap) -> Response {
    crate::metrics::exposition::respond(&s.registry, &headers)
}

fn parse_peers(b: &PeersBody) -> Result<Vec<PeerId>, (StatusCode, String)> {
    b.peers
        .iter()
        .map(|p| p.parse().map_err(|_| err(StatusCode::BAD_REQUEST, format!("bad peer id {p:?}"))))
        .collect()
}

async fn block(State(s): State<HttpState>, Json(b): Json<PeersBody>) -> Reply {
    let peers = parse_peers(&b)?;
    s.net.send(NetCommand::Block { peers }).await.map_err(unavailable)?;
    Ok(Json(Ack { ok: true }).into_response())
}

async fn unblock(State(s): State<HttpState>, Json(b): Json<PeersBody>) -> Reply {
    let peers = parse_peers(&b)?;
    let cmd = if b.all { NetCommand::UnblockAll } else { NetCommand::Unblock { peers } };
    s.net.send(cmd).await.map_err(unavailable)?;
    Ok(Json(Ack { ok: true }).into_response())
}

async fn set_fault(State(s): State<HttpState>, Json(b): Json<FaultBody>) -> Reply {
    if !(0.0..=1.0).contains(&b.anomalous) {
        return Err(err(StatusCode::BAD_REQUEST, "anomalous must be within 0..=1"));
    }
    s.fault_ppm.store((b.anomalous * 1e6).round() as u32, Ordering::Relaxed);
    tracing::warn!(rate = b.anomalous, "FAULT INJECTION: anomalous results rate set over the admin API");
    Ok(Json(Ack { ok: true }).into_response())
}
