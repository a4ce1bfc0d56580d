//! Verdicts: each check compares one figure with the scenario's threshold. A check whose
//! figure is missing (no data) fails: a run that observed nothing proves nothing. The
//! workload, liveness and loss checks always run; the others run when the scenario sets a
//! threshold. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::figures::Figures;
use crate::schema::Checks;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub value: String,
    pub threshold: String,
    pub detail: String,
}

fn result(
    name: &str,
    passed: bool,
    value: String,
    threshold: String,
    detail: impl Into<String>,
) -> CheckResult {
    CheckResult { name: name.into(), passed, value, threshold, detail: detail.into() }
}

fn no_data(name: &str, threshold: String, why: &str) -> CheckResult {
    result(name, false, "no data".into(), threshold, why)
}

/// `value <= max`, failing on missing data.
fn at_most(name: &str, value: Option<f64>, max: f64, unit: &str, why_missing: &str) -> CheckResult {
    let threshold = format!("<= {max}{unit}");
    match value {
        None => no_data(name, threshold, why_missing),
        Some(v) => result(name, v <= max, format!("{v:.3}{unit}"), threshold, ""),
    }
}

/// `value >= min`, failing on missing data.
fn at_least(name: &str, value: Option<f64>, min: f64, unit: &str, why_missing: &str) -> CheckResult {
    let threshold = format!(">= {min}{unit}");
    match value {
        None => no_data(name, threshold, why_missing),
        Some(v) => result(name, v >= min, format!("{v:.3}{unit}"), threshold, ""),
    }
}

/// All checks of a run, in a fixed order.
pub fn evaluate(c: &Checks, f: &Figures) -> Vec<CheckResult> {
    let mut out = vec![
        result(
            "workload",
            f.announced > 0 && f.required > 0,
            format!("{} announced, {} required", f.announced, f.required),
            "> 0".into(),
            "images announced while at least one node was up",
        ),
        result(
            "nodes_up",
            !f.nodes_expected_up.is_empty() && f.nodes_not_answering.is_empty(),
            format!(
                "{}/{}",
                f.nodes_expected_up.len() - f.nodes_not_answering.len(),
                f.nodes_expected_up.len()
            ),
            "all".into(),
            if f.nodes_not_answering.is_empty() {
                String::new()
            } else {
                format!("not answering: {}", f.nodes_not_answering.join(", "))
            },
        ),
        result(
            "lost",
            f.required > 0 && f.lost as u64 <= c.lost_max,
            f.lost.to_string(),
            format!("<= {}", c.lost_max),
            if f.lost == 0 {
                String::new()
            } else {
                format!("e.g. {}; missing per node {:?}", f.lost_examples.join(", "), f.missing_per_node)
            },
        ),
    ];
    optional(c, f, &mut out);
    out
}

fn optional(c: &Checks, f: &Figures, out: &mut Vec<CheckResult>) {
    if let Some(max) = c.duplicate_ratio_max {
        out.push(at_most(
            "duplicates",
            f.duplicate_ratio,
            max,
            "",
            "no stored result, or no node reported an images_processed counter",
        ));
    }
    if let Some(max_s) = c.converge_max_s {
        out.push(converge(&f.convergence, max_s));
    }
    if let Some(min) = c.partition_answered_min_ratio {
        let q = &f.queries;
        let ratio =
            (q.during_partition > 0).then(|| q.answered_during_partition as f64 / q.during_partition as f64);
        let mut r = at_least("partition_queries", ratio, min, "", "no query was issued during a partition");
        r.detail = format!(
            "{}/{} answered, {} found",
            q.answered_during_partition, q.during_partition, q.found_during_partition
        );
        out.push(r);
    }
    if let Some(min) = c.restarts_min {
        let n = f.monitor_restarts;
        out.push(result(
            "restarts",
            n as u32 >= min,
            n.to_string(),
            format!(">= {min}"),
            "restart events from the monitor",
        ));
    }
    if let Some(max) = c.restarts_max {
        let n = f.monitor_restarts;
        out.push(result(
            "restarts_max",
            n as u32 <= max,
            n.to_string(),
            format!("<= {max}"),
            "restart events from the monitor",
        ));
    }
    if let Some(max_s) = c.restart_max_s {
        out.push(restart_delay(f, max_s));
    }
    if let Some(max) = c.audit_ratio_low_max {
        out.push(at_most(
            "audit_ratio_drops",
            f.audit_ratio_load_min,
            max,
            "",
            "no audit ratio sample during the load",
        ));
    }
    if let Some(min) = c.audit_ratio_recovered_min {
        out.push(at_least(
            "audit_ratio_recovers",
            f.audit_ratio_idle_max,
            min,
            "",
            "no audit ratio sample in the idle tail",
        ));
    }
    let lat = |p: fn(&crate::figures::Latency) -> f64| f.latency.as_ref().map(p);
    if let Some(max) = c.latency_p50_max_ms {
        out.push(at_most("latency_p50", lat(|l| l.p50_ms), max, " ms", "no completed image"));
    }
    if let Some(max) = c.latency_p99_max_ms {
        out.push(at_most("latency_p99", lat(|l| l.p99_ms), max, " ms", "no completed image"));
    }
    if let Some(min) = c.throughput_min_per_s {
        out.push(at_least("throughput", f.throughput_per_s, min, "/s", "no completed image"));
    }
    if let Some(max) = c.split_votes_max_ratio {
        out.push(at_most("split_votes", f.split_votes_ratio, max, "", "no stored result"));
    }
    if let Some(min) = c.min_processed_per_node {
        out.push(per_node("processed_per_node", &f.processed_per_node, min, "images_processed"));
    }
    if let Some(min) = c.min_audits_per_node {
        out.push(per_node("audits_per_node", &f.audits_per_node, min, "audits_performed"));
    }
    if let Some(max) = c.mesh_max_s {
        out.push(at_most(
            "mesh",
            f.mesh_s,
            max,
            " s",
            "the nodes did not all see each other within warmup_s",
        ));
    }
    if let Some(max) = c.outsider_connections_max {
        let threshold = format!("<= {max}");
        out.push(match f.outsider_connections {
            None => no_data("outsider_connections", threshold, "no outsider ran, or no member answered"),
            // Outsiders that never dialled prove nothing: their refusals must show.
            Some(_) if f.connections_refused == 0 => result(
                "outsider_connections",
                false,
                "no refusal".into(),
                threshold,
                "the members refused no connection: the outsiders never reached them",
            ),
            Some(n) => result(
                "outsider_connections",
                n as u64 <= max,
                n.to_string(),
                threshold,
                format!("{} connection attempts refused", f.connections_refused),
            ),
        });
    }
    if let Some(max) = c.hostile_ban_max_s {
        let threshold = format!("<= {max} s");
        if f.hostile_bans.is_empty() {
            out.push(no_data("hostile_ban_s", threshold, "no hostile member ran"));
        } else {
            for (name, secs) in &f.hostile_bans {
                let metric = format!("hostile_ban_s[{name}]");
                out.push(match secs {
                    Some(s) => result(&metric, *s <= max, format!("{s:.1}"), threshold.clone(), ""),
                    None => result(
                        &metric,
                        false,
                        "never".into(),
                        threshold.clone(),
                        "some honest member had not banned it by the end",
                    ),
                });
            }
        }
    }
    if let Some(max) = c.outsider_values_max {
        let threshold = format!("<= {max}");
        out.push(match f.outsider_values {
            None => no_data("outsider_values", threshold, "no outsider ran, or no member answered"),
            Some(n) => result("outsider_values", n as u64 <= max, n.to_string(), threshold, ""),
        });
    }
    if let Some(max) = c.anomalous_values_max {
        let threshold = format!("<= {max}");
        out.push(match f.anomalous_values {
            None => no_data("anomalous_values", threshold, "no node was made anomalous"),
            Some(n) => result(
                "anomalous_values",
                n as u64 <= max,
                n.to_string(),
                threshold,
                if n == 0 { String::new() } else { format!("e.g. {}", f.anomalous_examples.join(", ")) },
            ),
        });
    }
}

fn converge(conv: &[crate::figures::Convergence], max_s: f64) -> CheckResult {
    let threshold = format!("<= {max_s} s");
    if conv.is_empty() {
        return no_data("converge", threshold, "nothing to converge from");
    }
    let worst = conv.iter().map(|c| c.converged_after_ms).max_by_key(|c| c.map_or(u64::MAX, |v| v));
    let detail = conv
        .iter()
        .map(|c| match c.converged_after_ms {
            Some(ms) => format!("{} at {:.1} s: {:.1} s", c.after, c.from_ms as f64 / 1e3, ms as f64 / 1e3),
            None => format!("{} at {:.1} s: never", c.after, c.from_ms as f64 / 1e3),
        })
        .collect::<Vec<_>>()
        .join("; ");
    match worst.flatten() {
        Some(ms) => result(
            "converge",
            ms as f64 <= max_s * 1000.0,
            format!("{:.1} s", ms as f64 / 1e3),
            threshold,
            detail,
        ),
        None => result("converge", false, "never".into(), threshold, detail),
    }
}

fn restart_delay(f: &Figures, max_s: f64) -> CheckResult {
    let threshold = format!("<= {max_s} s");
    if f.restart_delays.is_empty() {
        return no_data("restart_delay", threshold, "no fault was applied to a monitored node");
    }
    let detail = f
        .restart_delays
        .iter()
        .map(|d| match d.restarted_after_ms {
            Some(ms) => format!("{} {}: {:.1} s", d.fault, d.node, ms as f64 / 1e3),
            None => format!("{} {}: not restarted", d.fault, d.node),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let worst =
        f.restart_delays.iter().map(|d| d.restarted_after_ms.unwrap_or(u64::MAX)).max().unwrap_or(u64::MAX);
    let value = if worst == u64::MAX { "never".into() } else { format!("{:.1} s", worst as f64 / 1e3) };
    result("restart_delay", worst != u64::MAX && worst as f64 <= max_s * 1000.0, value, threshold, detail)
}

/// Every node's counter must reach `min`.
fn per_node(name: &str, counts: &BTreeMap<String, f64>, min: u64, counter: &str) -> CheckResult {
    let threshold = format!(">= {min} each");
    if counts.is_empty() {
        return no_data(name, threshold, &format!("no node reported an {counter} counter"));
    }
    let low: Vec<String> =
        counts.iter().filter(|(_, v)| **v < min as f64).map(|(n, v)| format!("{n}={v}")).collect();
    let fewest = counts.values().cloned().fold(f64::INFINITY, f64::min);
    result(name, low.is_empty(), format!("min {fewest}"), threshold, low.join(", "))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod outsider_tests;
