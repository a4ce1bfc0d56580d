//! The timeline chart (`timeline.svg`): per-second series (throughput, latency, replica
//! divergence, audit ratio) in stacked panels over one time axis, with shaded bands for
//! partitions, outages, pauses, anomalous periods and restarts. Hand-written SVG, no
//! dependencies; pure (returns text, writes nothing).

use std::fmt::Write;

use serde::Serialize;

use crate::bands::{Band, BandKind};
use crate::observe::{Observations, percentile, round_divergence};

/// Per-second series of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    /// Bucket start times, seconds.
    pub t_s: Vec<f64>,
    pub completed_per_s: Vec<f64>,
    /// The same per source (with more than one source: shows each side of a partition).
    pub completed_per_s_by_source: std::collections::BTreeMap<String, Vec<f64>>,
    pub latency_p50_ms: Vec<Option<f64>>,
    pub latency_max_ms: Vec<Option<f64>>,
    /// Per status round: (t_s, distinct fingerprints - 1, register spread, mean audit ratio).
    pub rounds: Vec<(f64, f64, f64, Option<f64>)>,
}

pub fn series(obs: &Observations) -> Series {
    let buckets = (obs.end_ms / 1000 + 1) as usize;
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); buckets];
    let mut s = Series::default();
    let sources: std::collections::BTreeSet<&str> = obs.announced.iter().map(|a| a.source.as_str()).collect();
    for a in &obs.announced {
        if let Some(done) = obs.completions.get(&a.image_id) {
            let b = ((done / 1000) as usize).min(buckets - 1);
            lat[b].push(done.saturating_sub(a.t_ms) as f64);
            if sources.len() > 1 {
                s.completed_per_s_by_source.entry(a.source.clone()).or_insert_with(|| vec![0.0; buckets])
                    [b] += 1.0;
            }
        }
    }
    for (i, mut l) in lat.into_iter().enumerate() {
        s.t_s.push(i as f64);
        s.completed_per_s.push(l.len() as f64);
        s.latency_p50_ms.push(percentile(&mut l, 50.0));
        s.latency_max_ms.push(percentile(&mut l, 100.0));
    }
    for (_, round) in obs.rounds() {
        let Some(first) = round.first() else { continue };
        let (div, spread) = round_divergence(&round);
        let ok: Vec<f64> = round.iter().filter(|r| r.ok).map(|r| r.audit_ratio).collect();
        let audit = (!ok.is_empty()).then(|| ok.iter().sum::<f64>() / ok.len() as f64);
        s.rounds.push((first.t_ms as f64 / 1e3, div as f64, spread as f64, audit));
    }
    s
}

const W: f64 = 1000.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL_H: f64 = 140.0;
const GAP: f64 = 30.0;
const TOP: f64 = 60.0;

fn band_style(kind: BandKind) -> (&'static str, &'static str) {
    match kind {
        BandKind::Partition => ("band-partition", "#f77f00"),
        BandKind::Down => ("band-down", "#d62828"),
        BandKind::Paused => ("band-paused", "#9d4edd"),
        BandKind::Restart => ("band-restart", "#1d4ed8"),
        BandKind::Anomalous => ("band-anomalous", "#eab308"),
    }
}

/// A named, coloured line of (t_s, value) points.
type Line<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    lines: Vec<Line<'a>>,
}

/// Renders the chart for a run that lasted `end_s` seconds.
pub fn render(title: &str, s: &Series, bands: &[Band], end_s: f64) -> String {
    let x_max = end_s.max(1.0);
    let panels = [
        Panel { title: "throughput", unit: "images/s", lines: throughput_lines(s) },
        Panel {
            title: "latency (announce to stored)",
            unit: "ms",
            lines: vec![
                ("p50", "#264653", pts(&s.t_s, s.latency_p50_ms.iter().copied())),
                ("max", "#e76f51", pts(&s.t_s, s.latency_max_ms.iter().copied())),
            ],
        },
        Panel {
            title: "replica divergence",
            unit: "count",
            lines: vec![
                ("distinct fingerprints - 1", "#6a4c93", s.rounds.iter().map(|r| (r.0, r.1)).collect()),
                ("registers spread", "#8ab17d", s.rounds.iter().map(|r| (r.0, r.2)).collect()),
            ],
        },
        Panel {
            title: "audit ratio",
            unit: "ratio",
            lines: vec![("mean", "#1d3557", s.rounds.iter().filter_map(|r| r.3.map(|a| (r.0, a))).collect())],
        },
    ];
    let h = TOP + panels.len() as f64 * (PANEL_H + GAP) + 30.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h}" viewBox="0 0 {W} {h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="{W}" height="{h}" fill="white"/>"#);
    let _ =
        writeln!(out, r#"<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{}</text>"#, esc(title));
    legend(&mut out);
    for (i, p) in panels.iter().enumerate() {
        let y0 = TOP + i as f64 * (PANEL_H + GAP);
        panel(&mut out, p, bands, x_max, y0);
    }
    let _ = writeln!(out, "</svg>");
    out
}

/// Source colours, in order (the total is teal).
const SOURCE_COLOURS: [&str; 6] = ["#8338ec", "#fb5607", "#3a86ff", "#ff006e", "#6a994e", "#bc6c25"];

fn throughput_lines(s: &Series) -> Vec<Line<'_>> {
    let mut lines = vec![("all sources", "#2a9d8f", pts(&s.t_s, s.completed_per_s.iter().map(|v| Some(*v))))];
    for (i, (name, v)) in s.completed_per_s_by_source.iter().enumerate() {
        lines.push((
            name.as_str(),
            SOURCE_COLOURS[i % SOURCE_COLOURS.len()],
            pts(&s.t_s, v.iter().map(|v| Some(*v))),
        ));
    }
    lines
}

fn pts(t: &[f64], v: impl Iterator<Item = Option<f64>>) -> Vec<(f64, f64)> {
    t.iter().zip(v).filter_map(|(t, v)| v.map(|v| (*t, v))).collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn legend(out: &mut String) {
    let kinds =
        [BandKind::Partition, BandKind::Down, BandKind::Paused, BandKind::Anomalous, BandKind::Restart];
    for (i, k) in kinds.iter().enumerate() {
        let (class, color) = band_style(*k);
        let x = LEFT + i as f64 * 150.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x}" y="32" width="14" height="10" fill="{color}" fill-opacity="0.35"/>"#
        );
        let _ =
            writeln!(out, r#"<text x="{}" y="41">{}</text>"#, x + 18.0, class.trim_start_matches("band-"));
    }
}

fn panel(out: &mut String, p: &Panel, bands: &[Band], x_max: f64, y0: f64) {
    let pw = W - LEFT - RIGHT;
    let sx = |t: f64| LEFT + (t / x_max).clamp(0.0, 1.0) * pw;
    let data_max = p.lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).fold(0.0_f64, f64::max);
    let y_max = nice_ceil(data_max.max(1.0));
    let sy = |v: f64| y0 + PANEL_H - (v / y_max).clamp(0.0, 1.0) * PANEL_H;
    for b in bands {
        let (class, color) = band_style(b.kind);
        let (x1, x2) = (sx(b.start_ms as f64 / 1e3), sx(b.end_ms as f64 / 1e3));
        let width = (x2 - x1).max(2.0);
        let _ = writeln!(
            out,
            r#"<rect class="{class}" x="{x1:.1}" y="{y0}" width="{width:.1}" height="{PANEL_H}" fill="{color}" fill-opacity="0.25"><title>{}</title></rect>"#,
            esc(&b.label)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{y0}" width="{pw}" height="{PANEL_H}" fill="none" stroke="#999"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{} ({})</text>"#,
        y0 - 5.0,
        esc(p.title),
        p.unit
    );
    for k in 0..=4 {
        let v = y_max * k as f64 / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 5.0,
            sy(v) + 4.0,
            fmt_num(v)
        );
    }
    let step = tick_step(x_max);
    let mut t = 0.0;
    while t <= x_max {
        let _ = writeln!(
            out,
            r##"<line x1="{0:.1}" x2="{0:.1}" y1="{1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}s</text>"##,
            sx(t),
            y0,
            y0 + PANEL_H,
            y0 + PANEL_H + 12.0,
            t
        );
        t += step;
    }
    for (i, (name, color, points)) in p.lines.iter().enumerate() {
        let path: Vec<String> = points.iter().map(|(t, v)| format!("{:.1},{:.1}", sx(*t), sy(*v))).collect();
        let _ = writeln!(
            out,
            r#"<polyline class="series" fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            path.join(" ")
        );
        let lx = W - RIGHT - 170.0;
        let ly = y0 + 12.0 + i as f64 * 13.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            lx + 15.0,
            lx + 20.0,
            ly + 4.0,
            esc(name)
        );
    }
}

/// The smallest 1, 2, 2.5, 5 x 10^k not below `v`, so axis labels are round numbers.
fn nice_ceil(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * mag).find(|c| *c >= v).unwrap_or(10.0 * mag)
}

fn tick_step(x_max: f64) -> f64 {
    [5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0].into_iter().find(|s| x_max / s <= 12.0).unwrap_or(600.0)
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests;
