//! The pod server's SIGTERM behaviours (`svclab pod-server --on-sigterm`):
//! `exit` keeps the default disposition (the kernel ends the process at
//! once: queued connections are reset, in-flight requests lost);
//! `stop-accepting` shuts the listener down (new connections refused,
//! queued ones reset), finishes in-flight requests, closes idle keep-alive
//! connections and exits when none is open (Go's `http.Server.Shutdown`);
//! `drain` keeps serving, answers every request `Connection: close` and
//! exits once no connection has been open for [`DRAIN_QUIET`] (nginx's
//! graceful quit as seen by keep-alive clients); `ignore` waits for the
//! SIGKILL. SIGTERM is blocked in every thread and taken by one watcher
//! thread with sigwait(2), so no async-signal-safety concerns arise.
use std::{
    sync::atomic::{AtomicI32, AtomicU8, AtomicU32, Ordering},
    time::{Duration, Instant},
};

use nix::sys::{
    signal::{SigSet, Signal},
    socket::Shutdown,
};

/// How long `drain` waits with no connection open before exiting.
pub const DRAIN_QUIET: Duration = Duration::from_millis(500);

/// `--on-sigterm` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnSigterm {
    Exit,
    StopAccepting,
    Drain,
    Ignore,
}

/// 0 serving; [`STOP_ACCEPTING`] or [`DRAIN`] once SIGTERM arrived.
static STATE: AtomicU8 = AtomicU8::new(0);
const STOP_ACCEPTING: u8 = 1;
const DRAIN: u8 = 2;
/// Connections accepted and not yet closed (serving port).
static OPEN: AtomicU32 = AtomicU32::new(0);
/// The serving listener's fd once it listens (-1 before).
static LISTENER: AtomicI32 = AtomicI32::new(-1);

/// Whether responses should close the connection (SIGTERM seen, not `ignore`).
pub fn closing() -> bool {
    STATE.load(Ordering::Relaxed) != 0
}

/// Whether idle keep-alive connections should be closed now.
pub fn close_idle() -> bool {
    STATE.load(Ordering::Relaxed) == STOP_ACCEPTING
}

/// A connection opened / closed on the serving port.
pub fn opened() {
    OPEN.fetch_add(1, Ordering::Relaxed);
}
pub fn closed() {
    OPEN.fetch_sub(1, Ordering::Relaxed);
}

/// The serving listener is up.
pub fn listening(fd: i32) {
    LISTENER.store(fd, Ordering::Relaxed);
}

/// Blocks SIGTERM in the calling thread (and every thread it spawns later)
/// unless the mode is `exit`. Call before any thread exists.
pub fn block(mode: OnSigterm) -> anyhow::Result<()> {
    if mode == OnSigterm::Exit {
        return Ok(());
    }
    term_set()
        .thread_block()
        .map_err(|e| anyhow::anyhow!("pthread_sigmask: {}", e as i32))
}

fn term_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set
}

/// The watcher: waits for SIGTERM and acts on it (never returns for
/// modes other than `exit`, which does not start it).
pub fn watch(mode: OnSigterm) {
    let set = term_set();
    loop {
        // SIGTERM is blocked in every thread.
        if set.wait() != Ok(Signal::SIGTERM) {
            continue;
        }
        match mode {
            OnSigterm::Exit => std::process::exit(0),
            OnSigterm::Ignore => {}
            OnSigterm::StopAccepting => {
                STATE.store(STOP_ACCEPTING, Ordering::Relaxed);
                stop_listening();
                wait_closed(Duration::ZERO);
                std::process::exit(0);
            }
            OnSigterm::Drain => {
                STATE.store(DRAIN, Ordering::Relaxed);
                wait_closed(DRAIN_QUIET);
                stop_listening();
                std::process::exit(0);
            }
        }
    }
}

/// shutdown(2) on the listening socket: accept() in every worker returns
/// EINVAL and Linux resets the connections still queued (as close would,
/// but close does not wake a blocked accept).
fn stop_listening() {
    let fd = LISTENER.load(Ordering::Relaxed);
    if fd >= 0 {
        // Our own listening socket's fd.
        let _ = nix::sys::socket::shutdown(fd, Shutdown::Read);
    }
}

/// Waits until no connection has been open for `quiet`.
fn wait_closed(quiet: Duration) {
    let mut idle_since: Option<Instant> = None;
    loop {
        if OPEN.load(Ordering::Relaxed) == 0 {
            let t = *idle_since.get_or_insert_with(Instant::now);
            if t.elapsed() >= quiet {
                return;
            }
        } else {
            idle_since = None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
