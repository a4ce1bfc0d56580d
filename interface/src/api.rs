//! The bodies of the node's HTTP API (`docs/NODE-INTERFACE.md`). The node serialises these
//! types and the runner, the query client and the tests deserialise them, so a field exists
//! in both or in neither. Decoding ignores fields it does not know (a newer node may add
//! some) and fails on a missing or mistyped field this version relies on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most items in one page of `GET /v1/detections`.
pub const MAX_PAGE: usize = 1_000;
/// The page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

/// A model a node runs (`models` in the ready line and in `GET /v1/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `shapes` or `coco`.
    pub name: String,
    /// The first 8 hex digits of `weights_id`.
    pub weights: String,
    /// BLAKE3 of the weights file, 64 hex digits.
    pub weights_id: String,
    pub classes: usize,
}

/// `store` in `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub registers: u64,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub peer_id: String,
    pub name: String,
    /// `ndarray`, `flex` or `wgpu`.
    pub backend: String,
    /// The models in one string, `shapes:6e383c93 coco:1a2b3c4d`.
    pub weights: String,
    pub models: Vec<ModelInfo>,
    /// Peers with an open connection.
    pub peers: Vec<String>,
    /// Nodes this node has heard a heartbeat from recently (itself excluded).
    pub live_nodes: Vec<String>,
    pub queue_len: u64,
    pub audit_ratio: f64,
    /// The anomalous-result fault rate (0 unless fault injection is on).
    pub fault_anomalous: f64,
    pub uptime_ms: u64,
    pub store: StoreStatus,
    /// Every counter of `/metrics` by name, without the `argus_` prefix.
    pub counters: BTreeMap<String, u64>,
    /// Peers this node has banned (too many offences, or a black hole), while the ban lasts.
    #[serde(default)]
    pub bans: Vec<BanInfo>,
}

/// One ban in `Status::bans`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanInfo {
    pub peer_id: String,
    /// `bad_gossip`, `bad_attestation` or `stalled`.
    pub offence: String,
    /// When the ban began (the node's wall clock), and how long it still lasts.
    pub since_unix_ms: u64,
    pub remaining_ms: u64,
}

impl Status {
    /// A counter by name; `None` when this node does not have it.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters.get(name).copied()
    }
}

/// `GET /v1/registers/digest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub registers: u64,
    /// Order-independent fingerprint of the whole store (hex); equal on two nodes exactly when
    /// they hold identical registers.
    pub fingerprint: String,
}

/// A box in pixels of the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

/// One detected object with its class name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub class: u16,
    /// The class name under the result's model; `"?"` for a class or model this build lacks.
    pub label: String,
    pub score: f32,
    pub bbox: BBox,
}

/// The stored result of one image: its register's winner (`GET /v1/detections/{id}`, and the
/// items of a page). With `?consistency=majority` the three majority fields are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredResult {
    pub image_id: String,
    pub captured_at_ms: u64,
    /// BLAKE3 of the winning result.
    pub digest: String,
    /// Nodes that attest the winner.
    pub votes: u64,
    /// Distinct results in the register.
    pub candidates: u64,
    /// The node whose attestation of the winner is the earliest: the worker that produced it.
    pub worker: Option<String>,
    /// Wall time of the earliest attestation of the winner (when it was first produced).
    pub first_ts_ms: Option<u64>,
    /// Wall time of the latest attestation (audits that agree come later).
    pub stored_ts_ms: u64,
    pub model: String,
    pub weights_id: String,
    pub detections: Vec<Detection>,
    /// The name of the source that announced the image (unattested), when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Majority reads: the nodes holding the winner (content queries: the nodes that
    /// returned the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corroborating: Option<u64>,
    /// Majority reads: the nodes asked, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<u64>,
    /// Majority reads: the nodes that answered, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
}

/// `GET /v1/detections?since=CURSOR&limit=N`, with the content filters `label`, `min_score`,
/// `source`, `from_ms`, `to_ms` and `consistency=majority`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<StoredResult>,
    /// The cursor of the next page; `None` after the last one.
    pub next: Option<String>,
    /// Majority content queries: the nodes asked, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked: Option<u64>,
    /// Majority content queries: the nodes that answered, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
}

/// The answer to `POST /v1/images` (202 Accepted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub image_id: String,
}

/// Body of `POST /v1/admin/block` and `/v1/admin/unblock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersBody {
    #[serde(default)]
    pub peers: Vec<String>,
    /// Unblock only: every blocked peer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
}

/// Body of `POST /v1/admin/fault`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultBody {
    /// The anomalous-result rate, within 0..=1; 0 turns the fault off.
    pub anomalous: f64,
}

/// The answer to an admin call that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub ok: bool,
}

/// One supervised node, as the monitor's `GET /v1/status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorNodeStatus {
    pub name: String,
    /// down, starting, up or gave_up.
    pub state: String,
    pub pid: Option<u32>,
    pub peer_id: Option<String>,
    pub http: Option<String>,
    /// Processes started for this node so far.
    pub incarnation: u64,
    pub restarts: u64,
    pub restarts_in_window: u32,
    pub last_heartbeat_age_ms: Option<u64>,
    /// FAIL verdicts against it inside the audit window.
    pub audit_fails: u32,
    pub last_reason: Option<String>,
    /// Whether a restart removed its `--fault` argument.
    pub fault_dropped: bool,
    pub heartbeat: Option<HeartbeatSummary>,
}

/// The monitor's `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    pub peer_id: String,
    pub uptime_ms: u64,
    pub peers_connected: u64,
    pub heartbeats_total: u64,
    pub verdicts_pass_total: u64,
    pub verdicts_fail_total: u64,
    /// Restarts by reason kind: unhealthy, failed_audits, exited, not_ready.
    pub restarts_total: BTreeMap<String, u64>,
    pub give_ups_total: u64,
    /// Times a node's heartbeats stopped reaching the monitor (no restart follows).
    #[serde(default)]
    pub unreachable_total: u64,
    /// Health probes that failed or timed out.
    #[serde(default)]
    pub probes_failed_total: u64,
    pub nodes: Vec<MonitorNodeStatus>,
}

/// What a node last said about itself in its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatSummary {
    pub seq: u64,
    pub uptime_ms: u64,
    pub queue_len: u32,
    pub audit_ratio: f32,
    pub images_processed: u64,
    pub audits_failed_against: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_result_round_trips_and_majority_fields_appear_only_when_set() {
        let r = StoredResult {
            image_id: "ab".repeat(32),
            detections: vec![Detection {
                class: 16,
                label: "dog".into(),
                score: 0.5,
                bbox: BBox { x_min: 1.0, y_min: 2.0, x_max: 3.0, y_max: 4.0 },
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("corroborating"), "{text}");
        assert_eq!(serde_json::from_str::<StoredResult>(&text).unwrap(), r);
        let m = StoredResult { corroborating: Some(2), asked: Some(3), answered: Some(3), ..r };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!((v["corroborating"].as_u64(), v["asked"].as_u64()), (Some(2), Some(3)));
    }

    #[test]
    fn decoding_ignores_new_fields_and_refuses_missing_ones() {
        let status = serde_json::to_value(Status::default()).unwrap();
        let mut newer = status.clone();
        newer["added_later"] = serde_json::json!(1);
        assert!(serde_json::from_value::<Status>(newer).is_ok());
        let mut older = status;
        older.as_object_mut().unwrap().remove("counters");
        assert!(serde_json::from_value::<Status>(older).is_err());
        // Admin bodies are strict: a misspelt key is an error, not an empty request.
        assert!(serde_json::from_str::<PeersBody>(r#"{"peer":["x"]}"#).is_err());
        assert!(serde_json::from_str::<FaultBody>(r#"{"anomalous":0.5,"x":1}"#).is_err());
    }
}
