//! Prometheus's own linter on the real endpoints: `promtool check metrics` (Debian's
//! `prometheus` package) reads each `/metrics` body of two working nodes (argus's metrics,
//! libp2p's swarm, gossipsub and ping metrics, histograms with samples) and of a monitor with
//! its node, and must exit 0 saying nothing. Without promtool the test says it skips, unless
//! `ARGUS_REQUIRE_PROMTOOL` is set (CI sets it when it could install it).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argus_interface::http;
use argus_tests::*;
use serde_json::Value;

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("ARGUS_REQUIRE_PROMTOOL").is_none(),
            "promtool is required here and missing"
        );
        eprintln!("SKIPPED: no promtool on the PATH (apt install prometheus)");
    }
    found.then_some("promtool")
}

/// `/metrics` of a node or monitor, as a client that does not ask for OpenMetrics gets it.
fn metrics(addr: &str) -> String {
    let r = block_on(http::get(&http::Endpoint::parse(addr), "/metrics", Duration::from_secs(10)))
        .expect("a runtime")
        .expect("/metrics answers");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8(r.body).expect("UTF-8 metrics")
}

/// Pipes `body` into `promtool check metrics`; asserts exit 0 and no output at all.
fn lint(tool: &str, what: &str, body: &str) {
    let mut child = Command::new(tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("promtool reads stdin");
    let out = child.wait_with_output().expect("promtool finishes");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.is_empty(), "promtool on {what}: {}: {said}\n{body}", out.status);
}

#[test]
fn promtool_accepts_the_metrics_of_working_nodes() {
    let Some(tool) = promtool() else { return };
    let dir = TempDir::new("promtool");
    let flags = ["--backend", "flex", "--model", "shapes"];
    let a = NodeProc::start(&dir.0.join("a"), &[], &flags).expect("a starts");
    let b = NodeProc::start(&dir.0.join("b"), &[a.addr()], &flags).expect("b starts");
    let ids = send_synthetic(&[a.addr(), b.addr()], 4, 7, 20.0, 2).expect("the sender runs");
    let stored = |id: &String| a.get(&format!("/v1/detections/{id}")).is_ok_and(|(s, _)| s == 200);
    assert!(wait_until(Duration::from_secs(30), || ids.iter().all(stored)), "results stored on a");
    let mut inferences = 0.0;
    for (name, n) in [("a", &a), ("b", &b)] {
        let body = metrics(&n.http);
        for family in [
            "# TYPE argus_images_processed_total counter",
            "# TYPE argus_latency_stored_seconds histogram",
            "# TYPE libp2p_swarm_connections_established_total counter",
            "# TYPE libp2p_gossipsub_messages_total counter",
        ] {
            assert!(body.contains(family), "node {name} lacks {family:?}:\n{body}");
        }
        let count = body.lines().find_map(|l| l.strip_prefix("argus_inference_seconds_count "));
        inferences += count.and_then(|c| c.parse::<f64>().ok()).unwrap_or(0.0);
        lint(tool, &format!("node {name}"), &body);
    }
    assert!(inferences >= 4.0, "every image ran once at least: the histograms had samples");
}

/// A monitor process; on drop it gets SIGTERM (it stops its nodes), then SIGKILL if it lingers,
/// and any node it reported is killed.
struct Monitor {
    child: Child,
    lines: mpsc::Receiver<Value>,
    node_pids: Vec<u64>,
}

impl Monitor {
    fn next(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.lines.recv_timeout(left).expect("the monitor's line in time");
            if let Some(pid) = v["pid"].as_u64() {
                self.node_pids.push(pid);
            }
            if pred(&v) {
                return v;
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the monitor this test started, then on the nodes it reported.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in &self.node_pids {
            if std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
                // SAFETY: as above, a node process this test's monitor started.
                unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn promtool_accepts_the_metrics_of_a_monitor_and_its_node() {
    let Some(tool) = promtool() else { return };
    let dir = TempDir::new("promtool-monitor");
    let net = ["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"];
    let mut child = Command::new(argus_bin())
        .args(["monitor", "--spawn", "1", "--data-root"])
        .arg(dir.0.join("data"))
        .args(net)
        .args(["--http", "127.0.0.1:0", "--"])
        .args(net)
        .args(["--backend", "flex", "--model", "shapes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.0.join("monitor.log")).expect("log file")))
        .spawn()
        .expect("argus monitor starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut m = Monitor { child, lines, node_pids: Vec::new() };
    let ready = m.next(Duration::from_secs(30), |v| v["event"] == "ready");
    let addr = ready["http"].as_str().expect("the monitor's http address").to_string();
    let node = m.next(Duration::from_secs(120), |v| v["event"] == "started");
    let up = "argus_monitor_node_up{node=\"n0\"} 1";
    assert!(wait_until(Duration::from_secs(30), || metrics(&addr).contains(up)), "n0 up on the monitor");
    // One heartbeat heard: the node's heartbeat age has a sample too.
    let heard = || metrics(&addr).contains("argus_monitor_node_heartbeat_age_seconds{node=\"n0\"}");
    assert!(wait_until(Duration::from_secs(30), heard), "a heartbeat from n0");
    lint(tool, "the monitor", &metrics(&addr));
    lint(tool, "the monitor's node", &metrics(node["http"].as_str().expect("the node's http address")));
}
