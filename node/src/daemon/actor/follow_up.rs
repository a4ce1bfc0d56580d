//! Follow-ups: the store calls, fetches and answers to peers that run outside the actor, as
//! tasks; each sends its answer back to the actor as an `In` event.

use std::sync::atomic::Ordering;

use argus_protocol::ids::ImageId;
use argus_protocol::register::Register;
use argus_protocol::rpc::{FetchRequest, QueryResponse, SyncRequest, SyncResponse};
use argus_state::events::MAX_SINGLE_VOTES;
use argus_state::{AfterWrite, In, ReadFor};
use libp2p::PeerId;
use tracing::{debug, warn};

use crate::daemon::store::StoreHandle;
use crate::metrics::Metrics;
use crate::net::{NetCommand, NetHandle, Outbound, Response};

/// Work done outside the actor.
pub(crate) enum FollowUp {
    Read { image: ImageId, then: ReadFor },
    Write { register: Register, then: AfterWrite },
    Fetch { image: ImageId, from: PeerId },
    AnswerQuery { id: u64, image: ImageId },
    AnswerSync { id: u64, req: SyncRequest },
    SingleVotes { worker: PeerId },
}

/// What a follow-up task needs.
pub(crate) struct Context {
    pub(crate) store: StoreHandle,
    pub(crate) net: NetHandle,
    pub(crate) metrics: std::sync::Arc<Metrics>,
    pub(crate) internal: tokio::sync::mpsc::Sender<In>,
}

impl Context {
    pub(crate) async fn run(self, f: FollowUp) {
        let ev = match f {
            FollowUp::Read { image, then } => {
                let register = self.store.get(image).await.unwrap_or_else(|e| {
                    warn!(%image, error = %e, "store read failed");
                    None
                });
                Some(In::Read { image, register, then })
            }
            FollowUp::Write { register, then } => {
                let image = *register.image_id();
                let changed = match self.store.merge(register).await {
                    Ok(m) => Some(m.changed),
                    Err(e) => {
                        self.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                        warn!(%image, error = %e, "cannot store a register");
                        None
                    }
                };
                Some(In::Written { image, changed, then })
            }
            FollowUp::Fetch { image, from } => {
                let asked = std::time::Instant::now();
                let bytes =
                    match self.net.request(from, Outbound::Fetch(FetchRequest { image_id: image })).await {
                        Ok(Response::Fetch(r)) if r.matches(&image) => {
                            r.bytes.map(|b| std::sync::Arc::new(b.into_vec()))
                        }
                        Ok(_) => None,
                        Err(e) => {
                            debug!(%image, error = %e, "fetch failed");
                            None
                        }
                    };
                let ms = asked.elapsed().as_millis();
                debug!(%image, %from, ms, found = bytes.is_some(), "fetch answered");
                Some(In::Fetched { image, bytes })
            }
            FollowUp::SingleVotes { worker } => {
                let node = argus_protocol::ids::NodeId(worker);
                let results = self.store.single_votes(node, MAX_SINGLE_VOTES).await.unwrap_or_else(|e| {
                    warn!(error = %e, "cannot list a suspect's single-vote results");
                    Vec::new()
                });
                Some(In::SingleVotes { worker, results })
            }
            FollowUp::AnswerQuery { id, image } => {
                let register = self.store.get_wire(image).await.unwrap_or_else(|e| {
                    debug!(error = %e, "query: store read failed");
                    None
                });
                let resp = Response::Query(QueryResponse { register });
                let _ = self.net.send(NetCommand::Respond { id, resp }).await;
                None
            }
            FollowUp::AnswerSync { id, req } => {
                let resp = crate::daemon::sync::answer(&self.store, req).await;
                if let SyncResponse::Registers { registers, .. } = &resp {
                    let bytes: usize = registers.iter().map(crate::daemon::sync::wire_size).sum();
                    self.metrics.sync_bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
                }
                let _ = self.net.send(NetCommand::Respond { id, resp: Response::Sync(resp) }).await;
                None
            }
        };
        if let Some(ev) = ev {
            let _ = self.internal.send(ev).await;
        }
    }
}
