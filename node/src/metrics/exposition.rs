//! Writes a registry out in the format the scraper asked for; used by the node's and the
//! monitor's `/metrics`. Never changes a name's meaning or a value: the text format is the
//! OpenMetrics output with its families renamed as the classic format names them.
//!
//! Why two formats: prometheus-client writes only OpenMetrics 1.0 text, where a counter's
//! family is `x` (`# TYPE x counter`) and its sample `x_total`, with `# UNIT` lines and a final
//! `# EOF`. Prometheus asks for OpenMetrics first in its scrape `Accept` header and gets it.
//! promtool 2.42's `check metrics` reads only the classic text format (0.0.4) from stdin (it has
//! no flag for OpenMetrics; `--extended` only adds cardinality figures): on the OpenMetrics
//! output it reports `x_total no help text` for every counter, the sample being a family of its
//! own there. So a client that does not ask for OpenMetrics (curl, promtool users, older
//! scrapers) gets classic text converted from the same encoding: `# HELP x_total`,
//! `# TYPE x_total counter`, no `# UNIT`, no `# EOF`. promtool checks that output with no
//! warning, and Prometheus stores the same series names from either format.

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

/// The content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of Prometheus's classic text format.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    /// OpenMetrics when `Accept` lists `application/openmetrics-text` with a q above 0;
    /// the classic text format otherwise (no header, `*/*`, `text/plain`).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let wants = |range: &str| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let q = parts.find_map(|p| p.strip_prefix("q=")).map_or(Some(1.0), |q| q.parse::<f64>().ok());
            media.eq_ignore_ascii_case("application/openmetrics-text") && q.is_some_and(|q| q > 0.0)
        };
        match accept {
            Some(a) if a.split(',').any(wants) => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Text => TEXT,
        }
    }
}

/// The registry in `format`; an error only when a metric fails to encode itself.
pub fn encode(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut om = String::new();
    prometheus_client::encoding::text::encode(&mut om, registry)?;
    Ok(match format {
        Format::OpenMetrics => om,
        Format::Text => classic(&om),
    })
}

/// The `/metrics` response for a request with these headers.
pub fn respond(registry: &Registry, headers: &HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(ACCEPT).and_then(|v| v.to_str().ok()));
    match encode(registry, format) {
        Ok(body) => ([(CONTENT_TYPE, format.content_type())], body).into_response(),
        Err(_) => {
            tracing::error!("a metric failed to encode itself");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded").into_response()
        }
    }
}

/// OpenMetrics text (as prometheus-client writes it: `# HELP` right before `# TYPE`) as the
/// classic text format: counter families take their samples' `_total` name, info families
/// become gauges named `_info`, `unknown` becomes `untyped`; `# UNIT`, `# EOF` and exemplars,
/// which only OpenMetrics has, are dropped. Sample lines are otherwise copied as they are.
pub fn classic(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (family, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = match kind {
                "counter" => (format!("{family}_total"), "counter"),
                "info" => (format!("{family}_info"), "gauge"),
                "unknown" => (family.to_string(), "untyped"),
                other => (family.to_string(), other),
            };
            if let Some((_, text)) = help.take().filter(|(f, _)| *f == family) {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push_str(without_exemplar(line));
            out.push('\n');
        }
    }
    out
}

/// A sample line without its exemplar (` # {...} value`): the first ` #` outside the label
/// set's quoted values.
fn without_exemplar(line: &str) -> &str {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted && line[..i].ends_with(' ') => return line[..i].trim_end(),
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked_for() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        for accept in [None, Some("*/*"), Some("text/plain"), Some("application/openmetrics-text;q=0")] {
            assert_eq!(Format::negotiate(accept), Format::Text, "{accept:?}");
        }
    }

    #[test]
    fn counters_info_and_units_become_classic() {
        let om = "# HELP a Things.\n# TYPE a counter\na_total{k=\"x # y\"} 3 # {trace=\"t\"} 1.0\n\
                  # HELP b_seconds Time.\n# TYPE b_seconds histogram\n# UNIT b_seconds seconds\n\
                  b_seconds_sum 0.5\nb_seconds_count 1\nb_seconds_bucket{le=\"+Inf\"} 1\n\
                  # HELP v Version.\n# TYPE v info\nv_info{v=\"1\"} 1\n# EOF\n";
        let want = "# HELP a_total Things.\n# TYPE a_total counter\na_total{k=\"x # y\"} 3\n\
                    # HELP b_seconds Time.\n# TYPE b_seconds histogram\n\
                    b_seconds_sum 0.5\nb_seconds_count 1\nb_seconds_bucket{le=\"+Inf\"} 1\n\
                    # HELP v_info Version.\n# TYPE v_info gauge\nv_info{v=\"1\"} 1\n";
        assert_eq!(classic(om), want);
    }
}
