//! `docs/NODE-INTERFACE.md` against the types: its example lines parse as the types, and the
//! field lists it gives for the JSON bodies are exactly the fields the types have. A field
//! added to a type and not to the doc (or the other way round) fails here.

use std::collections::BTreeSet;

use argus_interface::api::{Status, StoredResult};
use argus_interface::lines::{self, NodeLine, SendLine};

fn doc() -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/NODE-INTERFACE.md");
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The one-line JSON examples in the doc that start with `{"event":"<event>"`.
fn examples(doc: &str, event: &str) -> Vec<String> {
    let start = format!("{{\"event\":\"{event}\"");
    doc.lines()
        .filter_map(|l| {
            let i = l.find(&start)?;
            let rest = &l[i..];
            let end = rest.rfind('}')?;
            Some(rest[..=end].to_string())
        })
        .collect()
}

/// Every `"name"` quoted in the bullet of the doc that starts with `- \`{head}`, up to the next
/// bullet.
fn quoted_in_bullet(doc: &str, head: &str) -> BTreeSet<String> {
    let start = doc.find(&format!("- `{head}")).unwrap_or_else(|| panic!("no bullet {head:?}"));
    let rest = &doc[start + 2..];
    let end = rest.find("\n- ").unwrap_or(rest.len());
    let text = &rest[..end];
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(String::from)
        .collect()
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn example_lines_parse_as_the_types() {
    let d = doc();
    let ready = examples(&d, "ready");
    assert!(
        ready.iter().any(|l| matches!(lines::parse::<NodeLine>(l), Some(NodeLine::Ready(_)))),
        "{ready:?}"
    );
    let announced = examples(&d, "announced");
    assert!(!announced.is_empty());
    for l in announced {
        assert!(matches!(lines::parse::<SendLine>(&l), Some(SendLine::Announced(_))), "{l}");
    }
    let done = examples(&d, "done");
    assert!(done.iter().any(|l| matches!(lines::parse::<SendLine>(l), Some(SendLine::Done(_)))), "{done:?}");
}

#[test]
fn documented_body_fields_are_the_types_fields() {
    let d = doc();
    let status = keys(&serde_json::to_value(Status::default()).unwrap());
    let documented = quoted_in_bullet(&d, "GET /v1/status");
    // `registers` is the field of `store`, the next three of each entry of `bans` (with
    // `peer_id`); the rest are top-level.
    let nested = ["registers", "offence", "since_unix_ms", "remaining_ms"].map(String::from);
    let expected: BTreeSet<String> = status.iter().cloned().chain(nested).collect();
    assert_eq!(documented, expected, "GET /v1/status");
    let full = StoredResult {
        corroborating: Some(1),
        asked: Some(1),
        answered: Some(1),
        source: "cam-1".into(),
        ..Default::default()
    };
    let result = keys(&serde_json::to_value(full).unwrap());
    let mut documented = quoted_in_bullet(&d, "GET /v1/detections/{image_id}` ->");
    documented.extend(quoted_in_bullet(&d, "GET /v1/detections/{image_id}?consistency=majority"));
    let boxes = ["class", "label", "score", "bbox", "x_min", "y_min", "x_max", "y_max"];
    let expected: BTreeSet<String> = result.iter().cloned().chain(boxes.map(String::from)).collect();
    assert_eq!(documented, expected, "GET /v1/detections/{{image_id}}");
}
