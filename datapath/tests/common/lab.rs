//! The real-traffic tests' lab: one node netns with a client pod and three
//! backend pods serving HTTP on [`PORT`], the datapath loaded in the node
//! netns with one service on [`VIP`]:80 whose backends are the three pods,
//! attached nowhere yet (the tc test attaches to every lxc, the socket-LB
//! test to a cgroup). Dropped in field order: datapath, servers, topology.
use std::net::{Ipv4Addr, SocketAddrV4};

use svclab_datapath::{Backend, Config, Datapath, Frontend, NetnsRef};
use svclab_testsupport::topo::{PodServer, Topology};

pub const VIP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 10);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
pub const PORT: u16 = 8080;

/// The service's address.
pub fn vip() -> SocketAddrV4 {
    SocketAddrV4::new(VIP, 80)
}

pub struct Lab {
    pub dp: Datapath,
    pub servers: Vec<PodServer>,
    pub topo: Topology,
}

impl Lab {
    pub fn new(config: Config) -> Self {
        let mut topo = Topology::new();
        topo.add_pod("client", CLIENT_IP);
        for i in 0..3u8 {
            topo.add_pod(&format!("backend-{i}"), Ipv4Addr::new(198, 18, 0, 20 + i));
        }
        let mut dp =
            Datapath::load(NetnsRef::named(&topo.node).expect("node netns"), config).expect("load");
        let fe = Frontend::tcp(VIP, 80);
        dp.upsert_service(fe).expect("service");
        let backends: Vec<Backend> = topo.pods[1..]
            .iter()
            .map(|p| Backend::active(SocketAddrV4::new(p.ip, PORT)))
            .collect();
        dp.set_backends(fe, &backends).expect("backends");
        let servers = topo.pods[1..]
            .iter()
            .map(|p| PodServer::start(p, PORT))
            .collect();
        Lab { dp, servers, topo }
    }

    /// The client pod's netns.
    pub fn client_netns(&self) -> NetnsRef {
        NetnsRef::named(&self.topo.pod("client").netns).expect("client netns")
    }

    /// Runs `f` on a thread inside the client pod's netns.
    pub fn in_client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.client_netns().run(f).expect("enter client netns")
    }
}
