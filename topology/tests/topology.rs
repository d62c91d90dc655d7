//! End-to-end tests of svclab-topology against the real kernel: build
//! nodes, fabric and pods, send real TCP between pods, check addresses,
//! routes and sysctls (read back with iproute2, independently of the
//! crate), and check that every exit path (teardown, failed batch, failed
//! build, panic) leaves no namespace with the test's prefix behind. They
//! need root; without it each test prints why it skipped and passes.
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use svclab_topology::{
    PodInfo, PodSpec, Topology, TopologyError, TopologySpec, in_netns, list_with_prefix, netns_path,
};

fn skip(test: &str) -> bool {
    !svclab_testsupport::have_root(test)
}

fn prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "svl-t{}x{}-",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn pod(name: &str, node: u8, host: u8) -> PodSpec {
    PodSpec {
        name: name.to_owned(),
        node,
        ip: Ipv4Addr::new(198, 18, node, host),
    }
}

fn ip(netns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .arg("-n")
        .arg(netns)
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {netns} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_clean(prefix: &str) {
    let left = list_with_prefix(prefix);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Opens a TCP connection from pod `from` to pod `to` (listener bound inside
/// `to`'s netns, client socket created inside `from`'s) and checks that
/// bytes go both ways and the server sees the client's pod IP.
fn tcp_between(from: &PodInfo, to: &PodInfo, port: u16) {
    let listener = in_netns(&to.netns_path, || {
        TcpListener::bind(SocketAddrV4::new(to.ip, port))
    })
    .expect("enter server netns")
    .expect("bind listener in pod");
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).expect("read ping");
        assert_eq!(&buf, b"ping");
        s.write_all(b"pong").expect("write pong");
        peer
    });
    let target = SocketAddrV4::new(to.ip, port);
    let mut c = in_netns(&from.netns_path, || {
        TcpStream::connect_timeout(&target.into(), Duration::from_secs(5))
    })
    .expect("enter client netns")
    .unwrap_or_else(|e| panic!("connect {} -> {}: {e}", from.name, to.name));
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(b"ping").expect("write ping");
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).expect("read pong");
    assert_eq!(&buf, b"pong");
    let peer = server.join().expect("server thread");
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(from.ip),
        "server saw the pod IP"
    );
}

#[test]
fn two_nodes_fabric_pods_tcp_sysctl_remove_teardown() {
    if skip("two_nodes_fabric_pods_tcp_sysctl_remove_teardown") {
        return;
    }
    let prefix = prefix();
    let mut t = Topology::build(TopologySpec {
        prefix: prefix.clone(),
        nodes: 2,
    })
    .expect("build");
    let pods = t
        .add_pods(vec![
            pod("a0", 0, 10),
            pod("a1", 0, 11),
            pod("b0", 1, 10),
            pod("b1", 1, 11),
        ])
        .expect("add pods");
    assert_eq!(pods.len(), 4);
    assert_eq!(pods[2].name, "b0", "input order kept");
    let a2 = t.add_pod(pod("a2", 0, 12)).expect("add pod a2");
    let b2 = t.add_pod(pod("b2", 1, 12)).expect("add pod b2");
    assert_eq!(t.pod("a2"), Some(&a2));

    // Every namespace is there, named for `ip netns`.
    let mut names = list_with_prefix(&prefix);
    names.sort();
    let mut want: Vec<String> = [
        "a0", "a1", "a2", "b0", "b1", "b2", "fabric", "node0", "node1",
    ]
    .iter()
    .map(|n| format!("{prefix}{n}"))
    .collect();
    want.sort();
    assert_eq!(names, want);
    assert_eq!(t.node_netns_path(1), netns_path(&format!("{prefix}node1")));

    // Addresses and routes, read back with iproute2.
    let node0 = t.node_netns(0);
    let lo = ip(&node0, &["-o", "addr", "show", "dev", "lo"]);
    assert!(lo.contains("198.18.0.1/32"), "node gateway on lo: {lo}");
    let fab = ip(&node0, &["-o", "addr", "show", "dev", "fab0"]);
    assert!(fab.contains("198.19.255.1/24"), "fabric address: {fab}");
    let routes = ip(&node0, &["route", "show"]);
    assert!(
        routes.contains("198.18.1.0/24 via 198.19.255.2 dev fab0"),
        "route to node1's pods: {routes}"
    );
    assert!(
        has_route(
            &routes,
            &["198.18.0.12 ", &format!("dev {} ", a2.lxc), "scope link"]
        ),
        "route to pod a2: {routes}"
    );
    let lxc = ip(&node0, &["-o", "link", "show", "dev", &a2.lxc]);
    assert!(
        lxc.contains("state UP") || lxc.contains(",UP"),
        "lxc up: {lxc}"
    );
    let eth0 = ip(&a2.netns, &["-o", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains("198.18.0.12/32"), "pod address: {eth0}");
    let pod_routes = ip(&a2.netns, &["route", "show"]);
    assert!(
        has_route(&pod_routes, &["default via 198.18.0.1 dev eth0"]),
        "pod default route: {pod_routes}"
    );
    assert!(
        has_route(&pod_routes, &["198.18.0.1 dev eth0", "scope link"]),
        "pod gateway route: {pod_routes}"
    );
    let pod_lo = ip(&a2.netns, &["-o", "link", "show", "dev", "lo"]);
    assert!(pod_lo.contains("UP"), "pod lo up: {pod_lo}");
    let bridge = ip(
        &prefix_fabric(&prefix),
        &["-o", "link", "show", "master", "br0"],
    );
    assert_eq!(
        bridge.lines().count(),
        2,
        "one fabric port per node: {bridge}"
    );

    // Sysctls: the node's forwarding set-up, and set/get in a pod.
    assert_eq!(t.sysctl(&node0, "net.ipv4.ip_forward").expect("get"), "1");
    assert_eq!(
        t.sysctl(&node0, "net.ipv4.conf.all.rp_filter")
            .expect("get"),
        "0"
    );
    t.set_sysctl(&a2.netns, "net.ipv4.ip_local_port_range", "40000 40099")
        .expect("set port range");
    let range = t
        .sysctl(&a2.netns, "net.ipv4.ip_local_port_range")
        .expect("get port range");
    assert_eq!(
        range.split_whitespace().collect::<Vec<_>>(),
        ["40000", "40099"]
    );
    // Other namespaces keep their own value.
    let other = t
        .sysctl(&b2.netns, "net.ipv4.ip_local_port_range")
        .expect("get");
    assert_ne!(
        other.split_whitespace().collect::<Vec<_>>(),
        ["40000", "40099"]
    );
    // Not ours, not per-namespace: refused.
    assert!(matches!(
        t.set_sysctl("svl-not-ours", "net.ipv4.ip_forward", "1"),
        Err(TopologyError::NotFound { .. })
    ));
    assert!(t.set_sysctl(&a2.netns, "kernel.pid_max", "1").is_err());

    // Real TCP: same node, then across the fabric, both directions.
    let a0 = t.pod("a0").expect("a0").clone();
    let b0 = t.pod("b0").expect("b0").clone();
    tcp_between(&a0, &a2, 8080);
    tcp_between(&a0, &b2, 8081);
    tcp_between(&b0, &a2, 8082);

    // remove_pod: namespace and node route gone, the rest still works.
    t.remove_pod("a2").expect("remove a2");
    assert!(t.pod("a2").is_none());
    assert!(!netns_path(&a2.netns).exists(), "pod netns file removed");
    let routes = ip(&node0, &["route", "show"]);
    assert!(
        !routes.contains("198.18.0.12 "),
        "pod route removed: {routes}"
    );
    assert!(matches!(
        t.remove_pod("a2"),
        Err(TopologyError::NotFound { .. })
    ));
    // Same name and IP again right away.
    let a2 = t.add_pod(pod("a2", 0, 12)).expect("re-add a2");
    tcp_between(&b0, &a2, 8083);

    t.teardown().expect("teardown");
    assert_clean(&prefix);
}

/// Whether one line of `ip route` output contains every part.
fn has_route(routes: &str, parts: &[&str]) -> bool {
    routes.lines().any(|l| parts.iter().all(|p| l.contains(p)))
}

fn prefix_fabric(prefix: &str) -> String {
    format!("{prefix}fabric")
}

#[test]
fn single_node_has_no_fabric() {
    if skip("single_node_has_no_fabric") {
        return;
    }
    let prefix = prefix();
    let mut t = Topology::build(TopologySpec {
        prefix: prefix.clone(),
        nodes: 1,
    })
    .expect("build");
    assert!(t.fabric_netns().is_none());
    let pods = t
        .add_pods((0..20).map(|k| pod(&format!("p{k}"), 0, 10 + k)).collect())
        .expect("add pods");
    tcp_between(&pods[0], &pods[19], 9000);
    assert_eq!(list_with_prefix(&prefix).len(), 21);
    t.teardown().expect("teardown");
    assert_clean(&prefix);
}

#[test]
fn invalid_pods_are_rejected_before_the_kernel() {
    if skip("invalid_pods_are_rejected_before_the_kernel") {
        return;
    }
    let prefix = prefix();
    let mut t = Topology::build(TopologySpec {
        prefix: prefix.clone(),
        nodes: 2,
    })
    .expect("build");
    t.add_pod(pod("keep", 0, 2)).expect("add keep");
    let before = {
        let mut v = list_with_prefix(&prefix);
        v.sort();
        v
    };
    let bad: Vec<Vec<PodSpec>> = vec![
        vec![pod("x1", 0, 3), pod("x1", 0, 4)], // duplicate name in batch
        vec![pod("x1", 0, 3), pod("x2", 0, 3)], // duplicate IP in batch
        vec![pod("x1", 0, 3), pod("keep", 1, 9)], // name taken
        vec![pod("x1", 0, 3), pod("x2", 0, 2)], // IP taken
        vec![pod("x1", 0, 3), pod("x2", 2, 3)], // no such node
        vec![pod("x1", 0, 3), pod("x2", 1, 1)], // the gateway
        vec![PodSpec {
            name: "x3".into(),
            node: 0,
            ip: Ipv4Addr::new(10, 0, 0, 3),
        }], // outside 198.18.0.0/15
        vec![pod("node1", 0, 5)],               // reserved
        vec![pod("a/b", 0, 5)],                 // not a file name
    ];
    for batch in bad {
        let names: Vec<String> = batch.iter().map(|p| p.name.clone()).collect();
        let r = t.add_pods(batch);
        assert!(
            matches!(r, Err(TopologyError::InvalidSpec { .. })),
            "{names:?}: {r:?}"
        );
        let mut now = list_with_prefix(&prefix);
        now.sort();
        assert_eq!(now, before, "{names:?} left something behind");
    }
    assert!(matches!(
        Topology::build(TopologySpec {
            prefix: "no-svl-prefix-".into(),
            nodes: 1
        }),
        Err(TopologyError::InvalidSpec { .. })
    ));
    assert!(matches!(
        Topology::build(TopologySpec {
            prefix: prefix.clone(),
            nodes: 0
        }),
        Err(TopologyError::InvalidSpec { .. })
    ));
    drop(t);
    assert_clean(&prefix);
}

/// Makes a namespace file we do not own, as another tool would, so a build
/// or batch collides with it half-way through.
fn foreign_netns(name: &str) {
    let out = Command::new("ip")
        .args(["netns", "add", name])
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip netns add {name}");
}

fn delete_foreign(name: &str) {
    let out = Command::new("ip")
        .args(["netns", "del", name])
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip netns del {name}");
}

#[test]
fn batch_failing_half_way_in_the_kernel_is_undone() {
    if skip("batch_failing_half_way_in_the_kernel_is_undone") {
        return;
    }
    let prefix = prefix();
    let mut t = Topology::build(TopologySpec {
        prefix: prefix.clone(),
        nodes: 1,
    })
    .expect("build");
    t.add_pod(pod("keep", 0, 2)).expect("add keep");
    let clash = format!("{prefix}p7");
    foreign_netns(&clash);
    let r = t.add_pods((0..16).map(|k| pod(&format!("p{k}"), 0, 10 + k)).collect());
    let e = r.expect_err("the clashing name must fail the batch");
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{e}");
    let mut left = list_with_prefix(&prefix);
    left.sort();
    assert_eq!(
        left,
        vec![
            format!("{prefix}keep"),
            format!("{prefix}node0"),
            clash.clone()
        ],
        "only the earlier pod, the node and the foreign netns remain"
    );
    // Rolled-back routes are gone too: the same IPs can be added again.
    delete_foreign(&clash);
    let pods = t
        .add_pods((0..16).map(|k| pod(&format!("p{k}"), 0, 10 + k)).collect())
        .expect("retry after rollback");
    tcp_between(&pods[3], &pods[7], 9100);
    t.teardown().expect("teardown");
    assert_clean(&prefix);
}

#[test]
fn build_failing_half_way_leaves_nothing() {
    if skip("build_failing_half_way_leaves_nothing") {
        return;
    }
    let prefix = prefix();
    let clash = format!("{prefix}fabric");
    foreign_netns(&clash);
    let r = Topology::build(TopologySpec {
        prefix: prefix.clone(),
        nodes: 3,
    });
    let e = r.expect_err("fabric name taken");
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST), "{e}");
    assert_eq!(
        list_with_prefix(&prefix),
        vec![clash.clone()],
        "only the foreign netns"
    );
    delete_foreign(&clash);
    assert_clean(&prefix);
}

#[test]
fn drop_on_panic_leaves_nothing() {
    if skip("drop_on_panic_leaves_nothing") {
        return;
    }
    let prefix = prefix();
    let p = prefix.clone();
    let r = std::panic::catch_unwind(move || {
        let mut t = Topology::build(TopologySpec {
            prefix: p.clone(),
            nodes: 2,
        })
        .expect("build");
        t.add_pods(vec![pod("a", 0, 5), pod("b", 1, 5)])
            .expect("add pods");
        assert_eq!(list_with_prefix(&p).len(), 5);
        panic!("boom with a live topology");
    });
    assert!(r.is_err(), "the closure panicked");
    assert_clean(&prefix);
}

/// The external netns: one address per client on `ext0`, reachable from
/// every node (on-link over the fabric) and reaching each node's fabric
/// address; refused without a fabric or twice; gone at teardown.
#[test]
fn external_clients_stand_on_the_fabric() {
    if skip("external_clients_stand_on_the_fabric") {
        return;
    }
    let prefix = prefix();
    let mut one = Topology::build(TopologySpec::new(prefix.clone(), 1)).expect("build");
    assert!(matches!(
        one.add_external(2),
        Err(TopologyError::InvalidSpec { .. })
    ));
    one.teardown().expect("teardown");
    let mut t = Topology::build(TopologySpec::new(prefix.clone(), 2)).expect("build");
    t.add_external(3).expect("add external");
    assert!(matches!(
        t.add_external(1),
        Err(TopologyError::InvalidSpec { .. })
    ));
    let ext = t.external_netns().expect("external netns").to_owned();
    let addrs = ip(&ext, &["-4", "-o", "addr", "show", "dev", "ext0"]);
    for k in 0..3u8 {
        let a = svclab_topology::external_address(k);
        assert!(addrs.contains(&format!("{a}/24")), "{addrs}");
    }
    let node1 = t.node_netns(1);
    assert!(
        has_route(
            &ip(&node1, &["route"]),
            &["198.19.253.0/24", "dev fab0", "scope link"]
        ),
        "node 1 reaches the external network on-link"
    );
    // TCP from the external netns to node 1's fabric address: the node
    // sees the first external address (the kernel's source for an unbound
    // socket).
    let node_addr = svclab_topology::fabric_address(1);
    let listener = in_netns(&netns_path(&node1), || {
        TcpListener::bind(SocketAddrV4::new(node_addr, 9100))
    })
    .expect("enter node")
    .expect("bind in node 1");
    let from = svclab_topology::external_address(0);
    let c = in_netns(&netns_path(&ext), || {
        TcpStream::connect_timeout(
            &SocketAddrV4::new(node_addr, 9100).into(),
            Duration::from_secs(5),
        )
    })
    .expect("enter external")
    .expect("connect to node 1");
    let (_, peer) = listener.accept().expect("accept");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(from));
    drop(c);
    assert_eq!(
        list_with_prefix(&prefix).len(),
        4,
        "2 nodes, fabric, external"
    );
    t.teardown().expect("teardown");
    assert_clean(&prefix);
}
