//! What a fault actually did, measured independently of the fault's own
//! machinery: an ICMP echo every 100 ms across the faulted hop (from the
//! node's netns to the pod, or between two nodes' fabric addresses), on a
//! raw socket opened inside the sending netns. Round-trip loss and RTT are
//! what the report sets against the fault's configured values.
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

impl Pinger {
    /// Pings `to` from inside `from` every [`PING_INTERVAL`]. An echo
    /// still unanswered `grace` after it was sent when the pinger stops is
    /// lost; a younger one is left out (neither lost nor answered).
    pub fn start(
        from: &NetnsRef,
        to: Ipv4Addr,
        ident: u16,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        let sock = from
            .run(|| Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)))?
            .with_context(|| format!("opening a raw ICMP socket in {}", from.name()))?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        sock.connect(&SocketAddrV4::new(to, 0).into())
            .with_context(|| format!("ICMP socket to {to}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("ping-{to}"))
            .spawn(move || ping_loop(&sock, ident, grace, &flag))
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

fn ping_loop(sock: &Socket, ident: u16, grace: Duration, stop: &AtomicBool) -> PingStats {
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
            if sock.send(&echo(ident, seq)).is_ok() {
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
        let Some(icmp) = b.get(ihl..ihl + 8) else {
            continue;
        };
        if icmp[0] != 0 || u16::from_be_bytes([icmp[4], icmp[5]]) != ident {
            continue;
        }
        let s = u16::from_be_bytes([icmp[6], icmp[7]]);
        if let Some(t) = pending.remove(&s) {
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
}
