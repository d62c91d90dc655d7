//! The `reset` fault's established side: every established TCP connection
//! of the target pods destroyed through sock_diag (`SOCK_DESTROY`, as `ss
//! -K`), once when the fault starts and then every `every` while it lasts,
//! from one thread. The kernel's `tcp_abort` sends each peer a RST (Linux
//! v6.18 net/ipv4/tcp.c, `tcp_need_reset` covers ESTABLISHED), so both
//! ends see what a middlebox's reset does. The share of *new* connections
//! refused with a reset is an iptables rule (`netfilter.rs`).
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;

use crate::podserver::sockdiag::SockDiag;

/// Destroys every established connection in each of `diags`; returns how
/// many it reset.
fn reset_all(diags: &mut [SockDiag]) -> anyhow::Result<u64> {
    let mut n = 0;
    for d in diags {
        for id in d.established()? {
            if d.destroy(&id)? {
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
        every: Option<Duration>,
        lasts: Option<Duration>,
    ) -> anyhow::Result<(Self, u64)> {
        let start = Instant::now();
        let mut diags = SockDiag::open_in_each(pods)
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?;
        let first = reset_all(&mut diags).context("resetting established connections")?;
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
                                n += reset_all(&mut diags)?;
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
