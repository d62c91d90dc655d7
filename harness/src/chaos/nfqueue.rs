//! A minimal nfnetlink_queue client for the delay line: bind a queue with
//! a bound and fail-open, read the ids of queued packets, accept them by
//! id. Only what the delay needs (no payload copy, no mangling), over
//! `netlink-sys` so the socket's fd can be polled with a deadline. Message
//! layouts: include/uapi/linux/netfilter/nfnetlink_queue.h and
//! nfnetlink.h (Linux v6.18).
use std::{io, os::fd::AsRawFd as _, time::Duration};

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_CFG_CMD_UNBIND: u8 = 2;
const NFQNL_COPY_META: u8 = 1;
const NFQA_CFG_F_FAIL_OPEN: u32 = 1;
const NF_ACCEPT: u32 = 1;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// Attribute type bits that are flags, not the type (NLA_TYPE_MASK).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One bound queue.
pub struct NfQueue {
    sock: Socket,
    queue: u16,
    seq: u32,
    buf: Vec<u8>,
}

/// Appends one netlink attribute (4-byte aligned).
fn attr(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

impl NfQueue {
    /// Opens a socket in the calling thread's netns and binds `queue`:
    /// metadata only, at most `maxlen` packets queued, failing open beyond.
    pub fn bind(queue: u16, maxlen: u32) -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // A burst the reader cannot keep up with must not turn into an
        // error: no ENOBUFS (the kernel's queue bound decides instead), and
        // room for a few thousand packet messages.
        sock.set_no_enobufs(true)?;
        socket2::SockRef::from(&sock).set_recv_buffer_size(4 << 20)?;
        let mut q = Self {
            sock,
            queue,
            seq: 0,
            buf: vec![0; 64 * 1024],
        };
        let mut a = Vec::new();
        attr(&mut a, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_BIND, 0, 0, 0]);
        q.config(&a)?;
        let mut a = Vec::new();
        let mut params = 0u32.to_be_bytes().to_vec();
        params.push(NFQNL_COPY_META);
        attr(&mut a, NFQA_CFG_PARAMS, &params);
        attr(&mut a, NFQA_CFG_QUEUE_MAXLEN, &maxlen.to_be_bytes());
        attr(&mut a, NFQA_CFG_FLAGS, &NFQA_CFG_F_FAIL_OPEN.to_be_bytes());
        attr(&mut a, NFQA_CFG_MASK, &NFQA_CFG_F_FAIL_OPEN.to_be_bytes());
        q.config(&a)?;
        Ok(q)
    }

    /// Sends one message of `ty` for this queue with `attrs`; with `ack`,
    /// waits for the kernel's answer.
    fn send(&mut self, ty: u16, attrs: &[u8], ack: bool) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let len = 16 + 4 + attrs.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
        m.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | ty).to_ne_bytes());
        let flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 };
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: AF_UNSPEC, NFNETLINK_V0, the queue number (big endian).
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&self.queue.to_be_bytes());
        m.extend_from_slice(attrs);
        self.sock.send(&m, 0)?;
        if !ack {
            return Ok(());
        }
        let seq = self.seq;
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off + 16 <= n {
                let b = &self.buf[off..n];
                let mlen = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let mty = u16::from_ne_bytes([b[4], b[5]]);
                let mseq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if mlen < 16 {
                    break;
                }
                if mty == NLMSG_ERROR && mseq == seq && b.len() >= 20 {
                    let code = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                off += mlen.div_ceil(4) * 4;
            }
        }
    }

    fn config(&mut self, attrs: &[u8]) -> io::Result<()> {
        self.send(NFQNL_MSG_CONFIG, attrs, true)
    }

    /// Waits up to `timeout` for packets; returns the ids of those queued
    /// (empty on timeout).
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Vec<u32>> {
        let mut fds = [libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
        };
        // SAFETY: one valid pollfd for the socket we own, a valid timespec,
        // no signal mask.
        let r = unsafe { libc::ppoll(fds.as_mut_ptr(), 1, &ts, std::ptr::null()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let mut ids = Vec::new();
        if r == 0 {
            return Ok(ids);
        }
        // Everything queued now, one datagram at a time, until none is left.
        loop {
            let n = match self.sock.recv(&mut &mut self.buf[..], libc::MSG_DONTWAIT) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ids),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            parse_packet_ids(&self.buf[..n], &mut ids);
        }
    }

    /// What is still queued without waiting (before the queue unbinds).
    pub fn drain(&mut self) -> io::Result<Vec<u32>> {
        self.recv(Duration::ZERO)
    }

    /// Accepts the packet `id`.
    pub fn accept(&mut self, id: u32) -> io::Result<()> {
        let mut a = Vec::new();
        let mut hdr = NF_ACCEPT.to_be_bytes().to_vec();
        hdr.extend_from_slice(&id.to_be_bytes());
        attr(&mut a, NFQA_VERDICT_HDR, &hdr);
        self.send(NFQNL_MSG_VERDICT, &a, false)
    }

    /// Unbinds the queue (packets still queued are dropped by the kernel:
    /// accept them first).
    pub fn unbind(&mut self) -> io::Result<()> {
        let mut a = Vec::new();
        attr(&mut a, NFQA_CFG_CMD, &[NFQNL_CFG_CMD_UNBIND, 0, 0, 0]);
        self.config(&a)
    }
}

/// The packet ids of the `NFQNL_MSG_PACKET` messages in one datagram.
fn parse_packet_ids(b: &[u8], ids: &mut Vec<u32>) {
    let n = b.len();
    let mut off = 0;
    while off + 20 <= n {
        let m = &b[off..n];
        let mlen = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize;
        let mty = u16::from_ne_bytes([m[4], m[5]]);
        if mlen < 20 || mlen > m.len() {
            break;
        }
        if mty == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET {
            // Attributes after nlmsghdr (16) and nfgenmsg (4).
            let mut a = 20;
            while a + 4 <= mlen {
                let alen = usize::from(u16::from_ne_bytes([m[a], m[a + 1]]));
                let aty = u16::from_ne_bytes([m[a + 2], m[a + 3]]) & NLA_TYPE_MASK;
                if alen < 4 || a + alen > mlen {
                    break;
                }
                if aty == NFQA_PACKET_HDR && alen >= 8 {
                    ids.push(u32::from_be_bytes([m[a + 4], m[a + 5], m[a + 6], m[a + 7]]));
                    break;
                }
                a += alen.div_ceil(4) * 4;
            }
        }
        off += mlen.div_ceil(4) * 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One NFQNL_MSG_PACKET message with `id` (and a second attribute
    /// before the header, as the kernel may order them).
    fn packet(id: u32) -> Vec<u8> {
        let mut attrs = Vec::new();
        attr(&mut attrs, 9, &[1, 2, 3]);
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&[8, 0, 3]);
        attr(&mut attrs, NFQA_PACKET_HDR, &hdr);
        let len = 20 + attrs.len();
        let mut m = Vec::new();
        m.extend_from_slice(&u32::try_from(len).expect("len").to_ne_bytes());
        m.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0, 0, 0, 7]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn packet_ids_are_read_from_every_message_and_bad_lengths_stop_the_walk() {
        let mut d = packet(7);
        d.extend(packet(0x0102_0304));
        let mut ids = Vec::new();
        parse_packet_ids(&d, &mut ids);
        assert_eq!(ids, [7, 0x0102_0304]);
        // An attribute claiming more than its message: ignored, no panic.
        let mut bad = packet(9);
        bad[20] = 0xff;
        let mut ids = Vec::new();
        parse_packet_ids(&bad, &mut ids);
        assert!(ids.is_empty());
        parse_packet_ids(&bad[..25], &mut ids);
        assert!(ids.is_empty());
    }
}
