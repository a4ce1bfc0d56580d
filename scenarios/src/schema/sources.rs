//! Resolution of `[[sources]]` into [`SourcePlan`]s: names checked, synthetic seeds derived
//! from the scenario seed, folders resolved against the scenario file, and each source's
//! send time checked against the load phase. Pure.

use std::collections::BTreeSet;
use std::path::Path;

use super::validate::{Ctx, SourceKind, SourcePlan, finite_pos};
use super::{Scenario, SchemaError};

/// Derives a per-source seed from the scenario seed (splitmix64 finaliser).
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A source folder: `~/...` under the home folder, otherwise relative to `base` (the scenario
/// file's folder) unless absolute.
fn resolve_dir(base: &Path, dir: &Path) -> std::path::PathBuf {
    match (dir.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => Path::new(&home).join(rest),
        _ => base.join(dir),
    }
}

pub(super) fn plan_sources(s: &Scenario, cx: &Ctx, seed: u64) -> Result<Vec<SourcePlan>, SchemaError> {
    if s.sources.is_empty() {
        return Err(cx.err(1, "at least one [[sources]] is needed: checks without a workload prove nothing"));
    }
    let nodes = s.node_names();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, src) in s.sources.iter().enumerate() {
        let line = cx.line("[[sources]]", i);
        let ok_name = !src.name.is_empty()
            && src.name.len() <= 16
            && src.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name || nodes.contains(&src.name) || src.name == "monitor" || src.name == "outsiders" {
            return Err(cx.err(
                line,
                format!(
                    "source name `{}` must be 1-16 of [A-Za-z0-9_-] and differ from node names and `monitor`",
                    src.name
                ),
            ));
        }
        if !seen.insert(src.name.clone()) {
            return Err(cx.err(line, format!("two sources are named `{}`", src.name)));
        }
        let non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !(finite_pos(src.rate_per_s) && non_negative(src.start_s)) {
            return Err(cx.err(line, "source: rate_per_s must be > 0 and start_s >= 0"));
        }
        let kind = match (&src.synthetic_seed, &src.dir) {
            (Some(_), Some(_)) => {
                return Err(cx.err(line, "source: give synthetic_seed or dir, not both"));
            }
            (_, Some(dir)) => {
                if src.count.is_some() {
                    return Err(cx.err(
                        line,
                        "source: count applies to synthetic sources only (a dir source sends every file)",
                    ));
                }
                SourceKind::Dir { path: resolve_dir(cx.path.parent().unwrap_or(Path::new(".")), dir) }
            }
            (given, None) => {
                let Some(count) = src.count.filter(|&c| c > 0) else {
                    return Err(cx.err(line, "source: a synthetic source needs count >= 1"));
                };
                let end_s = src.start_s + count as f64 / src.rate_per_s;
                if end_s > s.duration_s {
                    return Err(cx.err(
                        line,
                        format!(
                            "source `{}` sends until {end_s:.1} s, after duration_s = {}",
                            src.name, s.duration_s
                        ),
                    ));
                }
                SourceKind::Synthetic { seed: given.unwrap_or_else(|| derive_seed(seed, i as u64)), count }
            }
        };
        if let Some(m) = &src.model
            && !["shapes", "coco"].contains(&m.as_str())
        {
            return Err(cx.err(line, format!("source `{}`: model `{m}` must be shapes or coco", src.name)));
        }
        out.push(SourcePlan {
            name: src.name.clone(),
            rate_per_s: src.rate_per_s,
            model: src.model.clone(),
            kind,
            start_ms: (src.start_s * 1000.0) as u64,
            linger_s: src.linger_s,
            min_peers: src.min_peers,
        });
    }
    Ok(out)
}
