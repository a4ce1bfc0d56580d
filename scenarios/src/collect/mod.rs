//! The observer tasks of a run. `mod.rs`: the stdout-line collector (sender announcements,
//! sender peer ids, monitor decisions) and the final read of every node's store;
//! `poll.rs`: the status poller, the completion prober and the query load.
//! Observers only read: they never change the fleet or the lab.

mod poll;

use std::collections::{BTreeMap, BTreeSet};

use argus_interface::lines::{self, MonitorLine, SendLine};
use tokio::sync::{broadcast, mpsc, watch};

use crate::fleet::{Clock, FleetView};
use crate::observe::{Announcement, FinalNode, MonitorEvent, Winner};
use crate::procs::LineEvent;

pub use poll::{poll_status, probe_completions, query_load};

/// Capacity of the announcement broadcast: more than any scenario announces, so observers
/// that fall behind for a while still see every id.
pub const ANNOUNCE_CAP: usize = 65_536;

/// What one stdout line means.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Announcement(Announcement),
    SourceReady { source: String, peer_id: String },
    Monitor(MonitorEvent),
    Other,
}

/// Interprets a line from a sender (`who` is a source name) or the monitor.
pub fn parse_line(ev: &LineEvent, clock: &Clock, sources: &BTreeSet<String>) -> Parsed {
    if sources.contains(&ev.who) {
        return match lines::parse::<SendLine>(&ev.line) {
            Some(SendLine::Announced(a)) => {
                let valid = a.image_id.len() == 64 && a.image_id.bytes().all(|b| b.is_ascii_hexdigit());
                if !valid {
                    return Parsed::Other;
                }
                Parsed::Announcement(Announcement {
                    image_id: a.image_id,
                    source: ev.who.clone(),
                    seq: a.seq,
                    captured_at_unix_ms: a.captured_at_ms,
                    t_ms: a.captured_at_ms.saturating_sub(clock.t0_unix_ms),
                })
            }
            Some(SendLine::Ready { peer_id }) => Parsed::SourceReady { source: ev.who.clone(), peer_id },
            Some(SendLine::Done(_)) | None => Parsed::Other,
        };
    }
    if ev.who == "monitor"
        && let Some(line) = lines::parse::<MonitorLine>(&ev.line)
    {
        let (event, node, reason, at_ms) = match line {
            MonitorLine::Ready { at_ms, .. } => ("ready", String::new(), String::new(), at_ms),
            MonitorLine::Started { node, at_ms, .. } => ("started", node, String::new(), at_ms),
            MonitorLine::Restart(r) => ("restart", r.node, r.reason, r.at_ms),
            MonitorLine::GiveUp { node, reason, at_ms, .. } => ("give_up", node, reason, at_ms),
            MonitorLine::Unreachable { node, silent_ms, at_ms, .. } => {
                ("unreachable", node, format!("no heartbeat for {silent_ms} ms"), at_ms)
            }
        };
        // The monitor stamps its events with wall time (unix ms).
        let t_ms = at_ms.saturating_sub(clock.t0_unix_ms);
        return Parsed::Monitor(MonitorEvent { t_ms, event: event.to_string(), node, reason });
    }
    Parsed::Other
}

/// Consumes stdout lines until `stop`, then drains what is queued.
pub async fn collect_lines(
    mut rx: mpsc::Receiver<LineEvent>,
    clock: Clock,
    sources: BTreeSet<String>,
    announcements: broadcast::Sender<Announcement>,
    peers: watch::Sender<BTreeMap<String, String>>,
    mut stop: watch::Receiver<bool>,
) -> (Vec<Announcement>, Vec<MonitorEvent>) {
    let mut out = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    let mut handle = |ev: LineEvent, out: &mut (Vec<Announcement>, Vec<MonitorEvent>)| match parse_line(
        &ev, &clock, &sources,
    ) {
        Parsed::Announcement(a) => {
            if seen.insert(a.image_id.clone()) {
                let _ = announcements.send(a.clone());
                out.0.push(a);
            }
        }
        Parsed::SourceReady { source, peer_id } => {
            peers.send_modify(|m| {
                m.insert(source, peer_id);
            });
        }
        Parsed::Monitor(m) => {
            eprintln!("[{:>7.1}s] monitor: {} {} ({})", m.t_ms as f64 / 1e3, m.event, m.node, m.reason);
            out.1.push(m);
        }
        Parsed::Other => {}
    };
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => handle(ev, &mut out),
                None => break,
            },
            _ = stop.wait_for(|s| *s) => {
                while let Ok(ev) = rx.try_recv() {
                    handle(ev, &mut out);
                }
                break;
            }
        }
    }
    out
}

/// Reads every started node's store at the end of the run.
pub async fn final_stores(view: &FleetView) -> Vec<FinalNode> {
    let mut out = Vec::new();
    for n in &view.nodes {
        let mut f = FinalNode {
            name: n.name.clone(),
            expected_live: n.expected_live,
            hostile: n.hostile,
            ..FinalNode::default()
        };
        if n.expected_live {
            match n.client.all_detections().await {
                Ok(items) => {
                    f.responded = true;
                    f.candidates = items.iter().map(|d| (d.image_id.clone(), d.candidates)).collect();
                    f.winners = items
                        .into_iter()
                        .map(|d| {
                            let w = Winner { worker: d.worker, votes: d.votes, first_ts_ms: d.first_ts_ms };
                            (d.image_id, w)
                        })
                        .collect();
                    if let Ok(s) = n.client.status().await {
                        f.connections_refused = s.counter("connections_refused");
                        f.bans = s.bans.iter().map(|b| (b.peer_id.clone(), b.since_unix_ms)).collect();
                        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                        let now_ms = now.map(|d| d.as_millis() as u64).unwrap_or(0);
                        f.started_unix_ms = Some(now_ms.saturating_sub(s.uptime_ms));
                        f.peers = s.peers;
                        f.peer_id = Some(s.peer_id);
                    }
                }
                Err(e) => f.error = Some(e.to_string()),
            }
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn ev(who: &str, line: &str) -> LineEvent {
        LineEvent { at: Instant::now(), who: who.into(), line: line.into() }
    }

    #[test]
    fn sender_and_monitor_lines_are_understood() {
        let clock = Clock { t0: Instant::now(), t0_unix_ms: 1_000 };
        let sources = BTreeSet::from(["cam".to_string()]);
        let id = "ab".repeat(32);
        let line = format!(
            r#"{{"event":"announced","image_id":"{id}","seq":3,"model":"coco","captured_at_ms":3500,"size_bytes":10}}"#
        );
        let Parsed::Announcement(a) = parse_line(&ev("cam", &line), &clock, &sources) else { panic!() };
        assert_eq!((a.seq, a.t_ms, a.source.as_str()), (3, 2_500, "cam"));
        let ready = parse_line(&ev("cam", r#"{"event":"ready","peer_id":"12D3K"}"#), &clock, &sources);
        assert_eq!(ready, Parsed::SourceReady { source: "cam".into(), peer_id: "12D3K".into() });
        let restart = r#"{"event":"restart","node":"n1","peer_id":"x","reason":"heartbeat timeout","kind":"missed_heartbeats","backoff_ms":500,"fault_dropped":false,"at_ms":9000}"#;
        let Parsed::Monitor(m) = parse_line(&ev("monitor", restart), &clock, &sources) else { panic!() };
        assert_eq!((m.node.as_str(), m.reason.as_str()), ("n1", "heartbeat timeout"));
        assert_eq!(m.t_ms, 8_000, "the monitor's own timestamp, relative to the load start");
    }

    #[test]
    fn junk_and_foreign_lines_are_ignored() {
        let clock = Clock { t0: Instant::now(), t0_unix_ms: 0 };
        let sources = BTreeSet::from(["cam".to_string()]);
        let id = "ab".repeat(32);
        let line = format!(
            r#"{{"event":"announced","image_id":"{id}","seq":0,"model":"coco","captured_at_ms":1,"size_bytes":1}}"#
        );
        assert_eq!(parse_line(&ev("n0", &line), &clock, &sources), Parsed::Other, "only senders announce");
        assert_eq!(parse_line(&ev("cam", "not json"), &clock, &sources), Parsed::Other);
        let untagged = format!(r#"{{"image_id":"{id}","captured_at_ms":1}}"#);
        assert_eq!(
            parse_line(&ev("cam", &untagged), &clock, &sources),
            Parsed::Other,
            "lines name their event"
        );
        let short = r#"{"event":"announced","image_id":"abc","seq":0,"model":"coco","captured_at_ms":1,"size_bytes":1}"#;
        assert_eq!(parse_line(&ev("cam", short), &clock, &sources), Parsed::Other, "ids are 64 hex digits");
    }
}
