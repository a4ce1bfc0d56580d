//! The local health probe: evidence about a node that does not cross the network. Every
//! `probe_interval_ms` the supervisor asks each node that is up for `GET /v1/status` on the
//! HTTP address of its ready line (a Unix socket or loopback on the node's own host), which
//! the node answers from its network task, its event loop and its store together. A stopped
//! (SIGSTOP) or wedged process stops answering; a partition between hosts does not touch the
//! probe. One probe per node is in flight at most, and each has a timeout, so a node that
//! never answers costs one task. The policy decides what the answers mean (`on_probe`).

use std::time::Duration;

use argus_interface::client::NodeClient;
use argus_interface::http::Endpoint;
use tokio::sync::mpsc;
use tracing::debug;

use super::policy::NodeIx;
use super::supervise::Supervisor;

/// One probe's outcome, for the incarnation it was sent to.
#[derive(Debug)]
pub struct Probed {
    pub node: NodeIx,
    pub incarnation: u64,
    pub ok: bool,
}

/// How long one probe may take: half the health timeout, at most 5 s, at least 100 ms.
pub fn probe_timeout(health_timeout_ms: u64) -> Duration {
    Duration::from_millis((health_timeout_ms / 2).clamp(100, 5_000))
}

impl Supervisor {
    /// At a tick: probe every running node with an HTTP address whose probe is due and not in
    /// flight.
    pub(super) fn probe_due(&mut self, tx: &mpsc::Sender<Probed>) {
        let now = self.now_ms();
        let timeout = probe_timeout(self.cfg.health_timeout_ms);
        for (node, slot) in self.slots.iter_mut().enumerate() {
            let Some(http) = slot.http.clone().filter(|_| slot.child.is_some()) else { continue };
            if slot.probing || now < slot.next_probe_ms {
                continue;
            }
            slot.probing = true;
            slot.next_probe_ms = now + self.cfg.probe_interval_ms;
            let (tx, incarnation) = (tx.clone(), slot.incarnation);
            tokio::spawn(async move {
                let client = NodeClient::new(Endpoint::parse(&http), timeout);
                // The client's timeout covers the whole request: a stopped node times out.
                let ok = match client.status().await {
                    Ok(_) => true,
                    Err(e) => {
                        debug!(node, error = %e, "health probe failed");
                        false
                    }
                };
                // The supervisor gone (shutting down) is the only failure here.
                let _ = tx.send(Probed { node, incarnation, ok }).await;
            });
        }
    }

    /// A probe came back: the policy hears it if it was sent to the current incarnation.
    pub(super) fn on_probed(&mut self, p: Probed) {
        let Some(slot) = self.slots.get_mut(p.node) else { return };
        if slot.incarnation != p.incarnation {
            return;
        }
        slot.probing = false;
        if !p.ok {
            self.counters.probes_failed += 1;
        }
        let now = self.now_ms();
        self.policy.on_probe(p.node, p.ok, now);
    }
}
