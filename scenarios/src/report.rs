//! The run's outputs: `report.json` (every figure, check, band, series and the raw
//! observations) and the summary table printed at the end, with the seed to replay a failure.
//! Writes only inside the run's output folder.

use std::path::Path;

use serde::Serialize;

use crate::bands::Band;
use crate::chart::Series;
use crate::checks::CheckResult;
use crate::figures::Figures;
use crate::observe::Observations;
use crate::schema::TimedFault;

#[derive(Debug, Clone, Serialize)]
pub struct NodeInfo {
    pub name: String,
    pub backend: Option<String>,
    pub peer_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub file: String,
    pub seed: u64,
    pub passed: bool,
    pub failed_checks: Vec<String>,
    /// Set when the run could not complete (start-up failure, Ctrl-C).
    pub error: Option<String>,
    pub replay: String,
    pub fabric: String,
    pub fabric_note: String,
    pub argus_bin: String,
    pub out_dir: String,
    pub started_unix_ms: u64,
    pub nodes: Vec<NodeInfo>,
    pub timeline: Vec<TimedFault>,
    pub checks: Vec<CheckResult>,
    pub figures: Figures,
    pub bands: Vec<Band>,
    pub series: Series,
    pub queries_skipped: u64,
    pub observations: Observations,
}

impl Report {
    pub fn write(&self, out: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(out.join("report.json"), text)
    }

    /// The summary table and verdict, as printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        if let Some(e) = &self.error {
            s.push_str(&format!(
                "\nNOTE: the run did not complete ({e}); the checks below judge partial data.\n"
            ));
        }
        let w = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
        let vw = self.checks.iter().map(|c| c.value.len()).max().unwrap_or(5).clamp(5, 40);
        s.push_str(&format!("\n{:<w$}  {:<vw$}  {:<14}  result\n", "check", "value", "threshold"));
        for c in &self.checks {
            let verdict = if c.passed { "PASS" } else { "FAIL" };
            s.push_str(&format!("{:<w$}  {:<vw$}  {:<14}  {verdict}", c.name, c.value, c.threshold));
            if !c.detail.is_empty() && !c.passed {
                s.push_str(&format!("  ({})", c.detail));
            }
            s.push('\n');
        }
        let f = &self.figures;
        s.push_str(&format!(
            "\nannounced {} | required {} | completed {} | lost {} | duplicates {:.0}",
            f.announced, f.required, f.completed, f.lost, f.duplicates
        ));
        if let Some(l) = &f.latency {
            s.push_str(&format!(" | latency p50 {:.0} ms p99 {:.0} ms", l.p50_ms, l.p99_ms));
        }
        if let Some(t) = f.throughput_per_s {
            s.push_str(&format!(" | {t:.2} images/s"));
        }
        s.push_str(&format!("\nfabric: {} ({})\noutput: {}\n", self.fabric, self.fabric_note, self.out_dir));
        if let Some(e) = &self.error {
            s.push_str(&format!("run error: {e}\n"));
        }
        if self.passed {
            s.push_str(&format!("PASS: scenario {} (seed {})\n", self.scenario, self.seed));
        } else {
            let failed = if self.failed_checks.is_empty() {
                "none (the run did not complete)".to_string()
            } else {
                self.failed_checks.join(", ")
            };
            s.push_str(&format!(
                "FAIL: scenario {} (seed {}); failed checks: {failed}\nreplay: {}\n",
                self.scenario, self.seed, self.replay
            ));
        }
        s
    }
}

/// `YYYYmmdd-HHMMSS` (UTC) for output folder names.
pub fn timestamp(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(951_782_400), "20000229-000000");
        assert_eq!(timestamp(1_763_932_245), "20251123-211045");
    }
}
