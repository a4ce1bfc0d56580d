//! The adaptive audit ratio: additive increase, multiplicative decrease. A pure controller fed
//! once per heartbeat with the node's audit backlog and inference queue: it halves the ratio
//! when either is above its threshold and adds a small step while both are idle, always within
//! the configured bounds. Never reads clocks or touches the network.

/// Bounds and thresholds of the controller (the node's `[audit]` config section fills it).
#[derive(Debug, Clone)]
pub struct RatioConfig {
    /// Initial probability that a result is audited.
    pub initial: f64,
    pub min: f64,
    pub max: f64,
    /// Added per control period while the node is idle (additive increase).
    pub step: f64,
    /// Unanswered audits (ours) plus audit jobs queued here above which the ratio halves.
    pub backlog_high: usize,
    /// Inference jobs queued here above which the ratio halves.
    pub queue_high: u64,
}

impl Default for RatioConfig {
    fn default() -> Self {
        Self { initial: 0.1, min: 0.01, max: 0.5, step: 0.01, backlog_high: 8, queue_high: 16 }
    }
}

#[derive(Debug, Clone)]
pub struct AuditRatio {
    value: f64,
    min: f64,
    max: f64,
    step: f64,
    backlog_high: usize,
    queue_high: u64,
}

impl AuditRatio {
    pub fn new(cfg: &RatioConfig) -> Self {
        Self {
            value: cfg.initial,
            min: cfg.min,
            max: cfg.max,
            step: cfg.step,
            backlog_high: cfg.backlog_high,
            queue_high: cfg.queue_high,
        }
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// One control period. `backlog`: audits asked for and not yet answered plus audit jobs
    /// queued here; `queue_jobs`: images waiting for inference here.
    pub fn update(&mut self, backlog: usize, queue_jobs: u64) -> f64 {
        if backlog > self.backlog_high || queue_jobs > self.queue_high {
            self.value = (self.value * 0.5).max(self.min);
        } else if backlog * 4 <= self.backlog_high && queue_jobs * 4 <= self.queue_high {
            self.value = (self.value + self.step).min(self.max);
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The shipped defaults: 0.1 initial, 0.01..0.5, step 0.01, backlog 8, queue 16.
    fn cfg() -> RatioConfig {
        RatioConfig::default()
    }

    #[test]
    fn overload_halves_and_idle_creeps_back() {
        let mut r = AuditRatio::new(&cfg());
        assert_eq!(r.update(20, 0), 0.05);
        assert_eq!(r.update(0, 100), 0.025);
        for _ in 0..10 {
            r.update(0, 0);
        }
        assert!((r.value() - 0.125).abs() < 1e-9, "{}", r.value());
        // Moderate load holds the ratio steady.
        let v = r.value();
        assert_eq!(r.update(5, 8), v);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn stays_within_bounds(inputs in proptest::collection::vec((0usize..50, 0u64..100), 0..200)) {
            let mut r = AuditRatio::new(&cfg());
            for (b, q) in inputs {
                let v = r.update(b, q);
                prop_assert!((0.01..=0.5).contains(&v));
            }
        }

        #[test]
        fn sustained_overload_reaches_the_floor_and_idle_the_ceiling(n in 8usize..40) {
            let mut r = AuditRatio::new(&cfg());
            for _ in 0..n { r.update(100, 0); }
            prop_assert_eq!(r.value(), 0.01);
            for _ in 0..60 { r.update(0, 0); }
            prop_assert_eq!(r.value(), 0.5);
        }
    }
}
