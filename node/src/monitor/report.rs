//! The supervisor's counters and the wall clock of its event lines (the lines themselves are
//! `argus_interface::lines::MonitorLine`). Never decides anything.

use std::collections::BTreeMap;

/// Counters of the supervisor task (single owner: plain integers).
#[derive(Debug, Default)]
pub struct Counters {
    pub heartbeats: u64,
    pub verdicts_pass: u64,
    pub verdicts_fail: u64,
    pub restarts: BTreeMap<String, u64>,
    pub give_ups: u64,
    /// Times a node's heartbeats stopped reaching the monitor (`Decision::Unreachable`).
    pub unreachable: u64,
    /// Health probes that failed or timed out.
    pub probes_failed: u64,
    pub peers_connected: u64,
}

/// Wall-clock time in Unix ms (what `at_ms` carries).
pub fn unix_ms() -> u64 {
    crate::clock::wall_ms()
}
