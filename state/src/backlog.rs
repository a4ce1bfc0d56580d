//! The jobs a node took on and has not handed to its inference worker yet (see `dispatch`,
//! which moves them on).

use std::collections::VecDeque;

use argus_protocol::ids::ImageId;

use crate::events::{Job, Purpose};

#[derive(Debug, Default)]
pub(crate) struct Backlog {
    pub(crate) jobs: VecDeque<Job>,
    /// Audit jobs among `jobs` (work images waiting are counted by the auction, which knows
    /// which of them still stand).
    pub(crate) audits: usize,
    /// Jobs handed to the worker and not answered yet.
    pub(crate) in_worker: usize,
}

impl Backlog {
    /// Nothing waits here and the worker's queue is at most half full: time to find work.
    pub(crate) fn runs_dry(&self, depth: usize) -> bool {
        self.jobs.is_empty() && self.in_worker <= depth / 2
    }

    /// A work job for `image` waits here.
    pub(crate) fn has_work(&self, image: &ImageId) -> bool {
        self.jobs.iter().any(|j| j.image == *image && matches!(j.purpose, Purpose::Work { .. }))
    }

    /// The work images of `model` waiting here, last first.
    pub(crate) fn work_from_end<'a>(&'a self, model: &'a str) -> impl Iterator<Item = ImageId> + 'a {
        self.jobs
            .iter()
            .rev()
            .filter(move |j| matches!(j.purpose, Purpose::Work { .. }) && j.model.name == model)
            .map(|j| j.image)
    }
}
