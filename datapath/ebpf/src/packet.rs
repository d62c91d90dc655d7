//! The packet side of the datapath: parsing Ethernet/IPv4/TCP|UDP with
//! direct packet access (no helper call per field, as Cilium's
//! `revalidate_data`), and the DNAT / reverse-NAT rewrite with checksum
//! fix-ups through the kernel's csum helpers.
use core::mem::size_of;

use aya_ebpf::{
    bindings::{BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR},
    programs::TcContext,
};
use svclab_datapath_common::{IPPROTO_TCP, IPPROTO_UDP};

pub const ETH_HLEN: usize = 14;
const ETH_P_IP_BE: u16 = 0x0800u16.to_be();
pub const IP_SADDR_OFF: usize = ETH_HLEN + 12;
pub const IP_DADDR_OFF: usize = ETH_HLEN + 16;
const IP_CSUM_OFF: usize = ETH_HLEN + 10;
const TCP_CSUM_OFF: usize = 16;
const UDP_CSUM_OFF: usize = 6;
/// Ethernet + the longest IPv4 header + the TCP header up to its flags.
const MAX_HDRS: u32 = (ETH_HLEN + 60 + 20) as u32;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// The fields of one IPv4 TCP/UDP packet the datapath works on, in network
/// byte order as on the wire.
#[derive(Clone, Copy)]
pub struct Packet {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    /// The TCP flags byte (FIN..CWR), 0 for UDP: Cilium's
    /// `tcp_flags.lower_bits`.
    pub tcp_flags: u8,
    pub l4_off: usize,
}

impl Packet {
    pub fn is_tcp(&self) -> bool {
        self.proto == IPPROTO_TCP
    }
    /// The SYN bit, as Cilium's `syn` in `__ct_lookup` (a SYN-ACK counts;
    /// clients never send one toward a service).
    pub fn syn(&self) -> bool {
        self.tcp_flags & TCP_SYN != 0
    }
    /// A connection-opening SYN (not a SYN-ACK): what the per-backend
    /// "connections opened" counter counts.
    pub fn opens(&self) -> bool {
        self.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN
    }
    /// FIN or RST: Cilium's `ACTION_CLOSE` (conntrack.h `ct_tcp_select_action`).
    pub fn fin_rst(&self) -> bool {
        self.tcp_flags & (TCP_FIN | TCP_RST) != 0
    }
    pub fn rst(&self) -> bool {
        self.tcp_flags & TCP_RST != 0
    }
    fn l4_csum_off(&self) -> usize {
        self.l4_off
            + if self.is_tcp() {
                TCP_CSUM_OFF
            } else {
                UDP_CSUM_OFF
            }
    }
}

/// Reads a `T` at `off` if it lies inside the linear packet data.
#[inline(always)]
fn read<T: Copy>(data: usize, end: usize, off: usize) -> Option<T> {
    if data + off + size_of::<T>() > end {
        return None;
    }
    // SAFETY: [data + off, data + off + size_of::<T>()) was checked to lie
    // inside the packet above; read_unaligned because IPv4 fields sit at
    // 2-byte offsets behind the Ethernet header.
    Some(unsafe { core::ptr::read_unaligned((data + off) as *const T) })
}

/// Parses Ethernet/IPv4/TCP|UDP; `None` for anything else (including
/// non-first fragments, which carry no L4 header). Headers outside the
/// linear area are pulled in once, as Cilium's `revalidate_data_pull`.
#[inline(always)]
pub fn parse(ctx: &TcContext) -> Option<Packet> {
    if let Some(p) = parse_linear(ctx) {
        return Some(p);
    }
    let want = if ctx.len() < MAX_HDRS {
        ctx.len()
    } else {
        MAX_HDRS
    };
    if (ctx.data_end() - ctx.data()) as u32 >= want || ctx.pull_data(want).is_err() {
        return None;
    }
    parse_linear(ctx)
}

#[inline(always)]
fn parse_linear(ctx: &TcContext) -> Option<Packet> {
    let (data, end) = (ctx.data(), ctx.data_end());
    let eth_proto: u16 = read(data, end, 12)?;
    if eth_proto != ETH_P_IP_BE {
        return None;
    }
    let vihl: u8 = read(data, end, ETH_HLEN)?;
    if vihl >> 4 != 4 {
        return None;
    }
    let ihl = ((vihl & 0x0f) as usize) * 4;
    if ihl < 20 {
        return None;
    }
    let frag: u16 = read(data, end, ETH_HLEN + 6)?;
    if u16::from_be(frag) & 0x1fff != 0 {
        return None;
    }
    let proto: u8 = read(data, end, ETH_HLEN + 9)?;
    let l4_off = ETH_HLEN + ihl;
    let tcp_flags = if proto == IPPROTO_TCP {
        read::<u8>(data, end, l4_off + 13)?
    } else if proto == IPPROTO_UDP {
        // The UDP checksum must be inside the packet for the rewrite.
        read::<u16>(data, end, l4_off + UDP_CSUM_OFF)?;
        0
    } else {
        return None;
    };
    Some(Packet {
        saddr: read(data, end, IP_SADDR_OFF)?,
        daddr: read(data, end, IP_DADDR_OFF)?,
        sport: read(data, end, l4_off)?,
        dport: read(data, end, l4_off + 2)?,
        proto,
        tcp_flags,
        l4_off,
    })
}

/// Rewrites one IPv4 address and one L4 port, fixing the L4 checksum
/// (pseudo-header aware, so CHECKSUM_PARTIAL packets from a veth stay right)
/// and the IPv4 header checksum, with the helpers Cilium's
/// `__lb4_rewrite_destination` uses.
#[expect(
    clippy::too_many_arguments,
    reason = "one call per direction; a struct adds nothing"
)]
#[inline(always)]
pub fn rewrite(
    ctx: &TcContext,
    pkt: &Packet,
    addr_off: usize,
    old_addr: u32,
    new_addr: u32,
    port_off: usize,
    old_port: u16,
    new_port: u16,
) -> Result<(), i64> {
    let mangled = if pkt.is_tcp() {
        0
    } else {
        u64::from(BPF_F_MARK_MANGLED_0)
    };
    let csum_off = pkt.l4_csum_off();
    if old_addr != new_addr {
        ctx.l4_csum_replace(
            csum_off,
            u64::from(old_addr),
            u64::from(new_addr),
            u64::from(BPF_F_PSEUDO_HDR) | mangled | 4,
        )?;
        ctx.l3_csum_replace(IP_CSUM_OFF, u64::from(old_addr), u64::from(new_addr), 4)?;
        ctx.store(addr_off, &new_addr, 0)?;
    }
    if old_port != new_port {
        ctx.l4_csum_replace(
            csum_off,
            u64::from(old_port),
            u64::from(new_port),
            mangled | 2,
        )?;
        ctx.store(port_off, &new_port, 0)?;
    }
    Ok(())
}
