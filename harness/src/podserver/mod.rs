//! The pod's server process (`svclab pod-server`): a small HTTP/1.1 server
//! with the knobs incidents need. It enters its pod netns before creating
//! any thread or socket, listens with the suite's backlog, and runs a fixed
//! set of worker threads that each call accept() only when free — so under
//! load connections wait in the kernel's accept queue while the handshake
//! still completes, as with a real overloaded server. Every response names
//! the pod that served it (body and `X-Pod` header) and the address it came
//! from (`X-Peer`, nginx's `$remote_addr`: whether a NodePort kept the
//! client's source address).
//!
//! Service time can rise with load: `--cpu-time-us` of work per request is
//! shared by the requests working at once within `--cpus` (processor
//! sharing, simulated by sleeping in slices, so a hundred overloaded pods
//! cost the host no CPU). `/healthz` is answered by the same workers
//! without the work (a cheap handler that still waits for a free worker),
//! or by its own listener and workers on `--health-port`. Telemetry (busy
//! workers, requests) goes to the harness through a shared page
//! (`--stats-fd`, see `podstats`).
use std::{
    io::{Read as _, Write as _},
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    path::PathBuf,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use socket2::{Domain, Socket, Type};

pub mod podstats;
pub mod sigterm;
pub mod sockdiag;

use self::{
    podstats::{Counters, StatsMap},
    sigterm::OnSigterm,
};

/// Who closes the connection after a `Connection: close` exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CloseMode {
    /// The server closes right after writing the response.
    Server,
    /// The server waits for the client to close (reads until EOF).
    Client,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// The pod's netns (e.g. /run/netns/svl-r1-web-0); entered first.
    #[arg(long)]
    pub netns: Option<PathBuf>,
    /// Pod name reported in every response.
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    #[arg(long, default_value_t = 4)]
    pub workers: u32,
    #[arg(long, default_value_t = 128)]
    pub backlog: i32,
    /// Time spent per request before answering, in microseconds.
    #[arg(long, default_value_t = 0)]
    pub service_time_us: u64,
    #[arg(long, value_enum, default_value_t = CloseMode::Server)]
    pub close: CloseMode,
    /// CPU work per request in microseconds, shared within `--cpus`.
    #[arg(long, default_value_t = 0)]
    pub cpu_time_us: u64,
    /// The container's CPU limit in cores for `--cpu-time-us`.
    #[arg(long, default_value_t = 1.0)]
    pub cpus: f64,
    /// Serve health checks on this port with their own workers.
    #[arg(long)]
    pub health_port: Option<u16>,
    #[arg(long, default_value_t = 1)]
    pub health_workers: u32,
    /// Slow start: listen only after this many microseconds.
    #[arg(long, default_value_t = 0)]
    pub startup_time_us: u64,
    /// How long a worker waits for a request before closing, in ms.
    #[arg(long, default_value_t = 60_000)]
    pub read_timeout_ms: u64,
    /// Inherited memfd of the shared telemetry page.
    #[arg(long)]
    pub stats_fd: Option<i32>,
    /// The shared telemetry page to open (the harness's memfd as
    /// `/proc/<harness>/fd/<n>`), when it is not inherited.
    #[arg(long, conflicts_with = "stats_fd")]
    pub stats_path: Option<PathBuf>,
    /// Die with this process (the harness): PR_SET_PDEATHSIG set here
    /// rather than between fork and exec, so the harness can spawn with
    /// posix_spawn (vfork) instead of fork.
    #[arg(long)]
    pub parent_pid: Option<i32>,
    /// What SIGTERM does (see `sigterm`).
    #[arg(long, value_enum, default_value_t = OnSigterm::Exit)]
    pub on_sigterm: OnSigterm,
}

/// What a worker needs to answer a request.
#[derive(Clone, Copy)]
struct Work {
    name: &'static str,
    service_time: Duration,
    cpu_time: Duration,
    cpus: f64,
    close: CloseMode,
    read_timeout: Duration,
    stats: &'static Counters,
    /// A health-port worker: every path is a health check.
    health_only: bool,
}

fn listen(port: u16, backlog: i32) -> anyhow::Result<TcpListener> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).context("socket")?;
    sock.set_reuse_address(true).context("SO_REUSEADDR")?;
    sock.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())
        .with_context(|| format!("bind port {port}"))?;
    sock.listen(backlog).context("listen")?;
    Ok(sock.into())
}

pub fn serve(args: ServerArgs) -> anyhow::Result<()> {
    if let Some(parent) = args.parent_pid {
        crate::process::die_with_parent(parent)
            .context("PR_SET_PDEATHSIG (or the harness is already gone)")?;
    }
    if let Some(path) = &args.netns {
        let ns = svclab_datapath::NetnsRef::open(path)?;
        ns.enter_current_thread()
            .context("entering the pod netns")?;
    }
    // Before any thread: every thread inherits the blocked SIGTERM.
    sigterm::block(args.on_sigterm)?;
    let stats: &'static Counters = match (args.stats_fd, &args.stats_path) {
        (Some(fd), _) => &*Box::leak(Box::new(StatsMap::from_fd(fd)?)),
        (None, Some(path)) => &*Box::leak(Box::new(StatsMap::open(path)?)),
        (None, None) => Box::leak(Box::default()),
    };
    let name: &'static str = Box::leak(args.name.into_boxed_str());
    // The health listener comes up at once; the serving one after the slow
    // start (a startup probe on the serving port sees refusals until then).
    let health = match args.health_port {
        Some(port) => Some(listen(port, 128)?),
        None => None,
    };
    let work = Work {
        name,
        service_time: Duration::from_micros(args.service_time_us),
        cpu_time: Duration::from_micros(args.cpu_time_us),
        cpus: if args.cpus.is_finite() && args.cpus > 0.0 {
            args.cpus
        } else {
            1.0
        },
        close: args.close,
        read_timeout: Duration::from_millis(args.read_timeout_ms.max(1)),
        stats,
        health_only: false,
    };
    stats.workers.store(args.workers.max(1), Ordering::Relaxed);
    std::thread::scope(|s| -> anyhow::Result<()> {
        if args.on_sigterm != OnSigterm::Exit {
            let mode = args.on_sigterm;
            s.spawn(move || sigterm::watch(mode));
        }
        if let Some(h) = &health {
            for _ in 0..args.health_workers.max(1) {
                let w = Work {
                    health_only: true,
                    ..work
                };
                s.spawn(move || worker(h, w));
            }
        }
        if args.startup_time_us > 0 {
            std::thread::sleep(Duration::from_micros(args.startup_time_us));
        }
        // The process serves until it is signalled: the listener lives as long.
        let listener: &'static TcpListener = Box::leak(Box::new(listen(args.port, args.backlog)?));
        stats.listening.store(1, Ordering::Relaxed);
        {
            use std::os::fd::AsRawFd as _;
            sigterm::listening(listener.as_raw_fd());
        }
        for _ in 0..args.workers.max(1) {
            s.spawn(move || worker(listener, work));
        }
        Ok(())
    })
}

/// Accepts only when free: the backlog holds the rest. Serving-port
/// workers count themselves busy while they hold a connection.
fn worker(listener: &TcpListener, work: Work) {
    let count_busy = !work.health_only;
    while let Ok((stream, _)) = listener.accept() {
        if count_busy {
            work.stats.busy.fetch_add(1, Ordering::Relaxed);
            sigterm::opened();
        }
        let _ = handle(stream, work);
        if count_busy {
            work.stats.busy.fetch_sub(1, Ordering::Relaxed);
            sigterm::closed();
        }
    }
}

/// `cpu_time` of work shared with the other requests working at once
/// within `cpus` cores: with k working, each advances at min(1, cpus/k).
/// Sleeps in slices of at most 10 ms and re-reads k after each.
fn cpu_work(stats: &Counters, cpu_time: Duration, cpus: f64) {
    if cpu_time.is_zero() {
        return;
    }
    stats.working.fetch_add(1, Ordering::Relaxed);
    let mut remaining = cpu_time.as_secs_f64();
    while remaining > 1e-6 {
        let k = f64::from(stats.working.load(Ordering::Relaxed).max(1));
        let speed = (cpus / k).min(1.0);
        let wall = (remaining / speed).min(0.010);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(wall));
        remaining -= t.elapsed().as_secs_f64() * speed;
    }
    stats.working.fetch_sub(1, Ordering::Relaxed);
}

/// Serves one connection: requests until the client asks to close (or
/// closes), applying the close mode to the final exchange.
fn handle(mut s: TcpStream, work: Work) -> std::io::Result<()> {
    let peer = s
        .peer_addr()
        .map_or_else(|_| "-".to_owned(), |a| a.ip().to_string());
    let name = work.name;
    s.set_nodelay(true)?;
    // Short read slices so an idle connection notices SIGTERM's
    // stop-accepting; the request deadline is `read_timeout` overall.
    s.set_read_timeout(Some(work.read_timeout.min(IDLE_SLICE)))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let deadline = Instant::now() + work.read_timeout;
        // Read one request head.
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = match s.read(&mut chunk) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if (buf.is_empty() && !work.health_only && sigterm::close_idle())
                        || Instant::now() >= deadline
                    {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(()); // client closed
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        buf.drain(..end);
        let wants = wants_keep_alive(&head);
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        let is_health = work.health_only || path.starts_with("/healthz");
        if !is_health {
            if !work.service_time.is_zero() {
                std::thread::sleep(work.service_time);
            }
            cpu_work(work.stats, work.cpu_time, work.cpus);
        }
        // After SIGTERM (stop-accepting, drain) every response closes,
        // an in-flight one too (looked at when it is answered).
        let keep_alive = wants && (work.health_only || !sigterm::closing());
        let body = if is_health {
            format!("ok {name}\n")
        } else {
            format!("{name}\n")
        };
        let conn = if keep_alive { "keep-alive" } else { "close" };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Pod: {name}\r\nX-Peer: {peer}\r\nConnection: {conn}\r\n\r\n{body}",
            body.len()
        );
        if keep_alive || work.close == CloseMode::Client {
            s.write_all(resp.as_bytes())?;
        } else {
            write_with_fin(&s, resp.as_bytes())?;
        }
        let counter = if is_health {
            &work.stats.health
        } else {
            &work.stats.requests
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !keep_alive {
            if work.close == CloseMode::Client {
                // Wait for the client's FIN; it closes first.
                let deadline = Instant::now() + work.read_timeout;
                loop {
                    match s.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) && Instant::now() < deadline => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            return Ok(());
        }
    }
}

/// The final response of a server-closed connection, with the FIN in the
/// same segment as its last bytes: the response is queued with `MSG_MORE`
/// (held back like `TCP_CORK`, despite `TCP_NODELAY`), and
/// `shutdown(SHUT_WR)` tacks the FIN onto that unsent segment and pushes
/// it (`tcp_send_fin`, net/ipv4/tcp_output.c). The client's socket so
/// sees the data and the FIN at once and is never the first to close: it
/// ends in LAST_ACK, not TIME_WAIT, and its port is free again at once.
/// Written then closed in two steps, the client won the race often enough
/// (about 40% of connections at 60/s on this machine, measured with `ss
/// state time-wait` in the client netns) that its TIME_WAITs used up the
/// even ephemeral ports and the kernel moved on to never-seen odd ones.
fn write_with_fin(s: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    let sock = socket2::SockRef::from(s);
    while !bytes.is_empty() {
        match sock.send_with_flags(bytes, libc::MSG_MORE) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    s.shutdown(std::net::Shutdown::Write)
}

/// How often an idle connection's worker looks at the SIGTERM state.
const IDLE_SLICE: Duration = Duration::from_millis(20);

fn wants_keep_alive(head_lower: &str) -> bool {
    let http10 = head_lower
        .lines()
        .next()
        .is_some_and(|l| l.ends_with("http/1.0"));
    let conn = head_lower
        .lines()
        .find_map(|l| l.strip_prefix("connection:"))
        .map(str::trim)
        .unwrap_or("");
    if http10 {
        conn == "keep-alive"
    } else {
        conn != "close"
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_rules() {
        assert!(wants_keep_alive("get / http/1.1\r\nhost: x\r\n\r\n"));
        assert!(!wants_keep_alive(
            "get / http/1.1\r\nconnection: close\r\n\r\n"
        ));
        assert!(!wants_keep_alive("get / http/1.0\r\n\r\n"));
        assert!(wants_keep_alive(
            "get / http/1.0\r\nconnection: keep-alive\r\n\r\n"
        ));
    }
}
