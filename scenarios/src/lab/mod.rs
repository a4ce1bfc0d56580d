//! The lab network a run takes place in, and the faults that act on links.
//!
//! Two fabrics: `netns` (root only) gives every node, source and the monitor its own network
//! namespace, joined by a bridge in a namespace of its own; discovery is by mDNS and a
//! partition moves bridge ports apart, cutting real links. `loopback` (any user) puts
//! everything on 127.0.0.1 with bootstrap addresses and partitions by asking the nodes to
//! gate connections (`--admin`, `POST /v1/admin/block`). Either way the node HTTP APIs are
//! reached over Unix sockets. The lab never touches the host's own interfaces or routes, and
//! creates nothing it does not remove in [`Lab::teardown`].

pub mod check;
pub mod loopback;
pub mod netns;

use std::collections::BTreeMap;

use argus_interface::client::{ApiError, NodeClient};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Cmd { cmd: String, status: String, stderr: String },
    #[error("cannot run `{cmd}`: {source}")]
    Exec { cmd: String, source: std::io::Error },
    #[error("network namespaces unavailable: {0}")]
    NoNetns(String),
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    #[error("partition via node {node}: {source}")]
    Gate { node: String, source: ApiError },
}

/// Which fabric to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FabricChoice {
    /// netns when running as root and `ip netns` works, else loopback.
    Auto,
    Netns,
    Loopback,
}

/// Who takes part: node names, source names (with, for the loopback lab, the nodes each
/// source may dial), and whether a monitor runs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub nodes: Vec<String>,
    pub sources: Vec<String>,
    pub monitor: bool,
    /// Outsider processes run (in one endpoint, `outsiders`).
    pub outsiders: bool,
    /// Loopback only: bootstrap nodes of each source (its side of the first partition).
    pub source_homes: BTreeMap<String, Vec<String>>,
}

impl Layout {
    pub fn endpoints(&self) -> Vec<String> {
        let mut all: Vec<String> = self.nodes.iter().chain(self.sources.iter()).cloned().collect();
        if self.monitor {
            all.push("monitor".into());
        }
        if self.outsiders {
            all.push("outsiders".into());
        }
        all
    }
}

/// How an endpoint is started in this lab.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// Prepended to the command, e.g. `ip netns exec argus-sc-123-n0`.
    pub exec_prefix: Vec<String>,
    /// libp2p listen address.
    pub listen: String,
    /// Bootstrap addresses (`--peer`).
    pub peers: Vec<String>,
    pub mdns: bool,
}

impl Placement {
    /// The network flags of a node, sender or monitor placed here: `--listen`, a `--peer` per
    /// bootstrap address, `--no-mdns` when mDNS is off.
    pub fn net_args(&self) -> Vec<String> {
        let mut a = vec!["--listen".to_string(), self.listen.clone()];
        for p in &self.peers {
            a.extend(["--peer".into(), p.clone()]);
        }
        if !self.mdns {
            a.push("--no-mdns".into());
        }
        a
    }
}

/// What the loopback lab needs to gate connections: each endpoint's peer id and, for nodes,
/// an API client.
#[derive(Debug, Clone, Default)]
pub struct PeerBook {
    pub peer_ids: BTreeMap<String, String>,
    pub clients: BTreeMap<String, NodeClient>,
}

pub enum Lab {
    Netns(netns::NetnsLab),
    Loopback(loopback::LoopbackLab),
}

impl Lab {
    /// Builds the lab. Returns it with a note on why this fabric was chosen.
    pub fn create(choice: FabricChoice, layout: &Layout) -> Result<(Lab, String), LabError> {
        let tag = format!("{}{}", netns::PREFIX, std::process::id());
        match choice {
            FabricChoice::Loopback => {
                Ok((Lab::Loopback(loopback::LoopbackLab::new(layout)?), "loopback requested".into()))
            }
            FabricChoice::Netns => {
                Ok((Lab::Netns(netns::NetnsLab::create(&tag, layout)?), "netns requested".into()))
            }
            FabricChoice::Auto => match netns::usable() {
                Err(why) => {
                    let note =
                        format!("network namespaces unavailable ({why}); falling back to the loopback lab");
                    Ok((Lab::Loopback(loopback::LoopbackLab::new(layout)?), note))
                }
                Ok(()) => {
                    let removed = netns::clean_stale();
                    let note = match removed.len() {
                        0 => "running as root with `ip netns`: namespace lab".to_string(),
                        n => format!("namespace lab (removed {n} stale namespaces of dead runs)"),
                    };
                    Ok((Lab::Netns(netns::NetnsLab::create(&tag, layout)?), note))
                }
            },
        }
    }

    pub fn fabric(&self) -> &'static str {
        match self {
            Lab::Netns(_) => "netns",
            Lab::Loopback(_) => "loopback",
        }
    }

    pub fn placement(&self, endpoint: &str) -> Placement {
        match self {
            Lab::Netns(l) => l.placement(endpoint),
            Lab::Loopback(l) => l.placement(endpoint),
        }
    }

    /// Cuts every link between different groups (lists of endpoint names).
    pub async fn partition(&mut self, groups: &[Vec<String>], book: &PeerBook) -> Result<(), LabError> {
        match self {
            Lab::Netns(l) => l.partition(groups),
            Lab::Loopback(l) => l.partition(groups, book).await,
        }
    }

    /// Restores every link.
    pub async fn heal(&mut self, book: &PeerBook) -> Result<(), LabError> {
        match self {
            Lab::Netns(l) => l.heal(),
            Lab::Loopback(l) => l.heal(book).await,
        }
    }

    /// After a node (re)starts: the loopback lab re-applies an active partition, since a
    /// node's connection gates do not survive a restart. Namespace links need nothing.
    pub async fn node_started(&mut self, book: &PeerBook) -> Result<(), LabError> {
        match self {
            Lab::Netns(_) => Ok(()),
            Lab::Loopback(l) => l.reapply(book).await,
        }
    }

    /// Removes everything the lab created. Safe to call twice.
    pub fn teardown(&mut self) -> Result<(), LabError> {
        match self {
            Lab::Netns(l) => l.teardown(),
            Lab::Loopback(_) => Ok(()),
        }
    }
}

/// Runs a short command to completion and returns its stdout.
pub fn run_cmd(argv: &[&str]) -> Result<String, LabError> {
    let cmd = argv.join(" ");
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| LabError::Exec { cmd: cmd.clone(), source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(LabError::Cmd { cmd, status: out.status.to_string(), stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}
