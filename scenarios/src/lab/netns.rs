//! The namespace lab: one network namespace per endpoint (`argus-sc-<pid>-<name>`), each with
//! `lo` and one veth (`eth0`, 10.77.0.x/24, a multicast route for mDNS) whose other end is a
//! port of bridge `br0` in the bridge namespace (`argus-sc-<pid>-br`). A partition moves the
//! ports of each group onto a bridge of their own (`bg0`, `bg1`, ...), so frames between
//! groups have no path; heal moves every port back to `br0`.
//!
//! Touches only namespaces it names with its own prefix: never the host namespace, its
//! interfaces or routes. The 10.77.0.0/24 subnet exists only inside these namespaces.

use std::collections::BTreeSet;

use super::{LabError, Layout, Placement, run_cmd};
use crate::procs;

/// Namespace name prefix of every run; the run's pid follows (`argus-sc-1234-n0`).
pub const PREFIX: &str = "argus-sc-";
const SUBNET: &str = "10.77.0";
/// Endpoint addresses start here (.1 is left unused, as for a gateway).
const FIRST_HOST: usize = 2;
const MAX_ENDPOINTS: usize = 250;

#[derive(Debug, Clone)]
struct Endpoint {
    name: String,
    ns: String,
    veth: String,
    ip: String,
}

pub struct NetnsLab {
    bridge_ns: String,
    endpoints: Vec<Endpoint>,
    group_bridges: Vec<String>,
    /// Namespaces created so far, in order (torn down in reverse).
    created: Vec<String>,
}

fn ip(args: &[&str]) -> Result<String, LabError> {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    run_cmd(&argv)
}

fn euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and has no side effects.
    unsafe { libc::geteuid() }
}

/// Whether this process may build a namespace lab: root, and `ip netns` works.
pub fn usable() -> Result<(), String> {
    if euid() != 0 {
        return Err("not running as root".into());
    }
    // Unique per call: threads of one process (parallel tests) probe at the same time.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("{PREFIX}{}-probe{n}", std::process::id());
    ip(&["netns", "add", &probe]).map_err(|e| e.to_string())?;
    ip(&["netns", "del", &probe]).map_err(|e| e.to_string())?;
    Ok(())
}

/// Our namespaces, as listed by `ip netns list`.
pub fn own_namespaces() -> Vec<String> {
    let Ok(list) = ip(&["netns", "list"]) else {
        return Vec::new();
    };
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect()
}

fn owner_pid(ns: &str) -> Option<u32> {
    ns.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Kills what still runs inside `ns` (only processes a run of ours started there) and
/// deletes it.
fn remove_namespace(ns: &str) -> Result<(), LabError> {
    if let Ok(pids) = ip(&["netns", "pids", ns]) {
        for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
            let _ = procs::signal(pid, libc::SIGKILL);
        }
    }
    ip(&["netns", "del", ns]).map(|_| ())
}

/// Removes namespaces left by runs of ours whose process no longer exists. Returns them.
pub fn clean_stale() -> Vec<String> {
    let mine = std::process::id();
    let stale: Vec<String> = own_namespaces()
        .into_iter()
        .filter(|ns| owner_pid(ns).is_some_and(|p| p != mine && !procs::exists(p)))
        .collect();
    for ns in &stale {
        if let Err(e) = remove_namespace(ns) {
            tracing::warn!(ns, error = %e, "could not remove a stale namespace");
        }
    }
    stale
}

impl NetnsLab {
    /// Creates the bridge namespace and one namespace per endpoint of `layout`.
    /// On any failure, whatever was created is removed before the error returns.
    pub fn create(tag: &str, layout: &Layout) -> Result<NetnsLab, LabError> {
        let names = layout.endpoints();
        if names.len() > MAX_ENDPOINTS {
            return Err(LabError::NoNetns(format!("{} endpoints; at most {MAX_ENDPOINTS}", names.len())));
        }
        let endpoints = names
            .iter()
            .enumerate()
            .map(|(i, name)| Endpoint {
                name: name.clone(),
                ns: format!("{tag}-{name}"),
                veth: format!("v{i}"),
                ip: format!("{SUBNET}.{}", i + FIRST_HOST),
            })
            .collect();
        let mut lab = NetnsLab {
            bridge_ns: format!("{tag}-br"),
            endpoints,
            group_bridges: Vec::new(),
            created: Vec::new(),
        };
        if let Err(e) = lab.build() {
            let _ = lab.teardown();
            return Err(e);
        }
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), LabError> {
        let br = self.bridge_ns.clone();
        ip(&["netns", "add", &br])?;
        self.created.push(br.clone());
        ip(&["-n", &br, "link", "set", "lo", "up"])?;
        add_bridge(&br, "br0")?;
        for ep in self.endpoints.clone() {
            ip(&["netns", "add", &ep.ns])?;
            self.created.push(ep.ns.clone());
            ip(&["-n", &ep.ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", &br, "link", "add", &ep.veth, "type", "veth", "peer", "name", "eth0", "netns", &ep.ns,
            ])?;
            ip(&["-n", &br, "link", "set", &ep.veth, "master", "br0", "up"])?;
            ip(&["-n", &ep.ns, "addr", "add", &format!("{}/24", ep.ip), "dev", "eth0"])?;
            ip(&["-n", &ep.ns, "link", "set", "eth0", "up"])?;
            // mDNS sends to 224.0.0.251; without a default route it needs this one.
            ip(&["-n", &ep.ns, "route", "add", "224.0.0.0/4", "dev", "eth0"])?;
        }
        Ok(())
    }

    fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Namespace of an endpoint (for tests and the self-check).
    pub fn namespace_of(&self, name: &str) -> Option<String> {
        self.endpoint(name).map(|e| e.ns.clone())
    }

    /// Address of an endpoint inside the lab.
    pub fn address_of(&self, name: &str) -> Option<String> {
        self.endpoint(name).map(|e| e.ip.clone())
    }

    pub fn placement(&self, name: &str) -> Placement {
        let prefix = match self.endpoint(name) {
            Some(ep) => vec!["ip".into(), "netns".into(), "exec".into(), ep.ns.clone()],
            None => Vec::new(),
        };
        Placement { exec_prefix: prefix, listen: "/ip4/0.0.0.0/tcp/0".into(), peers: Vec::new(), mdns: true }
    }

    /// Moves each group's bridge ports onto a bridge of its own.
    pub fn partition(&mut self, groups: &[Vec<String>]) -> Result<(), LabError> {
        self.heal()?;
        for (i, group) in groups.iter().enumerate() {
            let bridge = format!("bg{i}");
            add_bridge(&self.bridge_ns, &bridge)?;
            self.group_bridges.push(bridge.clone());
            for member in group {
                if let Some(ep) = self.endpoint(member) {
                    ip(&["-n", &self.bridge_ns, "link", "set", &ep.veth, "master", &bridge])?;
                }
            }
        }
        Ok(())
    }

    /// Every port back on `br0`; group bridges deleted.
    pub fn heal(&mut self) -> Result<(), LabError> {
        if self.group_bridges.is_empty() {
            return Ok(());
        }
        for ep in &self.endpoints {
            ip(&["-n", &self.bridge_ns, "link", "set", &ep.veth, "master", "br0"])?;
        }
        for bridge in std::mem::take(&mut self.group_bridges) {
            ip(&["-n", &self.bridge_ns, "link", "del", &bridge])?;
        }
        Ok(())
    }

    /// Ports currently on each bridge (for the self-check).
    pub fn ports_by_bridge(&self) -> Result<Vec<(String, BTreeSet<String>)>, LabError> {
        let out = ip(&["-n", &self.bridge_ns, "-o", "link", "show"])?;
        let mut by: Vec<(String, BTreeSet<String>)> = Vec::new();
        for line in out.lines() {
            let name =
                line.split(':').nth(1).unwrap_or("").trim().split('@').next().unwrap_or("").to_string();
            let master = line.split_whitespace().skip_while(|w| *w != "master").nth(1);
            if let Some(m) = master {
                match by.iter_mut().find(|(b, _)| b == m) {
                    Some((_, set)) => {
                        set.insert(name);
                    }
                    None => by.push((m.to_string(), BTreeSet::from([name]))),
                }
            }
        }
        Ok(by)
    }

    /// Deletes every namespace this lab created (their veths go with them).
    pub fn teardown(&mut self) -> Result<(), LabError> {
        let mut first_error = None;
        while let Some(ns) = self.created.pop() {
            if let Err(e) = remove_namespace(&ns) {
                tracing::error!(ns, error = %e, "namespace teardown failed");
                first_error.get_or_insert(e);
            }
        }
        self.group_bridges.clear();
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for NetnsLab {
    fn drop(&mut self) {
        if !self.created.is_empty() {
            let _ = self.teardown();
        }
    }
}

fn add_bridge(ns: &str, name: &str) -> Result<(), LabError> {
    // Snooping off: multicast (mDNS) is flooded to every port of the bridge.
    ip(&["-n", ns, "link", "add", name, "type", "bridge", "mcast_snooping", "0"])?;
    ip(&["-n", ns, "link", "set", name, "up"])?;
    Ok(())
}
