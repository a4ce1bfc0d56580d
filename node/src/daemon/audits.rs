//! The audit verdicts this node has seen (its own and its peers'), newest kept, for the
//! console's image page. Bounded: the oldest are forgotten first.

use std::collections::VecDeque;

use argus_protocol::ids::ImageId;
use argus_protocol::messages::AuditVerdict;

/// Verdicts kept.
pub const MAX_VERDICTS: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub image: ImageId,
    pub worker: String,
    pub auditor: String,
    pub pass: bool,
    /// When this node saw it (Unix ms).
    pub at_unix_ms: u64,
}

#[derive(Debug, Default)]
pub struct AuditLog {
    seen: VecDeque<Seen>,
}

impl AuditLog {
    pub fn record(&mut self, v: &AuditVerdict, at_unix_ms: u64) {
        if self.seen.len() >= MAX_VERDICTS {
            self.seen.pop_front();
        }
        self.seen.push_back(Seen {
            image: v.image_id,
            worker: v.worker.0.to_string(),
            auditor: v.auditor.0.to_string(),
            pass: v.pass,
            at_unix_ms,
        });
    }

    /// The verdicts on `image` still held, oldest first.
    pub fn of(&self, image: &ImageId) -> Vec<Seen> {
        self.seen.iter().filter(|s| s.image == *image).cloned().collect()
    }
}
