//! Fetching image bytes that did not travel inline: for our own work (from the node that
//! handed the image over, the source, then the holders before us) and for audits (from the
//! worker, then the other nodes the audit names).

use argus_protocol::ids::ImageId;
use libp2p_identity::PeerId;

use crate::events::{Bytes, Job, Out, Purpose};
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
            return self.sched.on_local_failure(&image);
        }
        let first = from.remove(0);
        self.work_fetches.insert(image, from);
        self.fetch(image, first)
    }

    pub(crate) fn fetch(&mut self, image: ImageId, from: PeerId) {
        self.counters.fetches_sent += 1;
        self.out.push(Out::Fetch { image, from });
    }

    /// A fetch answered (or failed). An audit and our own work may both wait for the same
    /// image's bytes: each is served by whichever answer comes first, and each moves to its
    /// next source on a failure. An answer nothing waits for any more is ignored.
    pub(crate) fn on_fetched(&mut self, image: ImageId, bytes: Option<Bytes>) {
        self.counters.image_bytes_received += bytes.as_ref().map_or(0, |b| b.len() as u64);
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
                Some(_) => self.sched.on_local_failure(&image),
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
            (Some(_), None) => self.sched.on_local_failure(&image),
            (None, _) => {}
        }
    }
}
