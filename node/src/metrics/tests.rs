//! The node's exposition (names, units, types) and the dashboard's queries against it.
use super::exposition::{Format, encode};
use super::*;

fn text(m: Metrics) -> String {
    encode(&registry(&Arc::new(m)), Format::Text).unwrap()
}

#[test]
fn counters_gauges_and_seconds_histograms() {
    let m = Metrics::default();
    m.inference_ms.observe(3);
    m.inference_ms.observe(3_000);
    m.set_core(&Counters { images_processed: 2, queue_len: 4, ..Counters::default() });
    m.queries_served.fetch_add(3, Ordering::Relaxed);
    m.store_registers.store(7, Ordering::Relaxed);
    let text = text(m);
    for line in [
        "# TYPE argus_images_processed_total counter",
        "argus_images_processed_total 2",
        "argus_queries_served_total 3",
        "# TYPE argus_queue_len gauge",
        "# HELP argus_queue_len images waiting for or in inference",
        "argus_queue_len 4",
        "# TYPE argus_store_registers gauge",
        "argus_store_registers 7",
        "# TYPE argus_inference_seconds histogram",
        "argus_inference_seconds_bucket{le=\"0.002\"} 0",
        "argus_inference_seconds_bucket{le=\"0.005\"} 1",
        "argus_inference_seconds_bucket{le=\"5.0\"} 2",
        "argus_inference_seconds_bucket{le=\"+Inf\"} 2",
        "argus_inference_seconds_sum 3.003",
        "argus_inference_seconds_count 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
}

#[test]
fn openmetrics_has_the_same_samples() {
    let m = Arc::new(Metrics::default());
    m.gossip_received.fetch_add(5, Ordering::Relaxed);
    let om = encode(&registry(&m), Format::OpenMetrics).unwrap();
    assert!(om.contains("# TYPE argus_gossip_received counter\nargus_gossip_received_total 5\n"), "{om}");
    assert!(om.contains("# UNIT argus_inference_seconds seconds\n") && om.ends_with("# EOF\n"), "{om}");
    let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).map(String::from).collect::<Vec<_>>();
    assert_eq!(samples(&om), samples(&encode(&registry(&m), Format::Text).unwrap()));
}

/// Every metric the shipped Grafana dashboard queries exists on a node's or the monitor's
/// `/metrics` (a renamed metric must take the dashboard with it).
#[test]
fn the_dashboard_queries_only_metrics_that_exist() {
    let dashboard = include_str!("../../../docs/grafana/argus-cluster.json");
    let mut snap = crate::monitor::http::Snapshot::default();
    snap.restarts_total.insert("exited".into(), 1);
    snap.nodes.push(crate::monitor::http::NodeStatus { name: "n0".into(), ..Default::default() });
    let exposed = format!(
        "{}{}",
        text(Metrics::default()),
        crate::monitor::http::render_metrics(&snap, Format::Text).unwrap()
    );
    let names: std::collections::BTreeSet<&str> =
        exposed.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    let queried: Vec<&str> = dashboard
        .match_indices("argus_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())]
        })
        .collect();
    assert!(queried.len() >= 10, "the dashboard queries argus metrics: {queried:?}");
    let missing: Vec<&&str> = queried.iter().filter(|q| !names.contains(**q)).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics nobody exposes: {missing:?}");
    for q in queried.iter().filter(|q| q.ends_with("_bucket")) {
        assert!(q.ends_with("_seconds_bucket"), "a latency quantile not in seconds: {q}");
    }
}
