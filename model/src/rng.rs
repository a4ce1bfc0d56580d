//! A tiny deterministic pseudo-random generator (SplitMix64) for scenes, shuffling and
//! augmentation. Its output is fixed by this file alone, so a (seed, index) pair names the same
//! scene on every machine and every version of every dependency. Never used for anything that
//! needs to be unpredictable (keys, nonces).

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit state advanced by a Weyl sequence and
/// finalised by a bijective mixer.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for item `index` of stream `seed`; streams for different pairs are
    /// decorrelated by mixing both words before use.
    pub fn for_item(seed: u64, index: u64) -> Self {
        Self::new(mix64(seed ^ mix64(index.wrapping_add(GOLDEN_GAMMA))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `[lo, hi)`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Uniform in `lo..=hi` (inclusive); `lo <= hi`.
    pub fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = u64::from(hi - lo) + 1;
        lo + (self.next_u64() % span) as u32
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.next_f32() < p
    }

    /// Approximately standard normal (sum of four uniforms, rescaled); enough for pixel noise.
    pub fn normal_f32(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.next_f32()).sum();
        (s - 2.0) * 1.732_050_8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_item_same_stream_different_items_differ() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix64::for_item(7, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(SplitMix64::for_item(7, 3).next_u64(), SplitMix64::for_item(7, 4).next_u64());
        assert_ne!(SplitMix64::for_item(7, 3).next_u64(), SplitMix64::for_item(8, 3).next_u64());
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = SplitMix64::new(1);
        for _ in 0..10_000 {
            let f = r.range_f32(2.0, 3.0);
            assert!((2.0..3.0).contains(&f));
            let u = r.range_u32(0, 8);
            assert!(u <= 8);
        }
    }
}
