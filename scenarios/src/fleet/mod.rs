//! The node fleet of a run: each node's folder, command line, process and state, and the
//! operations faults need (start, kill, pause, resume, graceful restart, fresh replacement,
//! anomalous toggle, partitions through the lab). In monitored scenarios `argus monitor`
//! owns the node processes; the fleet then signals the pids their wrapper wrote.
//! Publishes a [`FleetView`] after every change for the observers. Never signals a process
//! it did not start (directly, or through the monitor it started).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::lab::{Lab, LabError, PeerBook};
use crate::procs::{self, LineEvent, Proc, ProcError, Spec};
use crate::schema::Plan;
use argus_interface::client::NodeClient;
use argus_interface::http::Endpoint;
use argus_interface::lines::{self, NodeLine};

mod lifecycle;
mod monitored;
mod outsiders;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Proc(#[from] ProcError),
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error("{node}: {message}")]
    Node { node: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    NotStarted,
    Running,
    Paused,
    Dead,
}

pub struct Slot {
    pub name: String,
    pub dir: PathBuf,
    pub sock: PathBuf,
    pub data_gen: u32,
    pub state: SlotState,
    pub proc: Option<Proc>,
    pub peer_id: Option<String>,
    pub base_args: Vec<String>,
    /// Started as a hostile member (see `Scenario::is_hostile`).
    pub hostile: bool,
}

/// What observers need to know about a node.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub name: String,
    pub client: NodeClient,
    /// Started and neither killed nor paused by the runner.
    pub expected_live: bool,
    /// A hostile member (see `Scenario::is_hostile`).
    pub hostile: bool,
}

#[derive(Debug, Clone, Default)]
pub struct FleetView {
    pub nodes: Vec<NodeView>,
}

/// Run time: milliseconds since the load started (0 before it).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub t0: Instant,
    pub t0_unix_ms: u64,
}

impl Clock {
    pub fn start() -> Clock {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Clock { t0: Instant::now(), t0_unix_ms: unix.as_millis() as u64 }
    }
    pub fn now_ms(&self) -> u64 {
        self.at_ms(Instant::now())
    }
    pub fn at_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.t0).as_millis() as u64
    }
}

pub struct Fleet {
    pub slots: Vec<Slot>,
    pub monitor: Option<Proc>,
    pub lab: Lab,
    pub bin: PathBuf,
    pub lines: mpsc::Sender<LineEvent>,
    pub ready_timeout: Duration,
    pub http_timeout: Duration,
    pub clock: Option<Clock>,
    pub live_counts: Vec<(u64, usize)>,
    pub source_peers: watch::Receiver<BTreeMap<String, String>>,
    pub source_names: Vec<String>,
    /// The private network's key file (`[network] key = true`), given to every member.
    pub network_key: Option<PathBuf>,
    /// The nodes' admin bearer token (`--admin-token`, a fresh one per run); every client of
    /// the runner sends it.
    admin_token: String,
    /// Outsiders to start once the members have meshed, and those running.
    pub outsiders: u32,
    pub outsider_procs: Vec<Proc>,
    view: watch::Sender<FleetView>,
}

/// Longest Unix socket path (sun_path is 108 bytes with the terminating NUL).
const MAX_SOCK_PATH: usize = 100;

fn socket_path(dir: &std::path::Path, name: &str) -> PathBuf {
    let p = dir.join("http.sock");
    if p.as_os_str().len() <= MAX_SOCK_PATH {
        return p;
    }
    std::env::temp_dir().join(format!("argus-sc-{}", std::process::id())).join(format!("{name}.sock"))
}

impl Fleet {
    pub fn new(
        plan: &Plan,
        lab: Lab,
        out: &std::path::Path,
        bin: PathBuf,
        lines: mpsc::Sender<LineEvent>,
        source_peers: watch::Receiver<BTreeMap<String, String>>,
    ) -> Result<(Fleet, watch::Receiver<FleetView>), FleetError> {
        let s = &plan.scenario;
        let config = match &s.nodes.config {
            None => None,
            Some(table) => {
                let path = out.join("node-config.toml");
                let text = toml::to_string(table).unwrap_or_default();
                std::fs::write(&path, text)
                    .map_err(|source| FleetError::Write { path: path.clone(), source })?;
                Some(path)
            }
        };
        let network_key = match s.network.as_ref().filter(|n| n.key) {
            Some(_) => Some(outsiders::keygen(&bin, out)?),
            None => None,
        };
        let admin_token: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        let token_file = out.join("admin.token");
        std::fs::write(&token_file, format!("{admin_token}\n"))
            .map_err(|source| FleetError::Write { path: token_file.clone(), source })?;
        let mut slots = Vec::new();
        for name in s.node_names() {
            let dir = out.join("nodes").join(&name);
            std::fs::create_dir_all(&dir)
                .map_err(|source| FleetError::Write { path: dir.clone(), source })?;
            let sock = socket_path(&dir, &name);
            if let Some(parent) = sock.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| FleetError::Write { path: parent.to_path_buf(), source })?;
            }
            let mut base_args = vec![
                "--name".to_string(),
                name.clone(),
                "--admin-token".into(),
                token_file.display().to_string(),
            ];
            if let Some(b) = s.backend_of(&name) {
                base_args.extend(["--backend".into(), b.as_str().into()]);
            }
            if let Some(c) = &config {
                base_args.extend(["--config".into(), c.display().to_string()]);
            }
            if let Some(k) = &network_key {
                base_args.extend(["--network-key".into(), k.display().to_string()]);
            }
            base_args.extend(s.extra_args_of(&name));
            let hostile = s.is_hostile(&name);
            slots.push(Slot {
                hostile,
                name,
                dir,
                sock,
                data_gen: 0,
                state: SlotState::NotStarted,
                proc: None,
                peer_id: None,
                base_args,
            });
        }
        let (view, view_rx) = watch::channel(FleetView::default());
        let fleet = Fleet {
            slots,
            monitor: None,
            lab,
            bin,
            lines,
            ready_timeout: Duration::from_secs_f64(s.nodes.ready_timeout_s),
            http_timeout: Duration::from_secs(5),
            clock: None,
            live_counts: Vec::new(),
            source_peers,
            source_names: plan.sources.iter().map(|s| s.name.clone()).collect(),
            network_key,
            admin_token,
            outsiders: s.network.as_ref().map_or(0, |n| n.outsiders),
            outsider_procs: Vec::new(),
            view,
        };
        Ok((fleet, view_rx))
    }

    pub fn index(&self, name: &str) -> Result<usize, FleetError> {
        self.slots
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| FleetError::Node { node: name.into(), message: "no such node".into() })
    }

    pub fn client(&self, i: usize) -> NodeClient {
        NodeClient::new(Endpoint::Unix(self.slots[i].sock.clone()), self.http_timeout)
            .with_token(Some(self.admin_token.clone()))
    }

    /// The node's full `argus` arguments (after the program name) for its current data folder.
    pub fn node_args(&self, i: usize) -> Vec<String> {
        let slot = &self.slots[i];
        let place = self.lab.placement(&slot.name);
        let data = match slot.data_gen {
            0 => slot.dir.join("data"),
            g => slot.dir.join(format!("data-g{g}")),
        };
        let mut args = vec!["--data".to_string(), data.display().to_string()];
        args.extend(["--http".into(), format!("unix:{}", slot.sock.display())]);
        args.extend(place.net_args());
        args.extend(slot.base_args.iter().cloned());
        args
    }

    /// Peer ids and clients for the lab's connection gating.
    pub fn book(&self) -> PeerBook {
        let mut book = PeerBook::default();
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(id) = &s.peer_id {
                book.peer_ids.insert(s.name.clone(), id.clone());
            }
            if matches!(s.state, SlotState::Running | SlotState::Paused) {
                book.clients.insert(s.name.clone(), self.client(i));
            }
        }
        book.peer_ids.extend(self.source_peers.borrow().iter().map(|(k, v)| (k.clone(), v.clone())));
        book
    }

    /// Publishes the current view and the number of live nodes.
    pub fn publish(&mut self) {
        let nodes: Vec<NodeView> = (0..self.slots.len())
            .filter(|&i| self.slots[i].state != SlotState::NotStarted)
            .map(|i| NodeView {
                name: self.slots[i].name.clone(),
                client: self.client(i),
                expected_live: self.slots[i].state == SlotState::Running,
                hostile: self.slots[i].hostile,
            })
            .collect();
        let live = nodes.iter().filter(|n| n.expected_live).count();
        let t = self.clock.map_or(0, |c| c.now_ms());
        if self.live_counts.last().map(|(_, n)| *n) != Some(live) {
            self.live_counts.push((t, live));
        }
        self.view.send_replace(FleetView { nodes });
    }

    pub(crate) fn spawn_node(&mut self, i: usize) -> Result<(), FleetError> {
        let _ = std::fs::remove_file(&self.slots[i].sock);
        let place = self.lab.placement(&self.slots[i].name);
        let mut argv = place.exec_prefix;
        argv.push(self.bin.display().to_string());
        argv.push("node".into());
        argv.extend(self.node_args(i));
        let slot = &self.slots[i];
        let spec = Spec {
            who: slot.name.clone(),
            argv,
            stderr_path: slot.dir.join("stderr.log"),
            stdout_path: slot.dir.join("stdout.log"),
            env: vec![],
        };
        let proc = procs::spawn(&spec, self.lines.clone())?;
        let slot = &mut self.slots[i];
        slot.proc = Some(proc);
        slot.state = SlotState::Running;
        Ok(())
    }

    async fn await_ready(&mut self, i: usize) -> Result<(), FleetError> {
        let timeout = self.ready_timeout;
        let slot = &mut self.slots[i];
        let name = slot.name.clone();
        let line = match slot.proc.as_mut() {
            Some(p) => procs::first_line(p, timeout).await,
            None => None,
        };
        let peer = line.as_deref().and_then(lines::parse::<NodeLine>).map(|NodeLine::Ready(r)| r.peer_id);
        let Some(peer) = peer else {
            slot.state = SlotState::Dead;
            // The stdout pipe closes when the node exits: then say how it ended, not "timeout".
            let exited = match slot.proc.as_mut() {
                Some(p) => p.wait(Duration::from_secs(1)).await,
                None => None,
            };
            if exited.is_none()
                && let Some(p) = slot.proc.as_mut()
            {
                p.kill().await;
            }
            let tail = stderr_tail(&slot.dir.join("stderr.log"));
            let what = match (line, exited) {
                (Some(l), _) => format!("no ready line (its first line was: {l})"),
                (None, Some(st)) => format!("exited ({st}) before its ready line"),
                (None, None) => format!("no ready line within {timeout:?}"),
            };
            return Err(FleetError::Node { node: name, message: format!("{what}; stderr tail:\n{tail}") });
        };
        slot.peer_id = Some(peer);
        Ok(())
    }

    /// Starts the given nodes together and waits until each is ready.
    pub async fn start_many(&mut self, idx: &[usize]) -> Result<(), FleetError> {
        for &i in idx {
            self.spawn_node(i)?;
        }
        let mut first_error = None;
        for &i in idx {
            if let Err(e) = self.await_ready(i).await {
                first_error.get_or_insert(e);
            }
        }
        self.publish();
        self.lab.node_started(&self.book()).await?;
        first_error.map_or(Ok(()), Err)
    }
}

/// The last lines of a log file, for error messages.
pub fn stderr_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
