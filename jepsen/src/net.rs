//! The network: one Linux network namespace per node, joined by veth pairs
//! to a bridge in the harness's namespace, so every node has its own address
//! and the harness (the clients) reaches all of them. A partition is
//! `iptables -j DROP` inside the cut nodes' namespaces: packets vanish, so
//! connections hang as in a real network split instead of being refused.
//!
//! Needs root (CAP_NET_ADMIN). Names carry the harness's pid, so a crashed
//! run's leftovers can be found and removed by the next one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, Result, bail};

const PREFIX: &str = "bj";

/// The network, shared by the run and the nemesis.
pub type SharedNet = std::sync::Mutex<Net>;

pub fn lock(net: &SharedNet) -> std::sync::MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(|e| e.into_inner())
}

/// Changes the network from async code: the change runs `ip` and
/// `iptables`, so it happens in a blocking section.
pub fn change(net: &SharedNet, f: impl FnOnce(&mut Net) -> Result<()>) -> Result<()> {
    tokio::task::block_in_place(|| f(&mut lock(net)))
}

pub struct Net {
    tag: String,
    subnet: [u8; 3],
    nodes: usize,
    /// Pairs of nodes that cannot reach each other, smaller id first.
    cut: BTreeSet<(usize, usize)>,
}

impl Net {
    /// Whether this process can create namespaces (root with `ip`, `iptables`).
    pub fn available() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root for network namespaces".into());
        }
        for tool in ["ip", "iptables"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return Err(format!("needs `{tool}`"));
            }
        }
        Ok(())
    }

    pub fn create(nodes: usize) -> Result<Net> {
        remove_stale();
        let pid = std::process::id();
        let net = Net {
            tag: format!("{PREFIX}{pid}"),
            subnet: [10, 200 + (pid % 50) as u8, ((pid / 50) % 250) as u8],
            nodes,
            cut: BTreeSet::new(),
        };
        let bridge = net.bridge();
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run("ip", &["addr", "add", &format!("{}/24", net.harness_ip()), "dev", &bridge])?;
        run("ip", &["link", "set", &bridge, "up"])?;
        // With br_netfilter loaded (Docker loads it), bridged packets pass the
        // FORWARD chain, whose policy Docker sets to DROP.
        run("iptables", &["-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"])?;
        for i in 0..nodes {
            let ns = net.namespace(i);
            let (outer, inner) = (format!("{}v{i}", net.tag), format!("{}p{i}", net.tag));
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["link", "add", &outer, "type", "veth", "peer", "name", &inner])?;
            run("ip", &["link", "set", &inner, "netns", &ns])?;
            run("ip", &["link", "set", &outer, "master", &bridge, "up"])?;
            run("ip", &["-n", &ns, "addr", "add", &format!("{}/24", net.node_ip(i)), "dev", &inner])?;
            run("ip", &["-n", &ns, "link", "set", &inner, "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    pub fn namespace(&self, node: usize) -> String {
        format!("{}n{node}", self.tag)
    }

    pub fn node_ip(&self, node: usize) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, node as u8 + 1)
    }

    /// The harness's address on the bridge: every node reaches it, even when
    /// cut off from its peers.
    pub fn harness_ip(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 254)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    /// Cuts every link between the two sides (in both directions).
    pub fn partition(&mut self, side_a: &[usize], side_b: &[usize]) -> Result<()> {
        for &a in side_a {
            for &b in side_b {
                if a != b {
                    self.cut.insert((a.min(b), a.max(b)));
                }
            }
        }
        self.apply()
    }

    /// Restores every link.
    pub fn heal(&mut self) -> Result<()> {
        self.cut.clear();
        self.apply()
    }

    fn apply(&self) -> Result<()> {
        for node in 0..self.nodes {
            let ns = self.namespace(node);
            run("ip", &["netns", "exec", &ns, "iptables", "-F", "INPUT"])?;
            run("ip", &["netns", "exec", &ns, "iptables", "-F", "OUTPUT"])?;
            for &(a, b) in &self.cut {
                let peer = match node {
                    n if n == a => b,
                    n if n == b => a,
                    _ => continue,
                };
                let ip = self.node_ip(peer).to_string();
                run("ip", &["netns", "exec", &ns, "iptables", "-A", "INPUT", "-s", &ip, "-j", "DROP"])?;
                run("ip", &["netns", "exec", &ns, "iptables", "-A", "OUTPUT", "-d", &ip, "-j", "DROP"])?;
            }
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        remove(&self.tag, self.nodes);
    }
}

fn remove(tag: &str, nodes: usize) {
    let bridge = format!("{tag}br");
    for i in 0..nodes {
        let ns = format!("{tag}n{i}");
        // Processes left in the namespace (a crashed harness's nodes) die with it.
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                // SAFETY: kill has no memory preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = run("ip", &["netns", "del", &ns]);
        let _ = run("ip", &["link", "del", &format!("{tag}v{i}")]);
    }
    let _ = run("iptables", &["-D", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"]);
    let _ = run("ip", &["link", "del", &bridge]);
}

/// Removes the namespaces and bridges of runs whose process is gone.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut stale = BTreeSet::new();
    for name in listing.split_whitespace().filter(|n| n.starts_with(PREFIX)) {
        let Some((pid, _)) = name[PREFIX.len()..].split_once('n') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            stale.insert(format!("{PREFIX}{pid}"));
        }
    }
    for tag in stale {
        tracing::info!(%tag, "removing a crashed run's namespaces");
        remove(&tag, 9);
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
