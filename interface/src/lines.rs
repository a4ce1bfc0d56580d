//! The JSON lines `argus node`, `argus send` and `argus monitor` print on stdout, one object
//! per line, tagged by `event`. Logs go to stderr, so stdout carries only these. The scenario
//! runner and the tests read them with `parse`.

use serde::{Deserialize, Serialize};

use crate::api::ModelInfo;

/// `argus node`: exactly one line, once it listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeLine {
    Ready(NodeReady),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeReady {
    pub peer_id: String,
    pub name: String,
    /// libp2p listen addresses (multiaddrs without `/p2p/`).
    pub listen: Vec<String>,
    /// The HTTP API: `IP:PORT` or `unix:/path`.
    pub http: String,
    pub backend: String,
    /// The models in one string, `shapes:6e383c93 coco:1a2b3c4d`.
    pub weights: String,
    pub models: Vec<ModelInfo>,
}

/// `argus send`: `ready`, then one `announced` line per image, then `done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SendLine {
    Ready { peer_id: String },
    Announced(Announced),
    Done(SendDone),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// BLAKE3 of the image bytes, 64 hex digits.
    pub image_id: String,
    /// Position of the image in this sender's run, from 0.
    pub seq: u64,
    pub model: String,
    /// Wall time of the capture (unix ms).
    pub captured_at_ms: u64,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendDone {
    pub announced: u64,
    /// Images a node confirmed a stored result for.
    pub confirmed: u64,
    pub unconfirmed: u64,
    /// Announcements repeated because no node had a result yet.
    pub reannounced: u64,
}

/// `argus monitor`: its own `ready`, then one line per decision about a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MonitorLine {
    Ready {
        peer_id: String,
        http: String,
        nodes: u64,
        at_ms: u64,
    },
    /// A node process is up (its own ready line was read).
    Started {
        node: String,
        peer_id: String,
        pid: Option<u32>,
        http: Option<String>,
        incarnation: u64,
        at_ms: u64,
    },
    Restart(Restart),
    /// A node's heartbeats stopped reaching the monitor (nothing is restarted for it).
    Unreachable {
        node: String,
        peer_id: Option<String>,
        silent_ms: u64,
        at_ms: u64,
    },
    /// The restart budget is spent; the node stays down.
    GiveUp {
        node: String,
        peer_id: Option<String>,
        reason: String,
        kind: String,
        at_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    pub node: String,
    pub peer_id: Option<String>,
    pub reason: String,
    /// `unhealthy`, `failed_audits`, `exited` or `not_ready`.
    pub kind: String,
    pub backoff_ms: u64,
    /// Whether the restart removed the node's `--fault` argument.
    pub fault_dropped: bool,
    /// Wall time of the decision (unix ms).
    pub at_ms: u64,
}

/// One line as JSON text (no newline).
pub fn to_line<T: Serialize>(line: &T) -> String {
    // These types hold only strings, numbers and lists: serialising cannot fail.
    serde_json::to_string(line).unwrap_or_default()
}

/// Prints one line on stdout and flushes it; a closed stdout is not an error.
pub fn print<T: Serialize>(line: &T) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", to_line(line));
    let _ = out.flush();
}

/// Parses one line; `None` for anything else (a blank line, a foreign line, another event).
pub fn parse<T: serde::de::DeserializeOwned>(line: &str) -> Option<T> {
    serde_json::from_str(line.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tagged_by_event_and_round_trip() {
        let a = SendLine::Announced(Announced {
            image_id: "0".repeat(64),
            seq: 3,
            model: "coco".into(),
            captured_at_ms: 1,
            size_bytes: 2,
        });
        let text = to_line(&a);
        assert!(text.starts_with(r#"{"event":"announced","image_id":"#), "{text}");
        assert_eq!(parse::<SendLine>(&text), Some(a));
        let r = MonitorLine::GiveUp {
            node: "n1".into(),
            peer_id: None,
            reason: "x".into(),
            kind: "exited".into(),
            at_ms: 9,
        };
        assert_eq!(parse::<MonitorLine>(&to_line(&r)), Some(r));
        assert_eq!(parse::<SendLine>(r#"{"event":"restart","node":"n1"}"#), None);
        assert_eq!(parse::<SendLine>("not json"), None);
    }
}
