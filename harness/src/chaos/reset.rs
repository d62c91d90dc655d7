//! The `reset` fault's established side: every established TCP connection
//! of the target pods destroyed through sock_diag (`SOCK_DESTROY`, as `ss
//! -K`), once when the fault starts and then every `every` while it lasts,
//! from one thread (with a service target, only that service's
//! connections). The kernel's `tcp_abort` sends each peer a RST (Linux
//! v6.18 net/ipv4/tcp.c, `tcp_need_reset` covers ESTABLISHED), so both
//! ends see what a middlebox's reset does. The share of *new* connections
//! refused with a reset is an iptables rule (`netfilter.rs`).
use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;

use super::filter::PortFilter;
use crate::podserver::sockdiag::SockDiag;

/// Destroys every established connection in each of `diags` (with
/// `only`, those on the backend's port whose peer is not the spared
/// address: one service's connections); returns how many it reset.
fn reset_all(diags: &mut [SockDiag], only: Option<PortFilter>) -> anyhow::Result<u64> {
    let mut n = 0;
    for d in diags {
        for id in d.established()? {
            let theirs = only.is_none_or(|f| {
                id.source_port == f.port && id.destination_address != IpAddr::V4(f.spare)
            });
            if theirs && d.destroy(&id)? {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// A running resetter.
pub struct Resetter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<u64>>>,
}

impl Resetter {
    /// Resets the pods' established connections now (an error here fails
    /// the fault's start) and, with `every`, again on that period while
    /// the fault lasts (`lasts`: its duration, None = until stopped).
    pub fn start(
        pods: &[NetnsRef],
        only: Option<PortFilter>,
        every: Option<Duration>,
        lasts: Option<Duration>,
    ) -> anyhow::Result<(Self, u64)> {
        let start = Instant::now();
        let mut diags = SockDiag::open_in_each(pods)
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?;
        let first = reset_all(&mut diags, only).context("resetting established connections")?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = every
            .map(|every| {
                std::thread::Builder::new()
                    .name("fault-reset".to_owned())
                    .spawn(move || {
                        let mut n = 0;
                        let mut next = Instant::now() + every;
                        // A pass due at the fault's end belongs to no one:
                        // the fault is over then.
                        let end = lasts.map(|l| start + l);
                        while !flag.load(Ordering::Relaxed) {
                            if end.is_some_and(|e| next >= e) {
                                break;
                            }
                            if Instant::now() >= next {
                                n += reset_all(&mut diags, only)?;
                                next += every;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Ok(n)
                    })
                    .context("starting the resetter")
            })
            .transpose()?;
        Ok((Self { stop, thread }, first))
    }

    /// Stops it; the connections it reset after the first pass.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the resetter panicked"),
            None => Ok(0),
        }
    }
}

impl Drop for Resetter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
