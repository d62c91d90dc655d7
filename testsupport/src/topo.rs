//! Test fixtures on top of the topology crate: a one-node cluster (deleted
//! on drop, also on panic), a tiny HTTP pod server, one-shot HTTP requests,
//! the direct-versus-VIP bench lab, and the leak checks (netns, BPF fds,
//! child processes).
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    os::fd::AsRawFd as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use svclab_datapath::NetnsRef;

/// The benches' lab for "through the VIP versus straight to the pod": one
/// node, a client pod and two backends serving HTTP on [`BenchLab::PORT`],
/// `backend-a` for the direct runs and `backend-b` behind the VIP, so the
/// direct runs' server-side TIME_WAITs never meet the VIP runs' SYNs (through
/// the NAT the two sides' tuples differ, and a leftover TIME_WAIT would
/// challenge the SYN and turn the comparison into a SYN-retransmit count).
pub struct BenchLab {
    /// The client pod's netns.
    pub client: NetnsRef,
    /// `backend-a` by its pod IP: the direct target.
    pub direct: SocketAddrV4,
    /// `backend-b` by its pod IP: the backend to put behind the VIP.
    pub vip_backend: SocketAddrV4,
    _servers: [PodServer; 2],
    /// Dropped last: the namespaces go after the servers.
    pub topo: Topology,
}

impl BenchLab {
    pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
    pub const BACKEND_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 20);
    pub const BACKEND_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 21);
    pub const PORT: u16 = 8080;

    /// Panics when a namespace cannot be made (a bench's setup failing).
    #[expect(
        clippy::new_without_default,
        reason = "creates network namespaces: not a default value"
    )]
    pub fn new() -> Self {
        let mut topo = Topology::new();
        topo.add_pod("client", Self::CLIENT);
        topo.add_pod("backend-a", Self::BACKEND_A);
        topo.add_pod("backend-b", Self::BACKEND_B);
        let servers = [
            PodServer::start(topo.pod("backend-a"), Self::PORT),
            PodServer::start(topo.pod("backend-b"), Self::PORT),
        ];
        Self {
            client: NetnsRef::named(&topo.pod("client").netns).expect("client netns"),
            direct: SocketAddrV4::new(Self::BACKEND_A, Self::PORT),
            vip_backend: SocketAddrV4::new(Self::BACKEND_B, Self::PORT),
            _servers: servers,
            topo,
        }
    }

    /// The node's netns (where a dataplane goes).
    pub fn node(&self) -> NetnsRef {
        NetnsRef::named(&self.topo.node).expect("node netns")
    }
}

pub struct Pod {
    pub name: String,
    pub netns: String,
    pub lxc: String,
    pub ip: Ipv4Addr,
}

/// The topology crate's cluster, one node, with the pods the tests add.
pub struct Topology {
    /// The node's netns name.
    pub node: String,
    pub pods: Vec<Pod>,
    inner: svclab_topology::Topology,
}

impl Topology {
    #[expect(
        clippy::new_without_default,
        reason = "creates network namespaces: not a default value"
    )]
    pub fn new() -> Self {
        let spec = svclab_topology::TopologySpec {
            prefix: crate::unique_prefix(""),
            nodes: 1,
        };
        let inner = svclab_topology::Topology::build(spec).expect("build topology");
        Topology {
            node: inner.node_netns(0),
            pods: Vec::new(),
            inner,
        }
    }

    /// Adds a pod with `eth0` = `ip`, routed through its lxc veth in the node.
    pub fn add_pod(&mut self, name: &str, ip: Ipv4Addr) -> &Pod {
        let spec = svclab_topology::PodSpec {
            name: name.into(),
            node: 0,
            ip,
        };
        let info = self.inner.add_pod(spec).expect("add pod");
        self.pods.push(Pod {
            name: info.name,
            netns: info.netns,
            lxc: info.lxc,
            ip,
        });
        self.pods.last().expect("just pushed")
    }

    pub fn pod(&self, name: &str) -> &Pod {
        self.pods.iter().find(|p| p.name == name).expect("pod")
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
