//! Carrying out the state's `Out` events. Publishes, worker jobs, answers and disconnects are
//! queued without waiting (a full queue is counted); store calls, fetches and answers to
//! peers' queries and sync requests run as follow-up tasks, at most `MAX_FOLLOW_UPS` at once,
//! with up to `MAX_DEFERRED` more waiting in line. Their answers come back as `In` events.

use std::sync::atomic::Ordering;

use argus_protocol::rpc::FetchResponse;
use argus_state::{Hist, In, Out};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::event_loop::{Actor, MAX_DEFERRED};
use super::follow_up::{Context, FollowUp};
use crate::net::{InboundRequest, NetCommand, Response};

impl Actor {
    pub(crate) fn apply(&mut self, outs: Vec<Out>) {
        // A refused job's consequences join the queue instead of recursing: a dead worker
        // refuses the whole backlog, one job at a time.
        let mut outs = std::collections::VecDeque::from(outs);
        while let Some(out) = outs.pop_front() {
            match out {
                Out::Publish(msg) => {
                    if let argus_protocol::messages::GossipMessage::AuditVerdict(v) = &msg {
                        self.audits.record(v, crate::clock::wall_ms());
                    }
                    if let Err(e) = self.net.try_publish(&msg) {
                        self.metrics.publish_dropped.fetch_add(1, Ordering::Relaxed);
                        debug!(error = %e, "gossip not published");
                    }
                }
                Out::Fetch { image, from } => outs.extend(self.follow_up(FollowUp::Fetch { image, from })),
                Out::Infer(job) => {
                    if let Err(job) = self.worker.try_submit(job) {
                        let now = self.now();
                        outs.extend(self.state.handle(In::InferRefused { job }, now));
                    }
                }
                Out::Read { image, then } => outs.extend(self.follow_up(FollowUp::Read { image, then })),
                Out::Write { register, then } => {
                    outs.extend(self.follow_up(FollowUp::Write { register, then }))
                }
                Out::Answer { id, bytes } => {
                    let resp = FetchResponse { bytes: bytes.map(|b| serde_bytes::ByteBuf::from(b.to_vec())) };
                    self.net_command(NetCommand::Respond { id, resp: Response::Fetch(resp) });
                }
                Out::Disconnect(peer) => self.net_command(NetCommand::Disconnect { peer }),
                // Blocking closes its connections and refuses new ones (`allow_block_list`).
                Out::Ban(peer) => self.net_command(NetCommand::Block { peers: vec![peer] }),
                Out::Unban(peer) => self.net_command(NetCommand::Unblock { peers: vec![peer] }),
                Out::Reconcile { peer, digest } => {
                    // The anti-entropy task may be busy; then the next digest will do.
                    let _ = self.sync_tx.try_send((peer, digest));
                }
                Out::FindSingleVotes { worker } => {
                    outs.extend(self.follow_up(FollowUp::SingleVotes { worker }))
                }
                Out::SaveClock(ts) => self.store.save_clock(ts),
                Out::SaveAuditRecord(record) => self.store.save_audit_record(record),
                Out::Observe(h, v) => match h {
                    Hist::Inference => self.metrics.inference_ms.observe(v),
                    Hist::LatencyStored => self.metrics.latency_stored_ms.observe(v),
                    Hist::SchedulingOverhead => self.metrics.scheduling_overhead_ms.observe(v),
                },
            }
        }
    }

    fn net_command(&self, cmd: NetCommand) {
        if self.net.try_send(cmd).is_err() {
            self.metrics.publish_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A peer's request: fetches are answered from the state's image buffer; queries and sync
    /// requests are store reads and never touch the state.
    pub(crate) fn answer_inbound(&mut self, id: u64, peer: PeerId, req: InboundRequest) {
        match req {
            InboundRequest::Fetch(r) => self.handle(In::FetchAsked { id, image: r.image_id }),
            InboundRequest::Query(r) => {
                self.metrics.queries_served.fetch_add(1, Ordering::Relaxed);
                let refused = self.follow_up(FollowUp::AnswerQuery { id, image: r.image_id });
                self.apply(refused);
            }
            InboundRequest::Sync(req) => {
                debug!(%peer, "sync request");
                let refused = self.follow_up(FollowUp::AnswerSync { id, req });
                self.apply(refused);
            }
        }
    }

    /// Queues a follow-up behind any deferred ones and starts what the free slots allow. Over
    /// every bound it fails at once: the state's answer to that failure is returned (`apply`
    /// handles it in line), so nothing waits forever for an answer that was never going to come.
    #[must_use = "the state must see a refused follow-up's failure"]
    fn follow_up(&mut self, f: FollowUp) -> Vec<Out> {
        if self.deferred.len() < MAX_DEFERRED {
            self.deferred.push_back(f);
            self.run_deferred();
            return Vec::new();
        }
        warn!("follow-up queue full: failing a store call or fetch");
        self.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
        let ev = match f {
            FollowUp::Read { image, then } => Some(In::Read { image, register: None, then }),
            FollowUp::Write { register, then } => {
                Some(In::Written { image: *register.image_id(), changed: None, then })
            }
            FollowUp::Fetch { image, .. } => Some(In::Fetched { image, bytes: None }),
            FollowUp::SingleVotes { worker } => Some(In::SingleVotes { worker, results: Vec::new() }),
            FollowUp::AnswerQuery { .. } | FollowUp::AnswerSync { .. } => None,
        };
        match ev {
            Some(ev) => {
                let now = self.now();
                self.state.handle(ev, now)
            }
            None => Vec::new(),
        }
    }

    /// Starts deferred follow-ups while slots are free.
    pub(crate) fn run_deferred(&mut self) {
        while !self.deferred.is_empty() {
            let Ok(permit) = self.follow_ups.clone().try_acquire_owned() else { return };
            let Some(f) = self.deferred.pop_front() else { return };
            let ctx = self.context();
            tokio::spawn(async move {
                ctx.run(f).await;
                drop(permit);
            });
        }
    }

    fn context(&self) -> Context {
        Context {
            store: self.store.clone(),
            net: self.net.clone(),
            metrics: self.metrics.clone(),
            internal: self.internal_tx.clone(),
        }
    }
}
