//! The operator's console: server-rendered HTML at `/` (the cluster as this node sees it, and
//! the latest detections drawn as labelled boxes) and `/images/{id}` (one image's register:
//! every candidate with its votes and attesting nodes). No script and no build step: the page
//! reloads itself every `REFRESH_S` seconds (`<meta http-equiv="refresh">`) and works offline.
//! Every string that came from the network or the store is HTML-escaped. Each result is drawn
//! as its register's thumbnail (`/images/{id}/thumbnail.jpg`, replicated with the register)
//! with the boxes over it; a result without one is framed by its boxes' extent.

use std::fmt::Write;

use argus_interface::api::{BanInfo, Detection, StoredResult};
use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_state::seen::PeerView;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{HttpState, Reply, ask, err, stored_result, unavailable};
use crate::daemon::actor::Command;

const REFRESH_S: u32 = 5;
/// Detections shown by default, and at most (`?limit=`).
const DEFAULT_SHOWN: usize = 24;
const MAX_SHOWN: usize = 96;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.2em;background:#fafafa;color:#222}\
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.2em 0 .4em}\
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}\
.up{color:#17803d}.down{color:#b42318}.banned{color:#7a2e0e}.me{font-weight:600}\
.grid{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#fff;border:1px solid #ddd;padding:.4em;width:220px}\
.card svg{width:210px;height:160px;background:#f0f0f0}.big{width:auto}.big svg{width:640px;height:480px}.card a{color:inherit;text-decoration:none}\
.meta{font-size:12px;color:#555}code{font-size:12px}";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsoleQuery {
    label: Option<String>,
    source: Option<String>,
    limit: Option<usize>,
}

/// `GET /`.
pub(super) async fn page(State(s): State<HttpState>, Query(q): Query<ConsoleQuery>) -> Reply {
    let peers = ask(&s, |reply| Command::Cluster { reply }).await?;
    let bans: Vec<BanInfo> = ask(&s, |reply| Command::Bans { reply }).await?;
    let limit = q.limit.unwrap_or(DEFAULT_SHOWN).clamp(1, MAX_SHOWN);
    let label = q.label.as_deref().map(str::trim).filter(|l| !l.is_empty());
    let source = q.source.as_deref().map(str::trim).filter(|l| !l.is_empty());
    // Filters are answered from the content index, newest first.
    let registers = if label.is_some() || source.is_some() {
        let (l, src) = (label.map(str::to_string), source.map(str::to_string));
        s.store.newest(l, src, limit).await.map_err(unavailable)?
    } else {
        s.store.latest(limit).await.map_err(unavailable)?.registers
    };
    let shown: Vec<(StoredResult, &Register)> =
        registers.iter().filter_map(|reg| Some((stored_result(reg)?, reg))).collect();
    let summary = s.store.summary().await.map_err(unavailable)?;
    let core = s.metrics.core();
    let mut h = head(&format!("argus · {}", s.info.name), true);
    let _ = write!(
        h,
        "<h1>argus · {name}</h1><p class=\"meta\">peer <code>{peer}</code> · {backend} · models {models} · \
         up {up} · queue {queue} · audit ratio {ratio:.2} · {regs} results stored (fingerprint \
         <code>{fp}</code>) · sync: {compared} ranges compared, {repaired} registers repaired · {nbans} banned</p>",
        name = esc(&s.info.name),
        peer = s.info.peer_id,
        backend = esc(&s.info.backend),
        models = esc(&s.info.models.summary()),
        up = duration(s.info.started.elapsed().as_millis() as u64),
        queue = core.queue_len,
        ratio = core.audit_ratio_permille as f64 / 1000.0,
        regs = summary.registers,
        fp = &hex::encode(summary.fingerprint)[..12],
        compared = s.metrics.sync_ranges_compared.load(std::sync::atomic::Ordering::Relaxed),
        repaired = s.metrics.sync_records_repaired.load(std::sync::atomic::Ordering::Relaxed),
        nbans = bans.len(),
    );
    cluster(&mut h, &s, &core, &peers, &bans);
    let _ = write!(
        h,
        "<h2>Latest detections</h2><form method=\"get\"><label>label <input name=\"label\" value=\"{}\"></label> \
         <label>source <input name=\"source\" value=\"{}\"></label> <button>filter</button></form>\
         <div class=\"grid\" id=\"detections\">",
        esc(label.unwrap_or("")),
        esc(source.unwrap_or(""))
    );
    if shown.is_empty() {
        h.push_str("<p class=\"meta\">no stored result yet</p>");
    }
    for (r, reg) in &shown {
        let _ = write!(h, "<div class=\"card\"><a href=\"/images/{}\">", esc(&r.image_id));
        boxes(&mut h, &r.detections, Frame::of(reg));
        let labels: Vec<&str> = r.detections.iter().map(|d| d.label.as_str()).collect();
        let _ = write!(
            h,
            "<div class=\"meta\">{}{} · {} · {} vote(s)<br>{}</div></a></div>",
            if r.source.is_empty() { String::new() } else { format!("{} · ", esc(&r.source)) },
            esc(&r.model),
            clock(r.captured_at_ms),
            r.votes,
            esc(&if labels.is_empty() { "nothing detected".into() } else { labels.join(", ") })
        );
    }
    h.push_str("</div></body></html>");
    Ok(html(h))
}

/// The cluster table: this node, then every node heard from.
fn cluster(
    h: &mut String,
    s: &HttpState,
    core: &argus_state::Counters,
    peers: &[PeerView],
    bans: &[BanInfo],
) {
    h.push_str(
        "<h2>Cluster</h2><table id=\"cluster\"><tr><th>node</th><th>backend</th><th>models</th><th>queue</th>\
         <th>ms/image</th><th>images/s</th><th>audit ratio</th><th>processed</th><th>heard</th><th>state</th></tr>",
    );
    let _ = write!(
        h,
        "<tr class=\"me\"><td><code>{}</code> (this node)</td><td>{}</td><td>{}</td><td>{}</td><td></td><td></td>\
         <td>{:.2}</td><td>{}</td><td>now</td><td class=\"up\">up</td></tr>",
        short(&s.info.peer_id.to_string()),
        esc(&s.info.backend),
        esc(&s.info.models.summary()),
        core.queue_len,
        core.audit_ratio_permille as f64 / 1000.0,
        core.images_processed,
    );
    for p in peers {
        let (class, state) = if p.live {
            ("up", "up")
        } else if p.connected {
            ("down", "silent")
        } else {
            ("down", "unreachable")
        };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{}</td>\
             <td>{} ago</td><td class=\"{class}\">{state}</td></tr>",
            short(&p.peer.to_string()),
            esc(&p.backend),
            esc(&p.models.join(" ")),
            p.queue_len,
            p.avg_inference_ms,
            p.per_s,
            p.audit_ratio,
            p.images_processed,
            duration(p.heard_ms_ago),
        );
    }
    // The state forgets a banned peer (its heartbeats are dropped): one row per ban instead.
    for b in bans {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td colspan=\"8\">{}, {} left</td><td class=\"banned\">banned</td></tr>",
            short(&b.peer_id),
            esc(&b.offence),
            duration(b.remaining_ms),
        );
    }
    h.push_str("</table>");
}

/// `GET /images/{id}`.
pub(super) async fn image(State(s): State<HttpState>, Path(id): Path<String>) -> Reply {
    let image: ImageId =
        id.parse().map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad image id: {e}")))?;
    let reg = s.store.get(image).await.map_err(unavailable)?;
    let Some(reg) = reg else {
        return Err(err(StatusCode::NOT_FOUND, format!("no result for {image}")));
    };
    let audits = ask(&s, |reply| Command::Audits { image, reply }).await?;
    let mut h = head(&format!("argus · {}", short(&id)), false);
    let _ = write!(h, "<p><a href=\"/\">← console</a></p><h1>image <code>{image}</code></h1>");
    if let Some(r) = stored_result(&reg) {
        let _ = write!(
            h,
            "<p class=\"meta\">captured {} · source {} · model {} · winner held by {} vote(s) of {} candidate(s)</p>",
            clock(r.captured_at_ms),
            if r.source.is_empty() { "unknown".into() } else { esc(&r.source) },
            esc(&r.model),
            r.votes,
            r.candidates
        );
        h.push_str("<div class=\"card big\" id=\"winner\">");
        boxes(&mut h, &r.detections, Frame::of(&reg));
        h.push_str("</div>");
    }
    register(&mut h, &reg);
    audit_table(&mut h, &audits);
    h.push_str("</body></html>");
    Ok(html(h))
}

/// `GET /images/{id}/thumbnail.jpg`: the register's thumbnail.
pub(super) async fn thumbnail(State(s): State<HttpState>, Path(id): Path<String>) -> Reply {
    let image: ImageId =
        id.parse().map_err(|e| err(StatusCode::BAD_REQUEST, format!("bad image id: {e}")))?;
    let reg = s.store.get(image).await.map_err(unavailable)?;
    match reg.as_ref().and_then(|r| r.meta().thumbnail.as_ref()) {
        Some(t) => Ok((
            [(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "max-age=3600")],
            t.jpeg.to_vec(),
        )
            .into_response()),
        None => Err(err(StatusCode::NOT_FOUND, format!("no thumbnail for {image}"))),
    }
}

/// The audit verdicts on the image this node has seen.
fn audit_table(h: &mut String, audits: &[crate::daemon::audits::Seen]) {
    h.push_str("<h2>Audits</h2>");
    if audits.is_empty() {
        h.push_str(
            "<p class=\"meta\" id=\"audits\">no audit verdict seen by this node (a random share of results is \
             audited; this node keeps the last 4,096 verdicts it saw)</p>",
        );
        return;
    }
    h.push_str("<table id=\"audits\"><tr><th>auditor</th><th>worker</th><th>verdict</th><th>seen</th></tr>");
    for a in audits {
        let (class, verdict) = if a.pass { ("up", "PASS") } else { ("down", "FAIL") };
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"{class}\">{verdict}</td><td>{}</td></tr>",
            short(&a.auditor),
            short(&a.worker),
            clock(a.at_unix_ms)
        );
    }
    h.push_str("</table>");
}

/// Every candidate of a register with its votes, attesting nodes and detections.
fn register(h: &mut String, reg: &Register) {
    h.push_str("<h2>Register</h2><table id=\"register\"><tr><th>digest</th><th>votes</th><th>attested by</th><th>detections</th></tr>");
    for (digest, c) in reg.candidates() {
        // In attestation time order: the first produced the value (its worker, or an auditor
        // that disagreed), the others agreed with it later (audits, duplicates).
        let mut atts: Vec<_> = c.attestations().collect();
        atts.sort_by_key(|a| a.ts());
        let nodes: Vec<String> = atts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let role = if i == 0 { " (first)" } else { "" };
                format!("<code>{}</code>{role} at {}", short(&a.node().to_string()), clock(a.ts().wall_ms()))
            })
            .collect();
        let dets = crate::models::labelled(&c.model().name, c.detections());
        let dets: Vec<String> = dets.iter().map(|d| format!("{} {:.2}", esc(&d.label), d.score)).collect();
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            &digest.to_string()[..12],
            c.votes(),
            nodes.join(", "),
            if dets.is_empty() { "nothing".into() } else { dets.join(", ") }
        );
    }
    h.push_str("</table>");
}

/// What a result is drawn on: its thumbnail, in the image's own pixel space, or nothing.
struct Frame {
    image: String,
    width: u32,
    height: u32,
}

impl Frame {
    fn of(reg: &Register) -> Option<Frame> {
        let t = reg.meta().thumbnail.as_ref()?;
        Some(Frame { image: reg.image_id().to_string(), width: t.width, height: t.height })
    }
}

/// An SVG of the boxes with their labels over the thumbnail, or framed by their extent
/// without one.
fn boxes(h: &mut String, dets: &[Detection], frame: Option<Frame>) {
    let (w, ht) = match &frame {
        Some(f) => (f.width as f32, f.height as f32),
        None => {
            let w = dets.iter().map(|d| d.bbox.x_max).fold(64.0f32, f32::max) * 1.05;
            let ht = dets.iter().map(|d| d.bbox.y_max).fold(48.0f32, f32::max) * 1.05;
            (w, ht)
        }
    };
    let font = (w.max(ht) / 18.0).max(4.0);
    // Room on the right for the label of a box near the edge (when there is no picture).
    let label_end = |d: &Detection| d.bbox.x_min + font * 0.6 * (d.label.chars().count() + 5) as f32;
    let w = if frame.is_some() { w } else { dets.iter().map(label_end).fold(w, f32::max) };
    let _ =
        write!(h, "<svg viewBox=\"0 0 {w:.0} {ht:.0}\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\">");
    if let Some(f) = &frame {
        let _ = write!(
            h,
            "<image class=\"thumb\" href=\"/images/{}/thumbnail.jpg\" x=\"0\" y=\"0\" width=\"{w:.0}\" height=\"{ht:.0}\"/>",
            esc(&f.image)
        );
    }
    for d in dets {
        let hue = d.label.bytes().fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b))) % 360;
        let (x, y) = (d.bbox.x_min.max(0.0), d.bbox.y_min.max(0.0));
        let _ = write!(
            h,
            "<rect class=\"box\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" \
             stroke=\"hsl({hue},70%,40%)\" stroke-width=\"{:.1}\"/><text x=\"{x:.1}\" y=\"{:.1}\" \
             font-size=\"{font:.1}\" fill=\"hsl({hue},70%,30%)\">{} {:.2}</text>",
            (d.bbox.x_max - d.bbox.x_min).max(0.0),
            (d.bbox.y_max - d.bbox.y_min).max(0.0),
            font / 6.0,
            (y - font * 0.2).max(font),
            esc(&d.label),
            d.score
        );
    }
    h.push_str("</svg>");
}

fn head(title: &str, refresh: bool) -> String {
    let meta = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">")
    } else {
        String::new()
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{meta}\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    )
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// HTML-escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The end of a peer id, enough to tell nodes apart.
fn short(id: &str) -> String {
    let n = id.chars().count();
    format!("…{}", id.chars().skip(n.saturating_sub(8)).collect::<String>())
}

fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..120_000 => format!("{:.1} s", ms as f64 / 1e3),
        120_000..7_200_000 => format!("{} min", ms / 60_000),
        _ => format!("{} h", ms / 3_600_000),
    }
}

/// Wall-clock time of day (UTC) of unix ms.
fn clock(unix_ms: u64) -> String {
    let s = unix_ms / 1_000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3_600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_network_is_escaped() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn boxes_are_drawn_with_their_labels() {
        let d = |label: &str, x: f32| Detection {
            class: 0,
            label: label.into(),
            score: 0.9,
            bbox: argus_interface::api::BBox { x_min: x, y_min: 10.0, x_max: x + 50.0, y_max: 90.0 },
        };
        let mut h = String::new();
        boxes(&mut h, &[d("person", 5.0), d("<dog>", 100.0)], None);
        assert_eq!(h.matches("<rect class=\"box\"").count(), 2);
        assert!(h.contains("person 0.90") && h.contains("&lt;dog&gt; 0.90"), "{h}");
        assert!(h.starts_with("<svg viewBox=\"0 0 158 94\""), "{h}");
        let mut framed = String::new();
        let frame = Frame { image: "ab".into(), width: 640, height: 480 };
        boxes(&mut framed, &[d("person", 5.0)], Some(frame));
        assert!(framed.starts_with("<svg viewBox=\"0 0 640 480\""), "{framed}");
        assert!(framed.contains("<image class=\"thumb\" href=\"/images/ab/thumbnail.jpg\""), "{framed}");
        assert_eq!(
            (short("12D3KooWABCDEFGHIJ"), duration(90_000), clock(3_723_000)),
            ("…CDEFGHIJ".into(), "90.0 s".into(), "01:02:03 UTC".into())
        );
    }
}
