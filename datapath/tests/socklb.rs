//! Socket-LB on real sockets: the cgroup programs attached to a node's
//! threaded cgroup, a client thread in a pod netns moved into a pod cgroup
//! below it, three backend pods. No tc program is attached (Cilium v1.16.0
//! with full socket-LB compiles per-packet LB out of bpf_lxc,
//! bpf_lxc.c:64-70), so every connection that works was translated at
//! connect. One test runs the scenarios in turn and checks at the end that
//! no cgroup, mount or netns is left.

use std::{
    collections::BTreeMap,
    net::{SocketAddrV4, TcpStream},
    time::Duration,
};

mod common;

use common::lab::{Lab as Base, PORT, VIP, vip};
use svclab_cgroup::{CgroupTree, join_thread, leftover_mounts, remove_leftover};
use svclab_datapath::{Backend, Config, Frontend, NetnsRef, Protocol, Reason};
use svclab_testsupport::{require_root, topo, unique_prefix};

/// The common lab with the socket-LB programs on the node's cgroup and a
/// pod cgroup below it for the client's thread.
struct Lab {
    base: Base,
    tree: CgroupTree,
    pod_cg: std::path::PathBuf,
}

impl std::ops::Deref for Lab {
    type Target = Base;
    fn deref(&self) -> &Base {
        &self.base
    }
}

impl std::ops::DerefMut for Lab {
    fn deref_mut(&mut self) -> &mut Base {
        &mut self.base
    }
}

impl Lab {
    fn new() -> Self {
        let mut base = Base::new(Config::default());
        let mut tree = CgroupTree::create(&unique_prefix("sock")).expect("cgroup tree");
        tree.add("node0").expect("node cgroup");
        let pod_cg = tree.add("node0/client").expect("pod cgroup");
        base.dp
            .attach_cgroup(tree.open("node0").expect("open node cgroup"))
            .expect("attach the socket-LB programs");
        Lab { base, tree, pod_cg }
    }

    /// Runs `f` on a thread in the client pod's netns, inside the pod
    /// cgroup when `in_cgroup`.
    fn in_client<T: Send>(&self, in_cgroup: bool, f: impl FnOnce() -> T + Send) -> T {
        let (dir, home) = (self.pod_cg.clone(), self.tree.home().to_owned());
        self.client_netns()
            .run(move || {
                let _m = in_cgroup.then(|| join_thread(&dir, &home).expect("join the pod cgroup"));
                f()
            })
            .expect("enter client netns")
    }

    fn reason(&self, r: Reason) -> u64 {
        self.dp
            .counters()
            .expect("counters")
            .reasons
            .get(&r)
            .copied()
            .unwrap_or(0)
    }
}

fn connects_are_translated_and_counted(lab: &Lab) {
    let results = lab.in_client(true, || {
        (0..300)
            .map(|_| topo::http_get(vip(), None))
            .collect::<Vec<_>>()
    });
    let mut per_pod: BTreeMap<String, u64> = BTreeMap::new();
    for r in results {
        let (peer, pod) = r.expect("every connect to the VIP is translated and served");
        assert_eq!(peer, vip(), "getpeername shows the service (getpeername4)");
        *per_pod.entry(pod).or_default() += 1;
    }
    assert_eq!(per_pod.len(), 3, "a random slot per connect: {per_pod:?}");
    let counters = lab.dp.counters().expect("counters");
    for (i, pod) in lab.topo.pods[1..].iter().enumerate() {
        let b = &counters.backends[&SocketAddrV4::new(pod.ip, PORT)];
        assert_eq!(b.syns, per_pod[&pod.name], "connections of {}", pod.name);
        assert_eq!(b.selections, b.syns);
        assert_eq!(b.packets, 0, "no packet program saw them");
        let served = lab.servers[i]
            .served
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(served, b.syns, "the server of {} agrees", pod.name);
    }
    assert_eq!(lab.reason(Reason::SockXlate), 300);
    assert!(lab.reason(Reason::SockRevXlate) >= 300);
    assert_eq!(
        lab.reason(Reason::ServiceHit),
        0,
        "no tc program is attached"
    );
    let entries = lab.dp.sock_revnat_entries().expect("revnat entries");
    assert_eq!(entries.len(), 300, "one reverse entry per socket");
    assert!(entries.iter().all(|e| e.service == vip()));
}

/// A task outside the cgroup is not translated: nothing answers at the VIP.
fn outside_the_cgroup_nothing_translates(lab: &Lab) {
    let before = lab.reason(Reason::SockXlate);
    let r = lab.in_client(false, || {
        TcpStream::connect_timeout(&vip().into(), Duration::from_millis(300))
    });
    assert!(
        r.is_err(),
        "an untranslated connect to the VIP fails: {r:?}"
    );
    assert_eq!(lab.reason(Reason::SockXlate), before);
}

/// A held connection whose service loses every backend: connects are
/// refused with EHOSTUNREACH (cil_sock4_connect), and the old socket's
/// reverse entry is stale, so its peer shows the backend.
fn no_backend_refuses_and_stale_entries_go(lab: &mut Lab) {
    let fe = Frontend::tcp(VIP, 80);
    let (held, peer_before) = lab.in_client(true, || {
        let s = TcpStream::connect_timeout(&vip().into(), Duration::from_secs(2)).expect("connect");
        let p = s.peer_addr().expect("peer");
        (s, p)
    });
    assert_eq!(peer_before, vip().into());
    lab.dp.set_backends(fe, &[]).expect("no backends");
    let refused = lab.reason(Reason::SockNoBackend);
    let err = lab
        .in_client(true, || {
            TcpStream::connect_timeout(&vip().into(), Duration::from_secs(2))
        })
        .expect_err("no backend: refused");
    assert_eq!(err.raw_os_error(), Some(libc::EHOSTUNREACH), "{err}");
    assert_eq!(lab.reason(Reason::SockNoBackend), refused + 1);
    let stale = lab.reason(Reason::SockRevStale);
    let peer_after = lab.in_client(true, || held.peer_addr().expect("peer"));
    assert_ne!(
        peer_after,
        vip().into(),
        "the stale entry no longer maps back"
    );
    assert_eq!(lab.reason(Reason::SockRevStale), stale + 1);
    assert_eq!(held.peer_addr().expect("peer"), peer_after);
    drop(held);
}

/// UDP: an unconnected socket's `sendto()` to the VIP is translated by
/// sendmsg4, with the socket cookie as the selector (the same backend for
/// every datagram of a socket, `sock_select_slot`), and `recvfrom()` shows
/// the reply as coming from the VIP (recvmsg4).
fn udp_is_translated_per_socket(lab: &mut Lab) {
    use std::{
        net::UdpSocket,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    };
    const UDP_PORT: u16 = 5353;
    let fe = Frontend {
        vip: VIP,
        port: 53,
        proto: Protocol::Udp,
    };
    lab.dp.upsert_service(fe).expect("udp service");
    let backends: Vec<Backend> = lab.topo.pods[1..]
        .iter()
        .map(|p| Backend::active(SocketAddrV4::new(p.ip, UDP_PORT)))
        .collect();
    lab.dp.set_backends(fe, &backends).expect("udp backends");
    let stop = Arc::new(AtomicBool::new(false));
    let echoes: Vec<_> = lab.topo.pods[1..]
        .iter()
        .map(|p| {
            let (ns, ip, name, stop) = (p.netns.clone(), p.ip, p.name.clone(), stop.clone());
            let (tx, rx) = std::sync::mpsc::channel();
            let h = std::thread::spawn(move || {
                NetnsRef::named(&ns)
                    .expect("ns")
                    .enter_current_thread()
                    .expect("enter");
                let s = UdpSocket::bind(SocketAddrV4::new(ip, UDP_PORT)).expect("bind");
                s.set_read_timeout(Some(Duration::from_millis(50)))
                    .expect("timeout");
                tx.send(()).expect("ready");
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((_, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(name.as_bytes(), from);
                    }
                }
            });
            rx.recv().expect("echo server ready");
            h
        })
        .collect();
    let xlate = lab.reason(Reason::SockXlate);
    let rev = lab.reason(Reason::SockRevXlate);
    let per_socket = lab.in_client(true, || {
        (0..30)
            .map(|_| {
                let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
                s.set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let mut got = Vec::new();
                for _ in 0..2 {
                    s.send_to(b"q", vip_udp()).expect("sendto the VIP");
                    let mut buf = [0u8; 64];
                    let (n, from) = s.recv_from(&mut buf).expect("a reply");
                    assert_eq!(from, vip_udp().into(), "recvmsg4 shows the service");
                    got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                got
            })
            .collect::<Vec<_>>()
    });
    stop.store(true, Ordering::Relaxed);
    for h in echoes {
        h.join().expect("echo server");
    }
    for got in &per_socket {
        assert_eq!(got[0], got[1], "one backend per socket (cookie)");
    }
    let distinct: std::collections::BTreeSet<&String> = per_socket.iter().map(|g| &g[0]).collect();
    assert!(
        distinct.len() >= 2,
        "sockets spread over backends: {distinct:?}"
    );
    assert_eq!(lab.reason(Reason::SockXlate), xlate + 60);
    assert!(lab.reason(Reason::SockRevXlate) >= rev + 60);
    let counters = lab.dp.counters().expect("counters");
    let udp_packets: u64 = lab.topo.pods[1..]
        .iter()
        .map(|p| counters.backends[&SocketAddrV4::new(p.ip, UDP_PORT)].packets)
        .sum();
    assert_eq!(udp_packets, 60, "one per datagram sent");
}

fn vip_udp() -> SocketAddrV4 {
    SocketAddrV4::new(VIP, 53)
}

#[test]
fn socket_lb_on_real_sockets() {
    require_root!();
    let _turn = svclab_testsupport::one_at_a_time();
    let mut lab = Lab::new();
    let mount = lab.tree.mount_point().to_owned();
    connects_are_translated_and_counted(&lab);
    outside_the_cgroup_nothing_translates(&lab);
    udp_is_translated_per_socket(&mut lab);
    no_backend_refuses_and_stale_entries_go(&mut lab);
    let Lab { base, tree, .. } = lab;
    let Base { dp, servers, topo } = base;
    drop(dp);
    tree.teardown().expect("cgroup teardown");
    assert!(!mount.exists(), "mount point removed");
    assert!(
        leftover_mounts(svclab_cgroup::NAME_PREFIX)
            .iter()
            .all(|m| *m != mount)
    );
    drop(servers);
    drop(topo);
}

/// What `svclab clean` relies on: a tree a crashed run left (its cgroups
/// and mount) is found by prefix and removed.
#[test]
fn a_crashed_runs_cgroup_tree_is_found_and_removed() {
    require_root!();
    let prefix = unique_prefix("sockcrash");
    let mut tree = CgroupTree::create(&prefix).expect("tree");
    tree.add("node0").expect("node");
    tree.add("node0/client-a").expect("pod");
    let mount = tree.mount_point().to_owned();
    std::mem::forget(tree);
    assert_eq!(leftover_mounts(&prefix), vec![mount.clone()]);
    let other = unique_prefix("sockother");
    assert!(
        leftover_mounts(&other).is_empty(),
        "another prefix finds nothing"
    );
    let removed = remove_leftover(&mount, &prefix).expect("remove");
    assert_eq!(removed.cgroups.len(), 3, "{removed:?}");
    assert!(removed.killed.is_empty());
    assert!(leftover_mounts(&prefix).is_empty());
    assert!(!mount.exists());
}
