//! Netlink requests for the topology: message construction (rtnetlink's
//! builders) and batched submission. A batch goes to the kernel in one
//! `sendmsg`; the kernel runs its messages in order and acknowledges each
//! one, so the n-th acknowledgement belongs to the n-th request and every
//! failure can be reported with the operation and interface it was about.
//!
//! A socket binds to the network namespace of the thread that creates it,
//! so [`connect`] must be called on a thread that is inside the target
//! namespace, within the tokio runtime that will poll the connection.
use std::{future::Future, net::Ipv4Addr, os::fd::RawFd};

use futures_util::StreamExt as _;
use rtnetlink::{
    LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder,
    packet_core::{
        NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
    },
    packet_route::{
        RouteNetlinkMessage,
        address::AddressMessage,
        link::{InfoData, InfoVeth, LinkMessage},
        neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState},
        route::{RouteMessage, RouteScope},
    },
    proto::{Connection, ConnectionHandle, sys::SocketAddr},
    sys::protocols::NETLINK_ROUTE,
};

use crate::error::TopologyError;

/// One request of a batch, with the context its error should carry.
pub(crate) struct Req {
    op: &'static str,
    ifname: String,
    msg: NetlinkMessage<RouteNetlinkMessage>,
}

impl Req {
    fn new(op: &'static str, ifname: &str, payload: RouteNetlinkMessage, flags: u16) -> Self {
        let mut msg = NetlinkMessage::from(payload);
        msg.header.flags = flags;
        Self {
            op,
            ifname: ifname.to_owned(),
            msg,
        }
    }

    fn create(op: &'static str, ifname: &str, payload: RouteNetlinkMessage) -> Self {
        Self::new(
            op,
            ifname,
            payload,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip link set <name> up`.
    pub(crate) fn link_up(name: &str) -> Self {
        let msg = LinkUnspec::new_with_name(name).up().build();
        Self::new(
            "set link up",
            name,
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        )
    }

    /// `ip link show <name>` (the reply carries the ifindex).
    pub(crate) fn get_link(name: &str) -> Self {
        let msg = LinkUnspec::new_with_name(name).build();
        Self::new(
            "get link",
            name,
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        )
    }

    /// A veth pair: `name` (up, with ifindex `index` if non-zero,
    /// optionally enslaved to `controller`) stays in the socket's
    /// namespace; `peer` is created directly in the namespace behind
    /// `peer_netns`, with ifindex `peer_index` (the kernel honours a peer
    /// index only when the first end's index is given too). The peer stays
    /// down: the kernel opens it before the pair is linked, and veth
    /// refuses that with ENOTCONN; bring it up from its own namespace.
    pub(crate) fn veth(
        name: &str,
        index: u32,
        controller: Option<u32>,
        peer: &str,
        peer_index: u32,
        peer_netns: RawFd,
    ) -> Self {
        let peer_msg: LinkMessage = LinkUnspec::new_with_name(peer)
            .index(peer_index)
            .setns_by_fd(peer_netns)
            .build();
        let mut veth = LinkVeth::new(name, peer)
            .index(index)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
        if let Some(c) = controller {
            veth = veth.controller(c);
        }
        Self::create("add veth", name, RouteNetlinkMessage::NewLink(veth.build()))
    }

    /// A veth pair as [`Req::veth`] with both ends' MAC addresses set
    /// (`mac` on `name`, `peer_mac` on the peer), so each side's neighbour
    /// entry for the other can be written up front ([`Req::neigh_permanent`]).
    pub(crate) fn veth_with_macs(
        name: &str,
        index: u32,
        peer: &str,
        peer_index: u32,
        peer_netns: RawFd,
        (mac, peer_mac): ([u8; 6], [u8; 6]),
    ) -> Self {
        let peer_msg: LinkMessage = LinkUnspec::new_with_name(peer)
            .index(peer_index)
            .address(peer_mac.to_vec())
            .setns_by_fd(peer_netns)
            .build();
        let veth = LinkVeth::new(name, peer)
            .index(index)
            .address(mac.to_vec())
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
        Self::create("add veth", name, RouteNetlinkMessage::NewLink(veth.build()))
    }

    /// `ip neigh add <ip> lladdr <mac> dev <ifname> nud permanent`. The
    /// neighbour table is one per kernel and holds at most `gc_thresh3`
    /// (1024) entries that garbage collection may drop, summed over every
    /// namespace, and only the initial namespace can raise it; permanent
    /// entries are exempt from that count (`exempt_from_gc` for
    /// NUD_PERMANENT in `neigh_alloc`, net/core/neighbour.c, Linux 5.0+).
    /// With a learned entry per pod on its node and one per pod for its
    /// gateway, about 500 pods would fill the table and connects fail.
    pub(crate) fn neigh_permanent(index: u32, ifname: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Self {
        let mut msg = NeighbourMessage::default();
        msg.header.family = rtnetlink::packet_route::AddressFamily::Inet;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        Self::create(
            "add neighbour",
            ifname,
            RouteNetlinkMessage::NewNeighbour(msg),
        )
    }

    /// A bridge, up (STP off, so ports forward at once).
    pub(crate) fn bridge(name: &str) -> Self {
        let msg = LinkBridge::new(name).up().build();
        Self::create("add bridge", name, RouteNetlinkMessage::NewLink(msg))
    }

    /// `ip addr add <ip>/<plen> dev <ifname>`.
    pub(crate) fn addr_add(index: u32, ifname: &str, ip: Ipv4Addr, plen: u8) -> Self {
        let msg: AddressMessage = rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(ip, plen)
            .build();
        Self::create("add address", ifname, RouteNetlinkMessage::NewAddress(msg))
    }

    /// `ip route add <dst>/<plen> dev <ifname> scope link`.
    pub(crate) fn route_dev(dst: Ipv4Addr, plen: u8, index: u32, ifname: &str) -> Self {
        Self::create(
            "add route",
            ifname,
            RouteNetlinkMessage::NewRoute(dev_route(dst, plen, index)),
        )
    }

    /// `ip route del <dst>/<plen> dev <ifname> scope link`.
    pub(crate) fn route_dev_del(dst: Ipv4Addr, plen: u8, index: u32, ifname: &str) -> Self {
        Self::new(
            "delete route",
            ifname,
            RouteNetlinkMessage::DelRoute(dev_route(dst, plen, index)),
            NLM_F_REQUEST | NLM_F_ACK,
        )
    }

    /// `ip route add <dst>/<plen> via <gw> dev <ifname>`.
    pub(crate) fn route_via(
        dst: Ipv4Addr,
        plen: u8,
        gw: Ipv4Addr,
        index: u32,
        ifname: &str,
    ) -> Self {
        let msg: RouteMessage = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst, plen)
            .gateway(gw)
            .output_interface(index)
            .build();
        Self::create("add route", ifname, RouteNetlinkMessage::NewRoute(msg))
    }
}

fn dev_route(dst: Ipv4Addr, plen: u8, index: u32) -> RouteMessage {
    RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(dst, plen)
        .output_interface(index)
        .scope(RouteScope::Link)
        .build()
}

/// The connection future; whoever holds it must poll it while requests
/// are in flight (spawn it, or `select` it against the work).
pub(crate) type NlConnection = Connection<RouteNetlinkMessage>;

/// A handle to one rtnetlink socket, bound to the namespace named `netns`.
#[derive(Clone)]
pub(crate) struct Nl {
    handle: ConnectionHandle<RouteNetlinkMessage>,
    netns: String,
}

/// Opens an rtnetlink socket in the calling thread's namespace (`netns` is
/// its name, for errors). Must run inside a tokio runtime context.
pub(crate) fn connect(netns: &str) -> Result<(NlConnection, Nl), TopologyError> {
    // Belt and braces for the sealed-topology rule: a socket opened by a
    // thread that is still in the process's own namespace would change
    // that namespace (the root one, normally). Refuse.
    let ino = |p: &str| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    match (ino("/proc/thread-self/ns/net"), ino("/proc/self/ns/net")) {
        (Ok(here), Ok(process)) if here != process => {}
        (Ok(_), Ok(_)) => {
            return Err(TopologyError::sys(
                "refusing to open rtnetlink in the process's own namespace",
                netns,
                std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            ));
        }
        (Err(e), _) | (_, Err(e)) => {
            return Err(TopologyError::sys("stat namespace", netns, e));
        }
    }
    let (mut conn, handle, unsolicited) =
        rtnetlink::proto::new_connection::<RouteNetlinkMessage>(NETLINK_ROUTE)
            .map_err(|e| TopologyError::sys("open rtnetlink socket", netns, e))?;
    // Every acknowledgement is forwarded so that the n-th one in a batch's
    // reply stream maps to the n-th request.
    conn.set_forward_ack(true);
    // No multicast groups are joined; dropping the receiver lets the
    // connection finish once the handle is gone too.
    drop(unsolicited);
    Ok((
        conn,
        Nl {
            handle,
            netns: netns.to_owned(),
        },
    ))
}

impl Nl {
    /// Queues `reqs` as one batch right away (so batches issued one after
    /// the other reach the kernel in that order) and returns a future with
    /// the replies of each request, or the first failure.
    pub(crate) fn batch(
        &self,
        reqs: Vec<Req>,
    ) -> impl Future<Output = Result<Vec<Vec<RouteNetlinkMessage>>, TopologyError>> + use<> {
        let mut ctx = Vec::with_capacity(reqs.len());
        let mut msgs = Vec::with_capacity(reqs.len());
        for r in reqs {
            ctx.push((r.op, r.ifname));
            msgs.push(r.msg);
        }
        let netns = self.netns.clone();
        let sent = self.handle.request_batch(msgs, SocketAddr::new(0, 0));
        async move {
            let fail = |i: usize, e: rtnetlink::Error| {
                let (op, ifname) = ctx.get(i).map_or(("batch", ""), |(o, n)| (*o, n.as_str()));
                TopologyError::netlink(op, &netns, ifname, e)
            };
            let mut stream = sent.map_err(|_| fail(0, rtnetlink::Error::RequestFailed))?;
            let mut replies: Vec<Vec<RouteNetlinkMessage>> = vec![Vec::new(); ctx.len()];
            let mut i = 0;
            let mut first_err = None;
            while let Some(msg) = stream.next().await {
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        if e.code.is_some() && first_err.is_none() {
                            first_err = Some(fail(i, rtnetlink::Error::NetlinkError(e)));
                        }
                        i += 1;
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        if let Some(r) = replies.get_mut(i) {
                            r.push(m);
                        }
                    }
                    _ => {}
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
            if i < ctx.len() {
                // The stream ended early: the connection went away.
                return Err(fail(i, rtnetlink::Error::RequestFailed));
            }
            Ok(replies)
        }
    }

    /// Runs one batch and returns the ifindex from the reply of the
    /// request at `at` (a [`Req::get_link`]).
    pub(crate) async fn batch_index(
        &self,
        reqs: Vec<Req>,
        at: usize,
    ) -> Result<u32, TopologyError> {
        let ifname = reqs.get(at).map(|r| r.ifname.clone()).unwrap_or_default();
        let replies = self.batch(reqs).await?;
        replies
            .get(at)
            .and_then(|r| {
                r.iter().find_map(|m| match m {
                    RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                    _ => None,
                })
            })
            .ok_or_else(|| TopologyError::Netlink {
                op: "get link",
                netns: self.netns.clone(),
                ifname,
                source: std::io::Error::other("no link in the kernel's reply"),
            })
    }
}

/// Polls a connection that nothing else drives while `work` runs; the
/// connection (and its socket) is dropped when `work` is done.
pub(crate) async fn run_with<T>(
    conn: NlConnection,
    work: impl std::future::Future<Output = Result<T, TopologyError>>,
) -> Result<T, TopologyError> {
    let work = std::pin::pin!(work);
    match futures_util::future::select(conn, work).await {
        futures_util::future::Either::Right((r, _)) => r,
        futures_util::future::Either::Left(((), _)) => Err(TopologyError::Worker {
            op: "netlink connection closed",
        }),
    }
}
