//! Fleet operations that faults and teardown need: kill, signal (pause/resume), graceful
//! restart with an optional fresh data folder, and the final shutdown. Only signals pids of
//! processes the runner started, or that its monitor started through the pid-file wrapper.

use std::time::Duration;

use super::{Fleet, FleetError, SlotState};
use crate::procs;

impl Fleet {
    /// The pid to signal: the runner's child, or the pid the monitor's wrapper recorded.
    fn pid_of(&self, i: usize) -> Option<u32> {
        match (&self.slots[i].proc, &self.monitor) {
            (Some(p), _) => Some(p.pid),
            (None, Some(_)) => procs::read_pidfile(&self.slots[i].dir.join("pid")),
            (None, None) => None,
        }
    }

    pub async fn kill(&mut self, i: usize) -> Result<(), FleetError> {
        match self.slots[i].proc.as_mut() {
            Some(p) => {
                let _ = p.kill().await;
            }
            None => self.signal(i, libc::SIGKILL)?,
        }
        self.slots[i].state = if self.monitor.is_some() { SlotState::Running } else { SlotState::Dead };
        self.publish();
        Ok(())
    }

    pub fn signal(&mut self, i: usize, sig: i32) -> Result<(), FleetError> {
        let pid = self.pid_of(i).ok_or_else(|| FleetError::Node {
            node: self.slots[i].name.clone(),
            message: "no known pid".into(),
        })?;
        procs::signal(pid, sig)?;
        Ok(())
    }

    pub fn set_state(&mut self, i: usize, state: SlotState) {
        self.slots[i].state = state;
        self.publish();
    }

    /// Graceful stop (SIGTERM, then SIGKILL after 10 s), then start again; `fresh` gives
    /// the node an empty data folder (a new identity).
    pub async fn restart(&mut self, i: usize, fresh: bool) -> Result<(), FleetError> {
        if let Some(mut p) = self.slots[i].proc.take() {
            p.stop(Duration::from_secs(10)).await;
        }
        self.slots[i].state = SlotState::Dead;
        if fresh {
            self.slots[i].data_gen += 1;
        }
        self.publish();
        self.start_many(&[i]).await
    }

    /// Stops everything: sources are the caller's; here the monitor, then every node.
    pub async fn shutdown(&mut self) {
        let grace = Duration::from_secs(10);
        if let Some(mut m) = self.monitor.take() {
            m.stop(grace).await;
        }
        for mut p in std::mem::take(&mut self.outsider_procs) {
            p.stop(grace).await;
        }
        for slot in &self.slots {
            if let Some(p) = &slot.proc {
                let _ = p.signal(libc::SIGCONT);
                let _ = p.signal(libc::SIGTERM);
            }
        }
        for slot in &mut self.slots {
            if let Some(mut p) = slot.proc.take() {
                p.stop(grace).await;
            }
            // Monitored nodes the monitor failed to stop: their wrapper wrote the pid.
            if let Some(pid) =
                procs::read_pidfile(&slot.dir.join("pid")).filter(|&p| is_our_node(p, &slot.dir))
            {
                let _ = procs::signal(pid, libc::SIGKILL);
            }
            slot.state = SlotState::Dead;
        }
        self.publish();
    }
}

/// Whether `pid` still runs a node of ours: its command line names this node's folder.
fn is_our_node(pid: u32, dir: &std::path::Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.display().to_string();
    String::from_utf8_lossy(&cmdline).split('\0').any(|a| a.starts_with(&needle))
}
