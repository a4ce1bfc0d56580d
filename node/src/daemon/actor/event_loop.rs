//! The actor's event loop: the `Actor`, its inputs, and the dispatch of each input to the
//! state (see the module doc in `actor`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use argus_protocol::ids::ImageId;
use argus_protocol::messages::{GossipMessage, ReplicaDigest};
use argus_state::{In, Now, State, Upload};
use libp2p::PeerId;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument;

use super::follow_up::FollowUp;
use crate::daemon::store::StoreHandle;
use crate::daemon::worker::{Done, WorkerHandle};
use crate::metrics::Metrics;
use crate::net::{NetEvent, NetHandle};

/// Scheduler tick: bid windows and deadlines are checked this often.
const TICK: Duration = Duration::from_millis(20);
/// Follow-up tasks (store calls, fetches, answers to peers) in flight at once.
pub const MAX_FOLLOW_UPS: usize = 512;
/// Follow-ups waiting for a free slot; beyond it a read answers "not stored" and a write
/// fails visibly (counted in `store_errors`), instead of memory growing without bound.
pub const MAX_DEFERRED: usize = 4_096;

/// Commands from the HTTP API.
pub enum Command {
    /// Announce an uploaded image needing `model`; answers its id once announced.
    Announce {
        bytes: Vec<u8>,
        model: String,
        source: Option<String>,
        reply: oneshot::Sender<Result<ImageId, String>>,
    },
    /// Live nodes (heard from recently and connected).
    LiveNodes { reply: oneshot::Sender<Vec<PeerId>> },
    /// The bans in force.
    Bans { reply: oneshot::Sender<Vec<argus_interface::api::BanInfo>> },
    /// The audit verdicts on an image this node has seen.
    Audits { image: ImageId, reply: oneshot::Sender<Vec<crate::daemon::audits::Seen>> },
    /// Every node heard from, for the console.
    Cluster { reply: oneshot::Sender<Vec<argus_state::seen::PeerView>> },
}

/// The channels the actor reads, all created in `node::run` with named capacities.
pub struct Inputs {
    pub commands: mpsc::Receiver<Command>,
    pub net_events: mpsc::Receiver<NetEvent>,
    pub done: mpsc::Receiver<Done>,
    pub internal: mpsc::Receiver<In>,
}

/// What the actor drives.
pub struct Actor {
    pub state: State,
    pub store: StoreHandle,
    pub net: NetHandle,
    pub worker: WorkerHandle,
    pub metrics: Arc<Metrics>,
    pub fault_ppm: Arc<AtomicU32>,
    pub internal_tx: mpsc::Sender<In>,
    pub sync_tx: mpsc::Sender<(PeerId, ReplicaDigest)>,
    pub heartbeat: Duration,
    pub started: Instant,
    pub(crate) follow_ups: Arc<Semaphore>,
    pub(crate) deferred: VecDeque<FollowUp>,
    pub(crate) fault_seen: u32,
    /// Audit verdicts seen, for the console.
    pub(crate) audits: crate::daemon::audits::AuditLog,
}

impl Actor {
    pub(crate) fn now(&self) -> Now {
        Now { ms: self.started.elapsed().as_millis() as u64, wall_ms: crate::clock::wall_ms() }
    }

    pub(crate) fn handle(&mut self, ev: In) {
        let ppm = self.fault_ppm.load(Ordering::Relaxed);
        if ppm != self.fault_seen {
            self.fault_seen = ppm;
            let now = self.now();
            let outs = self.state.handle(In::SetFault(ppm), now);
            self.apply(outs);
        }
        let now = self.now();
        let outs = self.state.handle(ev, now);
        self.apply(outs);
        self.metrics.set_core(self.state.counters());
        self.run_deferred();
    }

    /// Runs until `shutdown` resolves or every input closes; then saves the clock.
    pub async fn run(mut self, mut inputs: Inputs, shutdown: impl std::future::Future<Output = ()>) {
        let span = tracing::info_span!("actor", node = %self.state.me());
        async move {
            tokio::pin!(shutdown);
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut heartbeat = tokio::time::interval(self.heartbeat);
            heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    Some(d) = inputs.done.recv() => {
                        self.handle(In::Inferred {
                            job: d.job,
                            outcome: d.outcome,
                            inference_ms: d.inference_ms,
                            thumbnail: d.thumbnail,
                        })
                    }
                    Some(ev) = inputs.net_events.recv() => self.on_net(ev),
                    Some(ev) = inputs.internal.recv() => self.handle(ev),
                    Some(c) = inputs.commands.recv() => self.on_command(c),
                    _ = sleep_until_wake(self.started, self.state.next_wake_ms()) => self.handle(In::Wake),
                    _ = tick.tick() => self.handle(In::Tick),
                    _ = heartbeat.tick() => self.handle(In::Heartbeat),
                    else => break,
                }
            }
            self.store.save_clock(self.state.clock());
        }
        .instrument(span)
        .await
    }

    fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Gossip { author, msg } => {
                if let GossipMessage::AuditVerdict(v) = &*msg {
                    self.audits.record(v, crate::clock::wall_ms());
                }
                self.handle(In::Gossip { author, msg: *msg })
            }
            NetEvent::Inbound { id, peer, req } => self.answer_inbound(id, peer, req),
            NetEvent::PeerUp(p) => self.handle(In::PeerUp(p)),
            NetEvent::PeerDown(p) => self.handle(In::PeerDown(p)),
            NetEvent::Listening(_) => {}
            NetEvent::Refused { peer } => {
                self.handle(In::Offence { peer, offence: argus_state::reputation::Offence::BadGossip })
            }
        }
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Announce { bytes, model, source, reply } => {
                let r = self.upload(bytes, model, source);
                let _ = reply.send(r);
            }
            Command::LiveNodes { reply } => {
                let _ = reply.send(self.state.live_nodes(self.now().ms));
            }
            Command::Cluster { reply } => {
                let _ = reply.send(self.state.cluster(self.now().ms));
            }
            Command::Audits { image, reply } => {
                let _ = reply.send(self.audits.of(&image));
            }
            Command::Bans { reply } => {
                let now = self.now().ms;
                let bans = self.state.bans().map(|(p, b)| argus_interface::api::BanInfo {
                    peer_id: p.to_string(),
                    offence: b.offence.name().to_string(),
                    since_unix_ms: b.since_wall_ms,
                    remaining_ms: b.until_ms.saturating_sub(now),
                });
                let _ = reply.send(bans.collect());
            }
        }
    }

    fn upload(
        &mut self,
        bytes: Vec<u8>,
        model: String,
        source_name: Option<String>,
    ) -> Result<ImageId, String> {
        let (width, height) = image_dimensions(&bytes)?;
        let now = self.now();
        let upload = Upload { bytes: Arc::new(bytes), model, width, height, source_name };
        let (image, outs) = self.state.upload(upload, now)?;
        self.apply(outs);
        self.metrics.set_core(self.state.counters());
        Ok(image)
    }
}

/// Sleeps until the state's next wake time (`Now::ms` since `started`); forever when it has
/// none.
async fn sleep_until_wake(started: Instant, wake_ms: Option<u64>) {
    match wake_ms {
        Some(ms) => tokio::time::sleep_until((started + Duration::from_millis(ms)).into()).await,
        None => std::future::pending().await,
    }
}

/// Width and height from the image header, without decoding the pixels.
fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| format!("not a supported image: {e}"))
}
