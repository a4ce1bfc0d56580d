//! The loopback lab, for runs without root: every process on 127.0.0.1, mDNS off, nodes on
//! fixed ports chosen up front (so a restarted node is found at the same address) and
//! bootstrapped with each other's addresses. A partition asks every node to refuse the peers
//! outside its group (`POST /v1/admin/block`); heal unblocks all. Sources dial only the
//! nodes of their home side. Never binds anything but 127.0.0.1.

use std::collections::BTreeMap;

use super::{LabError, Layout, PeerBook, Placement};

pub struct LoopbackLab {
    node_ports: BTreeMap<String, u16>,
    source_homes: BTreeMap<String, Vec<String>>,
    /// The partition in force, re-applied when a node restarts.
    active: Option<Vec<Vec<String>>>,
}

/// Picks `n` distinct free ports by binding them all at once, then releasing them.
fn free_ports(n: usize) -> Result<Vec<u16>, LabError> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").map_err(LabError::Port))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).map_err(LabError::Port))
        .collect()
}

fn addr(port: u16) -> String {
    format!("/ip4/127.0.0.1/tcp/{port}")
}

impl LoopbackLab {
    pub fn new(layout: &Layout) -> Result<LoopbackLab, LabError> {
        let ports = free_ports(layout.nodes.len())?;
        Ok(LoopbackLab {
            node_ports: layout.nodes.iter().cloned().zip(ports).collect(),
            source_homes: layout.source_homes.clone(),
            active: None,
        })
    }

    pub fn placement(&self, name: &str) -> Placement {
        let own = self.node_ports.get(name);
        let listen = own.map_or_else(|| "/ip4/127.0.0.1/tcp/0".to_string(), |p| addr(*p));
        let peers = match self.source_homes.get(name) {
            Some(home) => home
                .iter()
                .filter_map(|n| self.node_ports.get(n))
                .map(|p| addr(*p))
                .collect(),
            None => self
                .node_ports
                .iter()
                .filter(|(n, _)| n.as_str() != name)
                .map(|(_, p)| addr(*p))
                .collect(),
        };
        Placement {
            exec_prefix: Vec::new(),
            listen,
            peers,
            mdns: false,
        }
    }

    pub async fn partition(
        &mut self,
        groups: &[Vec<String>],
        book: &PeerBook,
    ) -> Result<(), LabError> {
        self.active = Some(groups.to_vec());
        self.apply(groups, book).await
    }

    async fn apply(&self, groups: &[Vec<String>], book: &PeerBook) -> Result<(), LabError> {
        for (i, group) in groups.iter().enumerate() {
            let outside: Vec<String> = groups
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, g)| g.iter())
                .filter_map(|m| book.peer_ids.get(m).cloned())
                .collect();
            for member in group {
                if let Some(client) = book.clients.get(member) {
                    client
                        .block(&outside)
                        .await
                        .map_err(|source| LabError::Gate {
                            node: member.clone(),
                            source,
                        })?;
                }
            }
        }
        Ok(())
    }

    pub async fn heal(&mut self, book: &PeerBook) -> Result<(), LabError> {
        self.active = None;
        for (node, client) in &book.clients {
            client
                .unblock_all()
                .await
                .map_err(|source| LabError::Gate {
                    node: node.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    pub async fn reapply(&mut self, book: &PeerBook) -> Result<(), LabError> {
        match self.active.clone() {
            Some(groups) => self.apply(&groups, book).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_bootstrap_each_other_and_sources_their_home() {
        let layout = Layout {
            nodes: vec!["n0".into(), "n1".into(), "n2".into()],
            sources: vec!["cam".into()],
            monitor: false,
            source_homes: BTreeMap::from([("cam".to_string(), vec!["n2".to_string()])]),
        };
        let lab = LoopbackLab::new(&layout).unwrap();
        let n0 = lab.placement("n0");
        assert!(!n0.mdns && n0.exec_prefix.is_empty());
        assert_eq!(n0.peers.len(), 2);
        assert!(
            !n0.peers.contains(&n0.listen),
            "a node does not bootstrap to itself"
        );
        assert_eq!(lab.placement("cam").peers, vec![lab.placement("n2").listen]);
        assert_eq!(lab.placement("cam").listen, "/ip4/127.0.0.1/tcp/0");
        let ports: std::collections::BTreeSet<_> = lab.node_ports.values().collect();
        assert_eq!(ports.len(), 3, "ports are distinct");
    }
}
