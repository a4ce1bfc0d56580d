//! `argus-scenario run`: loads the plan, finds the `argus` binary, builds the lab, runs the
//! phases (`phases.rs`), and always tears down (children stopped, namespaces removed), also
//! on failure or Ctrl-C; then computes figures and checks and writes the report and chart.
//! Exit status: 0 pass, 1 a check failed, 2 the run could not complete, 130 interrupted.

mod phases;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::sync::{mpsc, watch};

use crate::fleet::Fleet;
use crate::lab::{FabricChoice, Lab, Layout};
use crate::report::{NodeInfo, Report};
use crate::schema::{Backend, Fault, Plan, Scenario};
use crate::{bands, chart, checks, figures, report};

pub struct RunOptions {
    pub file: PathBuf,
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub argus_bin: Option<PathBuf>,
    pub fabric: FabricChoice,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Incomplete,
    Interrupted,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Passed => 0,
            Outcome::Failed => 1,
            Outcome::Incomplete => 2,
            Outcome::Interrupted => 130,
        }
    }
}

/// `--argus-bin`, else `$ARGUS_BIN`, else `argus` next to this executable.
pub fn find_argus(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let env = std::env::var_os("ARGUS_BIN").map(PathBuf::from);
    let sibling = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("argus")));
    let (path, from) = match (flag, env) {
        (Some(p), _) => (p.to_path_buf(), "--argus-bin"),
        (None, Some(p)) => (p, "ARGUS_BIN"),
        (None, None) => (sibling.clone().unwrap_or_else(|| PathBuf::from("argus")), "next to argus-scenario"),
    };
    if !path.is_file() {
        bail!(
            "the argus binary was not found at {} (from {from}). Build it with `cargo build -p argus-node`, \
             or pass --argus-bin PATH, or set ARGUS_BIN",
            path.display()
        );
    }
    std::fs::canonicalize(&path).with_context(|| format!("resolving {}", path.display()))
}

/// Fails before any lab is built when the scenario runs a node on a backend the argus binary
/// was built without (wgpu is an opt-in cargo feature), naming the build command that adds it.
pub async fn check_backends(scenario: &Scenario, bin: &Path) -> anyhow::Result<()> {
    // The CPU backends are in every build.
    let needed: Vec<(String, &'static str)> = scenario
        .node_names()
        .into_iter()
        .filter(|n| scenario.backend_of(n) == Some(Backend::Wgpu))
        .map(|n| (n, Backend::Wgpu.as_str()))
        .collect();
    if needed.is_empty() {
        return Ok(());
    }
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("backends").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), cmd.output())
        .await
        .map_err(|_| anyhow::anyhow!("`{} backends` did not answer within 30 s", bin.display()))?
        .with_context(|| format!("running `{} backends`", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`{} backends` failed ({}): is it an argus binary of this version? {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let have = String::from_utf8_lossy(&out.stdout);
    let have: Vec<&str> = have.lines().map(str::trim).collect();
    if let Some((node, backend)) = needed.iter().find(|(_, b)| !have.contains(b)) {
        bail!(
            "node {node} runs on the {backend} backend, but {} was built without it (it has: {}). \
             Build the binaries with `cargo build --workspace --bins --features argus-node/{backend}` \
             (`just scenario NAME` does this for scenarios that need it), or pass --argus-bin PATH",
            bin.display(),
            have.join(", ")
        );
    }
    Ok(())
}

/// Who is in the lab; in the loopback lab each source dials the nodes of its side of the
/// first partition (or all nodes when there is none).
fn layout(plan: &Plan) -> Layout {
    let s = &plan.scenario;
    let nodes = s.node_names();
    let first_groups = plan.faults.iter().find_map(|f| match &f.fault {
        Fault::Partition { groups } => Some(groups.clone()),
        _ => None,
    });
    let mut homes = BTreeMap::new();
    for src in &plan.sources {
        let side = first_groups.as_ref().and_then(|g| g.values().find(|members| members.contains(&src.name)));
        let home: Vec<String> = match side {
            Some(members) => members.iter().filter(|m| nodes.contains(m)).cloned().collect(),
            None => nodes.clone(),
        };
        homes.insert(src.name.clone(), home);
    }
    let outsiders = s.network.as_ref().is_some_and(|n| n.outsiders > 0);
    if outsiders {
        // Loopback: the outsiders dial every node.
        homes.insert("outsiders".into(), nodes.clone());
    }
    Layout {
        nodes,
        sources: plan.sources.iter().map(|s| s.name.clone()).collect(),
        monitor: s.monitor.is_some(),
        outsiders,
        source_homes: homes,
    }
}

fn out_dir(plan: &Plan, flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match flag {
        Some(d) => d.to_path_buf(),
        None => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            PathBuf::from("out").join(format!("{}-{}", plan.scenario.name, report::timestamp(now.as_secs())))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))
}

/// Cancels the run on SIGINT or SIGTERM.
fn watch_signals(cancel: watch::Sender<bool>) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "interrupted: stopping every process and removing the lab (Ctrl-C again is ignored until done)"
        );
        let _ = cancel.send(true);
    });
}

/// Runs one scenario file end to end.
pub async fn run(opts: RunOptions) -> anyhow::Result<Outcome> {
    let plan = Scenario::load(&opts.file, opts.seed)?;
    let bin = find_argus(opts.argus_bin.as_deref())?;
    check_backends(&plan.scenario, &bin).await?;
    let out = out_dir(&plan, opts.out.as_deref())?;
    let (cancel_tx, cancel) = watch::channel(false);
    watch_signals(cancel_tx);
    let layout = layout(&plan);
    let (lab, fabric_note) = Lab::create(opts.fabric, &layout).context("building the lab network")?;
    let fabric = lab.fabric().to_string();
    eprintln!("scenario {} (seed {}) in the {fabric} lab: {fabric_note}", plan.scenario.name, plan.seed);
    eprintln!("output: {}", out.display());
    let (lines_tx, lines_rx) = mpsc::channel(4096);
    let (peers_tx, peers_rx) = watch::channel(BTreeMap::new());
    let (mut fleet, view) = Fleet::new(&plan, lab, &out, bin.clone(), lines_tx.clone(), peers_rx)?;
    let io = phases::Io { lines_tx, lines_rx, peers_tx, view, cancel: cancel.clone() };
    let (obs, queries_skipped, error) = phases::execute(&plan, &mut fleet, &out, io).await;
    eprintln!("stopping processes and removing the lab");
    fleet.shutdown().await;
    let teardown = fleet.lab.teardown();
    let interrupted = *cancel.borrow();
    let error = error.map(|e| format!("{e:#}"));
    let error = match (error, teardown) {
        (e, Ok(())) => e,
        (e, Err(t)) => Some(format!("{}lab teardown: {t}", e.map(|e| e + "; ").unwrap_or_default())),
    };
    let bands = bands::bands(&obs);
    let figures = figures::compute(&obs, &bands);
    let checks = checks::evaluate(&plan.scenario.checks, &figures);
    let failed_checks: Vec<String> = checks.iter().filter(|c| !c.passed).map(|c| c.name.clone()).collect();
    let passed = error.is_none() && !interrupted && failed_checks.is_empty();
    let series = chart::series(&obs);
    let svg = chart::render(
        &format!("{} (seed {}, {fabric} lab)", plan.scenario.name, plan.seed),
        &series,
        &bands,
        obs.end_ms as f64 / 1e3,
    );
    std::fs::write(out.join("timeline.svg"), svg).context("writing timeline.svg")?;
    let report = Report {
        scenario: plan.scenario.name.clone(),
        file: opts.file.display().to_string(),
        seed: plan.seed,
        passed,
        failed_checks,
        error,
        replay: format!("argus-scenario run {} --seed {}", opts.file.display(), plan.seed),
        fabric,
        fabric_note,
        argus_bin: bin.display().to_string(),
        out_dir: out.display().to_string(),
        started_unix_ms: obs.t0_unix_ms,
        nodes: fleet
            .slots
            .iter()
            .map(|s| NodeInfo {
                name: s.name.clone(),
                backend: plan.scenario.backend_of(&s.name).map(|b| b.as_str().into()),
                peer_id: s.peer_id.clone(),
            })
            .collect(),
        timeline: plan.faults.clone(),
        checks,
        figures,
        bands,
        series,
        queries_skipped,
        observations: obs,
    };
    report.write(&out).context("writing report.json")?;
    println!("{}", report.summary());
    Ok(match (interrupted, report.error.is_some(), passed) {
        (true, _, _) => Outcome::Interrupted,
        (false, true, _) => Outcome::Incomplete,
        (false, false, true) => Outcome::Passed,
        (false, false, false) => Outcome::Failed,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn scenario(override_backend: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\nseed = 1\nduration_s = 10\n[nodes]\ncount = 2\n\
             [nodes.overrides.n1]\nbackend = \"{override_backend}\"\n\
             [[sources]]\nname = \"cam0\"\nrate_per_s = 1.0\ncount = 5\n"
        );
        Scenario::parse(&text, Path::new("t.toml")).unwrap()
    }

    /// A stand-in argus binary whose `backends` prints `list`.
    fn fake_argus(dir: &Path, name: &str, list: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n[ \"$1\" = backends ] && printf '{list}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[tokio::test]
    async fn a_wgpu_node_needs_a_binary_built_with_wgpu() {
        let dir = std::env::temp_dir().join(format!("argus-backends-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cpu_only = fake_argus(&dir, "cpu", "ndarray\\nflex\\n");
        let with_gpu = fake_argus(&dir, "gpu", "ndarray\\nflex\\nwgpu\\n");

        let err = check_backends(&scenario("wgpu"), &cpu_only).await.unwrap_err().to_string();
        assert!(err.contains("node n1 runs on the wgpu backend"), "{err}");
        assert!(err.contains("--features argus-node/wgpu"), "{err}");
        assert!(err.contains("it has: ndarray, flex"), "{err}");

        check_backends(&scenario("wgpu"), &with_gpu).await.unwrap();
        // CPU backends are in every build: the binary is not even asked.
        check_backends(&scenario("flex"), &dir.join("missing")).await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
