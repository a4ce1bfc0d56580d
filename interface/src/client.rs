//! Typed calls to one node's HTTP API (`crate::api`). Decoding is lenient about extra fields
//! (nodes may add some) but strict about the ones used. Never retries: a failed call is an
//! observation for the caller to record.

use std::time::Duration;

use serde::Serialize;

use crate::api::{self, Digest, FaultBody, Page, PeersBody, Status, StoredResult};
use crate::http::{self, Body, Endpoint, HttpError, encode_query_value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{endpoint} {path}: HTTP {status}: {body}")]
    Status { endpoint: String, path: String, status: u16, body: String },
    #[error("{endpoint} {path}: cannot decode the answer: {message}")]
    Decode { endpoint: String, path: String, message: String },
    #[error("{path}: cannot encode the request body: {message}")]
    Encode { path: String, message: String },
    #[error("{endpoint}: detections cursor did not advance ({cursor})")]
    StuckCursor { endpoint: String, cursor: String },
}

/// Upper bound on pages read from one node (10 million results).
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct NodeClient {
    pub endpoint: Endpoint,
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer` (the node's `--admin-token`, for the admin calls).
    pub token: Option<String>,
}

impl NodeClient {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> NodeClient {
        NodeClient { endpoint, timeout, token: None }
    }

    /// This client, sending `token` as a bearer token with every call.
    pub fn with_token(mut self, token: Option<String>) -> NodeClient {
        self.token = token;
        self
    }

    async fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<(u16, Vec<u8>), ApiError> {
        let body = body.map(Body::json);
        let r =
            http::request_as(&self.endpoint, method, path, body, self.timeout, self.token.as_deref()).await?;
        Ok((r.status, r.body))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::Decode {
            endpoint: self.endpoint.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })
    }

    fn status_error(&self, path: &str, status: u16, body: &[u8]) -> ApiError {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
        ApiError::Status { endpoint: self.endpoint.to_string(), path: path.to_string(), status, body: text }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        match self.call("GET", path, None).await? {
            (200, body) => self.decode(path, &body),
            (status, body) => Err(self.status_error(path, status, &body)),
        }
    }

    async fn post_ok<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ApiError::Encode { path: path.to_string(), message: e.to_string() })?;
        match self.call("POST", path, Some(&bytes)).await? {
            (200..=299, _) => Ok(()),
            (status, body) => Err(self.status_error(path, status, &body)),
        }
    }

    pub async fn status(&self) -> Result<Status, ApiError> {
        self.get_json("/v1/status").await
    }

    pub async fn digest(&self) -> Result<Digest, ApiError> {
        self.get_json("/v1/registers/digest").await
    }

    /// One image's stored result; `None` on 404.
    pub async fn detection(&self, image_id: &str, majority: bool) -> Result<Option<StoredResult>, ApiError> {
        let q = if majority { "?consistency=majority" } else { "" };
        let path = format!("/v1/detections/{}{q}", encode_query_value(image_id));
        match self.call("GET", &path, None).await? {
            (200, body) => self.decode(&path, &body).map(Some),
            (404, _) => Ok(None),
            (status, body) => Err(self.status_error(&path, status, &body)),
        }
    }

    /// One page of stored results after `since` (from the start when `None`).
    pub async fn detections_page(&self, since: Option<&str>, limit: usize) -> Result<Page, ApiError> {
        let mut path = format!("/v1/detections?limit={}", limit.clamp(1, api::MAX_PAGE));
        if let Some(s) = since {
            path.push_str(&format!("&since={}", encode_query_value(s)));
        }
        self.get_json(&path).await
    }

    /// Every stored result, page by page.
    pub async fn all_detections(&self) -> Result<Vec<StoredResult>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.detections_page(cursor.as_deref(), api::MAX_PAGE).await?;
            out.extend(page.items);
            let Some(next) = page.next else {
                return Ok(out);
            };
            if cursor.as_ref() == Some(&next) {
                return Err(ApiError::StuckCursor { endpoint: self.endpoint.to_string(), cursor: next });
            }
            cursor = Some(next);
        }
        Err(ApiError::StuckCursor { endpoint: self.endpoint.to_string(), cursor: "too many pages".into() })
    }

    /// Drops and refuses connections to `peers` (needs `--admin`).
    pub async fn block(&self, peers: &[String]) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/block", &PeersBody { peers: peers.to_vec(), all: false }).await
    }

    pub async fn unblock_all(&self) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/unblock", &PeersBody { peers: Vec::new(), all: true }).await
    }

    /// Sets the anomalous-result fault rate (0 turns it off; needs `--admin`).
    pub async fn set_anomalous(&self, rate: f64) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/fault", &FaultBody { anomalous: rate }).await
    }
}
