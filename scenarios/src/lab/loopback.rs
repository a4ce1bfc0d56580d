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
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(LabError::Port)).collect()
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
            Some(home) => home.iter().filter_map(|n| self.node_ports.get(n)).map(|p| addr(*p)).collect(),
            None => {
                self.node_ports.iter().filter(|(n, _)| n.as_str() != name).map(|(_, p)| addr(*p)).collect()
            }
        };
        Placement { exec_prefix: Vec::new(), listen, peers, mdns: false }
    }

    pub async fn partition(&mut self, groups: &[Vec<String>], book: &PeerBook) -> Result<(), LabError> {
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
                        .map_err(|source| LabError::Gate { node: member.clone(), source })?;
                }
            }
        }
        Ok(())
    }

    pub async fn heal(&mut self, book: &PeerBook) -> Result<(), LabError> {
        self.active = None;
        for (node, client) in &book.clients {
            client.unblock_all().await.map_err(|source| LabError::Gate { node: node.clone(), source })?;
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
            outsiders: false,
            source_homes: BTreeMap::from([("cam".to_string(), vec!["n2".to_string()])]),
        };
        let lab = LoopbackLab::new(&layout).unwrap();
        let n0 = lab.placement("n0");
        assert!(!n0.mdns && n0.exec_prefix.is_empty());
        assert_eq!(n0.peers.len(), 2);
        assert!(!n0.peers.contains(&n0.listen), "a node does not bootstrap to itself");
        assert_eq!(lab.placement("cam").peers, vec![lab.placement("n2").listen]);
        assert_eq!(lab.placement("cam").listen, "/ip4/127.0.0.1/tcp/0");
        let ports: std::collections::BTreeSet<_> = lab.node_ports.values().collect();
        assert_eq!(ports.len(), 3, "ports are distinct");
    }

    /// A stand-in node API on a Unix socket that records each request's path and body.
    fn recording_node(
        tag: &str,
    ) -> (argus_interface::client::NodeClient, tokio::sync::mpsc::UnboundedReceiver<(String, String)>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = std::env::temp_dir().join(format!("argus-sc-loop-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (path, body) = loop {
                    let n = s.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .map_or(0, |v| v.parse().unwrap());
                        if body.len() >= len {
                            break (head.split(' ').nth(1).unwrap().to_string(), body.to_string());
                        }
                    }
                };
                let _ = tx.send((path, body));
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await.unwrap();
            }
        });
        let client = argus_interface::client::NodeClient::new(
            argus_interface::http::Endpoint::Unix(path),
            std::time::Duration::from_secs(5),
        );
        (client, rx)
    }

    #[tokio::test]
    async fn partition_blocks_the_other_side_and_heal_unblocks() {
        let layout = Layout { nodes: vec!["n0".into(), "n1".into(), "n2".into()], ..Layout::default() };
        let mut lab = LoopbackLab::new(&layout).unwrap();
        let mut book = PeerBook::default();
        let mut rxs = BTreeMap::new();
        for n in ["n0", "n1", "n2"] {
            let (client, rx) = recording_node(n);
            book.clients.insert(n.to_string(), client);
            book.peer_ids.insert(n.to_string(), format!("id-{n}"));
            rxs.insert(n, rx);
        }
        book.peer_ids.insert("cam".into(), "id-cam".into());
        let groups =
            vec![vec!["n0".to_string(), "cam".to_string()], vec!["n1".to_string(), "n2".to_string()]];
        lab.partition(&groups, &book).await.unwrap();
        let got = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, String)>| rx.try_recv().unwrap();
        let (path, body) = got(rxs.get_mut("n0").unwrap());
        assert_eq!(path, "/v1/admin/block");
        assert_eq!(body, r#"{"peers":["id-n1","id-n2"]}"#);
        assert_eq!(got(rxs.get_mut("n2").unwrap()).1, r#"{"peers":["id-n0","id-cam"]}"#);
        // A restarted node forgets its gates: re-applying sends them again.
        lab.reapply(&book).await.unwrap();
        assert_eq!(got(rxs.get_mut("n1").unwrap()).1, r#"{"peers":["id-n0","id-cam"]}"#);
        lab.heal(&book).await.unwrap();
        for rx in rxs.values_mut() {
            let mut last = None;
            while let Ok(m) = rx.try_recv() {
                last = Some(m);
            }
            assert_eq!(
                last,
                Some(("/v1/admin/unblock".to_string(), r#"{"peers":[],"all":true}"#.to_string()))
            );
        }
        lab.reapply(&book).await.unwrap();
        for rx in rxs.values_mut() {
            assert!(rx.try_recv().is_err(), "nothing is re-applied after a heal");
        }
    }
}
