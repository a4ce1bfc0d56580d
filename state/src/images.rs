//! The bounded buffer of announced images: bytes (when we have them), capture time and source.
//! An image stays until its result is stored and its audit window has passed; when the buffer
//! is full the oldest entry is evicted (and counted by the caller). Pure: no IO, no clocks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use argus_protocol::ids::ImageId;
use argus_protocol::model_ref::ModelRef;
use libp2p_identity::PeerId;

#[derive(Debug, Clone)]
pub struct Entry {
    /// The model the image needs (one this node runs: others are not buffered).
    pub model: ModelRef,
    pub captured_at_ms: u64,
    pub source: PeerId,
    /// The name the source gave in its announcement (kept with the result's register).
    pub source_name: String,
    pub bytes: Option<Arc<Vec<u8>>>,
    /// Local time (ms since node start) when first heard of.
    pub seen_ms: u64,
    /// Local time when its result was stored; it is evicted `retain_ms` after this.
    pub finished_ms: Option<u64>,
}

pub struct ImageBuffer {
    cap: usize,
    retain_ms: u64,
    map: HashMap<ImageId, Entry>,
    order: VecDeque<ImageId>,
}

impl ImageBuffer {
    pub fn new(cap: usize, retain_ms: u64) -> Self {
        assert!(cap > 0, "image buffer needs room for at least one image");
        Self { cap, retain_ms, map: HashMap::new(), order: VecDeque::new() }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, id: &ImageId) -> Option<&Entry> {
        self.map.get(id)
    }

    /// Inserts a new image; returns the ids evicted to make room. An existing entry only gains
    /// bytes it lacked.
    pub fn insert(&mut self, id: ImageId, entry: Entry) -> Vec<ImageId> {
        if let Some(e) = self.map.get_mut(&id) {
            if e.bytes.is_none() {
                e.bytes = entry.bytes;
            }
            return Vec::new();
        }
        let mut evicted = Vec::new();
        while self.map.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    if self.map.remove(&old).is_some() {
                        evicted.push(old);
                    }
                }
                None => break,
            }
        }
        self.map.insert(id, entry);
        self.order.push_back(id);
        evicted
    }

    pub fn set_bytes(&mut self, id: &ImageId, bytes: Arc<Vec<u8>>) {
        if let Some(e) = self.map.get_mut(id) {
            e.bytes = Some(bytes);
        }
    }

    pub fn mark_finished(&mut self, id: &ImageId, now_ms: u64) {
        if let Some(e) = self.map.get_mut(id)
            && e.finished_ms.is_none()
        {
            e.finished_ms = Some(now_ms);
        }
    }

    /// Drops finished images whose retention has passed.
    pub fn expire(&mut self, now_ms: u64) {
        let retain = self.retain_ms;
        self.map.retain(|_, e| e.finished_ms.is_none_or(|f| now_ms < f + retain));
        let map = &self.map;
        self.order.retain(|id| map.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seen_ms: u64) -> Entry {
        Entry {
            model: ModelRef::new("shapes", argus_protocol::ids::WeightsId([0; 32])),
            captured_at_ms: 0,
            source: libp2p_identity::Keypair::ed25519_from_bytes([7; 32]).unwrap().public().to_peer_id(),
            source_name: String::new(),
            bytes: None,
            seen_ms,
            finished_ms: None,
        }
    }

    #[test]
    fn evicts_oldest_when_full_and_expires_finished() {
        let mut b = ImageBuffer::new(2, 100);
        let ids: Vec<_> = (0u8..3).map(|i| ImageId::of_bytes(&[i])).collect();
        assert!(b.insert(ids[0], entry(0)).is_empty());
        assert!(b.insert(ids[1], entry(1)).is_empty());
        assert_eq!(b.insert(ids[2], entry(2)), vec![ids[0]]);
        b.mark_finished(&ids[1], 10);
        b.expire(50);
        assert_eq!(b.len(), 2, "retained inside the window");
        b.expire(110);
        assert_eq!(b.len(), 1);
        assert!(b.get(&ids[2]).is_some());
    }
}
