//! What the monitor tells the outside: one JSON line per event on stdout (for the scenario
//! runner, which timestamps restarts with them) and its counters. Never decides anything; writing to a closed stdout is not an error.

use std::collections::BTreeMap;
use std::io::Write;

/// Counters of the supervisor task (single owner: plain integers).
#[derive(Debug, Default)]
pub struct Counters {
    pub heartbeats: u64,
    pub verdicts_pass: u64,
    pub verdicts_fail: u64,
    pub restarts: BTreeMap<String, u64>,
    pub give_ups: u64,
    pub peers_connected: u64,
}

/// Prints one JSON event line on stdout and flushes it.
pub fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Wall-clock time in Unix ms (what `at_ms` carries).
pub fn unix_ms() -> u64 {
    crate::clock::wall_ms()
}
