//! A private network's key and the outsiders that try to join without it (`[network]`). The
//! key is written by `argus keygen` into the output folder; the members get it through their
//! arguments. Each outsider is an `argus node` with an identity of its own, no key and
//! `--fault anomalous`, placed in the lab's `outsiders` endpoint; it dials every member (mDNS
//! in the namespace lab, `--peer` on loopback) until the run ends. Any connection one of them
//! completed would show in the members' peer lists, any result of theirs in the stores.

use std::path::{Path, PathBuf};

use super::{Fleet, FleetError, socket_path};
use crate::procs::{self, Spec};
use argus_interface::lines::{self, NodeLine};

/// Runs `argus keygen` for a fresh key at `<out>/network.key`.
pub fn keygen(bin: &Path, out: &Path) -> Result<PathBuf, FleetError> {
    let path = out.join("network.key");
    let _ = std::fs::remove_file(&path); // a replayed run's old key; keygen never replaces one
    let fail = |message: String| FleetError::Node { node: "keygen".into(), message };
    let status = std::process::Command::new(bin)
        .args(["keygen", "--out"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| fail(format!("cannot run {} keygen: {e}", bin.display())))?;
    if !status.success() {
        return Err(fail(format!("{} keygen ended with {status}", bin.display())));
    }
    Ok(path)
}

impl Fleet {
    /// Starts every outsider and waits for its ready line; returns their PeerIds.
    pub async fn start_outsiders(&mut self, out: &Path) -> Result<Vec<String>, FleetError> {
        let place = self.lab.placement("outsiders");
        let mut ids = Vec::new();
        for k in 0..self.outsiders {
            let name = format!("x{k}");
            let dir = out.join("outsiders").join(&name);
            std::fs::create_dir_all(&dir)
                .map_err(|source| FleetError::Write { path: dir.clone(), source })?;
            let sock = socket_path(&dir, &name);
            let mut argv = place.exec_prefix.clone();
            argv.extend([self.bin.display().to_string(), "node".into(), "--data".into()]);
            argv.push(dir.join("data").display().to_string());
            argv.extend(["--name".into(), name.clone(), "--fault".into(), "anomalous".into()]);
            argv.extend(["--model".into(), "shapes".into()]);
            argv.extend(["--http".into(), format!("unix:{}", sock.display())]);
            argv.extend(place.net_args());
            let spec = Spec {
                who: name.clone(),
                argv,
                stderr_path: dir.join("stderr.log"),
                stdout_path: dir.join("stdout.log"),
                env: vec![],
            };
            let mut proc = procs::spawn(&spec, self.lines.clone())?;
            let line = procs::first_line(&mut proc, self.ready_timeout).await;
            self.outsider_procs.push(proc);
            let peer = line.as_deref().and_then(lines::parse::<NodeLine>).map(|NodeLine::Ready(r)| r.peer_id);
            let peer = peer.ok_or_else(|| FleetError::Node {
                node: name.clone(),
                message: format!("no ready line; see {}", dir.join("stderr.log").display()),
            })?;
            ids.push(peer);
        }
        Ok(ids)
    }
}
