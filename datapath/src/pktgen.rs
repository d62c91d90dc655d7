//! Packet builder and checksum checker for datapath tests and benchmarks
//! (Cilium's pktgen role): Ethernet/IPv4/TCP|UDP frames with correct
//! checksums, and an independent verifier for what the programs rewrote.
use std::net::{Ipv4Addr, SocketAddrV4};

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;

const ETH: usize = 14;
const IP: usize = 20;

/// Builds an Ethernet + IPv4 + TCP frame with `payload`.
pub fn tcp(src: SocketAddrV4, dst: SocketAddrV4, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(
        *src.ip(),
        *dst.ip(),
        6,
        tcp_header(src, dst, flags, 0x1000_0000, payload),
        16,
    )
}

/// A TCP segment alone (header and `payload`, sequence number `seq`) with
/// its checksum over the IPv4 pseudo header: what a raw `IPPROTO_TCP`
/// socket sends, the kernel adding the IP header.
pub fn tcp_segment(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = tcp_header(src, dst, flags, seq, payload);
    let c = l4_checksum(*src.ip(), *dst.ip(), 6, &l4);
    l4[16..18].copy_from_slice(&c.to_be_bytes());
    l4
}

/// A TCP header without options, checksum 0, followed by `payload`.
fn tcp_header(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: u8,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[0..2].copy_from_slice(&src.port().to_be_bytes());
    l4[2..4].copy_from_slice(&dst.port().to_be_bytes());
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
    l4.extend_from_slice(payload);
    l4
}

/// Builds an Ethernet + IPv4 + UDP frame with `payload`.
pub fn udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[0..2].copy_from_slice(&src.port().to_be_bytes());
    l4[2..4].copy_from_slice(&dst.port().to_be_bytes());
    let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    l4[4..6].copy_from_slice(&len.to_be_bytes());
    l4.extend_from_slice(payload);
    frame(*src.ip(), *dst.ip(), 17, l4, 6)
}

fn frame(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut l4: Vec<u8>, csum_off: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETH + IP + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // dst MAC
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // src MAC
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = u16::try_from(IP + l4.len()).unwrap_or(u16::MAX);
    let mut ip = [0u8; IP];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = fold(sum(&ip, 0));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let c = l4_checksum(src, dst, proto, &l4);
    l4[csum_off..csum_off + 2].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// The Internet checksum (RFC 1071) of `bytes`: 0 over data that carries
/// its own correct checksum.
pub fn inet_checksum(bytes: &[u8]) -> u16 {
    fold(sum(bytes, 0))
}

fn sum(bytes: &[u8], mut acc: u32) -> u32 {
    for chunk in bytes.chunks(2) {
        let w = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        acc = acc.wrapping_add(u32::from(w));
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// RFC 793 checksum over the pseudo header and `l4` (with its checksum
/// field zeroed by the caller when computing, kept when verifying).
fn l4_checksum(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> u16 {
    let c = fold(pseudo_plus(src, dst, proto, l4));
    if proto == 17 && c == 0 { 0xffff } else { c }
}

/// The parts of a frame tests look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub proto: u8,
    pub tcp_flags: u8,
    /// IPv4 header checksum verifies.
    pub ip_csum_ok: bool,
    /// TCP/UDP checksum verifies (UDP checksum 0 = none counts as ok).
    pub l4_csum_ok: bool,
}

/// Parses a frame built like ours and verifies both checksums from scratch.
pub fn parse(f: &[u8]) -> Option<Parsed> {
    if f.len() < ETH + IP || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[ETH..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip.len() < total || total < ihl + 8 {
        return None;
    }
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let proto = ip[9];
    let l4 = &ip[ihl..total];
    let port = |o: usize| u16::from_be_bytes([l4[o], l4[o + 1]]);
    let l4_csum_ok = match proto {
        6 => fold(pseudo_plus(src_ip, dst_ip, proto, l4)) == 0,
        17 => port(6) == 0 || fold(pseudo_plus(src_ip, dst_ip, proto, l4)) == 0,
        _ => return None,
    };
    Some(Parsed {
        src: SocketAddrV4::new(src_ip, port(0)),
        dst: SocketAddrV4::new(dst_ip, port(2)),
        proto,
        tcp_flags: if proto == 6 { l4[13] } else { 0 },
        ip_csum_ok: fold(sum(&ip[..ihl], 0)) == 0,
        l4_csum_ok,
    })
}

fn pseudo_plus(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4: &[u8]) -> u32 {
    let mut acc = sum(&src.octets(), 0);
    acc = sum(&dst.octets(), acc);
    acc = acc.wrapping_add(u32::from(proto));
    acc = acc.wrapping_add(u32::try_from(l4.len()).unwrap_or(0));
    sum(l4, acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_verify() {
        let a = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 19, 0, 1), 80);
        let p = parse(&tcp(a, b, TCP_SYN, b"hello")).expect("parse");
        assert!(p.ip_csum_ok && p.l4_csum_ok, "{p:?}");
        assert_eq!((p.src, p.dst, p.tcp_flags), (a, b, TCP_SYN));
        let mut f = udp(a, b, b"x");
        assert!(parse(&f).expect("parse").l4_csum_ok);
        let n = f.len();
        f[n - 1] ^= 1;
        assert!(
            !parse(&f).expect("parse").l4_csum_ok,
            "corruption must be detected"
        );
    }

    #[test]
    fn a_segment_is_the_frames_tcp_part_with_its_own_sequence() {
        let a = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 20), 8080);
        let seg = tcp_segment(a, b, TCP_SYN, 0x1000_0000, b"");
        assert_eq!(&tcp(a, b, TCP_SYN, b"")[ETH + IP..], &seg[..]);
        let other = tcp_segment(a, b, TCP_SYN, 0x0102_0304, b"");
        assert_eq!(&other[4..8], &[1, 2, 3, 4]);
        assert_eq!(
            fold(pseudo_plus(*a.ip(), *b.ip(), 6, &other)),
            0,
            "the checksum verifies"
        );
    }
}
