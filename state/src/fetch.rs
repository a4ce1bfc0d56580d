//! Fetching image bytes that did not travel inline: for our own work (from the node that
//! handed the image over, the source, then the holders before us) and for audits (from the
//! worker, then the other nodes the audit names).

use argus_protocol::ids::ImageId;
use libp2p_identity::PeerId;

use crate::events::{Bytes, Job, Out, Purpose};
use crate::inflight::MAX_FETCHING;
use crate::state::State;

/// Most nodes a won image's bytes are asked from, one after another.
const MAX_FETCH_SOURCES: usize = 8;

impl State {
    /// Fetches the bytes of an image we took on: from `holder` first when one handed it to us
    /// (its backlog had the bytes), then from `source`, then from the holders that missed their
    /// deadline before us (they may have fetched it).
    pub(crate) fn fetch_work(&mut self, image: ImageId, holder: Option<PeerId>, source: PeerId) {
        let mut from: Vec<PeerId> = Vec::new();
        for p in holder.into_iter().chain([source]).chain(self.sched.past_holders(&image)) {
            if p != self.me && !from.contains(&p) && from.len() < MAX_FETCH_SOURCES {
                from.push(p);
            }
        }
        if from.is_empty() {
            return self.give_up(image);
        }
        if self.prefetch_flying(&image) {
            // Its answer serves the work; the list is for should it fail.
            self.work_fetches.insert(image, from);
            return;
        }
        let first = from.remove(0);
        self.work_fetches.insert(image, from);
        self.fetch(image, first)
    }

    /// Asks `from` for the image's bytes, or puts the request in line while `MAX_FETCHING`
    /// are in flight. The line holds at most one request per image per purpose (work, audit),
    /// so it is bounded by the image buffer and the audits waiting; beyond twice the buffer a
    /// request is sent at once.
    pub(crate) fn fetch(&mut self, image: ImageId, from: PeerId) {
        let room = self.fetches.in_flight < MAX_FETCHING;
        if !room && self.fetches.waiting.len() < 2 * self.cfg.sched.max_open {
            self.fetches.waiting.push_back((image, from));
            return;
        }
        self.send_fetch(image, from);
    }

    pub(crate) fn send_fetch(&mut self, image: ImageId, from: PeerId) {
        self.fetches.in_flight += 1;
        self.counters.fetches_sent += 1;
        self.out.push(Out::Fetch { image, from });
    }

    /// A fetch answered (or failed). An audit and our own work may both wait for the same
    /// image's bytes: each is served by whichever answer comes first, and each moves to its
    /// next source on a failure. An answer nothing waits for any more is ignored.
    pub(crate) fn on_fetched(&mut self, image: ImageId, bytes: Option<Bytes>) {
        self.counters.image_bytes_received += bytes.as_ref().map_or(0, |b| b.len() as u64);
        self.fetches.in_flight = self.fetches.in_flight.saturating_sub(1);
        while self.fetches.in_flight < MAX_FETCHING
            && let Some((next, from)) = self.fetches.waiting.pop_front()
        {
            self.send_fetch(next, from);
        }
        self.prefetch_landed(&image);
        let waiting_audit = self.audits.waiting.remove(&image);
        let waiting_work = self.work_fetches.remove(&image);
        let Some(bytes) = bytes.filter(|b| ImageId::of_bytes(b) == image) else {
            self.counters.fetches_failed += 1;
            match waiting_audit {
                Some(mut w) if !w.rest.is_empty() => {
                    let next = w.rest.remove(0);
                    self.audits.waiting.insert(image, w);
                    self.fetch(image, next);
                }
                Some(w) => {
                    self.audit_abandoned(&image);
                    self.retry_audit_later(image, w);
                }
                None => {}
            }
            match waiting_work {
                Some(mut rest) if !rest.is_empty() => {
                    let next = rest.remove(0);
                    self.work_fetches.insert(image, rest);
                    self.fetch(image, next)
                }
                Some(_) => self.give_up(image),
                None => {}
            }
            return;
        };
        self.images.set_bytes(&image, bytes.clone());
        let entry = self.images.get(&image).cloned();
        if let Some(w) = waiting_audit {
            // An audit needs no buffered announcement: the result may have come by anti-entropy.
            let captured_at_ms = entry.as_ref().map_or(0, |e| e.captured_at_ms);
            self.submit(Job {
                image,
                model: w.model,
                captured_at_ms,
                bytes: bytes.clone(),
                purpose: w.purpose,
            });
        }
        match (waiting_work, entry) {
            (Some(_), Some(e)) => self.submit(Job {
                image,
                model: e.model,
                captured_at_ms: e.captured_at_ms,
                bytes,
                purpose: Purpose::Work { takeover: false },
            }),
            (Some(_), None) => self.give_up(image),
            (None, _) => {}
        }
    }
}
