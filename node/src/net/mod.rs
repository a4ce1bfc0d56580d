//! Networking: the libp2p behaviour, the swarm task that owns it, and the handle the rest of
//! the node uses to reach it. Nothing outside this module touches libp2p's `Swarm`.
//!
//! - `behaviour`: gossipsub (tuned for 2-50 peers, scored), mDNS, request-response, gating.
//! - `codec`: CBOR request-response codec with size limits.
//! - `gossip`: structural validation of incoming gossip, and why a message was refused.
//! - `swarm`: the event loop; validates gossip and reports to gossipsub; records libp2p's
//!   swarm, gossipsub and ping metrics.
//! - `topics`: topic names and which message travels where.
//! - `wedge`: gossip streams that stopped carrying anything (a libp2p-gossipsub behaviour).

pub mod behaviour;
pub mod codec;
mod gossip;
pub mod netkey;
pub mod swarm;
pub mod topics;
mod wedge;

use std::sync::Arc;
use std::time::Duration;

use argus_protocol::messages::GossipMessage;
use argus_protocol::rpc::{
    FetchRequest, FetchResponse, QueryRequest, QueryResponse, SyncRequest, SyncResponse,
};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade;
use libp2p::identity::Keypair;
use libp2p::metrics::Registry;
use libp2p::{Multiaddr, PeerId, Transport, noise, tcp, yamux};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

use crate::config::NetConfig;
use crate::metrics::Metrics;
pub use topics::Topic;

#[derive(Debug, Error)]
pub enum NetError {
    #[error("network task is gone")]
    ChannelClosed,
    #[error("too many requests in flight")]
    Overloaded,
    #[error("request failed: {0}")]
    Request(String),
    #[error("timed out")]
    Timeout,
    #[error("unexpected response kind")]
    WrongResponse,
    #[error("cannot start the network: {0}")]
    Setup(String),
}

#[derive(Debug)]
pub enum Outbound {
    Fetch(FetchRequest),
    Query(QueryRequest),
    Sync(SyncRequest),
}

#[derive(Debug)]
pub enum InboundRequest {
    Fetch(FetchRequest),
    Query(QueryRequest),
    Sync(SyncRequest),
}

#[derive(Debug)]
pub enum Response {
    Fetch(FetchResponse),
    Query(QueryResponse),
    Sync(SyncResponse),
}

pub enum NetCommand {
    Publish {
        topic: Topic,
        data: Vec<u8>,
    },
    Request {
        peer: PeerId,
        req: Outbound,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Respond {
        id: u64,
        resp: Response,
    },
    Block {
        peers: Vec<PeerId>,
    },
    Unblock {
        peers: Vec<PeerId>,
    },
    UnblockAll,
    Dial {
        addr: Multiaddr,
    },
    /// Close every connection to a peer (a connection that carries nothing any more).
    Disconnect {
        peer: PeerId,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
}

#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        author: PeerId,
        msg: Box<GossipMessage>,
    },
    Inbound {
        id: u64,
        peer: PeerId,
        req: InboundRequest,
    },
    PeerUp(PeerId),
    PeerDown(PeerId),
    Listening(Multiaddr),
    /// The peer handed us gossip that no honest node of this version sends (see
    /// `gossip::Rejected::is_offence`).
    Refused {
        peer: PeerId,
    },
}

/// Cloneable handle to the swarm task.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<NetCommand>,
    request_timeout: Duration,
}

impl NetHandle {
    pub async fn send(&self, cmd: NetCommand) -> Result<(), NetError> {
        self.tx.send(cmd).await.map_err(|_| NetError::ChannelClosed)
    }

    /// Queues a command without waiting; `Overloaded` when the swarm task's queue is full.
    pub fn try_send(&self, cmd: NetCommand) -> Result<(), NetError> {
        self.tx.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => NetError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => NetError::ChannelClosed,
        })
    }

    /// Encodes and queues a gossip message without waiting.
    pub fn try_publish(&self, msg: &GossipMessage) -> Result<(), NetError> {
        let data = argus_protocol::codec::encode_gossip(msg).map_err(|e| NetError::Request(e.to_string()))?;
        self.try_send(NetCommand::Publish { topic: Topic::of(msg), data })
    }

    /// Encodes and publishes a gossip message on its topic.
    pub async fn publish(&self, msg: &GossipMessage) -> Result<(), NetError> {
        let data = argus_protocol::codec::encode_gossip(msg).map_err(|e| NetError::Request(e.to_string()))?;
        self.send(NetCommand::Publish { topic: Topic::of(msg), data }).await
    }

    /// Sends a request and waits for its answer, with a timeout on top of libp2p's own.
    pub async fn request(&self, peer: PeerId, req: Outbound) -> Result<Response, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(NetCommand::Request { peer, req, reply }).await?;
        match tokio::time::timeout(self.request_timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(NetError::ChannelClosed),
            Err(_) => Err(NetError::Timeout),
        }
    }

    pub async fn peers(&self) -> Result<Vec<PeerId>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(NetCommand::Peers { reply }).await?;
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .map_err(|_| NetError::Timeout)?
            .map_err(|_| NetError::ChannelClosed)
    }

    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(NetCommand::ListenAddrs { reply }).await?;
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .map_err(|_| NetError::Timeout)?
            .map_err(|_| NetError::ChannelClosed)
    }
}

/// Builds the swarm, starts listening and spawns the swarm task. libp2p's own swarm, gossipsub
/// and ping metrics (`libp2p_*`) are registered on `registry`.
pub fn start(
    key: &Keypair,
    cfg: &NetConfig,
    metrics: Arc<Metrics>,
    registry: &mut Registry,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let setup = |e: &dyn std::fmt::Display| NetError::Setup(e.to_string());
    let request_timeout = Duration::from_millis(cfg.request_timeout_ms);
    let mdns = cfg.mdns;
    let user_timeout = Duration::from_millis(cfg.tcp_user_timeout_ms);
    let psk = match &cfg.network_key {
        Some(path) => {
            let psk = netkey::load(path).map_err(|e| setup(&e))?;
            tracing::info!(fingerprint = %psk.fingerprint(), "private network: only peers with this key can connect");
            Some(psk)
        }
        None => None,
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key.clone())
        .with_tokio()
        .with_other_transport(|key| tcp_transport(key, user_timeout, psk))
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let limit = if cfg.oversize_once { 4 * behaviour::FRAME_LIMIT } else { behaviour::FRAME_LIMIT };
            behaviour::build(key, mdns, request_timeout, limit)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_millis(cfg.idle_connection_timeout_ms))
        })
        .build();
    for addr in &cfg.listen {
        let addr: Multiaddr = addr.parse().map_err(|e| setup(&format!("listen {addr}: {e}")))?;
        swarm.listen_on(addr).map_err(|e| setup(&e))?;
    }
    let mut bootstrap = Vec::new();
    for addr in &cfg.peers {
        bootstrap.push(addr.parse::<Multiaddr>().map_err(|e| setup(&format!("peer {addr}: {e}")))?);
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(cfg.channel_capacity);
    let (ev_tx, ev_rx) = mpsc::channel(cfg.channel_capacity);
    let task = swarm::SwarmTask::new(
        swarm,
        cmd_rx,
        ev_tx,
        metrics,
        libp2p::metrics::Metrics::new(registry),
        bootstrap,
        Duration::from_millis(cfg.redial_max_backoff_ms),
    );
    tokio::spawn(task.run());
    Ok((NetHandle { tx: cmd_tx, request_timeout }, ev_rx))
}

/// A dial plus its noise and yamux upgrade must finish within this: a SYN into a partition
/// would otherwise retry for about two minutes while redials pile up behind it.
const DIAL_UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP + noise + yamux, like libp2p's stock TCP stack, with `TCP_USER_TIMEOUT` set on every
/// socket (dialled and accepted) so a dead link fails fast (see `NetConfig::tcp_user_timeout_ms`).
/// With a network key, the pnet handshake comes first on every socket (`netkey`).
fn tcp_transport(
    key: &Keypair,
    user_timeout: Duration,
    psk: Option<libp2p::pnet::PreSharedKey>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)).map(
        move |stream: tcp::tokio::TcpStream, _| {
            if let Err(e) = set_tcp_user_timeout(&stream.0, user_timeout) {
                tracing::warn!(error = %e, "could not set TCP_USER_TIMEOUT; dead links fail slowly");
            }
            stream
        },
    );
    match psk {
        None => secured(tcp, key),
        Some(psk) => {
            secured(tcp.and_then(move |socket, _| libp2p::pnet::PnetConfig::new(psk).handshake(socket)), key)
        }
    }
}

/// Noise and yamux over a stream transport, within `DIAL_UPGRADE_TIMEOUT`.
fn secured<T>(
    transport: T,
    key: &Keypair,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Box<dyn std::error::Error + Send + Sync>>
where
    T: Transport + Send + Unpin + 'static,
    T::Output: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
    T::Error: Send + Sync + 'static,
    T::Dial: Send + 'static,
    T::ListenerUpgrade: Send + 'static,
{
    let noise = noise::Config::new(key)?;
    Ok(transport
        .upgrade(upgrade::Version::V1Lazy)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .timeout(DIAL_UPGRADE_TIMEOUT)
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed())
}

#[cfg(target_os = "linux")]
fn set_tcp_user_timeout(stream: &tokio::net::TcpStream, timeout: Duration) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if timeout.is_zero() {
        return Ok(());
    }
    let ms = libc::c_uint::try_from(timeout.as_millis()).unwrap_or(libc::c_uint::MAX);
    // SAFETY: the fd is a live TCP socket owned by `stream`; the option value is a c_uint
    // passed by pointer with its exact size, as tcp(7) specifies for TCP_USER_TIMEOUT.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            (&ms as *const libc::c_uint).cast(),
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn set_tcp_user_timeout(_stream: &tokio::net::TcpStream, _timeout: Duration) -> std::io::Result<()> {
    Ok(())
}
