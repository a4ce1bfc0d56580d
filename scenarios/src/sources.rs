//! Image sources: starts one `argus send` per source at its start time, in its place in the
//! lab, and waits for each to finish (it exits after its images and its linger time).
//! Stops them (SIGTERM, then SIGKILL) when told to. The senders' stdout lines go to the
//! line collector: they are the ground truth of what was announced.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::fleet::Clock;
use crate::lab::Placement;
use crate::procs::{self, LineEvent, Proc, Spec};
use crate::schema::{SourceKind, SourcePlan};

/// Slack on top of a sender's expected run time before it is stopped: up to 60 s waiting
/// for peers (`argus send --min-peers`) plus margin.
const SENDER_SLACK: Duration = Duration::from_secs(90);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRun {
    pub name: String,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// `argus send` arguments (after the program name) for one source.
pub fn sender_args(src: &SourcePlan, place: &Placement) -> Vec<String> {
    let mut a = vec!["send".to_string()];
    match &src.kind {
        SourceKind::Synthetic { seed, count } => {
            a.extend([
                "--synthetic".into(),
                "--count".into(),
                count.to_string(),
                "--seed".into(),
                seed.to_string(),
            ]);
        }
        SourceKind::Dir { path } => a.extend(["--dir".into(), path.display().to_string()]),
    }
    if let Some(m) = &src.model {
        a.extend(["--model".into(), m.clone()]);
    }
    a.extend(["--name".into(), src.name.clone(), "--rate".into(), src.rate_per_s.to_string()]);
    a.extend(place.net_args());
    a.extend([
        "--min-peers".into(),
        src.min_peers.to_string(),
        "--linger-s".into(),
        src.linger_s.to_string(),
    ]);
    a
}

fn expected_run(src: &SourcePlan) -> Duration {
    let images = match &src.kind {
        SourceKind::Synthetic { count, .. } => *count as f64,
        SourceKind::Dir { path } => std::fs::read_dir(path).map_or(0, |d| d.count()) as f64,
    };
    Duration::from_secs_f64(images / src.rate_per_s) + Duration::from_secs(src.linger_s) + SENDER_SLACK
}

/// Runs every source; returns when all have exited or `stop` fires (then stops them).
pub async fn run_sources(
    sources: Vec<(SourcePlan, Placement)>,
    bin: PathBuf,
    network_key: Option<PathBuf>,
    out: PathBuf,
    lines: mpsc::Sender<LineEvent>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) -> Vec<SourceRun> {
    let mut runs: Vec<SourceRun> = sources
        .iter()
        .map(|(s, _)| SourceRun {
            name: s.name.clone(),
            started_ms: None,
            ended_ms: None,
            exit_code: None,
            error: None,
        })
        .collect();
    let mut procs: Vec<(usize, Proc, Duration)> = Vec::new();
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].0.start_ms);
    for i in order {
        let (src, place) = &sources[i];
        let at = tokio::time::Instant::from_std(clock.t0 + Duration::from_millis(src.start_ms));
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        match spawn_one(src, place, &bin, network_key.as_deref(), &out, lines.clone()) {
            Ok(p) => {
                runs[i].started_ms = Some(clock.now_ms());
                eprintln!(
                    "[{:>7.1}s] source {} started (pid {})",
                    clock.now_ms() as f64 / 1e3,
                    src.name,
                    p.pid
                );
                procs.push((i, p, expected_run(src)));
            }
            Err(e) => runs[i].error = Some(e.to_string()),
        }
    }
    for (i, mut p, budget) in procs {
        let started = runs[i].started_ms.unwrap_or(0);
        let deadline = clock.t0 + Duration::from_millis(started) + budget;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let status = tokio::select! {
            st = p.wait(left) => st,
            _ = stop.wait_for(|s| *s) => None,
        };
        let status = match status {
            Some(st) => Some(st),
            None => {
                if !*stop.borrow() {
                    runs[i].error = Some(format!("still running after {budget:?}; stopped"));
                }
                p.stop(Duration::from_secs(5)).await
            }
        };
        runs[i].ended_ms = Some(clock.now_ms());
        runs[i].exit_code = status.and_then(|s| s.code());
        eprintln!(
            "[{:>7.1}s] source {} exited ({:?})",
            clock.now_ms() as f64 / 1e3,
            runs[i].name,
            runs[i].exit_code
        );
    }
    runs
}

fn spawn_one(
    src: &SourcePlan,
    place: &Placement,
    bin: &Path,
    network_key: Option<&Path>,
    out: &Path,
    lines: mpsc::Sender<LineEvent>,
) -> Result<Proc, procs::ProcError> {
    let dir = out.join("sources").join(&src.name);
    std::fs::create_dir_all(&dir).map_err(|source| procs::ProcError::Log { path: dir.clone(), source })?;
    let mut argv = place.exec_prefix.clone();
    argv.push(bin.display().to_string());
    argv.extend(sender_args(src, place));
    if let Some(k) = network_key {
        argv.extend(["--network-key".into(), k.display().to_string()]);
    }
    let spec = Spec {
        who: src.name.clone(),
        argv,
        stderr_path: dir.join("stderr.log"),
        stdout_path: dir.join("stdout.log"),
        env: vec![],
    };
    procs::spawn(&spec, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_command_line_follows_the_interface() {
        let src = SourcePlan {
            name: "cam".into(),
            rate_per_s: 2.5,
            kind: SourceKind::Synthetic { seed: 7, count: 40 },
            start_ms: 0,
            linger_s: 10,
            min_peers: 2,
            model: None,
        };
        let place = Placement {
            exec_prefix: vec![],
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            peers: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            mdns: false,
        };
        let a = sender_args(&src, &place).join(" ");
        assert_eq!(
            a,
            "send --synthetic --count 40 --seed 7 --name cam --rate 2.5 --listen /ip4/127.0.0.1/tcp/0 --peer /ip4/127.0.0.1/tcp/4001 --no-mdns --min-peers 2 --linger-s 10"
        );
    }
}
