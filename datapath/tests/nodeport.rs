//! NodePort from outside the node under BPF_PROG_TEST_RUN: `from_netdev`
//! on the fabric device's ingress and `to_pod` on its egress, rule by rule
//! from Cilium v1.16.0's from-netdev path (bpf/lib/nodeport.h
//! `nodeport_lb4`, bpf/lib/nat.h `snat_v4_new_mapping`): a local backend
//! gets the client's own address; a remote one gets the node's address and
//! a port of the SNAT range (the client's own when it is in range, another
//! on collision), and its reply goes back to the client from the NodePort;
//! nothing else addressed elsewhere is touched.
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};

use svclab_datapath::{
    Backend, Config, Datapath, Frontend, Hook, NodeNet, Reason, TC_ACT_OK, TC_ACT_REDIRECT, pktgen,
};
use svclab_testsupport::{require_root, sa};

const NODE: [u8; 4] = [198, 19, 255, 1];
const EXT: [u8; 4] = [198, 19, 253, 1];
const NODE_PORT: u16 = 30080;

fn node_port() -> Frontend {
    Frontend::tcp(NODE.into(), NODE_PORT)
}

/// A datapath for node 0 (pods in 198.18.0.0/24) with the NodePort served
/// by `backends`.
fn with_node_port(backends: &[SocketAddrV4]) -> Datapath {
    let config = Config {
        node: Some(NodeNet {
            addr: NODE.into(),
            pod_cidr: Ipv4Addr::new(198, 18, 0, 0),
            prefix_len: 24,
        }),
        ..Config::default()
    };
    let mut dp = common::load(config);
    dp.upsert_service(node_port()).expect("upsert");
    let set: Vec<Backend> = backends.iter().map(|a| Backend::active(*a)).collect();
    dp.set_backends(node_port(), &set).expect("backends");
    dp
}

/// Runs `pkt` through `hook`; the verdict and the packet after it, whose
/// checksums must verify.
fn run(dp: &mut Datapath, hook: Hook, pkt: &[u8]) -> (u32, pktgen::Parsed) {
    let r = dp.run_packet(hook, pkt, 1).expect("test_run");
    let p = pktgen::parse(&r.data).expect("parse");
    assert!(
        p.ip_csum_ok && p.l4_csum_ok,
        "checksums after {hook:?}: {p:?}"
    );
    (r.verdict, p)
}

fn reason(dp: &Datapath, r: Reason) -> u64 {
    dp.counters().expect("counters").reasons[&r]
}

const SYN: u8 = pktgen::TCP_SYN;
const SYN_ACK: u8 = pktgen::TCP_SYN | pktgen::TCP_ACK;

#[test]
fn a_remote_backend_gets_the_nodes_address_and_its_reply_the_node_port() {
    require_root!();
    let remote = sa([198, 18, 1, 20], 8080);
    let mut dp = with_node_port(&[remote]);
    let client = sa(EXT, 40000);
    let (v, out) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(client, node_port().addr(), SYN, b""),
    );
    assert_eq!(v, TC_ACT_REDIRECT, "out through the device at once");
    // The client's port is in the SNAT range (>= 32768): kept.
    assert_eq!((out.src, out.dst), (sa(NODE, 40000), remote));
    assert_eq!(reason(&dp, Reason::NodePortSnat), 1);
    // The backend's reply to the node's port: back to the client, from
    // the NodePort.
    let (v, back) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(remote, sa(NODE, 40000), SYN_ACK, b""),
    );
    assert_eq!(v, TC_ACT_REDIRECT);
    assert_eq!((back.src, back.dst), (node_port().addr(), client));
    assert_eq!(reason(&dp, Reason::NodePortRevSnat), 1);
    // The flow's next packet keeps its mapping.
    let (_, again) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(client, node_port().addr(), pktgen::TCP_ACK, b""),
    );
    assert_eq!(again.src, sa(NODE, 40000));
    assert_eq!(reason(&dp, Reason::NodePortSnat), 2);
}

#[test]
fn snat_ports_stay_in_range_and_never_collide() {
    require_root!();
    let remote = sa([198, 18, 1, 20], 8080);
    let mut dp = with_node_port(&[remote]);
    // Below the range: a port from it.
    let (_, low) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(sa(EXT, 20000), node_port().addr(), SYN, b""),
    );
    assert!(low.src.port() >= 32768, "{low:?}");
    // Two clients on the same port to the same backend: the second one
    // cannot have it.
    let (_, a) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(sa(EXT, 50000), node_port().addr(), SYN, b""),
    );
    let (_, b) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(sa([198, 19, 253, 2], 50000), node_port().addr(), SYN, b""),
    );
    assert_eq!(a.src.port(), 50000);
    assert!(b.src.port() != 50000 && b.src.port() >= 32768, "{b:?}");
    // Each reply finds its own client.
    let (_, ra) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(remote, a.src, SYN_ACK, b""),
    );
    let (_, rb) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(remote, b.src, SYN_ACK, b""),
    );
    assert_eq!(ra.dst, sa(EXT, 50000));
    assert_eq!(rb.dst, sa([198, 19, 253, 2], 50000));
}

#[test]
fn a_local_backend_sees_the_client_and_its_reply_leaves_from_the_node_port() {
    require_root!();
    let local = sa([198, 18, 0, 20], 8080);
    let mut dp = with_node_port(&[local]);
    let client = sa(EXT, 40001);
    let (v, out) = run(
        &mut dp,
        Hook::FromNetdev,
        &pktgen::tcp(client, node_port().addr(), SYN, b""),
    );
    assert_eq!(v, TC_ACT_OK, "up the stack to the pod");
    assert_eq!((out.src, out.dst), (client, local));
    assert_eq!(reason(&dp, Reason::NodePortSnat), 0);
    // The pod's reply on the device's egress: from the NodePort.
    let (v, back) = run(
        &mut dp,
        Hook::ToPod,
        &pktgen::tcp(local, client, SYN_ACK, b""),
    );
    assert_eq!(v, TC_ACT_OK);
    assert_eq!((back.src, back.dst), (node_port().addr(), client));
}

#[test]
fn traffic_not_for_the_node_passes_untouched() {
    require_root!();
    let mut dp = with_node_port(&[sa([198, 18, 1, 20], 8080)]);
    // Pod-to-pod between nodes, and the node's address on another port.
    for (src, dst) in [
        (sa([198, 18, 1, 5], 41000), sa([198, 18, 0, 7], 8080)),
        (sa(EXT, 41000), sa(NODE, 22)),
    ] {
        let pkt = pktgen::tcp(src, dst, SYN, b"");
        let r = dp.run_packet(Hook::FromNetdev, &pkt, 1).expect("run");
        assert_eq!((r.verdict, r.data), (TC_ACT_OK, pkt), "{src} -> {dst}");
    }
    assert_eq!(reason(&dp, Reason::NodePortSnat), 0);
}
