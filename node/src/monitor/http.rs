//! The monitor's HTTP API on TCP (`IP:PORT`) or a Unix socket (`unix:/path`): `/v1/status`
//! (JSON) and `/metrics` (Prometheus text or OpenMetrics, see `metrics::exposition`). Handlers
//! only read the latest snapshot the supervisor publishes; they never touch processes or the
//! policy.

use std::fmt;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::watch;

use super::MonitorError;
use crate::metrics::exposition::{self, Format};
pub use argus_interface::api::{MonitorNodeStatus as NodeStatus, MonitorStatus as Snapshot};

/// A bound listener, TCP or Unix.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Binds `IP:PORT` or `unix:/path`; returns the listener and the address to print.
pub async fn bind(spec: &str) -> Result<(Listener, String), MonitorError> {
    let err = |e: std::io::Error| MonitorError::Http(format!("binding {spec}: {e}"));
    if let Some(path) = spec.strip_prefix("unix:") {
        // A stale socket file from an earlier run would make bind fail.
        let _ = std::fs::remove_file(path);
        let l = tokio::net::UnixListener::bind(path).map_err(err)?;
        return Ok((Listener::Unix(l), spec.to_string()));
    }
    let l = tokio::net::TcpListener::bind(spec).await.map_err(err)?;
    let addr = l.local_addr().map_err(err)?.to_string();
    Ok((Listener::Tcp(l), addr))
}

/// Serves the API until the task is dropped.
pub async fn serve(listener: Listener, status: watch::Receiver<Snapshot>) {
    let app = Router::new()
        .route("/v1/status", get(get_status))
        .route("/metrics", get(get_metrics))
        .with_state(status);
    let r = match listener {
        Listener::Tcp(l) => axum::serve(l, app).await,
        Listener::Unix(l) => axum::serve(l, app).await,
    };
    if let Err(e) = r {
        tracing::error!(error = %e, "monitor HTTP server stopped");
    }
}

async fn get_status(State(s): State<watch::Receiver<Snapshot>>) -> impl IntoResponse {
    let snap = s.borrow().clone();
    axum::Json(snap)
}

async fn get_metrics(State(s): State<watch::Receiver<Snapshot>>, headers: HeaderMap) -> Response {
    let snap = s.borrow().clone();
    exposition::respond(&registry(snap), &headers)
}

/// A registry over one snapshot (built per scrape: the snapshot is the state).
fn registry(s: Snapshot) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(SnapshotMetrics(s)));
    r
}

/// The monitor's metrics in `format`.
pub fn render_metrics(s: &Snapshot, format: Format) -> Result<String, std::fmt::Error> {
    exposition::encode(&registry(s.clone()), format)
}

#[derive(Debug)]
struct SnapshotMetrics(Snapshot);

fn secs(ms: u64) -> f64 {
    ms as f64 / 1e3
}

impl Collector for SnapshotMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let e = &mut enc;
        one(
            e,
            "argus_monitor_uptime",
            "Time since the monitor started.",
            Some(Unit::Seconds),
            ConstGauge::new(secs(s.uptime_ms)),
        )?;
        one(
            e,
            "argus_monitor_peers_connected",
            "libp2p peers the monitor is connected to.",
            None,
            ConstGauge::new(s.peers_connected),
        )?;
        one(
            e,
            "argus_monitor_heartbeats",
            "Heartbeats heard from any node.",
            None,
            ConstCounter::new(s.heartbeats_total),
        )?;
        one(
            e,
            "argus_monitor_unreachable",
            "Times a node's heartbeats stopped reaching the monitor (nothing is restarted for it).",
            None,
            ConstCounter::new(s.unreachable_total),
        )?;
        one(
            e,
            "argus_monitor_probes_failed",
            "Local health probes that failed or timed out.",
            None,
            ConstCounter::new(s.probes_failed_total),
        )?;
        one(
            e,
            "argus_monitor_give_ups",
            "Nodes given up on (restart budget spent).",
            None,
            ConstCounter::new(s.give_ups_total),
        )?;
        let verdicts =
            [("pass".to_string(), s.verdicts_pass_total), ("fail".to_string(), s.verdicts_fail_total)];
        let counters = |v: &[(String, u64)]| {
            v.iter().map(|(k, n)| (k.clone(), ConstCounter::new(*n))).collect::<Vec<_>>()
        };
        labelled(
            e,
            "argus_monitor_verdicts",
            "Audit verdicts heard from any node.",
            None,
            MetricType::Counter,
            "result",
            counters(&verdicts),
        )?;
        let restarts: Vec<_> = s.restarts_total.iter().map(|(k, n)| (k.clone(), *n)).collect();
        labelled(
            e,
            "argus_monitor_restarts",
            "Restarts decided, by reason.",
            None,
            MetricType::Counter,
            "reason",
            counters(&restarts),
        )?;
        per_node(e, s)
    }
}

/// The per-node families, labelled `node`.
fn per_node(e: &mut DescriptorEncoder, s: &Snapshot) -> fmt::Result {
    let each = |f: &dyn Fn(&NodeStatus) -> u64| -> Vec<(String, ConstGauge<u64>)> {
        s.nodes.iter().map(|n| (n.name.clone(), ConstGauge::new(f(n)))).collect()
    };
    let gauge = MetricType::Gauge;
    let up = each(&|n| u64::from(n.state == "up"));
    labelled(
        e,
        "argus_monitor_node_up",
        "1 when the node is up (ready line seen, not stopped).",
        None,
        gauge,
        "node",
        up,
    )?;
    let gave_up = each(&|n| u64::from(n.state == "gave_up"));
    labelled(
        e,
        "argus_monitor_node_gave_up",
        "1 when the monitor gave up on the node.",
        None,
        gauge,
        "node",
        gave_up,
    )?;
    let restarts = s.nodes.iter().map(|n| (n.name.clone(), ConstCounter::new(n.restarts))).collect();
    labelled(
        e,
        "argus_monitor_node_restarts",
        "Restarts of the node.",
        None,
        MetricType::Counter,
        "node",
        restarts,
    )?;
    // No sample for a node not heard from yet.
    let age: Vec<_> = s
        .nodes
        .iter()
        .filter_map(|n| Some((n.name.clone(), ConstGauge::new(secs(n.last_heartbeat_age_ms?)))))
        .collect();
    labelled(
        e,
        "argus_monitor_node_heartbeat_age",
        "Time since the node's last heartbeat.",
        Some(Unit::Seconds),
        gauge,
        "node",
        age,
    )?;
    let fails = each(&|n| u64::from(n.audit_fails));
    labelled(
        e,
        "argus_monitor_node_audit_fails",
        "FAIL verdicts against the node in the audit window.",
        None,
        gauge,
        "node",
        fails,
    )
}

/// A family of one unlabelled sample.
fn one(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    m: impl EncodeMetric,
) -> fmt::Result {
    m.encode(e.encode_descriptor(name, help, unit.as_ref(), m.metric_type())?)
}

/// A family with one sample per value of the label `key` (none at all is a valid family).
fn labelled<M: EncodeMetric>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    key: &str,
    samples: Vec<(String, M)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (value, m) in samples {
        m.encode(family.encode_family(&[(key, value.as_str())])?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_name_every_node_and_reason() {
        let mut s = Snapshot { heartbeats_total: 12, verdicts_fail_total: 3, ..Default::default() };
        s.restarts_total.insert("failed_audits".into(), 1);
        s.nodes.push(NodeStatus {
            name: "n0".into(),
            state: "up".into(),
            restarts: 1,
            last_heartbeat_age_ms: Some(250),
            ..Default::default()
        });
        s.nodes.push(NodeStatus { name: "n1".into(), state: "starting".into(), ..Default::default() });
        let m = render_metrics(&s, Format::Text).unwrap();
        for line in [
            "# TYPE argus_monitor_heartbeats_total counter",
            "argus_monitor_heartbeats_total 12",
            "argus_monitor_verdicts_total{result=\"fail\"} 3",
            "argus_monitor_restarts_total{reason=\"failed_audits\"} 1",
            "argus_monitor_node_up{node=\"n0\"} 1",
            "argus_monitor_node_up{node=\"n1\"} 0",
            "argus_monitor_node_restarts_total{node=\"n0\"} 1",
            "# TYPE argus_monitor_node_heartbeat_age_seconds gauge",
            "argus_monitor_node_heartbeat_age_seconds{node=\"n0\"} 0.25",
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
        }
        assert!(
            !m.contains("argus_monitor_node_heartbeat_age_seconds{node=\"n1\"}"),
            "no age without a heartbeat"
        );
    }
}
