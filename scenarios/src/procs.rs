//! Child processes of a run (nodes, senders, the monitor): spawning with stderr to a log file
//! and stdout captured line by line (kept in a log file and forwarded with a timestamp),
//! signals by pid, and graceful stop with a deadline. Each child gets its own process group
//! so a Ctrl-C at the terminal reaches only the runner, which then stops children in order.
//! Never signals a pid it was not given by its own spawn (or a pid file its children wrote),
//! and never signals pid 0, 1 or a negative pid (which would address process groups).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// Longest stdout line kept whole; longer ones are split (ours are ~200 bytes).
const MAX_LINE_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot start {who} ({program}): {source}")]
    Spawn { who: String, program: String, source: std::io::Error },
    #[error("cannot open log {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("signal {signal} to pid {pid}: {source}")]
    Signal { pid: u32, signal: i32, source: std::io::Error },
    #[error("refusing to signal pid {0}")]
    BadPid(u32),
}

/// A line a child printed on stdout, stamped when the runner read it.
#[derive(Debug, Clone)]
pub struct LineEvent {
    pub at: Instant,
    pub who: String,
    pub line: String,
}

/// How to start one child.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Label in logs and line events, e.g. `n3` or `cam0`.
    pub who: String,
    /// Full argv, including any `ip netns exec NS` prefix.
    pub argv: Vec<String>,
    pub stderr_path: PathBuf,
    pub stdout_path: PathBuf,
    pub env: Vec<(String, String)>,
}

/// A running child.
#[derive(Debug)]
pub struct Proc {
    pub who: String,
    pub pid: u32,
    child: Child,
    /// The first stdout line (a node's ready line), once.
    pub first_line: Option<oneshot::Receiver<String>>,
}

fn open_append(path: &Path) -> Result<std::fs::File, ProcError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| ProcError::Log { path: path.to_path_buf(), source })
}

/// Starts `spec`; its stdout lines go to `lines` (and to `spec.stdout_path`).
pub fn spawn(spec: &Spec, lines: mpsc::Sender<LineEvent>) -> Result<Proc, ProcError> {
    let stderr = open_append(&spec.stderr_path)?;
    let stdout_log = open_append(&spec.stdout_path)?;
    let program = spec.argv.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(&program);
    cmd.args(&spec.argv[1.min(spec.argv.len())..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|source| ProcError::Spawn {
        who: spec.who.clone(),
        program: program.clone(),
        source,
    })?;
    let pid = child.id().ok_or_else(|| ProcError::Spawn {
        who: spec.who.clone(),
        program,
        source: std::io::Error::other("exited at once"),
    })?;
    let (first_tx, first_rx) = oneshot::channel();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(read_lines(
            spec.who.clone(),
            out,
            tokio::fs::File::from_std(stdout_log),
            first_tx,
            lines,
        ));
    }
    Ok(Proc { who: spec.who.clone(), pid, child, first_line: Some(first_rx) })
}

async fn read_lines(
    who: String,
    out: tokio::process::ChildStdout,
    mut log: tokio::fs::File,
    first: oneshot::Sender<String>,
    lines: mpsc::Sender<LineEvent>,
) {
    let mut reader = BufReader::new(out);
    let mut first = Some(first);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE_BYTES).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Flushed per line so the log is complete by the time the line is forwarded.
        let _ = log.write_all(&buf).await;
        let _ = log.flush().await;
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        if let Some(tx) = first.take() {
            let _ = tx.send(line.clone());
        }
        // A closed receiver means the run is over: keep draining into the log file.
        let _ = lines.send(LineEvent { at: Instant::now(), who: who.clone(), line }).await;
    }
}

/// Sends `signal` to `pid`.
pub fn signal(pid: u32, signal: i32) -> Result<(), ProcError> {
    if pid <= 1 || pid > i32::MAX as u32 {
        return Err(ProcError::BadPid(pid));
    }
    // SAFETY: kill(2) has no memory effects; the pid is a positive process id.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(ProcError::Signal { pid, signal, source: std::io::Error::last_os_error() })
    }
}

/// Whether a process with this pid exists (it may be a zombie).
pub fn exists(pid: u32) -> bool {
    pid > 1 && pid <= i32::MAX as u32 && unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
}

/// Reads a pid written by the `sh -c 'echo $$ > FILE; exec ...'` wrapper.
pub fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok().filter(|&p| p > 1)
}

impl Proc {
    /// `Some(status)` once the child has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn signal(&self, sig: i32) -> Result<(), ProcError> {
        signal(self.pid, sig)
    }

    /// Waits up to `timeout` for the child to exit.
    pub async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait()).await.ok().and_then(Result::ok)
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        if let Some(st) = self.try_exit() {
            return Some(st);
        }
        let _ = self.signal(libc::SIGKILL);
        self.wait(Duration::from_secs(5)).await
    }

    /// SIGCONT (a paused child cannot handle SIGTERM), SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.try_exit() {
            return Some(st);
        }
        let _ = self.signal(libc::SIGCONT);
        let _ = self.signal(libc::SIGTERM);
        match self.wait(grace).await {
            Some(st) => Some(st),
            None => self.kill().await,
        }
    }
}

/// Waits up to `timeout` for the child's first stdout line.
pub async fn first_line(p: &mut Proc, timeout: Duration) -> Option<String> {
    let rx = p.first_line.take()?;
    tokio::time::timeout(timeout, rx).await.ok()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, script: &str) -> Spec {
        Spec {
            who: "t".into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            stderr_path: dir.join("stderr.log"),
            stdout_path: dir.join("stdout.log"),
            env: vec![],
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("argus-sc-procs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[tokio::test]
    async fn lines_are_forwarded_and_logged() {
        let d = tmp("lines");
        let (tx, mut rx) = mpsc::channel(8);
        let mut p = spawn(&spec(&d, "echo '{\"event\":\"ready\"}'; echo second; echo oops >&2"), tx).unwrap();
        assert_eq!(
            first_line(&mut p, Duration::from_secs(5)).await.as_deref(),
            Some("{\"event\":\"ready\"}")
        );
        assert_eq!(rx.recv().await.unwrap().line, "{\"event\":\"ready\"}");
        assert_eq!(rx.recv().await.unwrap().line, "second");
        assert!(p.wait(Duration::from_secs(5)).await.unwrap().success());
        assert_eq!(std::fs::read_to_string(d.join("stderr.log")).unwrap(), "oops\n");
        assert!(std::fs::read_to_string(d.join("stdout.log")).unwrap().ends_with("second\n"));
    }

    #[tokio::test]
    async fn stop_escalates_past_an_ignored_sigterm_and_a_pause() {
        let d = tmp("stop");
        let (tx, _rx) = mpsc::channel(8);
        let mut p = spawn(&spec(&d, "trap '' TERM; echo up; while :; do sleep 0.05; done"), tx).unwrap();
        first_line(&mut p, Duration::from_secs(5)).await.unwrap();
        p.signal(libc::SIGSTOP).unwrap();
        let t = Instant::now();
        let st = p.stop(Duration::from_millis(300)).await.unwrap();
        assert!(!st.success());
        assert!(t.elapsed() >= Duration::from_millis(300), "SIGTERM was ignored, so the grace ran out");
        assert!(!exists(p.pid) || p.try_exit().is_some());
    }

    #[test]
    fn refuses_group_and_init_pids() {
        assert!(matches!(signal(0, 0), Err(ProcError::BadPid(0))));
        assert!(matches!(signal(1, 0), Err(ProcError::BadPid(1))));
        assert!(matches!(signal(u32::MAX, 0), Err(ProcError::BadPid(_))));
    }
}
