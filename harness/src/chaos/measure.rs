//! What a fault actually did, measured independently of the fault's own
//! machinery: a probe every 100 ms across the faulted hop (from the node's
//! netns to the pod, or between two nodes' fabric addresses), on a raw
//! socket opened inside the sending netns. The probe is an ICMP echo, or a
//! TCP SYN to the backend's port where the fault acts on one port (a
//! service's traffic): the backend's kernel answers SYN-ACK without its
//! program seeing a connection, and the prober's kernel resets the
//! half-open one (nothing listens on the reserved port), as `hping3 -S`.
//! Round-trip loss and RTT are what the report sets against the fault's
//! configured values.
use std::{
    collections::BTreeMap,
    mem::MaybeUninit,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use socket2::{Domain, Protocol, Socket, Type};
use svclab_datapath::NetnsRef;

/// One echo every this often.
pub const PING_INTERVAL: Duration = Duration::from_millis(100);

/// What the pinger saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PingStats {
    pub sent: u64,
    pub received: u64,
    /// RTT percentiles in microseconds (0 without replies).
    pub rtt_p50_us: u64,
    pub rtt_p99_us: u64,
}

impl PingStats {
    /// Round-trip loss in percent.
    #[must_use]
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * (self.sent - self.received.min(self.sent)) as f64 / self.sent as f64
    }
}

/// A running pinger; [`Pinger::finish`] stops it and returns its figures.
pub struct Pinger {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<PingStats>>,
}

/// What the probe sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// ICMP echo requests.
    Icmp,
    /// TCP SYNs to this port, from `from` (a local address of the
    /// sending netns).
    TcpSyn { port: u16, from: Ipv4Addr },
}

/// The socket a probe sends on, with what it needs to build and match.
enum Wire {
    Icmp,
    Tcp {
        /// Keeps the source port reserved: bound, never listening, so the
        /// kernel resets every SYN-ACK that comes back to it.
        _reserved: Socket,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    },
}

impl Wire {
    fn request(&self, ident: u16, seq: u16) -> Vec<u8> {
        match self {
            Self::Icmp => echo(ident, seq).to_vec(),
            Self::Tcp { src, dst, .. } => svclab_datapath::pktgen::tcp_segment(
                *src,
                *dst,
                svclab_datapath::pktgen::TCP_SYN,
                syn_seq(ident, seq),
                &[],
            ),
        }
    }

    /// The sequence number a reply (after the IP header) answers.
    fn answered(&self, ident: u16, l4: &[u8]) -> Option<u16> {
        match self {
            Self::Icmp => {
                let icmp = l4.get(..8)?;
                (icmp[0] == 0 && u16::from_be_bytes([icmp[4], icmp[5]]) == ident)
                    .then(|| u16::from_be_bytes([icmp[6], icmp[7]]))
            }
            Self::Tcp { src, dst, .. } => syn_answered(ident, *src, *dst, l4),
        }
    }
}

/// A SYN's sequence number: the fault's ident and the probe's own.
fn syn_seq(ident: u16, seq: u16) -> u32 {
    (u32::from(ident) << 16) | u32::from(seq)
}

/// Which probe a TCP segment answers: a SYN-ACK, or a RST (nothing
/// listens: the path still carried both ways), from `dst` to `src`
/// acknowledging one of this ident's SYNs.
fn syn_answered(ident: u16, src: SocketAddrV4, dst: SocketAddrV4, tcp: &[u8]) -> Option<u16> {
    use svclab_datapath::pktgen::{TCP_ACK, TCP_RST, TCP_SYN};
    let t = tcp.get(..20)?;
    let port = |o: usize| u16::from_be_bytes([t[o], t[o + 1]]);
    if port(0) != dst.port() || port(2) != src.port() {
        return None;
    }
    let flags = t[13];
    let reply = flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK
        || flags & (TCP_RST | TCP_ACK) == TCP_RST | TCP_ACK;
    let ack = u32::from_be_bytes([t[8], t[9], t[10], t[11]]).wrapping_sub(1);
    (reply && ack >> 16 == u32::from(ident)).then_some(ack as u16)
}

impl Pinger {
    /// Probes `to` from inside `from` every [`PING_INTERVAL`]. A probe
    /// still unanswered `grace` after it was sent when the pinger stops is
    /// lost; a younger one is left out (neither lost nor answered).
    pub fn start(
        from: &NetnsRef,
        to: Ipv4Addr,
        kind: ProbeKind,
        ident: u16,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        let proto = match kind {
            ProbeKind::Icmp => Protocol::ICMPV4,
            ProbeKind::TcpSyn { .. } => Protocol::TCP,
        };
        let sock = from
            .run(|| Socket::new(Domain::IPV4, Type::RAW, Some(proto)))?
            .with_context(|| format!("opening a raw {proto:?} socket in {}", from.name()))?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        let wire = match kind {
            ProbeKind::Icmp => Wire::Icmp,
            ProbeKind::TcpSyn { port, from: src_ip } => {
                let reserved = from
                    .run(|| Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)))?
                    .context("opening the probe's TCP socket")?;
                reserved
                    .bind(&SocketAddrV4::new(src_ip, 0).into())
                    .with_context(|| format!("reserving a probe port on {src_ip}"))?;
                let src = reserved
                    .local_addr()?
                    .as_socket_ipv4()
                    .context("the probe socket has no IPv4 address")?;
                sock.bind(&SocketAddrV4::new(src_ip, 0).into())
                    .with_context(|| format!("binding the raw TCP socket to {src_ip}"))?;
                Wire::Tcp {
                    _reserved: reserved,
                    src,
                    dst: SocketAddrV4::new(to, port),
                }
            }
        };
        sock.connect(&SocketAddrV4::new(to, 0).into())
            .with_context(|| format!("raw socket to {to}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("ping-{to}"))
            .spawn(move || ping_loop(&sock, &wire, ident, grace, &flag))
            .context("starting a pinger")?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    pub fn finish(mut self) -> PingStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An ICMP echo request with `ident` and `seq`.
fn echo(ident: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 8;
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"svclab\0\0");
    let c = svclab_datapath::pktgen::inet_checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

fn ping_loop(
    sock: &Socket,
    wire: &Wire,
    ident: u16,
    grace: Duration,
    stop: &AtomicBool,
) -> PingStats {
    let mut stats = PingStats::default();
    let mut rtts = hdrhistogram::Histogram::<u64>::new(3).ok();
    let mut pending: BTreeMap<u16, Instant> = BTreeMap::new();
    let mut seq: u16 = 0;
    let mut next = Instant::now();
    let mut buf = [MaybeUninit::<u8>::uninit(); 1500];
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= next {
            seq = seq.wrapping_add(1);
            if sock.send(&wire.request(ident, seq)).is_ok() {
                stats.sent += 1;
                pending.insert(seq, now);
            }
            // After a stall, one echo, not a burst of the missed ones.
            next = (next + PING_INTERVAL).max(now);
        }
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        // SAFETY: recv initialised the first n bytes.
        let b: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        // A raw socket hands over the IP header too.
        let ihl = usize::from(b.first().copied().unwrap_or(0) & 0x0f) * 4;
        let Some(s) = b.get(ihl..).and_then(|l4| wire.answered(ident, l4)) else {
            continue;
        };
        // An answer later than the grace is a retransmission (a SYN-ACK
        // resent after the first was lost), not the probe's own reply: the
        // probe stays lost.
        if let Some(t) = pending.remove(&s).filter(|t| t.elapsed() < grace) {
            stats.received += 1;
            if let Some(h) = rtts.as_mut() {
                let _ = h.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
        }
    }
    // Echoes that may still be in flight when the fault ended are neither
    // lost nor answered: leave them out.
    let young = pending.values().filter(|t| t.elapsed() < grace).count();
    stats.sent -= young as u64;
    if let Some(h) = rtts.filter(|h| !h.is_empty()) {
        stats.rtt_p50_us = h.value_at_quantile(0.5);
        stats.rtt_p99_us = h.value_at_quantile(0.99);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksums_to_zero() {
        let p = echo(0x1234, 7);
        assert_eq!(
            svclab_datapath::pktgen::inet_checksum(&p),
            0,
            "a packet with its checksum sums to 0"
        );
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn a_syn_ack_or_a_rst_answers_its_own_syn_only() {
        use svclab_datapath::pktgen::{TCP_ACK, TCP_RST, TCP_SYN};
        let src = SocketAddrV4::new(Ipv4Addr::new(198, 19, 254, 1), 41000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 5), 8080);
        let reply = |flags: u8, ack: u32, from: u16, to: u16| {
            let mut t = [0u8; 20];
            t[0..2].copy_from_slice(&from.to_be_bytes());
            t[2..4].copy_from_slice(&to.to_be_bytes());
            t[8..12].copy_from_slice(&ack.to_be_bytes());
            t[13] = flags;
            t
        };
        let ack = syn_seq(0x5101, 9) + 1;
        let answered = |t: [u8; 20]| syn_answered(0x5101, src, dst, &t);
        assert_eq!(
            answered(reply(TCP_SYN | TCP_ACK, ack, 8080, 41000)),
            Some(9)
        );
        assert_eq!(
            answered(reply(TCP_RST | TCP_ACK, ack, 8080, 41000)),
            Some(9)
        );
        assert_eq!(answered(reply(TCP_SYN, ack, 8080, 41000)), None, "no ACK");
        assert_eq!(
            answered(reply(TCP_SYN | TCP_ACK, ack, 9090, 41000)),
            None,
            "port"
        );
        assert_eq!(
            answered(reply(TCP_SYN | TCP_ACK, ack, 8080, 41001)),
            None,
            "ours"
        );
        let other = syn_seq(0x5102, 9) + 1;
        assert_eq!(
            answered(reply(TCP_SYN | TCP_ACK, other, 8080, 41000)),
            None,
            "ident"
        );
    }
}
