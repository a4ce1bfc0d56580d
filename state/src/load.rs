//! The wait a bid carries: how long until a newly accepted image would be finished here. The
//! state counts the jobs it queued and learns each model's per-image time from the finished
//! jobs (a moving average), so the estimate needs nothing from the worker but its answers.

use argus_protocol::model_ref::ModelRef;

#[derive(Debug, Clone, Default)]
struct PerModel {
    model: Option<ModelRef>,
    /// Jobs queued and not finished.
    jobs: u64,
    /// Moving average of the per-image time, microseconds (0 until the first job).
    avg_us: u64,
}

#[derive(Debug, Clone)]
pub struct Load {
    models: Vec<PerModel>,
    /// When the job now running started (ms, node time), if one is running.
    busy_since: Option<u64>,
}

/// A model's per-image time before it has run once: 1 ms (bids then favour idle nodes).
const UNKNOWN_MS: u64 = 1;

impl Load {
    pub fn new(served: &[ModelRef]) -> Self {
        let models =
            served.iter().map(|m| PerModel { model: Some(m.clone()), ..Default::default() }).collect();
        Self { models, busy_since: None }
    }

    fn slot(&mut self, model: &ModelRef) -> Option<&mut PerModel> {
        self.models.iter_mut().find(|m| m.model.as_ref() == Some(model))
    }

    /// Jobs queued or running, all models.
    pub fn jobs(&self) -> u64 {
        self.models.iter().map(|m| m.jobs).sum()
    }

    /// A job was queued.
    pub fn queued(&mut self, model: &ModelRef, now_ms: u64) {
        if self.jobs() == 0 {
            self.busy_since = Some(now_ms);
        }
        if let Some(m) = self.slot(model) {
            m.jobs += 1;
        }
    }

    /// A job finished (`per_image_ms`: its share of the batch's time) or was refused (`None`).
    pub fn finished(&mut self, model: &ModelRef, per_image_ms: Option<u32>, now_ms: u64) {
        if let Some(m) = self.slot(model) {
            m.jobs = m.jobs.saturating_sub(1);
            if let Some(ms) = per_image_ms {
                let sample = u64::from(ms) * 1_000;
                // EWMA with weight 1/8: follows a change of load within a few batches.
                m.avg_us =
                    if m.avg_us == 0 { sample.max(1) } else { (m.avg_us - m.avg_us / 8 + sample / 8).max(1) };
            }
        }
        self.busy_since = (self.jobs() > 0).then_some(now_ms);
    }

    /// Average per-image time of a model, ms (at least 1).
    pub fn avg_ms(&self, model: &ModelRef) -> u64 {
        self.models
            .iter()
            .find(|m| m.model.as_ref() == Some(model))
            .map_or(UNKNOWN_MS, |m| m.avg_us.div_ceil(1_000).max(UNKNOWN_MS))
    }

    /// Mean of the per-model averages of the models that have run (for heartbeats), ms.
    pub fn avg_ms_overall(&self) -> u32 {
        let used: Vec<u64> = self.models.iter().map(|m| m.avg_us).filter(|&v| v > 0).collect();
        if used.is_empty() {
            0
        } else {
            (used.iter().sum::<u64>() / used.len() as u64).div_ceil(1_000) as u32
        }
    }

    /// Estimated wait before a new image of `model` would be finished, given `committed` images
    /// won or being won and not queued yet (counted at this model's cost): queued work plus
    /// our own image, minus what the running job has already done.
    pub fn wait_ms(&self, model: &ModelRef, committed: usize, now_ms: u64) -> u32 {
        let queued: u64 = self.models.iter().map(|m| m.jobs * m.avg_us.div_ceil(1_000).max(UNKNOWN_MS)).sum();
        let avg = self.avg_ms(model);
        let elapsed = self.busy_since.map_or(0, |s| now_ms.saturating_sub(s));
        let total = queued + (committed as u64 + 1) * avg;
        total.saturating_sub(elapsed.min(avg)).min(u64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_protocol::ids::WeightsId;

    #[test]
    fn wait_grows_with_queued_work_and_learns_the_per_image_time() {
        let m = ModelRef::new("coco", WeightsId([1; 32]));
        let mut l = Load::new(std::slice::from_ref(&m));
        assert_eq!(l.wait_ms(&m, 0, 0), 1, "unknown cost: 1 ms");
        l.queued(&m, 0);
        l.finished(&m, Some(100), 100);
        assert_eq!(l.avg_ms(&m), 100);
        assert_eq!(l.wait_ms(&m, 0, 100), 100);
        l.queued(&m, 100);
        l.queued(&m, 100);
        assert_eq!(l.wait_ms(&m, 1, 100), 400, "two queued, one committed, ours");
        assert_eq!(l.wait_ms(&m, 1, 150), 350, "half of the running job done");
        l.finished(&m, None, 160);
        assert_eq!(l.jobs(), 1);
    }
}
