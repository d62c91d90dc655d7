//! The `delay` fault without netem: an NFQUEUE delay line. An iptables
//! rule (`netfilter.rs`) in the receiving netns hands each matching packet
//! to queue `n` (`--queue-bypass`: with no reader the packets pass); a
//! thread inside that netns reads the queue, gives each packet a release
//! time (delay ± jitter, never before the packet ahead unless reordering
//! is allowed) and accepts it when that time comes. The kernel queue is
//! bounded (`NFQA_CFG_QUEUE_MAXLEN`) and fails open
//! (`NFQA_CFG_F_FAIL_OPEN`): beyond the bound a packet passes undelayed
//! rather than being dropped (the kernel counts neither; the validator
//! refuses a bound the suite's rate would overrun, and the pinger's RTT
//! shows it). On drop every held packet is accepted at once before the
//! queue closes (a closing queue would drop them).
//!
//! Why NFQUEUE: eBPF cannot hold a packet, EDT timestamps need fq or etf,
//! and this kernel has neither (nor netem); TBF/HTB only add
//! queue-dependent delay. The `nfq` crate was tried first: it exposes no
//! fd, so a release deadline could only be met by spinning; `nfqueue.rs`
//! speaks the queue's netlink protocol over a netlink-sys socket that can
//! be waited on with a deadline, and holds only packet ids.
use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use rand::{Rng as _, SeedableRng as _, rngs::SmallRng};
use rand_distr::{Distribution as _, Normal};
use svclab_datapath::NetnsRef;

use super::nfqueue::NfQueue;

/// How each packet's delay is drawn.
#[derive(Clone, Copy, Debug)]
pub struct DelayModel {
    pub delay: Duration,
    pub jitter: Duration,
    /// Normal (jitter = sigma, cut at ± 4 sigma) instead of uniform ± jitter.
    pub normal: bool,
    pub reorder: bool,
    /// Packets held at once.
    pub limit: u32,
}

impl DelayModel {
    /// One packet's delay.
    fn draw(&self, rng: &mut SmallRng) -> Duration {
        let d = self.delay.as_secs_f64();
        let j = self.jitter.as_secs_f64();
        if j <= 0.0 {
            return self.delay;
        }
        let off = if self.normal {
            Normal::new(0.0, j)
                .map(|n| n.sample(rng).clamp(-4.0 * j, 4.0 * j))
                .unwrap_or(0.0)
        } else {
            rng.random_range(-j..=j)
        };
        Duration::from_secs_f64((d + off).max(0.0))
    }
}

/// What a delay line did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DelayStats {
    /// Packets it held and released.
    pub packets: u64,
    /// Most packets held at once.
    pub max_held: usize,
    /// How late releases were against their scheduled time, p50 and p99
    /// (the line's own precision, on top of the set delay).
    pub late_p50_us: u64,
    pub late_p99_us: u64,
}

/// A running delay line; dropping it releases every held packet and ends
/// the thread.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<DelayStats>>>,
    pub queue: u16,
}

impl DelayLine {
    /// Starts the line on queue `queue` inside `netns`; returns once the
    /// queue is bound (so the rule added next finds a reader).
    pub fn start(netns: &NetnsRef, queue: u16, model: DelayModel) -> anyhow::Result<Self> {
        let netns = netns.try_clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("delay-q{queue}"))
            .spawn(move || run(&netns, queue, model, &flag, &ready_tx))
            .context("starting a delay line thread")?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                stop,
                thread: Some(thread),
                queue,
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => anyhow::bail!("the delay line for queue {queue} ended before it started"),
            },
        }
    }

    /// Stops the line (releasing every held packet) and returns what it did.
    pub fn finish(mut self) -> anyhow::Result<DelayStats> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the delay line for queue {} panicked", self.queue),
            None => Ok(DelayStats::default()),
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A held packet: release time, arrival order, the queue's message.
struct Held {
    at: Instant,
    seq: u64,
    id: u32,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// The line's thread: enter the netns, bind the queue, then hold and
/// release until told to stop.
fn run(
    netns: &NetnsRef,
    queue: u16,
    model: DelayModel,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<anyhow::Result<()>>,
) -> anyhow::Result<DelayStats> {
    let open = || -> anyhow::Result<NfQueue> {
        netns
            .enter_current_thread()
            .with_context(|| format!("entering {} for the delay line", netns.name()))?;
        NfQueue::bind(queue, model.limit).with_context(|| {
            format!(
                "binding NFQUEUE {queue} in {} (nfnetlink_queue in the kernel?)",
                netns.name()
            )
        })
    };
    // Releases wait in ppoll with a deadline: the default 50 µs timer
    // slack would add to every one.
    // SAFETY: prctl(PR_SET_TIMERSLACK) on the calling thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let mut q = match open() {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(DelayStats::default());
        }
    };
    let mut rng = SmallRng::from_os_rng();
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut stats = DelayStats::default();
    let mut late = hdrhistogram::Histogram::<u64>::new(3).context("histogram")?;
    let mut seq = 0u64;
    let mut last_release = Instant::now();
    // An error ends the line, never with packets held: they are released
    // first, and the error is logged and reported when the fault ends.
    let mut failed: Option<anyhow::Error> = None;
    while !stop.load(Ordering::Relaxed) {
        // Wait for packets until the next release (1 ms at most, to
        // notice `stop`), then give each its release time.
        let wait = held
            .peek()
            .map_or(Duration::from_millis(1), |h| {
                h.0.at.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(1));
        let ids = match q.recv(wait) {
            Ok(ids) => ids,
            Err(e) => {
                failed = Some(anyhow::Error::new(e).context("reading the NFQUEUE"));
                break;
            }
        };
        for id in ids {
            let now = Instant::now();
            let mut at = now + model.draw(&mut rng);
            if !model.reorder && at < last_release {
                at = last_release;
            }
            last_release = last_release.max(at);
            seq += 1;
            held.push(Reverse(Held { at, seq, id }));
            stats.max_held = stats.max_held.max(held.len());
        }
        let now = Instant::now();
        while let Some(Reverse(h)) = held
            .peek_mut()
            .filter(|h| h.0.at <= now)
            .map(std::collections::binary_heap::PeekMut::pop)
        {
            let _ = late
                .record(u64::try_from(now.duration_since(h.at).as_micros()).unwrap_or(u64::MAX));
            if let Err(e) = q.accept(h.id) {
                failed = Some(anyhow::Error::new(e).context("NFQUEUE verdict"));
                break;
            }
            stats.packets += 1;
        }
        if failed.is_some() {
            break;
        }
    }
    // Release whatever is held or still queued, in order, before the queue
    // unbinds (an unbinding queue drops what it holds).
    if let Ok(ids) = q.drain() {
        for id in ids {
            seq += 1;
            held.push(Reverse(Held {
                at: Instant::now(),
                seq,
                id,
            }));
        }
    }
    while let Some(Reverse(h)) = held.pop() {
        let _ = q.accept(h.id);
        stats.packets += 1;
    }
    let _ = q.unbind();
    if let Some(e) = failed {
        tracing::warn!("delay line on queue {queue} in {}: {e:#}", netns.name());
        return Err(e);
    }
    stats.late_p50_us = late.value_at_quantile(0.5);
    stats.late_p99_us = late.value_at_quantile(0.99);
    Ok(stats)
}
