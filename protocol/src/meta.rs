//! What a register says about its image besides the results: the name of the source that
//! announced it and a small thumbnail, so an operator can see a stored result after the
//! original image is gone and ask for results by source.
//!
//! # Not attested
//!
//! Attestations sign `(image id, result digest, ts)`, not this. A member could label an image
//! with another source's name or another picture; the detections, votes and the image id
//! (BLAKE3 of the bytes) are what is verified. Meta is bounded (`MAX_NAME_LEN`,
//! `MAX_THUMBNAIL_BYTES`) and only shape-checked.
//!
//! # Merge is a join
//!
//! Each field is a join-semilattice of its own, so registers that merge meta in any order and
//! any number of times converge: empty is the bottom; of two non-empty source names the
//! lexicographically smaller bytes win; of two thumbnails the one with the smaller BLAKE3 wins
//! (equal hashes are equal thumbnails). An honest network writes one source name per image,
//! and thumbnails of the same image made by different nodes are equal or equally good.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::limits::{MAX_IMAGE_SIDE_PX, MAX_NAME_LEN, MAX_THUMBNAIL_BYTES};

/// A register's unattested description of its image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMeta {
    /// The announcing source's name (`argus send --name`), empty when unknown.
    #[serde(default)]
    pub source: String,
    /// A small JPEG of the image, when the node that produced the result made one.
    #[serde(default)]
    pub thumbnail: Option<Thumbnail>,
}

/// A small JPEG of an image, with the image's own size (boxes are in the image's pixels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thumbnail {
    /// Width and height of the original image, pixels.
    pub width: u32,
    pub height: u32,
    pub jpeg: ByteBuf,
}

impl Thumbnail {
    /// BLAKE3 of `u32be(width) || u32be(height) || jpeg`: the join order and the state hash's
    /// input.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(&self.width.to_be_bytes()).update(&self.height.to_be_bytes()).update(&self.jpeg);
        *h.finalize().as_bytes()
    }
}

impl ImageMeta {
    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty() && self.thumbnail.is_none()
    }

    /// Shape checks: the bounds, and no empty thumbnail (absent is `None`).
    pub fn validate(&self) -> Result<(), String> {
        if self.source.len() > MAX_NAME_LEN {
            return Err(format!("meta.source: {} bytes, at most {MAX_NAME_LEN}", self.source.len()));
        }
        match &self.thumbnail {
            Some(t) if t.jpeg.is_empty() || t.jpeg.len() > MAX_THUMBNAIL_BYTES => {
                Err(format!("meta.thumbnail: {} bytes, 1..={MAX_THUMBNAIL_BYTES}", t.jpeg.len()))
            }
            Some(t)
                if !(1..=MAX_IMAGE_SIDE_PX).contains(&t.width)
                    || !(1..=MAX_IMAGE_SIDE_PX).contains(&t.height) =>
            {
                Err(format!("meta.thumbnail: image {}x{} outside 1..={MAX_IMAGE_SIDE_PX}", t.width, t.height))
            }
            _ => Ok(()),
        }
    }

    /// `self := self ⊔ other`; true if `self` changed. `other` must be valid.
    pub fn join(&mut self, other: &ImageMeta) -> bool {
        let mut changed = false;
        if !other.source.is_empty() && (self.source.is_empty() || other.source < self.source) {
            self.source.clone_from(&other.source);
            changed = true;
        }
        if let Some(theirs) = &other.thumbnail {
            let better = match &self.thumbnail {
                None => true,
                Some(ours) => theirs.hash() < ours.hash(),
            };
            if better {
                self.thumbnail = Some(theirs.clone());
                changed = true;
            }
        }
        changed
    }

    /// Feeds the canonical form into a register's state hash (docs/PROTOCOL.md §5.4):
    /// `u8(len(source)) || source || u8(0)` without a thumbnail, `... || u8(1) ||
    /// Thumbnail::hash` with one. A source over 255 bytes (never valid) is cut to 255.
    pub(crate) fn hash_into(&self, h: &mut blake3::Hasher) {
        let source = &self.source.as_bytes()[..self.source.len().min(usize::from(u8::MAX))];
        h.update(&[source.len() as u8]);
        h.update(source);
        match &self.thumbnail {
            None => h.update(&[0]),
            Some(t) => h.update(&[1]).update(&t.hash()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(source: &str, thumb: Option<&[u8]>) -> ImageMeta {
        let thumbnail = thumb.map(|t| Thumbnail { width: 640, height: 480, jpeg: ByteBuf::from(t.to_vec()) });
        ImageMeta { source: source.into(), thumbnail }
    }

    #[test]
    fn join_is_commutative_associative_and_idempotent() {
        let all = [
            meta("", None),
            meta("cam-1", None),
            meta("cam-2", Some(b"a")),
            meta("", Some(b"b")),
            meta("cam-0", Some(b"c")),
        ];
        let join = |a: &ImageMeta, b: &ImageMeta| {
            let mut x = a.clone();
            x.join(b);
            x
        };
        for a in &all {
            assert_eq!(join(a, a), *a);
            assert!(!a.clone().join(a));
            for b in &all {
                assert_eq!(join(a, b), join(b, a), "{a:?} {b:?}");
                for c in &all {
                    assert_eq!(join(&join(a, b), c), join(a, &join(b, c)));
                }
            }
        }
        assert_eq!(join(&all[1], &all[4]).source, "cam-0");
        assert_eq!(join(&all[0], &all[2]), all[2]);
    }

    #[test]
    fn bounds_are_checked() {
        assert!(meta(&"x".repeat(MAX_NAME_LEN), None).validate().is_ok());
        assert!(meta(&"x".repeat(MAX_NAME_LEN + 1), None).validate().is_err());
        assert!(meta("", Some(&[])).validate().is_err());
        assert!(meta("", Some(&vec![0; MAX_THUMBNAIL_BYTES])).validate().is_ok());
        assert!(meta("", Some(&vec![0; MAX_THUMBNAIL_BYTES + 1])).validate().is_err());
        let mut m = meta("", Some(&[1]));
        m.thumbnail.as_mut().unwrap().width = 0;
        assert!(m.validate().is_err());
    }
}
