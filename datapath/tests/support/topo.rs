//! A one-node test cluster built with iproute2: a node netns and pod netns
//! joined by per-pod routed veths (no bridge), as DESIGN.md's topology. Only
//! for tests; the harness builds its topology through rtnetlink. Every netns
//! carries the `svl-<run>-` prefix and is deleted on drop (also on panic).
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    os::fd::AsRawFd as _,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use svclab_datapath::NetnsRef;

pub const NODE_GW: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sysctl(netns: &str, key: &str, value: &str) {
    let ns = NetnsRef::named(netns).expect("open netns");
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    ns.run(|| std::fs::write(&path, value))
        .expect("enter netns")
        .unwrap_or_else(|e| panic!("sysctl {key}={value} in {netns}: {e}"));
}

pub struct Pod {
    pub name: String,
    pub netns: String,
    pub lxc: String,
    pub ip: Ipv4Addr,
}

pub struct Topology {
    pub prefix: String,
    pub node: String,
    pub pods: Vec<Pod>,
    created: Vec<String>,
}

impl Topology {
    /// A unique run prefix for this test process.
    pub fn prefix() -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        format!(
            "svl-t{}{}-",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub fn new() -> Self {
        let prefix = Self::prefix();
        let node = format!("{prefix}node");
        let mut t = Topology {
            prefix,
            node: node.clone(),
            pods: Vec::new(),
            created: Vec::new(),
        };
        ip(&["netns", "add", &node]);
        t.created.push(node.clone());
        ip(&["-n", &node, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &node,
            "addr",
            "add",
            &format!("{NODE_GW}/32"),
            "dev",
            "lo",
        ]);
        sysctl(&node, "net.ipv4.ip_forward", "1");
        sysctl(&node, "net.ipv4.conf.all.rp_filter", "0");
        sysctl(&node, "net.ipv4.conf.default.rp_filter", "0");
        t
    }

    /// Adds a pod netns with `eth0` = `ip`, routed through `lxc<n>` in the node.
    pub fn add_pod(&mut self, name: &str, ip_addr: Ipv4Addr) -> &Pod {
        let netns = format!("{}{name}", self.prefix);
        let lxc = format!("lxc{}", self.pods.len());
        ip(&["netns", "add", &netns]);
        self.created.push(netns.clone());
        ip(&[
            "-n", &self.node, "link", "add", &lxc, "type", "veth", "peer", "name", "eth0", "netns",
            &netns,
        ]);
        ip(&["-n", &self.node, "link", "set", &lxc, "up"]);
        ip(&[
            "-n",
            &self.node,
            "route",
            "add",
            &format!("{ip_addr}/32"),
            "dev",
            &lxc,
        ]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        ip(&["-n", &netns, "link", "set", "eth0", "up"]);
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{ip_addr}/32"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &netns,
            "route",
            "add",
            &NODE_GW.to_string(),
            "dev",
            "eth0",
            "scope",
            "link",
        ]);
        ip(&[
            "-n",
            &netns,
            "route",
            "add",
            "default",
            "via",
            &NODE_GW.to_string(),
            "dev",
            "eth0",
        ]);
        self.pods.push(Pod {
            name: name.into(),
            netns,
            lxc,
            ip: ip_addr,
        });
        self.pods.last().expect("just pushed")
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods.iter().find(|p| p.name == name).expect("pod")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a netns removes its veths, routes and TCX links with it.
        for ns in self.created.iter().rev() {
            let ok = Command::new("ip")
                .args(["netns", "del", ns])
                .status()
                .map(|s| s.success());
            if !matches!(ok, Ok(true)) {
                eprintln!("teardown: ip netns del {ns} failed");
            }
        }
    }
}

/// Names of every netns with `prefix`.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// BPF objects (programs, maps, links) this process still holds fds for.
pub fn bpf_fds() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .map(|p| p.display().to_string())
                .filter(|p| p.contains("bpf"))
                .collect()
        })
        .unwrap_or_default()
}

/// Child processes of this process (the tests start none that outlive a step).
pub fn child_processes() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .ok()
                        .and_then(|s| s.rsplit(')').next().map(str::to_owned))
                        .and_then(|rest| {
                            rest.split_whitespace()
                                .nth(1)
                                .and_then(|p| p.parse::<u32>().ok())
                        })
                        == Some(me)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A tiny HTTP/1.1 server in a pod netns: answers every request with the
/// pod's name and closes first (as the incident's backends do).
pub struct PodServer {
    listener_fd: i32,
    thread: Option<JoinHandle<()>>,
    pub served: Arc<AtomicU64>,
}

impl PodServer {
    pub fn start(pod: &Pod, port: u16) -> Self {
        let ns = NetnsRef::named(&pod.netns).expect("pod netns");
        let listener = ns
            .run(|| TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)))
            .expect("enter netns")
            .expect("bind");
        let listener_fd = listener.as_raw_fd();
        let served = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&served);
        let name = pod.name.clone();
        let thread = std::thread::spawn(move || {
            // The socket stays in the pod netns it was created in.
            while let Ok((mut s, _)) = listener.accept() {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 1024];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("{name}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes());
                counter.fetch_add(1, Ordering::Relaxed);
                drop(s);
            }
        });
        PodServer {
            listener_fd,
            thread: Some(thread),
            served,
        }
    }
}

impl Drop for PodServer {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket wakes a blocked accept().
        // SAFETY: the fd is owned by the listener, alive until the thread ends.
        unsafe { libc::shutdown(self.listener_fd, libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP request over a new connection, optionally from a fixed source
/// port; returns (peer address the client saw, pod name in the body).
pub fn http_get(
    target: SocketAddrV4,
    bind: Option<SocketAddrV4>,
) -> std::io::Result<(SocketAddrV4, String)> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(b) = bind {
        sock.set_reuse_address(true)?;
        sock.bind(&b.into())?;
    }
    sock.connect_timeout(&target.into(), Duration::from_secs(2))?;
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let peer = match s.peer_addr()? {
        std::net::SocketAddr::V4(a) => a,
        other => return Err(std::io::Error::other(format!("peer {other}"))),
    };
    s.write_all(b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let body = resp
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_owned();
    if !resp.starts_with("HTTP/1.1 200") || body.is_empty() {
        return Err(std::io::Error::other(format!("bad response {resp:?}")));
    }
    Ok((peer, body))
}
