//! `argus query`: one image's stored result by id, or the results that match content filters
//! (label, source, score, capture time), paged through `GET /v1/detections` and printed one
//! JSON object per line, oldest first.

use std::time::Duration;

use anyhow::{Context, bail};
use argus_interface::api::Page;
use argus_interface::http::{Endpoint, encode_query_value as encode, get};

use crate::Code;
use crate::cli::QueryArgs;

const TIMEOUT: Duration = Duration::from_secs(15);

pub async fn run(args: QueryArgs) -> anyhow::Result<Code> {
    let endpoint = Endpoint::parse(&args.http);
    match &args.image_id {
        Some(id) => by_id(&endpoint, &args, id).await,
        None => by_content(&endpoint, &args).await,
    }
}

async fn by_id(endpoint: &Endpoint, args: &QueryArgs, id: &str) -> anyhow::Result<Code> {
    let id: argus_protocol::ids::ImageId = id.parse().map_err(|e| anyhow::anyhow!("bad image id: {e}"))?;
    let path = if args.majority {
        format!("/v1/detections/{id}?consistency=majority")
    } else {
        format!("/v1/detections/{id}")
    };
    let r = get(endpoint, &path, TIMEOUT).await.with_context(|| format!("asking {}", args.http))?;
    let text = String::from_utf8_lossy(&r.body);
    match r.status {
        200 => {
            println!("{text}");
            Ok(0)
        }
        404 => {
            eprintln!("argus: {text}");
            Ok(1)
        }
        s => bail!("node answered {s}: {text}"),
    }
}

/// Parses `90s`, `10m`, `2h`, `1d` (or plain seconds) into milliseconds.
pub fn parse_duration_ms(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 =
        digits.parse().with_context(|| format!("bad duration {s:?}: expected e.g. 90s, 10m, 2h, 1d"))?;
    let unit_ms = match unit {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("bad duration {s:?}: the unit is ms, s, m, h or d"),
    };
    n.checked_mul(unit_ms).with_context(|| format!("duration {s:?} is too long"))
}

/// The query string of the content filters (without the cursor).
fn filters(args: &QueryArgs, now_ms: u64) -> anyhow::Result<String> {
    let mut q = Vec::new();
    if let Some(l) = &args.label {
        q.push(format!("label={}", encode(l)));
    }
    if let Some(s) = &args.source {
        q.push(format!("source={}", encode(s)));
    }
    if let Some(m) = args.min_score {
        if !(0.0..=1.0).contains(&m) {
            bail!("--min-score {m} is outside 0..=1");
        }
        q.push(format!("min_score={m}"));
    }
    let from = match &args.since {
        Some(d) => Some(now_ms.saturating_sub(parse_duration_ms(d)?)),
        None => args.from_ms,
    };
    // At least one filter, so the node answers from its content index even with none given.
    q.push(format!("from_ms={}", from.unwrap_or(0)));
    if let Some(t) = args.to_ms {
        q.push(format!("to_ms={t}"));
    }
    if args.majority {
        q.push("consistency=majority".into());
    }
    Ok(q.join("&"))
}

async fn by_content(endpoint: &Endpoint, args: &QueryArgs) -> anyhow::Result<Code> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let base = filters(args, now_ms)?;
    let (mut printed, mut cursor, mut pages) = (0usize, None::<String>, 0u64);
    let (mut asked, mut answered) = (None, None);
    while printed < args.max {
        let limit = (args.max - printed).min(256);
        let mut path = format!("/v1/detections?{base}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&since={c}"));
        }
        let r = get(endpoint, &path, TIMEOUT).await.with_context(|| format!("asking {}", args.http))?;
        if r.status != 200 {
            bail!("node answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
        }
        let page: Page = serde_json::from_slice(&r.body).context("the node's answer is not a page")?;
        pages += 1;
        asked = asked.max(page.asked);
        answered = match (answered, page.answered) {
            (Some(a), Some(b)) => Some(std::cmp::min(a, b)),
            (a, b) => a.or(b),
        };
        for item in &page.items {
            println!("{}", serde_json::to_string(item)?);
        }
        printed += page.items.len();
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    match (asked, answered) {
        (Some(a), Some(b)) => {
            eprintln!("argus: {printed} results in {pages} pages; nodes asked {a}, answered {b} (fewest)")
        }
        _ => eprintln!("argus: {printed} results in {pages} pages"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration_ms("10m").unwrap(), 600_000);
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert_eq!(parse_duration_ms("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("250ms").unwrap(), 250);
        assert_eq!(parse_duration_ms("45").unwrap(), 45_000);
        for bad in ["", "m", "10x", "-5m", "99999999999999999999d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
        assert_eq!(encode("cam 2/å"), "cam%202%2F%C3%A5");
    }
}
