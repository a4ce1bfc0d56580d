//! Where the nodes' CPU time goes: each thread's user and system time from `/proc` (Linux
//! only), summed by thread name over the nodes, so that inference (`argus-infer`) and
//! everything else (the network, the protocol state, the store, HTTP) are told apart.

use std::collections::BTreeMap;

use argus_tests::NodeProc;

/// CPU seconds by thread name, summed over `nodes` (empty where `/proc` is not there).
pub(crate) fn by_thread(nodes: &[NodeProc]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", node.child.id())) else { continue };
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
            if let Some((name, secs)) = parse_stat(&stat) {
                *out.entry(name).or_insert(0.0) += secs;
            }
        }
    }
    out
}

/// A thread's name and its user + system time in seconds from its `stat` line (the name is in
/// parentheses and may hold spaces; times are fields 14 and 15, in clock ticks of 1/100 s).
fn parse_stat(stat: &str) -> Option<(String, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some((name, ticks / 100.0))
}

/// Prints the CPU the nodes used between `before` and now, by thread name, largest first.
pub(crate) fn print_split(nodes: &[NodeProc], before: &BTreeMap<String, f64>) {
    let now = by_thread(nodes);
    let mut used: Vec<(String, f64)> = now
        .into_iter()
        .map(|(k, v)| (v - before.get(&k).copied().unwrap_or(0.0), k))
        .map(|(d, k)| (k, d))
        .collect();
    used.retain(|(_, d)| *d > 0.0);
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = used.iter().map(|(_, d)| d).sum();
    if total <= 0.0 {
        return println!("CPU by thread: not available (no /proc)");
    }
    let parts: Vec<String> =
        used.iter().take(6).map(|(k, d)| format!("{k} {d:.1} s ({:.0} %)", 100.0 * d / total)).collect();
    println!("CPU of the nodes during the flood, by thread: {total:.1} s in all; {}", parts.join(", "));
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stat_line_gives_name_and_seconds() {
        let line = "4242 (argus infer) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 10 1 0 100 0 0";
        assert_eq!(super::parse_stat(line), Some(("argus infer".to_string(), 3.0)));
    }
}
