//! Self-check of the namespace lab (`argus-scenario lab-check`): builds a lab, proves
//! unicast reachability and multicast (mDNS's path) between namespaces, partitions, proves
//! the cut, heals, proves the links are back, tears down and checks nothing leaked.
//! Probes run this same executable inside a namespace (`argus-scenario probe ...`), so no
//! ping or socat is needed. Never touches namespaces other than the ones it creates.

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::netns::{self, NetnsLab};
use super::{LabError, Layout, run_cmd};

/// mDNS's group, on a port next to mDNS's so a running responder is not disturbed.
const MCAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const MCAST_PORT: u16 = 5354;

/// `probe tcp ADDR`: a refused connection proves the host answered; a timeout or "no route"
/// means it is cut off. Returns whether `addr` is reachable.
pub fn probe_tcp(addr: SocketAddr, timeout: Duration) -> bool {
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// `probe mcast-recv IFACE_IP`: waits for one datagram on the group; true when one came.
pub fn probe_mcast_recv(iface: Ipv4Addr, timeout: Duration) -> std::io::Result<bool> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, MCAST_PORT))?;
    sock.join_multicast_v4(&MCAST_GROUP, &iface)?;
    sock.set_read_timeout(Some(timeout))?;
    let mut buf = [0u8; 64];
    Ok(matches!(sock.recv_from(&mut buf), Ok((n, _)) if &buf[..n] == b"argus-lab"))
}

/// `probe mcast-send`: sends a few datagrams to the group (as mDNS would).
pub fn probe_mcast_send() -> std::io::Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    for _ in 0..5 {
        sock.send_to(b"argus-lab", (MCAST_GROUP, MCAST_PORT))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn in_ns(exe: &Path, ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(exe).arg("probe").args(args).stdin(Stdio::null());
    c
}

fn reachable(exe: &Path, lab: &NetnsLab, from: &str, to: &str) -> Result<bool, LabError> {
    let (ns, ip) = (lab.namespace_of(from).unwrap_or_default(), lab.address_of(to).unwrap_or_default());
    let out = in_ns(exe, &ns, &["tcp", &format!("{ip}:9")])
        .output()
        .map_err(|source| LabError::Exec { cmd: "probe tcp".into(), source })?;
    Ok(out.status.success())
}

fn multicast(exe: &Path, lab: &NetnsLab, from: &str, to: &str) -> Result<bool, LabError> {
    let exec_err = |source| LabError::Exec { cmd: "probe mcast".into(), source };
    let (to_ns, to_ip) = (lab.namespace_of(to).unwrap_or_default(), lab.address_of(to).unwrap_or_default());
    let mut recv = in_ns(exe, &to_ns, &["mcast-recv", &to_ip]).spawn().map_err(exec_err)?;
    std::thread::sleep(Duration::from_millis(300));
    let sent = in_ns(exe, &lab.namespace_of(from).unwrap_or_default(), &["mcast-send"])
        .status()
        .map_err(exec_err)?;
    let got = recv.wait().map_err(exec_err)?;
    Ok(sent.success() && got.success())
}

fn expect(log: &mut Vec<String>, what: String, got: bool, want: bool) -> Result<(), LabError> {
    log.push(format!(
        "{} {what}: {}",
        if got == want { "ok  " } else { "FAIL" },
        if got { "yes" } else { "no" }
    ));
    if got != want {
        return Err(LabError::NoNetns(format!("self-check failed: {what} should be {want}")));
    }
    Ok(())
}

/// Runs the whole self-check with `nodes` node namespaces and one source namespace.
pub fn netns_selfcheck(exe: &Path, nodes: usize) -> Result<Vec<String>, LabError> {
    netns::usable().map_err(LabError::NoNetns)?;
    let host_links_before = run_cmd(&["ip", "-o", "link", "show"])?;
    let layout = Layout {
        nodes: (0..nodes.max(3)).map(|i| format!("n{i}")).collect(),
        sources: vec!["src".into()],
        ..Layout::default()
    };
    let tag = format!("{}{}", netns::PREFIX, std::process::id());
    let mut lab = NetnsLab::create(&tag, &layout)?;
    let mut log = vec![format!("created {} namespaces with prefix {tag}-", layout.endpoints().len() + 1)];
    let outcome = exercise(exe, &mut lab, &layout, &mut log);
    lab.teardown()?;
    outcome?;
    let leaked: Vec<String> =
        netns::own_namespaces().into_iter().filter(|n| n.starts_with(&format!("{tag}-"))).collect();
    expect(
        &mut log,
        format!("namespaces left after teardown ({})", leaked.join(",")),
        !leaked.is_empty(),
        false,
    )?;
    let host_links_after = run_cmd(&["ip", "-o", "link", "show"])?;
    expect(&mut log, "host interfaces changed".into(), host_links_before != host_links_after, false)?;
    Ok(log)
}

fn exercise(exe: &Path, lab: &mut NetnsLab, layout: &Layout, log: &mut Vec<String>) -> Result<(), LabError> {
    let others: Vec<&String> = layout.nodes.iter().skip(1).chain(layout.sources.iter()).collect();
    for to in &others {
        expect(log, format!("n0 reaches {to}"), reachable(exe, lab, "n0", to)?, true)?;
    }
    expect(log, "multicast n0 -> n2".into(), multicast(exe, lab, "n0", "n2")?, true)?;
    let left = vec!["n0".to_string(), "n1".to_string()];
    let right: Vec<String> = layout.endpoints().into_iter().filter(|e| !left.contains(e)).collect();
    lab.partition(&[left, right])?;
    log.push(format!("partitioned: {:?}", lab.ports_by_bridge()?));
    expect(log, "n0 reaches n1 (same side)".into(), reachable(exe, lab, "n0", "n1")?, true)?;
    expect(log, "n2 reaches src (same side)".into(), reachable(exe, lab, "n2", "src")?, true)?;
    expect(log, "n0 reaches n2 (across)".into(), reachable(exe, lab, "n0", "n2")?, false)?;
    expect(log, "multicast n0 -> n2 (across)".into(), multicast(exe, lab, "n0", "n2")?, false)?;
    lab.heal()?;
    log.push(format!("healed: {:?}", lab.ports_by_bridge()?));
    expect(log, "n0 reaches n2 after heal".into(), reachable(exe, lab, "n0", "n2")?, true)?;
    expect(log, "multicast n1 -> src after heal".into(), multicast(exe, lab, "n1", "src")?, true)?;
    Ok(())
}
