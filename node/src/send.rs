//! `argus send`: an image source. It joins the network as a peer (with a fresh identity),
//! waits until enough nodes are heard from, announces each image at the requested rate (inline
//! up to the protocol's limit, otherwise served on request), prints one JSON line per image,
//! and lingers to serve fetches. Never stores anything.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use argus_model::scene::{SceneConfig, encode_png, generate};
use argus_protocol::ids::{ImageId, NodeId};
use argus_protocol::limits::{MAX_IMAGE_BYTES, MAX_INLINE_IMAGE_BYTES};
use argus_protocol::messages::{GossipMessage, ImageAnnouncement};
use argus_protocol::rpc::{FetchResponse, QueryResponse, SyncResponse};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use tokio::sync::mpsc;

use crate::cli::SendArgs;
use crate::config::NetConfig;
use crate::metrics::Metrics;
use crate::net::{InboundRequest, NetCommand, NetEvent, NetHandle, Response};

/// Images kept to answer fetches; the oldest go first.
const MAX_SERVED_IMAGES: usize = 4_096;
const WAIT_PEERS: Duration = Duration::from_secs(60);

struct Served {
    map: HashMap<ImageId, Arc<Vec<u8>>>,
    order: VecDeque<ImageId>,
}

impl Served {
    fn insert(&mut self, id: ImageId, bytes: Arc<Vec<u8>>) {
        if self.map.insert(id, bytes).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_SERVED_IMAGES {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

/// The images to send, produced lazily.
enum Source {
    Synthetic { seed: u64, next: u64, end: u64, cfg: SceneConfig },
    Files(VecDeque<std::path::PathBuf>),
}

impl Source {
    fn next(&mut self) -> Option<anyhow::Result<Vec<u8>>> {
        match self {
            Source::Synthetic { seed, next, end, cfg } => {
                if *next >= *end {
                    return None;
                }
                let scene = generate(*seed, *next, cfg);
                *next += 1;
                Some(Ok(encode_png(&scene.image)))
            }
            Source::Files(files) => {
                let path = files.pop_front()?;
                Some(read_image_file(&path))
            }
        }
    }
}

fn read_image_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_IMAGE_BYTES {
        bail!("{} is {len} bytes; the limit is {MAX_IMAGE_BYTES}", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn source(args: &SendArgs) -> anyhow::Result<Source> {
    if let Some(dir) = &args.dir {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .png/.jpg/.jpeg files in {}", dir.display());
        }
        return Ok(Source::Files(files.into()));
    }
    if args.synthetic {
        let count = args.count.context("--synthetic needs --count")?;
        return Ok(Source::Synthetic {
            seed: args.seed,
            next: args.start_index,
            end: args.start_index + count,
            cfg: SceneConfig::default(),
        });
    }
    bail!("say what to send: --dir DIR or --synthetic --count N")
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.rate <= 10_000.0) {
        bail!("--rate must be within (0, 10000] images per second");
    }
    let mut src = source(&args)?;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let mut cfg = NetConfig { peers: args.net.peers.clone(), mdns: !args.net.no_mdns, ..Default::default() };
    if !args.net.listen.is_empty() {
        cfg.listen = args.net.listen.clone();
    }
    let (net, mut events) = crate::net::start(&key, &cfg, Arc::new(Metrics::default()))?;
    println!("{}", serde_json::json!({ "event": "ready", "peer_id": me.to_string() }));
    let mut served = Served { map: HashMap::new(), order: VecDeque::new() };
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
            handle(&net, ev, &served, &mut nodes).await;
        }
    }
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let mut tick = tokio::time::interval(period);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            Some(ev) = events.recv() => handle(&net, ev, &served, &mut nodes).await,
            _ = tick.tick() => {
                let Some(bytes) = src.next() else { break };
                let bytes = Arc::new(bytes?);
                announce(&net, me, &args.name, seq, bytes.clone()).await?;
                served.insert(ImageId::of_bytes(&bytes), bytes);
                seq += 1;
            }
        }
    }
    linger(&net, &mut events, &served, &mut nodes, Duration::from_secs(args.linger_s)).await;
    Ok(())
}

async fn announce(
    net: &NetHandle,
    me: PeerId,
    name: &str,
    seq: u64,
    bytes: Arc<Vec<u8>>,
) -> anyhow::Result<()> {
    let image_id = ImageId::of_bytes(&bytes);
    let (width, height) = image::ImageReader::new(std::io::Cursor::new(bytes.as_slice()))
        .with_guessed_format()?
        .into_dimensions()
        .with_context(|| format!("image {seq} is not a readable PNG/JPEG"))?;
    let captured_at_ms = crate::core::wall_ms();
    let inline = (bytes.len() <= MAX_INLINE_IMAGE_BYTES).then(|| serde_bytes::ByteBuf::from(bytes.to_vec()));
    let ann = ImageAnnouncement {
        image_id,
        source: NodeId(me),
        source_name: name.chars().take(argus_protocol::limits::MAX_NAME_LEN).collect(),
        seq,
        captured_at_ms,
        width,
        height,
        size_bytes: bytes.len() as u64,
        bytes: inline,
    };
    net.publish(&GossipMessage::Announce(ann)).await?;
    println!(
        "{}",
        serde_json::json!({ "image_id": image_id.to_string(), "seq": seq, "captured_at_ms": captured_at_ms, "size_bytes": bytes.len() })
    );
    Ok(())
}

async fn handle(net: &NetHandle, ev: NetEvent, served: &Served, nodes: &mut HashSet<PeerId>) {
    match ev {
        NetEvent::Gossip { msg, .. } => {
            if let GossipMessage::Heartbeat(h) = *msg {
                nodes.insert(h.node.0);
            }
        }
        NetEvent::Inbound { id, req, .. } => {
            // A sender stores no results: queries and syncs get empty answers.
            let resp = match req {
                InboundRequest::Fetch(r) => {
                    let bytes = served.map.get(&r.image_id).map(|b| serde_bytes::ByteBuf::from(b.to_vec()));
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

async fn linger(
    net: &NetHandle,
    events: &mut mpsc::Receiver<NetEvent>,
    served: &Served,
    nodes: &mut HashSet<PeerId>,
    d: Duration,
) {
    let end = tokio::time::Instant::now() + d;
    while let Ok(Some(ev)) = tokio::time::timeout_at(end, events.recv()).await {
        handle(net, ev, served, nodes).await;
    }
}
