//! Typed calls to one node's HTTP API, as fixed in `docs/NODE-INTERFACE.md`. Decoding is
//! lenient about extra fields (nodes may add some) but strict about the ones used.
//! Never retries: a failed call is an observation for the caller to record.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{self, Endpoint, HttpError, encode_query_value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{endpoint} {path}: HTTP {status}: {body}")]
    Status { endpoint: String, path: String, status: u16, body: String },
    #[error("{endpoint} {path}: cannot decode the answer: {message}")]
    Decode { endpoint: String, path: String, message: String },
    #[error("{endpoint}: detections cursor did not advance ({cursor})")]
    StuckCursor { endpoint: String, cursor: String },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct StoreStatus {
    pub registers: u64,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Status {
    pub peer_id: String,
    pub name: String,
    pub backend: String,
    pub weights: String,
    pub peers: Vec<String>,
    pub queue_len: u64,
    pub audit_ratio: f64,
    pub uptime_ms: u64,
    pub store: StoreStatus,
    pub counters: Value,
}

impl Status {
    /// A counter by name; accepts `{"name": n}` or `[["name", n], ...]`.
    pub fn counter(&self, key: &str) -> Option<f64> {
        match &self.counters {
            Value::Object(m) => m.get(key).and_then(Value::as_f64),
            Value::Array(pairs) => pairs.iter().find_map(|p| {
                let p = p.as_array()?;
                (p.first()?.as_str()? == key).then(|| p.get(1)?.as_f64())?
            }),
            _ => None,
        }
    }
}

/// `GET /v1/registers/digest`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Digest {
    pub registers: u64,
    pub fingerprint: String,
}

/// One stored result (`GET /v1/detections/{id}`), with the majority fields when asked for.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Detection {
    pub image_id: String,
    pub captured_at_ms: u64,
    pub digest: String,
    pub votes: Value,
    pub candidates: Value,
    pub detections: Vec<Value>,
    pub worker: Value,
    /// When this result was first produced (unix ms): the earliest attestation of the
    /// winner, if the node reports it. (`stored_ts_ms`, the latest attestation, includes
    /// audits that come later, so it is not used for latency.)
    #[serde(alias = "first_ts_ms")]
    pub stored_at_ms: Option<u64>,
    pub corroborating: Option<u64>,
    pub asked: Option<u64>,
    pub answered: Option<u64>,
}

/// A count given either as a number or as a list of things.
pub fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::Array(a) => Some(a.len() as u64),
        _ => None,
    }
}

/// `GET /v1/detections?since=&limit=`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    pub items: Vec<Detection>,
    pub next: Value,
}

/// Largest page the node serves.
pub const PAGE_LIMIT: usize = 1000;
/// Upper bound on pages read from one node (10 million results).
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Clone)]
pub struct NodeClient {
    pub endpoint: Endpoint,
    pub timeout: Duration,
}

impl NodeClient {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> NodeClient {
        NodeClient { endpoint, timeout }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Vec<u8>), ApiError> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let r = http::request(&self.endpoint, method, path, bytes.as_deref(), self.timeout).await?;
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

    async fn post_ok(&self, path: &str, body: Value) -> Result<(), ApiError> {
        match self.call("POST", path, Some(&body)).await? {
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
    pub async fn detection(&self, image_id: &str, majority: bool) -> Result<Option<Detection>, ApiError> {
        let q = if majority { "?consistency=majority" } else { "" };
        let path = format!("/v1/detections/{}{q}", encode_query_value(image_id));
        match self.call("GET", &path, None).await? {
            (200, body) => self.decode(&path, &body).map(Some),
            (404, _) => Ok(None),
            (status, body) => Err(self.status_error(&path, status, &body)),
        }
    }

    pub async fn detections_page(&self, since: &Value, limit: usize) -> Result<Page, ApiError> {
        let mut path = format!("/v1/detections?limit={}", limit.min(PAGE_LIMIT));
        match since {
            Value::Null => {}
            Value::String(s) => path.push_str(&format!("&since={}", encode_query_value(s))),
            other => path.push_str(&format!("&since={}", encode_query_value(&other.to_string()))),
        }
        self.get_json(&path).await
    }

    /// Every stored result, page by page.
    pub async fn all_detections(&self) -> Result<Vec<Detection>, ApiError> {
        let mut out = Vec::new();
        let mut cursor = Value::Null;
        for _ in 0..MAX_PAGES {
            let page = self.detections_page(&cursor, PAGE_LIMIT).await?;
            out.extend(page.items);
            if page.next.is_null() {
                return Ok(out);
            }
            if page.next == cursor {
                return Err(ApiError::StuckCursor {
                    endpoint: self.endpoint.to_string(),
                    cursor: cursor.to_string(),
                });
            }
            cursor = page.next;
        }
        Err(ApiError::StuckCursor { endpoint: self.endpoint.to_string(), cursor: "too many pages".into() })
    }

    /// Drops and refuses connections to `peers` (needs `--admin`).
    pub async fn block(&self, peers: &[String]) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/block", serde_json::json!({ "peers": peers })).await
    }

    pub async fn unblock_all(&self) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/unblock", serde_json::json!({ "all": true })).await
    }

    /// Sets the anomalous-result fault rate (0 turns it off; needs `--admin`).
    pub async fn set_anomalous(&self, rate: f64) -> Result<(), ApiError> {
        self.post_ok("/v1/admin/fault", serde_json::json!({ "anomalous": rate })).await
    }
}
