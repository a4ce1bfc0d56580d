//! The monitor's HTTP API on TCP (`IP:PORT`) or a Unix socket (`unix:/path`): `/v1/status`
//! (JSON) and `/metrics` (Prometheus text). Handlers only read the latest snapshot the
//! supervisor publishes; they never touch processes or the policy.

use std::fmt::Write;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use super::MonitorError;
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

async fn get_metrics(State(s): State<watch::Receiver<Snapshot>>) -> impl IntoResponse {
    let text = render_metrics(&s.borrow());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The Prometheus text format of a snapshot.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut o = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(o, "{name}{labels} {v}");
        }
    };
    let one = |v: u64| vec![(String::new(), v)];
    let single = [
        ("argus_monitor_uptime_ms", "gauge", "Time since the monitor started.", s.uptime_ms),
        (
            "argus_monitor_peers_connected",
            "gauge",
            "libp2p peers the monitor is connected to.",
            s.peers_connected,
        ),
        ("argus_monitor_heartbeats_total", "counter", "Heartbeats heard from any node.", s.heartbeats_total),
        (
            "argus_monitor_unreachable_total",
            "counter",
            "Times a node's heartbeats stopped reaching the monitor (nothing is restarted for it).",
            s.unreachable_total,
        ),
        (
            "argus_monitor_probes_failed_total",
            "counter",
            "Local health probes that failed or timed out.",
            s.probes_failed_total,
        ),
        (
            "argus_monitor_give_ups_total",
            "counter",
            "Nodes given up on (restart budget spent).",
            s.give_ups_total,
        ),
    ];
    for (name, kind, help, v) in single {
        metric(name, kind, help, &one(v));
    }
    let verdicts = vec![
        ("{result=\"pass\"}".to_string(), s.verdicts_pass_total),
        ("{result=\"fail\"}".to_string(), s.verdicts_fail_total),
    ];
    metric("argus_monitor_verdicts_total", "counter", "Audit verdicts heard from any node.", &verdicts);
    let restarts: Vec<_> =
        s.restarts_total.iter().map(|(k, v)| (format!("{{reason=\"{k}\"}}"), *v)).collect();
    metric("argus_monitor_restarts_total", "counter", "Restarts decided, by reason.", &restarts);
    let per_node = |f: &dyn Fn(&NodeStatus) -> Option<u64>| -> Vec<(String, u64)> {
        s.nodes.iter().filter_map(|n| Some((format!("{{node=\"{}\"}}", n.name), f(n)?))).collect()
    };
    metric(
        "argus_monitor_node_up",
        "gauge",
        "1 when the node is up (ready line seen, not stopped).",
        &per_node(&|n| Some(u64::from(n.state == "up"))),
    );
    metric(
        "argus_monitor_node_gave_up",
        "gauge",
        "1 when the monitor gave up on the node.",
        &per_node(&|n| Some(u64::from(n.state == "gave_up"))),
    );
    metric(
        "argus_monitor_node_restarts_total",
        "counter",
        "Restarts of the node.",
        &per_node(&|n| Some(n.restarts)),
    );
    metric(
        "argus_monitor_node_heartbeat_age_ms",
        "gauge",
        "Time since the node's last heartbeat.",
        &per_node(&|n| n.last_heartbeat_age_ms),
    );
    metric(
        "argus_monitor_node_audit_fails",
        "gauge",
        "FAIL verdicts against the node in the audit window.",
        &per_node(&|n| Some(u64::from(n.audit_fails))),
    );
    o
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
        let m = render_metrics(&s);
        for line in [
            "argus_monitor_heartbeats_total 12",
            "argus_monitor_verdicts_total{result=\"fail\"} 3",
            "argus_monitor_restarts_total{reason=\"failed_audits\"} 1",
            "argus_monitor_node_up{node=\"n0\"} 1",
            "argus_monitor_node_up{node=\"n1\"} 0",
            "argus_monitor_node_heartbeat_age_ms{node=\"n0\"} 250",
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
        }
        assert!(
            !m.contains("argus_monitor_node_heartbeat_age_ms{node=\"n1\"}"),
            "no age without a heartbeat"
        );
    }
}
