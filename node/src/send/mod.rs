//! `argus send`: an image source. It joins the network as a peer (with a fresh identity),
//! waits until enough nodes are heard from, announces each image at the requested rate (inline
//! up to `--inline-max-bytes`, otherwise served on request), prints one JSON line per image,
//! and stays, serving fetches, until a node has confirmed a stored result for every image (at
//! most `--linger-s` after the last one). Each image is re-announced until a node confirms it
//! (see `Sent`); a last line sums up what was confirmed. Never stores anything.

mod source;
mod stream;
mod watch;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_interface::lines::{self, Announced, SendDone, SendLine};
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::limits::MAX_INLINE_IMAGE_BYTES;
use argus_protocol::messages::{GossipMessage, ImageAnnouncement};
use argus_protocol::rpc::{FetchResponse, QueryRequest, QueryResponse, SyncResponse};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use libp2p::metrics::Registry;
use tokio::sync::mpsc;
use tracing::{info, warn};

use self::source::{Next, Source, source, source_model};
use crate::cli::SendArgs;
use crate::config::NetConfig;
use crate::metrics::Metrics;
use crate::net::{InboundRequest, NetCommand, NetEvent, NetHandle, Outbound, Response};

/// Images kept to answer fetches and to announce again; the oldest go first.
const MAX_SENT_IMAGES: usize = 4_096;
const WAIT_PEERS: Duration = Duration::from_secs(60);

/// Unconfirmed images are first checked this long after their announcement, then at doubling
/// intervals up to `MAX_RECHECK`.
const FIRST_RECHECK: Duration = Duration::from_secs(5);
const MAX_RECHECK: Duration = Duration::from_secs(40);
/// Confirmation queries in flight at once.
const MAX_CHECKS_IN_FLIGHT: usize = 16;

/// An announced image: its bytes (served to fetches) and, until a node confirms a stored
/// result for it, when to check again.
struct SentImage {
    seq: u64,
    captured_at_ms: u64,
    bytes: Arc<Vec<u8>>,
    /// `None` once confirmed.
    recheck: Option<Recheck>,
}

struct Recheck {
    due: Instant,
    every: Duration,
    checking: bool,
}

/// The images this sender announced, and at-least-once delivery for them. Gossip may lose a
/// message (a peer's queue overflows under load, a link fails), and an image no node heard of
/// would never be processed. So each image stays unconfirmed until a node's signed result for
/// it arrives over gossip, or a node answers a query with a register for it; until then it is
/// rechecked with backoff and re-announced when the node asked has nothing. Nodes ignore
/// announcements of images they have open or finished, and the image id is the hash of its
/// bytes, so a repeat costs bandwidth, not work.
#[derive(Default)]
struct Sent {
    images: HashMap<ImageId, SentImage>,
    /// Announcement order, for the bound (`MAX_SENT_IMAGES`).
    order: VecDeque<ImageId>,
    /// The model every image of this run needs (a known name).
    model: String,
    /// Images up to this size travel inline (`--inline-max-bytes`).
    inline_max: usize,
    announced: u64,
    confirmed: u64,
    /// Tracked images not confirmed yet.
    pending: u64,
    reannounced: u64,
    given_up: u64,
    in_flight: usize,
    next_node: usize,
}

impl Sent {
    fn add(&mut self, id: ImageId, seq: u64, captured_at_ms: u64, bytes: Arc<Vec<u8>>) {
        self.announced += 1;
        let recheck =
            Some(Recheck { due: Instant::now() + FIRST_RECHECK, every: FIRST_RECHECK, checking: false });
        match self.images.insert(id, SentImage { seq, captured_at_ms, bytes, recheck }) {
            None => {
                self.order.push_back(id);
                self.pending += 1;
            }
            // The same bytes again: unconfirmed again.
            Some(old) if old.recheck.is_none() => self.pending += 1,
            Some(_) => {}
        }
        while self.order.len() > MAX_SENT_IMAGES {
            let Some(old) = self.order.pop_front() else { break };
            if self.images.remove(&old).is_some_and(|i| i.recheck.is_some()) {
                self.pending -= 1;
                self.given_up += 1;
                warn!(image = %old, "too many images in flight: no longer tracking an unconfirmed one");
            }
        }
    }

    fn bytes(&self, id: &ImageId) -> Option<&Arc<Vec<u8>>> {
        self.images.get(id).map(|i| &i.bytes)
    }

    fn confirm(&mut self, id: &ImageId) {
        if self.images.get_mut(id).and_then(|i| i.recheck.take()).is_some() {
            self.confirmed += 1;
            self.pending -= 1;
        }
    }

    fn unconfirmed(&self) -> u64 {
        self.pending + self.given_up
    }

    /// Starts queries for images whose recheck is due; with no node known, re-announces at once.
    async fn start_checks(
        &mut self,
        net: &NetHandle,
        nodes: &HashSet<PeerId>,
        me: PeerId,
        name: &str,
        results: &mpsc::Sender<(ImageId, bool)>,
    ) -> anyhow::Result<()> {
        let now = Instant::now();
        let due: Vec<ImageId> = self
            .order
            .iter()
            .filter(|id| {
                let r = self.images.get(id).and_then(|i| i.recheck.as_ref());
                r.is_some_and(|r| !r.checking && r.due <= now)
            })
            .take(MAX_CHECKS_IN_FLIGHT.saturating_sub(self.in_flight))
            .copied()
            .collect();
        let nodes: Vec<PeerId> = nodes.iter().copied().collect();
        for id in due {
            let Some(node) = (!nodes.is_empty()).then(|| nodes[self.next_node % nodes.len()]) else {
                self.reannounce(net, &id, me, name).await?;
                continue;
            };
            self.next_node = self.next_node.wrapping_add(1);
            if let Some(r) = self.images.get_mut(&id).and_then(|i| i.recheck.as_mut()) {
                r.checking = true;
            }
            self.in_flight += 1;
            let (net, tx) = (net.clone(), results.clone());
            tokio::spawn(async move {
                let found = match net.request(node, Outbound::Query(QueryRequest { image_id: id })).await {
                    Ok(Response::Query(r)) => r.register.is_some_and(|reg| reg.image_id == id),
                    _ => false,
                };
                let _ = tx.send((id, found)).await;
            });
        }
        Ok(())
    }

    /// A node answered a confirmation query.
    async fn checked(
        &mut self,
        net: &NetHandle,
        id: ImageId,
        found: bool,
        me: PeerId,
        name: &str,
    ) -> anyhow::Result<()> {
        self.in_flight = self.in_flight.saturating_sub(1);
        if found {
            self.confirm(&id);
            return Ok(());
        }
        if let Some(r) = self.images.get_mut(&id).and_then(|i| i.recheck.as_mut()) {
            r.checking = false;
        }
        self.reannounce(net, &id, me, name).await
    }

    async fn reannounce(
        &mut self,
        net: &NetHandle,
        id: &ImageId,
        me: PeerId,
        name: &str,
    ) -> anyhow::Result<()> {
        let Some(img) = self.images.get_mut(id) else { return Ok(()) };
        let Some(r) = img.recheck.as_mut() else { return Ok(()) };
        r.every = (r.every * 2).min(MAX_RECHECK);
        r.due = Instant::now() + r.every;
        self.reannounced += 1;
        info!(image = %id, seq = img.seq, "no stored result for an announced image yet: announcing it again");
        let ann =
            announcement(me, name, &self.model, self.inline_max, img.seq, img.captured_at_ms, &img.bytes)?;
        net.publish(&GossipMessage::Announce(ann)).await?;
        Ok(())
    }
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!("--rate must be within (0, 10000] images per second");
    }
    if args.inline_max_bytes > MAX_INLINE_IMAGE_BYTES {
        bail!("--inline-max-bytes must be at most {MAX_INLINE_IMAGE_BYTES} (the protocol's limit)");
    }
    let lose_first = match args.fault.as_deref() {
        None => false,
        Some("lose-first-announce") => true,
        Some(other) => bail!("unknown sender fault {other:?}; the only one is lose-first-announce"),
    };
    let mut src = source(&args)?;
    let model = source_model(&args)?;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut cfg = NetConfig {
        peers: args.net.peers.clone(),
        mdns: !args.net.no_mdns,
        network_key: args.net.network_key.clone(),
        ..Default::default()
    };
    if !args.net.listen.is_empty() {
        cfg.listen = args.net.listen.clone();
    }
    // The sender serves no /metrics: its network counters go nowhere.
    let (net, mut events) =
        crate::net::start(&key, &cfg, Arc::new(Metrics::default()), &mut Registry::default())?;
    lines::print(&SendLine::Ready { peer_id: me.to_string() });
    let mut sent = Sent { model, inline_max: args.inline_max_bytes, ..Sent::default() };
    let mut nodes = HashSet::new();
    let deadline = Instant::now() + WAIT_PEERS;
    while nodes.len() < args.min_peers {
        if Instant::now() > deadline {
            bail!(
                "heard from {} of {} nodes after {}s; is a node running and reachable?",
                nodes.len(),
                args.min_peers,
                WAIT_PEERS.as_secs()
            );
        }
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
            handle(&net, ev, &mut nodes, &mut sent).await;
        }
    }
    // A stream's frames come at --rate by their own clock: look four times as often, so each
    // goes out as soon as it is cut.
    let polls = if args.stream.is_some() { 4.0 } else { 1.0 };
    let period = Duration::from_secs_f64(1.0 / (args.rate * polls));
    let mut tick = tokio::time::interval(period);
    let mut recheck = tokio::time::interval(Duration::from_millis(500));
    let (checks_tx, mut checks) = mpsc::channel(MAX_CHECKS_IN_FLIGHT);
    let mut seq = 0u64;
    // Set when the last image is out: then stay until every image is confirmed, at most
    // `linger_s`, serving fetches and re-announcing.
    let mut linger_until: Option<tokio::time::Instant> = None;
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    loop {
        if linger_until.is_some() && sent.pending == 0 {
            break;
        }
        let linger = async {
            match linger_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(ev) = events.recv() => handle(&net, ev, &mut nodes, &mut sent).await,
            Some((id, found)) = checks.recv() => sent.checked(&net, id, found, me, &args.name).await?,
            _ = recheck.tick() => {
                sent.start_checks(&net, &nodes, me, &args.name, &checks_tx).await?;
            }
            _ = &mut stop, if linger_until.is_none() => {
                // Interrupted: stop announcing, but serve and confirm what was sent, as at the end.
                linger_until = Some(tokio::time::Instant::now() + Duration::from_secs(args.linger_s));
                src = Source::Files(Default::default()); // a stream's ffmpeg stops here
            }
            _ = tick.tick(), if linger_until.is_none() => {
                let bytes = match src.next() {
                    Next::Image(bytes) => bytes,
                    Next::Wait => continue,
                    Next::End => {
                        linger_until = Some(tokio::time::Instant::now() + Duration::from_secs(args.linger_s));
                        src = Source::Files(Default::default()); // a stream's ffmpeg stops here
                        continue;
                    }
                };
                let bytes = Arc::new(bytes?);
                let id = ImageId::of_bytes(&bytes);
                let captured_at_ms = crate::clock::wall_ms();
                let ann =
                    announcement(me, &args.name, &sent.model, sent.inline_max, seq, captured_at_ms, &bytes)?;
                // Kept before it is announced: a node may ask for the bytes as soon as it hears.
                sent.add(id, seq, captured_at_ms, bytes.clone());
                if !lose_first {
                    net.publish(&GossipMessage::Announce(ann)).await?;
                }
                lines::print(&SendLine::Announced(Announced {
                    image_id: id.to_string(),
                    seq,
                    model: sent.model.clone(),
                    captured_at_ms,
                    size_bytes: bytes.len() as u64,
                }));
                seq += 1;
            }
            _ = linger => break,
        }
    }
    let unconfirmed = sent.unconfirmed();
    lines::print(&SendLine::Done(SendDone {
        announced: sent.announced,
        confirmed: sent.confirmed,
        unconfirmed,
        reannounced: sent.reannounced,
    }));
    if unconfirmed > 0 {
        warn!(
            unconfirmed,
            announced = sent.announced,
            "some images have no stored result confirmed by a node yet (no node answered with one \
             within --linger-s after the last image); raise it to wait longer"
        );
    }
    Ok(())
}

/// The announcement of one image: inline bytes up to `inline_max`, otherwise served on request.
fn announcement(
    me: PeerId,
    name: &str,
    model: &str,
    inline_max: usize,
    seq: u64,
    captured_at_ms: u64,
    bytes: &[u8],
) -> anyhow::Result<ImageAnnouncement> {
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()?
        .into_dimensions()
        .with_context(|| format!("image {seq} is not a readable PNG/JPEG"))?;
    let inline = (bytes.len() <= inline_max.min(MAX_INLINE_IMAGE_BYTES))
        .then(|| serde_bytes::ByteBuf::from(bytes.to_vec()));
    Ok(ImageAnnouncement {
        image_id: ImageId::of_bytes(bytes),
        source: NodeId(me),
        source_name: name.chars().take(argus_protocol::limits::MAX_NAME_LEN).collect(),
        model: model.to_string(),
        seq,
        captured_at_ms,
        width,
        height,
        size_bytes: bytes.len() as u64,
        bytes: inline,
    })
}

async fn handle(net: &NetHandle, ev: NetEvent, nodes: &mut HashSet<PeerId>, sent: &mut Sent) {
    match ev {
        NetEvent::Gossip { msg, .. } => match *msg {
            GossipMessage::Heartbeat(h) => {
                nodes.insert(h.node.0);
            }
            // A worker publishes its signed result once it is stored: the image is delivered.
            GossipMessage::Result(r) if r.verify_attestation().is_ok() => sent.confirm(&r.image_id),
            _ => {}
        },
        NetEvent::Inbound { id, req, .. } => {
            // A sender stores no results: queries and syncs get empty answers.
            let resp = match req {
                InboundRequest::Fetch(r) => {
                    let bytes = sent.bytes(&r.image_id).map(|b| serde_bytes::ByteBuf::from(b.to_vec()));
                    Response::Fetch(FetchResponse { bytes })
                }
                InboundRequest::Query(_) => Response::Query(QueryResponse { register: None }),
                InboundRequest::Sync(_) => {
                    Response::Sync(SyncResponse::Registers { registers: Vec::new(), more: false })
                }
            };
            let _ = net.send(NetCommand::Respond { id, resp }).await;
        }
        _ => {}
    }
}
