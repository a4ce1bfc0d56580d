//! Monitored fleets: the runner starts `argus monitor --config FILE` (in the monitor's own
//! namespace in the namespace lab) and the monitor spawns every node through the wrapper of
//! `monitor.rs`. The runner then waits for each node's HTTP API to answer. Never spawns a node
//! itself in this mode.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Fleet, FleetError, SlotState};
use crate::monitor::{self, MonitorNode};
use crate::procs::{self, Spec};
use crate::schema::Monitor;

impl Fleet {
    /// Writes the monitor config, starts the monitor and waits for every node to answer.
    pub async fn start_monitored(&mut self, m: &Monitor, out: &Path) -> Result<(), FleetError> {
        let nodes: Vec<MonitorNode> = (0..self.slots.len())
            .map(|i| {
                let place = self.lab.placement(&self.slots[i].name);
                MonitorNode {
                    name: self.slots[i].name.clone(),
                    exec_prefix: monitor::wrapped_prefix(&place.exec_prefix, &self.slots[i].dir),
                    args: self.node_args(i),
                    ..Default::default()
                }
            })
            .collect();
        let path = out.join("monitor.toml");
        let text = monitor::render(m, &nodes)
            .map_err(|e| FleetError::Node { node: "monitor".into(), message: e.to_string() })?;
        std::fs::write(&path, text).map_err(|source| FleetError::Write { path: path.clone(), source })?;
        let dir = out.join("monitor");
        std::fs::create_dir_all(&dir).map_err(|source| FleetError::Write { path: dir.clone(), source })?;
        for slot in &mut self.slots {
            let _ = std::fs::remove_file(&slot.sock);
            let _ = std::fs::remove_file(slot.dir.join("pid"));
            slot.state = SlotState::Running;
        }
        let place = self.lab.placement("monitor");
        let mut argv = place.exec_prefix.clone();
        argv.extend([
            self.bin.display().to_string(),
            "monitor".into(),
            "--config".into(),
            path.display().to_string(),
        ]);
        argv.extend(place.net_args());
        if let Some(k) = &self.network_key {
            argv.extend(["--network-key".into(), k.display().to_string()]);
        }
        let spec = Spec {
            who: "monitor".into(),
            argv,
            stderr_path: dir.join("stderr.log"),
            stdout_path: dir.join("stdout.log"),
            env: vec![],
        };
        self.monitor = Some(procs::spawn(&spec, self.lines.clone())?);
        self.publish();
        for i in 0..self.slots.len() {
            self.await_answer(i).await?;
        }
        Ok(())
    }

    /// Polls the node's status until it answers (ready timeout), recording its peer id.
    async fn await_answer(&mut self, i: usize) -> Result<(), FleetError> {
        let deadline = Instant::now() + self.ready_timeout;
        let client = self.client(i);
        loop {
            if let Ok(st) = client.status().await {
                self.slots[i].peer_id = Some(st.peer_id);
                return Ok(());
            }
            if self.monitor.as_mut().and_then(|m| m.try_exit()).is_some() {
                let tail = super::stderr_tail(&self.slots[i].dir.join("../../monitor/stderr.log"));
                return Err(FleetError::Node {
                    node: "monitor".into(),
                    message: format!("exited early; stderr tail:\n{tail}"),
                });
            }
            if Instant::now() >= deadline {
                let tail = super::stderr_tail(&self.slots[i].dir.join("stderr.log"));
                return Err(FleetError::Node {
                    node: self.slots[i].name.clone(),
                    message: format!("no answer on its HTTP socket; stderr tail:\n{tail}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
