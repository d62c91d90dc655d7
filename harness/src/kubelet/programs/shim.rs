//! `svclab container-run`: the shim between kubelet and a real program, as
//! a container runtime's shim is. It enters the pod netns, starts the
//! program in a process group of its own (so nginx's workers and any other
//! child go with it), tells the harness the program's PID (= its group id)
//! on stdout, copies its stdout/stderr into the pod's log up to
//! [`super::LOG_MAX`] bytes, forwards SIGTERM/SIGQUIT to the program only
//! (what a runtime does with a container's PID 1), and when the program
//! exits kills what is left of its group and exits the same way (code or
//! signal), so kubelet records the program's own exit. SIGHUP — the
//! harness died (PR_SET_PDEATHSIG) — or SIGINT (the harness's kill) kill
//! the whole group at once. The shim is a child subreaper: workers orphaned
//! by their master's death are reparented to it and reaped here, so
//! nothing of the container outlives the shim, not even a zombie.
use std::{
    fs::{File, OpenOptions},
    io::{Read, Write as _},
    os::unix::process::CommandExt as _,
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use anyhow::{Context as _, bail};
use nix::{
    errno::Errno,
    sched::CloneFlags,
    sys::{
        signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, killpg, sigaction},
        wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid},
    },
    unistd::Pid,
};

/// `svclab container-run` arguments (hidden: the harness passes them).
#[derive(Debug, clap::Args)]
pub struct ShimArgs {
    /// The pod's netns (a path under /run/netns).
    #[arg(long)]
    pub netns: PathBuf,
    /// The pod's log, appended to.
    #[arg(long)]
    pub log: PathBuf,
    /// Most bytes the log may reach.
    #[arg(long, default_value_t = super::LOG_MAX)]
    pub log_max: u64,
    /// A cgroup v2 directory the shim joins before it starts the program
    /// (socket-LB's per-pod cgroup), so the program and its children are
    /// in it.
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// KEY=VALUE added to the environment; repeatable.
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// The last signal the shim caught (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// The log, shared by the two copying threads, bounded.
struct Log {
    file: File,
    written: u64,
    max: u64,
    dropped: u64,
}

impl Log {
    fn write(&mut self, b: &[u8]) {
        let room = self.max.saturating_sub(self.written);
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(b.len());
        if n > 0 && self.file.write_all(&b[..n]).is_ok() {
            self.written += n as u64;
        }
        self.dropped += (b.len() - n) as u64;
    }

    /// A line from svclab itself (written even when the log is full).
    fn note(&mut self, line: &str) {
        let _ = writeln!(self.file, "[svclab] {line}");
    }
}

fn copy(mut from: impl Read, log: Arc<Mutex<Log>>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut l) = log.lock() {
            l.write(&buf[..n]);
        }
    }
}

fn enter_netns(path: &std::path::Path) -> anyhow::Result<()> {
    let f = File::open(path).with_context(|| format!("opening netns {}", path.display()))?;
    // The shim is single-threaded here, so the whole process (and what it
    // spawns) moves into the netns.
    if let Err(e) = nix::sched::setns(&f, CloneFlags::CLONE_NEWNET) {
        bail!("setns {}: {}", path.display(), std::io::Error::from(e));
    }
    Ok(())
}

fn install_handlers() {
    // An empty mask and no flags.
    let sa = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installing a handler has no safe wrapper; this one only
        // stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &sa) };
    }
}

/// Signals the program's whole group.
fn kill_group(pgid: i32, sig: Signal) {
    if pgid > 1 {
        // The group we created, by its PGID.
        let _ = killpg(Pid::from_raw(pgid), sig);
    }
}

/// Runs the shim; returns only when the program exited with a code.
pub fn run(a: ShimArgs) -> anyhow::Result<ExitCode> {
    install_handlers();
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        bail!("PR_SET_CHILD_SUBREAPER: {}", std::io::Error::from(e));
    }
    enter_netns(&a.netns)?;
    if let Some(cg) = &a.cgroup {
        svclab_cgroup::join_process(cg)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.log)
        .with_context(|| format!("opening the pod log {}", a.log.display()))?;
    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
    let log = Arc::new(Mutex::new(Log {
        file,
        written,
        max: a.log_max,
        dropped: 0,
    }));
    let (prog, rest) = a.argv.split_first().context("no program")?;
    if let Ok(mut l) = log.lock() {
        l.note(&format!("container start: {}", a.argv.join(" ")));
    }
    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for kv in &a.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        cmd.env(k, v);
    }
    let parent = crate::process::parent_pid();
    // SAFETY: the hook runs between fork and exec; die_with_parent is
    // async-signal-safe (prctl and getppid, no allocation).
    unsafe {
        cmd.pre_exec(move || crate::process::die_with_parent(parent));
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            if let Ok(mut l) = log.lock() {
                l.note(&format!("cannot start {prog}: {e}"));
            }
            println!("error {e}");
            // A shell's "command not found / not executable".
            return Ok(ExitCode::from(127));
        }
    };
    let pid = i32::try_from(child.id()).context("pid")?;
    println!("{pid}");
    let _ = std::io::stdout().flush();
    // The harness reads one line; nothing else goes to it.
    if let Ok(null) = OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
    }
    if let Some(out) = child.stdout.take() {
        let l = Arc::clone(&log);
        std::thread::spawn(move || copy(out, l));
    }
    if let Some(err) = child.stderr.take() {
        let l = Arc::clone(&log);
        std::thread::spawn(move || copy(err, l));
    }
    loop {
        // 0 (no signal caught) is no Signal.
        match Signal::try_from(PENDING.swap(0, Ordering::SeqCst)) {
            Err(_) => {}
            Ok(s @ (Signal::SIGTERM | Signal::SIGQUIT)) => {
                // runc man/runc-kill.8.md: "By default, runc kill sends
                // SIGTERM to the container's initial process only" (what
                // kubelet's StopContainer comes down to).
                // Our own child, not yet reaped (waitid WNOWAIT below).
                let _ = kill(Pid::from_raw(pid), s);
            }
            Ok(_) => kill_group(pid, Signal::SIGKILL),
        }
        if exited_unreaped(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // A container ends with its PID 1: pid_namespaces(7), "If the init
    // process of a PID namespace terminates, the kernel terminates all of
    // the processes in the namespace via a SIGKILL signal". The group id
    // stays ours while the exited program is unreaped: end whatever else
    // is left in it (nginx's workers), then reap.
    kill_group(pid, Signal::SIGKILL);
    let status = child.wait().context("waiting for the program")?;
    reap_orphans();
    // Give the copying threads a moment to drain what the pipes hold.
    std::thread::sleep(Duration::from_millis(20));
    use std::os::unix::process::ExitStatusExt as _;
    if let Ok(mut l) = log.lock() {
        if l.dropped > 0 {
            let (d, m) = (l.dropped, l.max);
            l.note(&format!("log limit {m} bytes reached: {d} bytes dropped"));
        }
        l.note(&format!("container exited: {status}"));
    }
    match (status.code(), status.signal()) {
        (Some(c), _) => Ok(ExitCode::from(u8::try_from(c).unwrap_or(1))),
        (None, Some(s)) => {
            // Die of the same signal, so kubelet records it.
            // SAFETY: restoring the default disposition has no safe
            // wrapper (nix's signal() is unsafe too, and its Signal cannot
            // name a real-time signal, which a program may die of); no
            // handler of ours is involved. Then raise on ourselves.
            unsafe {
                libc::signal(s, libc::SIG_DFL);
                libc::raise(s);
            }
            Ok(ExitCode::from(u8::try_from(128 + s).unwrap_or(255)))
        }
        _ => Ok(ExitCode::from(1)),
    }
}

/// Reaps what was reparented to us (the group's other members, killed
/// above), for up to a second.
fn reap_orphans() {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        // Any child of ours, non-blocking.
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(5)),
            // Reaped one (EINVAL: one that died of a signal nix's Signal
            // cannot name; the kernel gives EINVAL only for bad options).
            Ok(_) | Err(Errno::EINVAL) => {}
            Err(_) => return, // ECHILD: none left
        }
    }
}

/// Whether `pid` (our child) has exited, without reaping it.
fn exited_unreaped(pid: i32) -> bool {
    let pid = Pid::from_raw(pid);
    // WNOWAIT only inspects our own child.
    match waitid(
        Id::Pid(pid),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
    ) {
        Ok(st) => st.pid() == Some(pid),
        // It exited of a signal nix's Signal cannot name (a real-time one);
        // the kernel gives EINVAL only for bad arguments.
        Err(Errno::EINVAL) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_at_most_its_limit_and_counts_the_rest() {
        let path = std::env::temp_dir().join(format!("svclab-shim-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("log");
        let mut log = Log {
            file,
            written: 0,
            max: 10,
            dropped: 0,
        };
        log.write(b"0123456");
        log.write(b"789abcdef");
        log.write(b"more");
        assert_eq!((log.written, log.dropped), (10, 10));
        assert_eq!(std::fs::read(&path).expect("read"), b"0123456789");
        let _ = std::fs::remove_file(&path);
    }
}
