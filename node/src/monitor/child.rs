//! One supervised node process: spawning it (`exec_prefix ++ [argus_bin, "node"] ++ args`),
//! reading its ready line from stdout, sending its stderr to a log file, and a keeper task
//! that owns the `Child`, reports its exit and delivers signals.
//!
//! Signals go only to processes this monitor started: the child is made leader of a new
//! process group and signalled through that group (so a wrapper such as `sh -c` or
//! `ip netns exec` and the node it runs go together), and only while the keeper still holds
//! the unreaped child, so a recycled pid can never be hit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use argus_interface::lines::{self, NodeLine};
use libp2p::{Multiaddr, PeerId};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::MonitorError;
use super::config::NodeSpec;
use super::policy::NodeIx;

/// Longest stdout line read from a child (the ready line is well under 2 KiB).
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// Signals queued for one keeper; more than a stop sequence ever sends.
const SIGNAL_QUEUE: usize = 4;
/// How long a keeper whose supervisor is gone waits for its killed child.
const ORPHAN_WAIT: Duration = Duration::from_secs(5);

/// What a node said in its ready line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub peer_id: PeerId,
    pub listen: Vec<Multiaddr>,
    pub http: Option<String>,
}

#[derive(Debug)]
pub enum ChildEvent {
    Ready { node: NodeIx, incarnation: u64, ready: Ready },
    Exited { node: NodeIx, incarnation: u64, code: Option<i32>, signal: Option<i32> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// The supervisor's side of a running child.
pub struct ChildHandle {
    pub pid: u32,
    pub incarnation: u64,
    signals: mpsc::Sender<Sig>,
}

impl ChildHandle {
    /// Asks the keeper to signal the child's process group (no-op once it has exited).
    pub fn signal(&self, sig: Sig) {
        if self.signals.try_send(sig).is_err() {
            debug!(pid = self.pid, ?sig, "signal not queued: the keeper is gone or busy");
        }
    }
}

/// Everything needed to start one incarnation.
pub struct Launch<'a> {
    pub node: NodeIx,
    pub incarnation: u64,
    pub bin: &'a Path,
    pub spec: &'a NodeSpec,
    /// Arguments appended after the spec's (bootstrap peers).
    pub extra_args: Vec<String>,
    /// Append the child's stderr here; `None` inherits the monitor's stderr.
    pub log: Option<PathBuf>,
}

/// The full command line, for logs and for `Command`.
pub fn argv(l: &Launch<'_>) -> Vec<String> {
    let mut v = l.spec.exec_prefix.clone();
    v.push(l.bin.display().to_string());
    v.push("node".into());
    v.extend(l.spec.args.iter().cloned());
    v.extend(l.extra_args.iter().cloned());
    v
}

/// Spawns the child and its reader and keeper tasks.
pub fn spawn(l: Launch<'_>, events: mpsc::Sender<ChildEvent>) -> Result<ChildHandle, MonitorError> {
    let argv = argv(&l);
    let spawn_err = |message: String| MonitorError::Spawn { node: l.spec.name.clone(), message };
    let stderr = match &l.log {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| spawn_err(format!("log file {}: {e}", path.display())))?;
            Stdio::from(f)
        }
        None => Stdio::inherit(),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(&l.spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| spawn_err(format!("{}: {e}", argv[0])))?;
    let pid = child.id().ok_or_else(|| spawn_err("exited before it could be watched".into()))?;
    let stdout = child.stdout.take().ok_or_else(|| spawn_err("no stdout pipe".into()))?;
    let (tx, rx) = mpsc::channel(SIGNAL_QUEUE);
    tokio::spawn(read_stdout(stdout, l.node, l.incarnation, l.spec.name.clone(), events.clone()));
    tokio::spawn(keep(child, rx, l.node, l.incarnation, events));
    Ok(ChildHandle { pid, incarnation: l.incarnation, signals: tx })
}

/// Owns the child until it exits: delivers signals, then reports the exit status.
async fn keep(
    mut child: Child,
    mut signals: mpsc::Receiver<Sig>,
    node: NodeIx,
    incarnation: u64,
    events: mpsc::Sender<ChildEvent>,
) {
    let status = loop {
        let sig = tokio::select! {
            st = child.wait() => break st,
            sig = signals.recv() => sig,
        };
        match sig {
            Some(sig) => signal_group(&child, sig),
            None => {
                // The supervisor is gone: nobody will watch this process any more.
                signal_group(&child, Sig::Kill);
                let _ = tokio::time::timeout(ORPHAN_WAIT, child.wait()).await;
                return;
            }
        }
    };
    let (code, signal) = match status {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            (st.code(), st.signal())
        }
        Err(e) => {
            warn!(node, error = %e, "cannot wait for a child");
            (None, None)
        }
    };
    let _ = events.send(ChildEvent::Exited { node, incarnation, code, signal }).await;
}

/// Signals the child's process group, only while the child is unreaped (`id()` is `Some`).
fn signal_group(child: &Child, sig: Sig) {
    let Some(pid) = child.id() else { return };
    let Ok(pid) = i32::try_from(pid) else { return };
    // Never 0 or 1: kill(0) / kill(-1) would reach our own group or every process.
    assert!(pid > 1, "child pid {pid} out of range");
    let signo = match sig {
        Sig::Term => libc::SIGTERM,
        Sig::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes plain integers and has no memory effects. The group id is the
    // child's pid (it was spawned with process_group(0)); the child is not reaped yet, so
    // neither its pid nor its group id can have been recycled.
    let rc = unsafe { libc::kill(-pid, signo) };
    if rc != 0 {
        // The group may be gone if the child left it; fall back to the child itself.
        // SAFETY: as above.
        unsafe { libc::kill(pid, signo) };
    }
}

/// Reads stdout: the first ready line is reported, later lines are logged and dropped.
async fn read_stdout(
    out: impl AsyncRead + Unpin,
    node: NodeIx,
    incarnation: u64,
    name: String,
    events: mpsc::Sender<ChildEvent>,
) {
    let mut r = BufReader::new(out);
    let mut buf = Vec::new();
    let mut ready_sent = false;
    loop {
        buf.clear();
        match (&mut r).take(MAX_LINE_BYTES).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') && buf.len() as u64 == MAX_LINE_BYTES {
            warn!(node = %name, "overlong stdout line from node; skipped");
            if skip_line(&mut r).await {
                continue;
            }
            return;
        }
        let line = String::from_utf8_lossy(&buf);
        match (ready_sent, parse_ready(line.trim())) {
            (false, Some(ready)) => {
                ready_sent = true;
                if events.send(ChildEvent::Ready { node, incarnation, ready }).await.is_err() {
                    return;
                }
            }
            _ => debug!(node = %name, line = %line.trim(), "node stdout"),
        }
    }
}

/// Discards the rest of an overlong line; false at end of stream.
async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> bool {
    let mut sink = Vec::new();
    loop {
        sink.clear();
        match (&mut *r).take(MAX_LINE_BYTES).read_until(b'\n', &mut sink).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if sink.last() == Some(&b'\n') => return true,
            Ok(_) => {}
        }
    }
}

/// The node's ready line (`argus_interface::lines::NodeLine`) -> `Ready`; anything else, or
/// a ready line with a malformed PeerId, `None`. Listen addresses that do not parse are skipped.
pub fn parse_ready(line: &str) -> Option<Ready> {
    let NodeLine::Ready(r) = lines::parse::<NodeLine>(line)?;
    let peer_id = r.peer_id.parse().ok()?;
    let listen = r.listen.iter().filter_map(|x| x.parse().ok()).collect();
    Some(Ready { peer_id, listen, http: Some(r.http) })
}

/// Consumes child events until every `live` incarnation has exited or the deadline passes.
pub(super) async fn wait_exits(
    child_rx: &mut mpsc::Receiver<ChildEvent>,
    live: &mut HashMap<NodeIx, u64>,
    deadline: tokio::time::Instant,
) {
    while !live.is_empty() {
        match tokio::time::timeout_at(deadline, child_rx.recv()).await {
            Ok(Some(ChildEvent::Exited { node, incarnation, .. })) => {
                if live.get(&node) == Some(&incarnation) {
                    live.remove(&node);
                }
            }
            Ok(Some(ChildEvent::Ready { .. })) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node's ready line, as `argus node` prints it.
    fn ready_line(p: PeerId) -> String {
        lines::to_line(&NodeLine::Ready(argus_interface::lines::NodeReady {
            peer_id: p.to_string(),
            name: "n0".into(),
            listen: vec!["/ip4/127.0.0.1/tcp/4001".into(), "junk".into()],
            http: "127.0.0.1:1".into(),
            backend: "flex".into(),
            weights: String::new(),
            models: Vec::new(),
        }))
    }

    #[test]
    fn ready_line_is_parsed_and_other_lines_are_not() {
        let p = PeerId::random();
        let line = ready_line(p);
        let r = parse_ready(&line).unwrap();
        assert_eq!(r.peer_id, p);
        assert_eq!(r.listen, vec!["/ip4/127.0.0.1/tcp/4001".parse::<Multiaddr>().unwrap()]);
        assert_eq!(r.http.as_deref(), Some("127.0.0.1:1"));
        assert!(parse_ready(r#"{"event":"ready","peer_id":"nope"}"#).is_none());
        assert!(parse_ready(r#"{"event":"other"}"#).is_none());
        assert!(parse_ready("not json").is_none());
    }

    #[test]
    fn argv_puts_prefix_binary_and_subcommand_first() {
        let spec = NodeSpec {
            name: "n0".into(),
            args: vec!["--data".into(), "d".into()],
            exec_prefix: vec!["ip".into(), "netns".into()],
            ..Default::default()
        };
        let l = Launch {
            node: 0,
            incarnation: 1,
            bin: Path::new("/bin/argus"),
            spec: &spec,
            extra_args: vec!["--peer".into(), "x".into()],
            log: None,
        };
        assert_eq!(argv(&l), ["ip", "netns", "/bin/argus", "node", "--data", "d", "--peer", "x"]);
    }

    #[tokio::test]
    async fn a_spawned_child_reports_ready_and_exit_and_can_be_killed() {
        let (tx, mut rx) = mpsc::channel(8);
        let p = PeerId::random();
        let script = format!("echo '{}'; exec sleep 30", ready_line(p));
        let spec = NodeSpec {
            name: "t".into(),
            exec_prefix: vec!["sh".into(), "-c".into(), script, "sh".into()],
            ..Default::default()
        };
        // `sh -c SCRIPT sh BIN node` runs the script; the binary and "node" are just $1, $2.
        let l = Launch {
            node: 3,
            incarnation: 7,
            bin: Path::new("/nonexistent"),
            spec: &spec,
            extra_args: vec![],
            log: None,
        };
        let h = spawn(l, tx).unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(
            matches!(ev, ChildEvent::Ready { node: 3, incarnation: 7, ref ready } if ready.peer_id == p),
            "{ev:?}"
        );
        h.signal(Sig::Kill);
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert!(
            matches!(ev, ChildEvent::Exited { node: 3, incarnation: 7, code: None, signal: Some(9) }),
            "{ev:?}"
        );
    }
}
