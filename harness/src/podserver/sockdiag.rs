//! Listener accept-queue depth and backlog through NETLINK_SOCK_DIAG from a
//! pod's netns — what `ss -lnt` prints as Recv-Q/Send-Q. The socket is
//! created by a thread inside the pod netns (a netlink socket belongs to
//! the netns it was created in for its whole life), so afterwards any thread
//! can query it without moving. For a socket in LISTEN the kernel's
//! `inet_diag` reports `sk_ack_backlog` (connections completed by the
//! kernel, waiting for accept()) as `idiag_rqueue` and `sk_max_ack_backlog`
//! (the listen backlog) as `idiag_wqueue`.
use std::{net::IpAddr, time::Duration};

use anyhow::{Context as _, bail};
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, StateFlags},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use svclab_datapath::NetnsRef;

pub use netlink_packet_sock_diag::inet::SocketId;

/// What `ss -lnt` prints for a listener: Recv-Q and Send-Q.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerQueue {
    /// Connections completed by the kernel and waiting for accept().
    pub depth: u32,
    /// The listen backlog (the most the queue holds).
    pub backlog: u32,
}

/// A sock_diag netlink socket bound to one netns.
pub struct SockDiag {
    sock: Socket,
    netns: String,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for SockDiag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockDiag")
            .field("netns", &self.netns)
            .finish()
    }
}

/// A dump never blocks longer than this: the kernel answers at once, so a
/// silent socket means something is badly wrong and the caller should hear it.
const RECV_TIMEOUT: Duration = Duration::from_secs(2);
/// Netlink dump datagrams are at most 32 KiB (`netlink_dump` caps its skb).
const RECV_BUF: usize = 64 * 1024;

impl SockDiag {
    /// Opens the socket inside `netns`.
    pub fn open_in(netns: &NetnsRef) -> anyhow::Result<Self> {
        let mut v = Self::open_in_each(std::slice::from_ref(netns));
        v.pop().context("no sock_diag socket")?
    }

    /// One socket inside each of `netns`, opened from one thread that
    /// enters them in turn (a socket stays in the netns it was made in).
    pub fn open_in_each(netns: &[NetnsRef]) -> Vec<anyhow::Result<Self>> {
        let open = |ns: &NetnsRef| -> anyhow::Result<Socket> {
            let name = ns.name();
            ns.enter_current_thread()
                .with_context(|| format!("entering netns {name} for sock_diag"))?;
            let mut s = Socket::new(NETLINK_SOCK_DIAG)
                .with_context(|| format!("opening a NETLINK_SOCK_DIAG socket in netns {name}"))?;
            s.bind_auto()?;
            s.connect(&SocketAddr::new(0, 0))?;
            Ok(s)
        };
        let socks = std::thread::scope(|s| {
            s.spawn(|| netns.iter().map(open).collect::<Vec<_>>())
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        socks
            .into_iter()
            .zip(netns)
            .map(|(sock, ns)| {
                let sock = sock?;
                let name = ns.name().to_owned();
                socket2::SockRef::from(&sock)
                    .set_read_timeout(Some(RECV_TIMEOUT))
                    .with_context(|| {
                        format!("SO_RCVTIMEO on the sock_diag socket of netns {name}")
                    })?;
                Ok(Self {
                    sock,
                    netns: name,
                    seq: 0,
                    buf: Vec::with_capacity(RECV_BUF),
                })
            })
            .collect()
    }

    /// The IPv4 TCP listener on `port`, if one is listening.
    pub fn listener(&mut self, port: u16) -> anyhow::Result<Option<ListenerQueue>> {
        // A plain dump ignores the request's socket id (filtering by port
        // needs a bytecode filter), so filter here: a netns has few listeners.
        let mut found = None;
        self.dump_tcp4(StateFlags::LISTEN, |id, rqueue, wqueue| {
            if id.source_port == port
                && matches!(id.source_address, IpAddr::V4(_))
                && found.is_none()
            {
                found = Some(ListenerQueue {
                    depth: rqueue,
                    backlog: wqueue,
                });
            }
        })
        .with_context(|| format!("dumping TCP listeners in netns {}", self.netns))?;
        Ok(found)
    }

    /// Every established IPv4 TCP connection of the netns.
    pub fn established(&mut self) -> anyhow::Result<Vec<SocketId>> {
        let mut out = Vec::new();
        self.dump_tcp4(StateFlags::ESTABLISHED, |id, _, _| out.push(id.clone()))
            .with_context(|| format!("dumping TCP connections in netns {}", self.netns))?;
        Ok(out)
    }

    /// Destroys one socket (`SOCK_DESTROY`, what `ss -K` sends): the
    /// kernel's `tcp_abort` sends the peer a RST for an established
    /// connection (Linux v6.18 net/ipv4/tcp.c `tcp_abort`, `tcp_need_reset`)
    /// and the owner sees ECONNABORTED. A socket already gone is not an
    /// error (`ENOENT`): it closed between the dump and now.
    pub fn destroy(&mut self, id: &SocketId) -> anyhow::Result<bool> {
        /// `SOCK_DESTROY` (include/uapi/linux/sock_diag.h).
        const SOCK_DESTROY: u16 = 21;
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: AF_INET,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::all(),
                socket_id: id.clone(),
            })
            .into(),
        );
        packet.finalize();
        packet.header.message_type = SOCK_DESTROY;
        let mut req = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut req);
        self.sock.send(&req, 0).context("send SOCK_DESTROY")?;
        loop {
            self.buf.clear();
            let n = self
                .sock
                .recv(&mut self.buf, libc::MSG_TRUNC)
                .context("recv")?;
            let msg =
                <NetlinkMessage<SockDiagMessage>>::deserialize(&self.buf[..n.min(self.buf.len())])
                    .map_err(|e| anyhow::anyhow!("decoding a SOCK_DESTROY reply: {e}"))?;
            if msg.header.sequence_number != seq {
                continue;
            }
            if let NetlinkPayload::Error(e) = msg.payload {
                return match e.code.map(|c| -c.get()) {
                    None => Ok(true),
                    Some(libc::ENOENT) => Ok(false),
                    Some(code) => Err(std::io::Error::from_raw_os_error(code)).with_context(|| {
                        format!(
                            "SOCK_DESTROY in netns {} (kernel without INET_DIAG_DESTROY?)",
                            self.netns
                        )
                    }),
                };
            }
        }
    }

    /// Dumps IPv4 TCP sockets in `states`, calling `f(id, rqueue, wqueue)` for each.
    fn dump_tcp4(
        &mut self,
        states: StateFlags,
        mut f: impl FnMut(&SocketId, u32, u32),
    ) -> anyhow::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: AF_INET,
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states,
                socket_id: SocketId::new_v4(),
            })
            .into(),
        );
        packet.finalize();
        let mut req = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut req);
        let sent = self.sock.send(&req, 0).context("send")?;
        if sent != req.len() {
            bail!("short netlink send: {sent} of {} bytes", req.len());
        }
        loop {
            self.buf.clear();
            // MSG_TRUNC: the kernel returns the full length, so a truncated
            // datagram is detected instead of silently cut.
            let n = self
                .sock
                .recv(&mut self.buf, libc::MSG_TRUNC)
                .context("recv")?;
            if n > self.buf.len() {
                bail!(
                    "netlink datagram of {n} bytes truncated to {}",
                    self.buf.len()
                );
            }
            let mut off = 0;
            while off < n {
                let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&self.buf[off..n])
                    .map_err(|e| anyhow::anyhow!("decoding a sock_diag reply: {e}"))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    bail!("zero-length netlink message");
                }
                // Leftovers of an earlier, abandoned dump: skip them.
                if msg.header.sequence_number == seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(()),
                        NetlinkPayload::Error(e) => {
                            if let Some(code) = e.code {
                                return Err(std::io::Error::from_raw_os_error(-code.get()))
                                    .context("the kernel refused the sock_diag dump");
                            }
                        }
                        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                            f(
                                &r.header.socket_id,
                                r.header.recv_queue,
                                r.header.send_queue,
                            );
                        }
                        _ => {}
                    }
                }
                // Messages are 4-byte aligned inside a datagram.
                off += (len + 3) & !3;
            }
        }
    }
}
