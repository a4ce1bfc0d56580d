//! Answers to peers' requests: image fetch (from the image buffer), query (our register for an
//! image) and sync (range fingerprints and range fetches for anti-entropy). Store reads run in
//! follow-up tasks so the core loop never waits on LMDB; a request we cannot answer gets an
//! empty answer rather than silence.

use std::sync::atomic::Ordering;

use argus_protocol::limits::MAX_SYNC_FETCH_LIMIT;
use argus_protocol::messages::ReplicaDigest;
use argus_protocol::rpc::{FetchResponse, QueryResponse, SyncRequest, SyncResponse};
use libp2p::PeerId;
use tracing::debug;

use super::Core;
use crate::net::{InboundRequest, NetCommand, Response};

impl Core {
    pub(crate) async fn on_inbound(&mut self, id: u64, peer: PeerId, req: InboundRequest) {
        match req {
            InboundRequest::Fetch(r) => {
                let bytes = self.images.get(&r.image_id).and_then(|e| e.bytes.clone());
                let resp = FetchResponse { bytes: bytes.map(|b| serde_bytes::ByteBuf::from(b.to_vec())) };
                let _ = self.net.send(NetCommand::Respond { id, resp: Response::Fetch(resp) }).await;
            }
            InboundRequest::Query(r) => {
                self.metrics.queries_served.fetch_add(1, Ordering::Relaxed);
                let store = self.store.clone();
                let net = self.net.clone();
                tokio::spawn(async move {
                    let register = store.get_wire(r.image_id).await.unwrap_or_else(|e| {
                        debug!(%peer, error = %e, "query: store read failed");
                        None
                    });
                    let resp = Response::Query(QueryResponse { register });
                    let _ = net.send(NetCommand::Respond { id, resp }).await;
                });
            }
            InboundRequest::Sync(r) => {
                let store = self.store.clone();
                let net = self.net.clone();
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    let resp = answer_sync(&store, r).await;
                    if let SyncResponse::Registers { registers, .. } = &resp {
                        let bytes: usize = registers.iter().map(crate::sync::wire_size).sum();
                        metrics.sync_bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
                    }
                    let _ = net.send(NetCommand::Respond { id, resp: Response::Sync(resp) }).await;
                });
            }
        }
    }

    /// A peer's replica digest: hand it to the anti-entropy task (which may be busy; then the
    /// next digest will do).
    pub(crate) async fn on_digest(&mut self, author: PeerId, d: ReplicaDigest) {
        if author == self.me {
            return;
        }
        let _ = self.sync_tx.try_send((author, d));
    }
}

async fn answer_sync(store: &crate::store::StoreHandle, r: SyncRequest) -> SyncResponse {
    match r {
        SyncRequest::Fingerprints { start_ms, end_ms, parts } => {
            let parts = parts.clamp(1, argus_protocol::limits::MAX_RANGES as u16);
            SyncResponse::Fingerprints(store.fingerprints(start_ms, end_ms, parts).await.unwrap_or_default())
        }
        SyncRequest::Fetch { start_ms, end_ms, limit } => {
            let limit = limit.min(MAX_SYNC_FETCH_LIMIT) as usize;
            match store.fetch_range(start_ms, end_ms, limit).await {
                Ok((registers, more)) => SyncResponse::Registers { registers, more },
                Err(_) => SyncResponse::Registers { registers: Vec::new(), more: false },
            }
        }
    }
}
