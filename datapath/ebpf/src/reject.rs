//! `service-no-backend-response=reject` (Cilium v1.15+): the packet to a
//! service without backends becomes an ICMP destination unreachable / port
//! unreachable from the service address back to the client, sent into the
//! pod on the same interface, so the client's TCP fails `connect()` with
//! ECONNREFUSED at once instead of retransmitting its SYN. Built in place
//! as Cilium v1.16.0 bpf/lib/lb.h:1718-1823 `__tail_no_service_ipv4` does
//! (reached from bpf_lxc.c:121-125 on DROP_NO_SERVICE when the agent
//! defines SERVICE_NO_BACKEND_RESPONSE, pkg/datapath/linux/config/config.go
//! :317-318): the frame cut to Ethernet + ICMP_PACKET_MAX_SAMPLE_SIZE (64)
//! bytes of the original datagram (:1712, :1752-1756), the MACs swapped
//! (:1787-1790), a new IPv4 header from the service address to the client
//! with the original TOS, id 0, no fragment bits, TTL IPDEFTTL 64 and
//! protocol ICMP (:1794-1806), ICMP type 3 code 3 (:1810-1811), then a
//! redirect to the egress of the interface it came in on (:1819-1822).
use aya_ebpf::{
    bindings::{__sk_buff, TC_ACT_SHOT},
    helpers::generated::{
        bpf_redirect, bpf_skb_change_tail, bpf_skb_load_bytes, bpf_skb_store_bytes,
    },
    programs::TcContext,
};

use crate::packet::{ETH_HLEN, Packet};

/// Bytes of the original datagram quoted after the ICMP header (Cilium's
/// ICMP_PACKET_MAX_SAMPLE_SIZE, lb.h:1712): the IP header and the first
/// bytes of its payload, fewer when the datagram is shorter.
pub const QUOTE_MAX: u32 = 64;
/// RFC 792's least: the IP header and 64 bits of the datagram.
const QUOTE_MIN: u32 = 28;
const IPPROTO_ICMP: u8 = 1;
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_PORT_UNREACH: u8 = 3;
const IP_TTL: u8 = 64;

/// The Internet checksum of `bytes` as big-endian 16-bit words (zero
/// padding adds nothing, so a zero-padded odd length sums as RFC 1071 asks).
#[inline(always)]
fn csum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        sum += (u32::from(bytes[i]) << 8) | u32::from(bytes[i + 1]);
        i += 2;
    }
    // Two folds bring any u32 sum below 0x10000 (a loop until no carry
    // is left would be one the verifier cannot bound).
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Rewrites the packet into the ICMP reply and redirects it back into the
/// pod; `Err` when the packet cannot be turned into one (the caller drops).
#[inline(always)]
pub fn icmp_port_unreachable(ctx: &TcContext, pkt: &Packet) -> Result<i32, i64> {
    let skb = ctx.skb.skb;
    let mut macs = [0u8; 12];
    // SAFETY: `macs` has the 12 bytes asked for (a constant length: aya's
    // `load_bytes` clamps it to the packet, which the verifier rejects).
    let r = unsafe { bpf_skb_load_bytes(skb as *const _, 0, macs.as_mut_ptr().cast(), 12) };
    if r != 0 {
        return Err(r);
    }
    // The original TOS is kept (lb.h:1794-1806).
    let tos: u8 = ctx.load(ETH_HLEN + 1)?;
    let tot_len = u32::from(u16::from_be(ctx.load::<u16>(ETH_HLEN + 2)?));
    let on_wire = ctx.len().saturating_sub(ETH_HLEN as u32);
    let mut quote = tot_len.min(on_wire).min(QUOTE_MAX);
    if quote < QUOTE_MIN {
        return Err(i64::from(TC_ACT_SHOT));
    }
    // Bounds the verifier can see.
    quote &= 0x7f;
    if quote > QUOTE_MAX {
        return Err(i64::from(TC_ACT_SHOT));
    }

    // ICMP header + quoted datagram, zero padded to an even length.
    let mut icmp = [0u8; 8 + QUOTE_MAX as usize];
    // SAFETY: `icmp[8..]` has QUOTE_MAX bytes and `quote` <= QUOTE_MAX.
    let r = unsafe {
        bpf_skb_load_bytes(
            skb as *const _,
            ETH_HLEN as u32,
            icmp.as_mut_ptr().add(8).cast(),
            quote,
        )
    };
    if r != 0 {
        return Err(r);
    }
    icmp[0] = ICMP_DEST_UNREACH;
    icmp[1] = ICMP_PORT_UNREACH;
    let c = csum(&icmp).to_be_bytes();
    icmp[2] = c[0];
    icmp[3] = c[1];

    let ip_len = (20 + 8 + quote) as u16;
    let s = pkt.daddr.to_ne_bytes();
    let d = pkt.saddr.to_ne_bytes();
    let l = ip_len.to_be_bytes();
    let mut ip = [
        0x45,
        tos,
        l[0],
        l[1],
        0,
        0,
        0,
        0,
        IP_TTL,
        IPPROTO_ICMP,
        0,
        0,
        s[0],
        s[1],
        s[2],
        s[3],
        d[0],
        d[1],
        d[2],
        d[3],
    ];
    let c = csum(&ip).to_be_bytes();
    ip[10] = c[0];
    ip[11] = c[1];
    let mut eth = [0u8; 12];
    eth[..6].copy_from_slice(&macs[6..]);
    eth[6..].copy_from_slice(&macs[..6]);

    let new_len = ETH_HLEN as u32 + u32::from(ip_len);
    // SAFETY: the skb is the program's context; the stores write inside the
    // resized packet from stack buffers of the given lengths.
    unsafe {
        let r = bpf_skb_change_tail(skb, new_len, 0);
        if r != 0 {
            return Err(r);
        }
        let r = bpf_skb_store_bytes(skb, 0, eth.as_ptr().cast(), 12, 0);
        if r != 0 {
            return Err(r);
        }
        let r = bpf_skb_store_bytes(skb, ETH_HLEN as u32, ip.as_ptr().cast(), 20, 0);
        if r != 0 {
            return Err(r);
        }
        let r = bpf_skb_store_bytes(
            skb,
            ETH_HLEN as u32 + 20,
            icmp.as_ptr().cast(),
            8 + quote,
            0,
        );
        if r != 0 {
            return Err(r);
        }
        let ifindex = (*(skb as *const __sk_buff)).ifindex;
        Ok(bpf_redirect(ifindex, 0) as i32)
    }
}
