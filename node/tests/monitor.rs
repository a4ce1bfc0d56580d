//! Multi-process test of `argus monitor`: it spawns two real nodes on loopback, hears their
//! heartbeats, restarts one that is killed (exit) and one that is frozen with SIGSTOP (missed
//! heartbeats) under the same PeerId, and stops both on SIGTERM. Waits are deadlines on
//! observed events, never fixed sleeps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use argus_interface::http;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_argus");

struct Monitor {
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Monitor {
    /// The next event line matching `pred`, within `within`; earlier lines are kept.
    fn wait_for(&mut self, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("no {what} within {within:?}; monitor said: {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // Only matters when the test failed midway: stop the monitor (it stops its nodes on
        // SIGTERM), then kill whatever is left of the processes started for this test.
        if let Ok(None) = self.child.try_wait() {
            signal(u64::from(self.child.id()), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for v in self.seen.iter().filter(|v| v["event"] == "started") {
            if let Some(pid) = v["pid"].as_u64().filter(|p| alive(*p)) {
                // SAFETY: kill(2) on a node process this test's monitor started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

fn write_weights(dir: &Path) -> PathBuf {
    use argus_model::model::ModelConfig;
    use argus_model::weights::{WeightsMeta, save};
    let cfg = ModelConfig::new();
    let dev = argus_model::BackendKind::NdArray.device().unwrap();
    let net = cfg.init(&dev);
    let path = dir.join("weights.bpk");
    save(&net, &WeightsMeta { model: cfg, training: Value::Null }, &path).unwrap();
    path
}

fn start_monitor(dir: &Path) -> Monitor {
    let weights = write_weights(dir);
    let cfg = dir.join("monitor.toml");
    // Fast timings for a test; one auditor is all a two-node network has.
    std::fs::write(&cfg, "heartbeat_timeout_ms = 3000\nhealth_timeout_ms = 3000\nprobe_interval_ms = 500\nstartup_grace_ms = 8000\nrestart_backoff_ms = 300\naudit_fail_min_auditors = 1\n").unwrap();
    let mut child = Command::new(BIN)
        .args(["monitor", "--spawn", "2", "--config"])
        .arg(&cfg)
        .arg("--data-root")
        .arg(dir.join("data"))
        .args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0", "--"])
        .args(["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--backend", "ndarray", "--weights"])
        .arg(&weights)
        .env("RUST_LOG", "info,libp2p=warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("monitor.stderr")).unwrap())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    Monitor { child, lines, seen: Vec::new() }
}

fn is(v: &Value, event: &str, node: &str) -> bool {
    v["event"] == event && v["node"] == node
}

fn status(addr: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r =
        rt.block_on(http::get(&http::Endpoint::parse(addr), "/v1/status", Duration::from_secs(5))).unwrap();
    assert_eq!(r.status, 200);
    r.json().unwrap()
}

fn signal(pid: u64, sig: i32) {
    // SAFETY: kill(2) with a pid the monitor reported for a node it started in this test.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill {pid}");
}

fn alive(pid: u64) -> bool {
    // A zombie still answers kill(0); read its state instead.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn monitor_restarts_killed_and_frozen_nodes_and_stops_them_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("argus-monitor-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = start_monitor(&dir);
    let ready = m.wait_for(Duration::from_secs(30), "monitor ready line", |v| v["event"] == "ready");
    let addr = ready["http"].as_str().unwrap().to_string();
    let n0 = m.wait_for(Duration::from_secs(120), "n0 started", |v| is(v, "started", "n0"));
    let n1 = m.wait_for(Duration::from_secs(120), "n1 started", |v| is(v, "started", "n1"));

    // The monitor hears both nodes' heartbeats.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status(&addr);
        let heard =
            st["nodes"].as_array().unwrap().iter().all(|n| {
                n["state"] == "up" && n["last_heartbeat_age_ms"].as_u64().is_some_and(|a| a < 3_000)
            });
        if heard {
            break;
        }
        assert!(Instant::now() < deadline, "no heartbeats from both nodes: {st:#}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Spawned second, n1 was handed n0's address as --peer (loopback has no mDNS): they meet.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !status(n1["http"].as_str().unwrap())["peers"].as_array().unwrap().contains(&n0["peer_id"]) {
        assert!(Instant::now() < deadline, "n1 never connected to n0");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Killed: restarted for its exit, under the same PeerId, as a new process.
    let n1_pid = n1["pid"].as_u64().unwrap();
    signal(n1_pid, libc::SIGKILL);
    let r = m.wait_for(Duration::from_secs(20), "restart of killed n1", |v| is(v, "restart", "n1"));
    assert_eq!(r["kind"], "exited", "{r}");
    assert!(r["reason"].as_str().unwrap().contains("signal 9"), "{r}");
    let again = m.wait_for(Duration::from_secs(60), "n1 started again", |v| is(v, "started", "n1"));
    assert_eq!(again["peer_id"], n1["peer_id"]);
    assert_ne!(again["pid"], n1["pid"]);
    assert_eq!(again["incarnation"], 2);

    // Frozen: still a process, but it no longer answers the probe on its own socket.
    let n0_pid = n0["pid"].as_u64().unwrap();
    let frozen_at = Instant::now();
    signal(n0_pid, libc::SIGSTOP);
    let r = m.wait_for(Duration::from_secs(30), "restart of frozen n0", |v| is(v, "restart", "n0"));
    assert_eq!(r["kind"], "unhealthy", "{r}");
    eprintln!("frozen n0 restarted after {:?} (health timeout 3 s)", frozen_at.elapsed());
    let again0 = m.wait_for(Duration::from_secs(60), "n0 started again", |v| is(v, "started", "n0"));
    assert_eq!(again0["peer_id"], n0["peer_id"]);
    assert!(!alive(n0_pid), "the frozen incarnation was killed");

    let st = status(&addr);
    let restarts: Vec<u64> =
        st["nodes"].as_array().unwrap().iter().map(|n| n["restarts"].as_u64().unwrap()).collect();
    assert_eq!(restarts, vec![1, 1], "{st:#}");
    let metrics = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(http::get(&http::Endpoint::parse(&addr), "/metrics", Duration::from_secs(5))).unwrap()
    };
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(text.contains("argus_monitor_restarts_total{reason=\"exited\"} 1"), "{text}");
    assert!(text.contains("argus_monitor_restarts_total{reason=\"unhealthy\"} 1"), "{text}");

    // SIGTERM: the monitor stops its nodes and exits 0.
    let pids = [again0["pid"].as_u64().unwrap(), again["pid"].as_u64().unwrap()];
    signal(u64::from(m.child.id()), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = m.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "monitor did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "monitor exit status {status}");
    for pid in pids {
        assert!(!alive(pid), "node {pid} outlived the monitor");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
