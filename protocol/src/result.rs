//! What makes two results the same: the canonical digest (exact: BLAKE3 over canonical bytes,
//! bound to the model and weights that produced them) and the agreement rule (tolerant:
//! one-to-one matching by class, IoU and score), so a GPU and a CPU backend can agree without
//! being bit-identical. The agreement rule compares detections only: callers compare results of
//! the same `ModelRef` and nothing else. Pure functions; never panics on any input, valid or not.

use crate::detection::Detection;
use crate::ids::ResultDigest;
use crate::limits::MAX_DETECTIONS;
use crate::model_ref::ModelRef;

/// Two matched detections must overlap at least this much (intersection over union).
pub const AGREE_MIN_IOU: f32 = 0.5;
/// Two matched detections' scores may differ by at most this much.
pub const AGREE_MAX_SCORE_DIFF: f32 = 0.1;
/// Slack on `AGREE_MAX_SCORE_DIFF` for f32 rounding (0.9 - 0.8 is 0.100000024 in f32).
const SCORE_DIFF_SLACK: f32 = 1e-6;

/// Domain separator of the canonical result encoding.
pub const RESULT_DOMAIN: &[u8] = b"argus/result/v2";
/// Bytes per detection in the canonical encoding.
const CANONICAL_DETECTION_BYTES: usize = 2 + 4 * 5;

/// `-0.0` and `+0.0` compare equal, so they encode the same.
fn canon_f32(x: f32) -> u32 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

fn canon_key(d: &Detection) -> [u32; 6] {
    let b = &d.bbox;
    [
        u32::from(d.class),
        canon_f32(d.score),
        canon_f32(b.x_min),
        canon_f32(b.y_min),
        canon_f32(b.x_max),
        canon_f32(b.y_max),
    ]
}

/// The canonical encoding of a model's result, the input of `result_digest`:
///
/// `"argus/result/v2" || u8(len(name)) || name || weights (32) || u32be(n) || n × (u16be(class)
/// || f32be(score) || f32be(x_min) || f32be(y_min) || f32be(x_max) || f32be(y_max))`,
/// detections sorted ascending by `(class, score, x_min, y_min, x_max, y_max)` compared as
/// their IEEE-754 bit patterns (for the non-negative values validation admits, the same as
/// numeric order), with `-0.0` written as `+0.0`. Order of input and the sign of zero do not
/// change it; anything else does, the model's name and weights included.
///
/// A valid name is at most `MAX_MODEL_NAME_LEN` bytes. So that this stays total, a name over
/// 255 bytes (never valid, and refused by every caller's validation) is cut to its first 255;
/// its length byte, 255, is one no valid name has, so it cannot collide with a valid result.
pub fn canonical_bytes(model: &ModelRef, detections: &[Detection]) -> Vec<u8> {
    let mut keys: Vec<[u32; 6]> = detections.iter().map(canon_key).collect();
    keys.sort_unstable();
    let name = &model.name.as_bytes()[..model.name.len().min(usize::from(u8::MAX))];
    let capacity = RESULT_DOMAIN.len() + 1 + name.len() + 32 + 4 + keys.len() * CANONICAL_DETECTION_BYTES;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(RESULT_DOMAIN);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(model.weights.as_bytes());
    out.extend_from_slice(&(keys.len() as u32).to_be_bytes());
    for k in &keys {
        out.extend_from_slice(&(k[0] as u16).to_be_bytes());
        for word in &k[1..] {
            out.extend_from_slice(&word.to_be_bytes());
        }
    }
    out
}

/// BLAKE3 of `canonical_bytes(model, detections)`: equal digests mean the same model, the same
/// weights and bit-identical detections.
pub fn result_digest(model: &ModelRef, detections: &[Detection]) -> ResultDigest {
    ResultDigest(*blake3::hash(&canonical_bytes(model, detections)).as_bytes())
}

/// Whether two single detections agree: same class, IoU >= `AGREE_MIN_IOU`, scores within
/// `AGREE_MAX_SCORE_DIFF`.
pub fn detections_agree(a: &Detection, b: &Detection) -> bool {
    a.class == b.class
        && a.bbox.iou(&b.bbox) >= AGREE_MIN_IOU
        && (a.score - b.score).abs() <= AGREE_MAX_SCORE_DIFF + SCORE_DIFF_SLACK
}

/// Whether two results agree: equally many detections and a one-to-one matching in which every
/// pair agrees (`detections_agree`). Found by augmenting paths (Kuhn), so a greedy pairing
/// that strands a detection cannot cause a false disagreement. Lists longer than
/// `MAX_DETECTIONS` never agree (they are invalid anyway), which bounds the work. Compares
/// detections only: results of different models or weights never agree, and the caller must
/// not ask (`Register::agreeing` filters by `ModelRef` first).
pub fn results_agree(a: &[Detection], b: &[Detection]) -> bool {
    if a.len() != b.len() || a.len() > MAX_DETECTIONS {
        return false;
    }
    let adjacency: Vec<Vec<usize>> =
        a.iter().map(|da| (0..b.len()).filter(|&j| detections_agree(da, &b[j])).collect()).collect();
    let mut owner_of_b: Vec<Option<usize>> = vec![None; b.len()];
    for i in 0..a.len() {
        let mut seen = vec![false; b.len()];
        if !augment(i, &adjacency, &mut owner_of_b, &mut seen) {
            return false;
        }
    }
    true
}

/// Tries to match `i` (from `a`), re-matching earlier owners along an augmenting path.
/// Recursion depth is at most `a.len() <= MAX_DETECTIONS`.
fn augment(i: usize, adjacency: &[Vec<usize>], owner_of_b: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &j in &adjacency[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        let free = match owner_of_b[j] {
            None => true,
            Some(prev) => augment(prev, adjacency, owner_of_b, seen),
        };
        if free {
            owner_of_b[j] = Some(i);
            return true;
        }
    }
    false
}
