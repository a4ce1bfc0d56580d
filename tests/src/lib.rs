//! Shared helpers for argus's multi-process integration tests (the tests live in `tests/tests/`):
//! find the `argus` binary, start nodes and senders as real processes on loopback, read their
//! ready lines, poll their HTTP APIs with deadlines, and end only the processes started here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_interface::client::NodeClient;
use argus_interface::http;
use argus_interface::lines::{self, NodeLine, NodeReady, SendLine};
use serde_json::Value;

/// The `argus` binary built by this `cargo test` run (next to the test executable's deps dir),
/// or beside a tool binary of this crate (`argus-netbench`, `argus-crashkill`); `ARGUS_BIN`
/// overrides both.
pub fn argus_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ARGUS_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("the executable's folder");
    let candidates = [dir.join("argus"), dir.parent().map_or_else(|| dir.join("argus"), |p| p.join("argus"))];
    let found = candidates.iter().find(|p| p.exists());
    assert!(
        found.is_some(),
        "argus binary not found at {} (build it with `cargo build -p argus-node`)",
        candidates[1].display()
    );
    found.cloned().unwrap_or_default()
}

/// `argus`, behind a command prefix such as `ip netns exec NS` when one is given.
fn argus_cmd(prefix: &[String]) -> Command {
    match prefix.split_first() {
        Some((head, rest)) => {
            let mut c = Command::new(head);
            c.args(rest).arg(argus_bin());
            c
        }
        None => Command::new(argus_bin()),
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("argus-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // `ARGUS_KEEP_TEMP=1` keeps it (node logs, stores) to look at after a run.
        if std::env::var_os("ARGUS_KEEP_TEMP").is_some() {
            return eprintln!("kept {}", self.0.display());
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A node process; SIGKILLed on drop if still running.
pub struct NodeProc {
    pub child: Child,
    pub peer_id: String,
    pub http: String,
    pub listen: Vec<String>,
    pub data: PathBuf,
}

impl NodeProc {
    /// Starts `argus node` on loopback with mDNS off and waits for its ready line (120 s).
    pub fn start(data: &Path, peers: &[String], extra: &[&str]) -> anyhow::Result<NodeProc> {
        let mut args = vec!["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--http", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_in(&[], data, peers, &args)
    }

    /// Starts `argus node` behind a command prefix (e.g. `ip netns exec NS`) with `args`.
    pub fn start_in(
        prefix: &[String],
        data: &Path,
        peers: &[String],
        args: &[&str],
    ) -> anyhow::Result<NodeProc> {
        let mut cmd = argus_cmd(prefix);
        cmd.args(["node", "--data"])
            .arg(data)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(data.with_extension("log"))?));
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let mut child = cmd.spawn().context("spawning argus node")?;
        let ready = read_ready(&mut child, Duration::from_secs(120))?;
        Ok(NodeProc {
            peer_id: ready.peer_id,
            http: ready.http,
            listen: ready.listen,
            child,
            data: data.to_path_buf(),
        })
    }

    /// A dialable address of this node with its PeerId.
    pub fn addr(&self) -> String {
        format!("{}/p2p/{}", self.listen.first().cloned().unwrap_or_default(), self.peer_id)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        http_get(&self.http, path)
    }

    /// Typed calls to this node's HTTP API (10 s per call).
    pub fn client(&self) -> NodeClient {
        NodeClient::new(http::Endpoint::parse(&self.http), Duration::from_secs(10))
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the first stdout line of `child` as the node's ready line, within `timeout`.
pub fn read_ready(child: &mut Child, timeout: Duration) -> anyhow::Result<NodeReady> {
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(timeout).context("node did not print its ready line in time")?;
    match lines::parse::<NodeLine>(&line) {
        Some(NodeLine::Ready(r)) => Ok(r),
        None => bail!("the first line is not a ready line: {line:?}"),
    }
}

/// Runs one future to completion on a private single-threaded runtime.
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(f))
}

/// One HTTP GET with the interface's client, on a private runtime.
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let r = block_on(http::get(&http::Endpoint::parse(addr), path, Duration::from_secs(10)))??;
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

/// Polls `cond` every 200 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cond()
}

/// Runs `argus send --synthetic` to completion and returns the announced image ids in order.
pub fn send_synthetic(
    peers: &[String],
    count: u64,
    seed: u64,
    rate: f64,
    min_peers: usize,
) -> anyhow::Result<Vec<String>> {
    send_synthetic_in(
        &[],
        &["--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"],
        peers,
        count,
        seed,
        rate,
        min_peers,
    )
}

/// `argus send --synthetic` behind a command prefix with extra network flags.
pub fn send_synthetic_in(
    prefix: &[String],
    net: &[&str],
    peers: &[String],
    count: u64,
    seed: u64,
    rate: f64,
    min_peers: usize,
) -> anyhow::Result<Vec<String>> {
    let source =
        ["--synthetic", "--count", &count.to_string(), "--seed", &seed.to_string()].map(String::from);
    send_in(prefix, net, &source, peers, rate, min_peers)
}

/// `argus send` with `source` flags (`--synthetic ...` or `--dir DIR`) behind a command prefix;
/// runs to completion and returns the announced image ids in order.
pub fn send_in(
    prefix: &[String],
    net: &[&str],
    source: &[String],
    peers: &[String],
    rate: f64,
    min_peers: usize,
) -> anyhow::Result<Vec<String>> {
    let mut args: Vec<String> = ["--linger-s", "3"].map(String::from).to_vec();
    args.extend(net.iter().map(|s| s.to_string()));
    args.extend(source.iter().cloned());
    args.extend(["--rate".into(), rate.to_string(), "--min-peers".into(), min_peers.to_string()]);
    let lines = send_lines(prefix, &args, peers)?;
    Ok(lines
        .into_iter()
        .filter_map(|l| match l {
            SendLine::Announced(a) => Some(a.image_id),
            _ => None,
        })
        .collect())
}

/// Runs `argus send ARGS --peer P...` behind a command prefix to completion and returns every
/// line it printed (ready, one per image, done).
pub fn send_lines(prefix: &[String], args: &[String], peers: &[String]) -> anyhow::Result<Vec<SendLine>> {
    let mut cmd = argus_cmd(prefix);
    cmd.arg("send").args(args).stderr(Stdio::null());
    for p in peers {
        cmd.args(["--peer", p]);
    }
    let out = cmd.output().context("running argus send")?;
    if !out.status.success() {
        bail!("argus send failed: {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(lines::parse).collect())
}

/// A list of peer ids in a node's `/v1/status` (`peers`, `live_nodes`); empty when it does not
/// answer.
pub fn status_ids(n: &NodeProc, field: &str) -> Vec<String> {
    n.get("/v1/status")
        .ok()
        .and_then(|(_, v)| v[field].as_array().cloned())
        .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Sum of a counter over the nodes' `/v1/status`.
pub fn counter_sum(nodes: &[&NodeProc], name: &str) -> u64 {
    nodes
        .iter()
        .filter_map(|n| n.get("/v1/status").ok())
        .map(|(_, v)| v["counters"][name].as_u64().unwrap_or(0))
        .sum()
}

/// The detections of a node's JSON answer (`GET /v1/detections/{id}`), each `{class, label,
/// score, bbox}`; the label is dropped. `None` when the answer has no valid detection list.
pub fn detections_of(answer: &Value) -> Option<Vec<argus_protocol::detection::Detection>> {
    answer["detections"]
        .as_array()?
        .iter()
        .map(|d| {
            let mut d = d.as_object()?.clone();
            d.remove("label");
            serde_json::from_value(Value::Object(d)).ok()
        })
        .collect()
}

/// `GET /v1/detections/{id}` on `node`: the stored detections, when it holds a result.
pub fn stored_detections(node: &NodeProc, id: &str) -> Option<Vec<argus_protocol::detection::Detection>> {
    let (status, v) = node.get(&format!("/v1/detections/{id}")).ok()?;
    if status != 200 {
        return None;
    }
    detections_of(&v)
}

/// The `p` quantile (0..=1) of `v` by rounded rank, sorting `v` in place; the benchmarks' p50
/// and p99. `v` must not be empty.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}
