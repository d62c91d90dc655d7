//! The nginx-like client: runs on its own OS thread inside the client pod's
//! netns with a current-thread tokio runtime, sends HTTP requests to a
//! service VIP — a new connection per request (nginx's upstream default) or
//! a keep-alive pool — from kernel ephemeral ports or an explicit bound port
//! pool, open loop (constant arrival rate) or closed loop (fixed
//! concurrency), bounded in time. Each request yields one immutable
//! [`RequestRecord`] sent to a single aggregator.
use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        mpsc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub use super::errors::ErrorKind;
use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpSocket, TcpStream},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    PerRequest,
    KeepAlive { pool: u32 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Kernel-chosen (the netns's ip_local_port_range applies).
    Ephemeral,
    /// Bind each connection to the next port of [low, high], round robin.
    Pool { low: u16, high: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    Open { rate: u32, max_in_flight: u32 },
    Closed { concurrency: u32 },
}

#[derive(Debug)]
pub struct ClientPlan {
    pub index: u16,
    pub name: String,
    pub netns: NetnsRef,
    pub local_ip: Ipv4Addr,
    /// Bind every connection's source to `local_ip` (the kernel still
    /// picks the port at connect, IP_BIND_ADDRESS_NO_PORT): a netns with
    /// several clients' addresses (the external one).
    pub bind_source: bool,
    pub target: SocketAddrV4,
    pub connection: Connection,
    pub ports: Ports,
    pub load: Load,
    /// Offset from the run start when it begins sending.
    pub start: Duration,
    /// How long it sends.
    pub duration: Duration,
    pub timeout: Duration,
    /// Every response must name its pod (`X-Pod`); when false (an
    /// arbitrary program serves) a 2xx without it is ok, unattributed.
    pub require_pod: bool,
    /// The client sends into a proxy in its pod (`proxy: nginx`): its own
    /// connections are loopback ones the datapath never sees, so records
    /// carry no source port and no new-connection mark.
    pub via_proxy: bool,
    /// The client pod's cgroup (socket-LB): the client's thread joins it
    /// before it opens a socket, and leaves it when it ends.
    pub cgroup: Option<crate::engines::ClientCgroup>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx response from the named pod.
    Ok {
        backend: Arc<str>,
    },
    Err(ErrorKind),
}

/// One request, as the client saw it. Times are ns since the run start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub client: u16,
    /// When the schedule said it should start (open loop) or when it was issued (closed loop).
    pub scheduled_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub outcome: Outcome,
    /// Local port of the connection that carried it (0 if none).
    pub sport: u16,
    /// The request opened a new connection.
    pub new_conn: bool,
    /// The serving pod saw the client's own address as the peer (its
    /// `X-Peer`): no NAT rewrote the source on the way.
    pub source_kept: bool,
}

/// A running client; stop() or drop ends it.
#[derive(Debug)]
pub struct ClientHandle {
    pub name: String,
    stop: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    /// The pool's next port offset (shared with the client's tasks).
    next_port: Arc<AtomicU32>,
    /// Open-loop arrival rate in req/s, read before each request is scheduled.
    rate: Arc<AtomicU32>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ClientHandle {
    /// Changes an open-loop client's arrival rate from the next request on
    /// (a traffic spike); no effect on a closed-loop client.
    pub fn set_rate(&self, rate: u32) {
        self.rate.store(rate.max(1), Ordering::Relaxed);
    }

    /// The current open-loop rate.
    pub fn rate(&self) -> u32 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Restarts the client in place (same pod, netns and IP), as kubelet
    /// restarts a container: pooled connections are dropped and the port
    /// pool starts again from its first port.
    pub fn restart_in_place(&self) {
        self.next_port.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until the client has sent for its whole duration and stopped.
    pub fn stop_after_run(&mut self) -> anyhow::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("client {} panicked", self.name))?,
            None => Ok(()),
        }
    }

    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("client {} panicked", self.name))?,
            None => Ok(()),
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("client {}: {e:#}", self.name);
        }
    }
}

struct Shared {
    plan: ClientPlan,
    run_start: Instant,
    records: mpsc::Sender<RequestRecord>,
    stop: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    rate: Arc<AtomicU32>,
    next_port: Arc<AtomicU32>,
    in_flight: AtomicU32,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.run_start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn send(&self, mut r: RequestRecord) {
        if self.plan.via_proxy {
            r.sport = 0;
            r.new_conn = false;
        }
        // The aggregator outlives the clients; a closed channel means shutdown.
        let _ = self.records.send(r);
    }
    fn stopped(&self, end: Instant) -> bool {
        self.stop.load(Ordering::Relaxed) || Instant::now() >= end
    }
}

pub fn start(
    plan: ClientPlan,
    run_start: Instant,
    records: mpsc::Sender<RequestRecord>,
) -> anyhow::Result<ClientHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let generation = Arc::new(AtomicU64::new(0));
    let rate = Arc::new(AtomicU32::new(match plan.load {
        Load::Open { rate, .. } => rate.max(1),
        Load::Closed { .. } => 1,
    }));
    let next_port = Arc::new(AtomicU32::new(0));
    let name = plan.name.clone();
    let shared = Arc::new(Shared {
        plan,
        run_start,
        records,
        stop: Arc::clone(&stop),
        generation: Arc::clone(&generation),
        rate: Arc::clone(&rate),
        next_port: Arc::clone(&next_port),
        in_flight: AtomicU32::new(0),
    });
    let thread = std::thread::Builder::new()
        .name(format!("client-{name}"))
        .spawn(move || -> anyhow::Result<()> {
            shared
                .plan
                .netns
                .enter_current_thread()
                .context("entering the client netns")?;
            let _cgroup = match &shared.plan.cgroup {
                Some(c) => Some(
                    svclab_cgroup::join_thread(&c.dir, &c.home)
                        .context("joining the client pod's cgroup")?,
                ),
                None => None,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            rt.block_on(run(shared));
            Ok(())
        })
        .context("spawning client thread")?;
    Ok(ClientHandle {
        name,
        stop,
        generation,
        next_port,
        rate,
        thread: Some(thread),
    })
}

async fn run(s: Arc<Shared>) {
    let begin = s.run_start + s.plan.start;
    tokio::time::sleep_until(begin.into()).await;
    let end = begin + s.plan.duration;
    match (s.plan.load, s.plan.connection) {
        (Load::Open { max_in_flight, .. }, Connection::PerRequest) => {
            let mut tasks = tokio::task::JoinSet::new();
            open_loop(&s, max_in_flight, begin, end, |scheduled_ns| {
                let s2 = Arc::clone(&s);
                tasks.spawn(async move {
                    let r = one_shot(&s2, scheduled_ns).await;
                    s2.in_flight.fetch_sub(1, Ordering::Relaxed);
                    s2.send(r);
                });
                while tasks.try_join_next().is_some() {}
                true
            })
            .await;
            while tasks.join_next().await.is_some() {}
        }
        (Load::Closed { concurrency }, Connection::PerRequest) => {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..concurrency.max(1) {
                let s2 = Arc::clone(&s);
                tasks.spawn(async move {
                    while !s2.stopped(end) {
                        let scheduled_ns = s2.now_ns();
                        let r = one_shot(&s2, scheduled_ns).await;
                        let failed = matches!(r.outcome, Outcome::Err(_));
                        s2.send(r);
                        if failed {
                            // Back off a little so a dead target is not hammered.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        }
        (load, Connection::KeepAlive { pool }) => keep_alive(s, load, pool, begin, end).await,
    }
}

/// Open loop: hands `dispatch` each request's scheduled time at the
/// client's current rate (`Shared::rate`, changed by spikes) from `begin`
/// until `end`, whatever the responses do; a request due while
/// `max_in_flight` are outstanding is recorded as `overload` instead.
/// `dispatch` returns false to stop.
async fn open_loop(
    s: &Shared,
    max_in_flight: u32,
    begin: Instant,
    end: Instant,
    mut dispatch: impl FnMut(u64) -> bool,
) {
    // Offsets accumulate in f64 seconds: a rate change applies from the
    // next gap on and the schedule does not drift with rounding.
    let mut offset = 0.0f64;
    loop {
        let due = begin + Duration::from_secs_f64(offset);
        if due >= end || s.stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        offset += 1.0 / f64::from(s.rate.load(Ordering::Relaxed).max(1));
        let scheduled_ns = u64::try_from((due - s.run_start).as_nanos()).unwrap_or(0);
        if s.in_flight.load(Ordering::Relaxed) >= max_in_flight {
            s.send(overload(s.plan.index, scheduled_ns, s.now_ns()));
            continue;
        }
        s.in_flight.fetch_add(1, Ordering::Relaxed);
        if !dispatch(scheduled_ns) {
            break;
        }
    }
}

fn overload(client: u16, scheduled_ns: u64, now: u64) -> RequestRecord {
    RequestRecord {
        client,
        scheduled_ns,
        start_ns: now,
        end_ns: now,
        outcome: Outcome::Err(ErrorKind::Overload),
        sport: 0,
        new_conn: false,
        source_kept: false,
    }
}

/// Opens a connection (bound to the next pool port if configured), within
/// the request timeout.
async fn connect(s: &Shared) -> Result<TcpStream, ErrorKind> {
    match tokio::time::timeout(s.plan.timeout, connect_now(s)).await {
        Ok(r) => r,
        Err(_) => Err(ErrorKind::ConnectTimeout),
    }
}

/// Opens a connection without a timer of its own (the caller bounds it).
async fn connect_now(s: &Shared) -> Result<TcpStream, ErrorKind> {
    {
        match s.plan.ports {
            Ports::Ephemeral => {
                let sock = TcpSocket::new_v4().map_err(|e| ErrorKind::from_io(&e, true))?;
                if s.plan.bind_source {
                    bind_address_no_port(&sock, s.plan.local_ip)
                        .map_err(|e| ErrorKind::from_io(&e, true))?;
                }
                sock.connect(s.plan.target.into())
                    .await
                    .map_err(|e| ErrorKind::from_io(&e, true))
            }
            Ports::Pool { low, high } => {
                let span = u32::from(high - low) + 1;
                let mut last = ErrorKind::AddrInUse;
                // A port whose previous connection is still closing is busy:
                // move on to the next one, a few times at most.
                for _ in 0..8 {
                    let off = s.next_port.fetch_add(1, Ordering::Relaxed) % span;
                    let port = low + u16::try_from(off).unwrap_or(0);
                    let sock = TcpSocket::new_v4().map_err(|e| ErrorKind::from_io(&e, true))?;
                    sock.set_reuseaddr(true)
                        .map_err(|e| ErrorKind::from_io(&e, true))?;
                    if let Err(e) = sock.bind(SocketAddrV4::new(s.plan.local_ip, port).into()) {
                        last = ErrorKind::from_io(&e, true);
                        continue;
                    }
                    match sock.connect(s.plan.target.into()).await {
                        Ok(c) => return Ok(c),
                        Err(e)
                            if e.kind() == io::ErrorKind::AddrInUse
                                || e.kind() == io::ErrorKind::AddrNotAvailable =>
                        {
                            last = ErrorKind::from_io(&e, true);
                        }
                        Err(e) => return Err(ErrorKind::from_io(&e, true)),
                    }
                }
                Err(last)
            }
        }
    }
}

/// Binds `sock` to `ip` with the port left to connect()
/// (IP_BIND_ADDRESS_NO_PORT, ip(7)): the kernel then chooses it per
/// destination as for an unbound socket.
fn bind_address_no_port(sock: &TcpSocket, ip: Ipv4Addr) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket fd and an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.bind(SocketAddrV4::new(ip, 0).into())
}

fn local_port(c: &TcpStream) -> u16 {
    c.local_addr().map(|a| a.port()).unwrap_or(0)
}

/// A request over a new connection that is closed afterwards. One timer
/// covers connect and exchange (the request's timeout).
async fn one_shot(s: &Shared, scheduled_ns: u64) -> RequestRecord {
    let start_ns = s.now_ns();
    let mut sport = 0;
    let mut kept = false;
    let work = async {
        let mut c = connect_now(s).await?;
        sport = local_port(&c);
        exchange(&mut c, true, s.plan.require_pod)
            .await
            .map(|(pod, _, peer)| {
                kept = peer == Some(s.plan.local_ip);
                pod
            })
    };
    let outcome = match tokio::time::timeout(s.plan.timeout, work).await {
        Ok(Ok(backend)) => Outcome::Ok { backend },
        Ok(Err(k)) => Outcome::Err(k),
        Err(_) if sport == 0 => Outcome::Err(ErrorKind::ConnectTimeout),
        Err(_) => Outcome::Err(ErrorKind::Timeout),
    };
    RequestRecord {
        client: s.plan.index,
        scheduled_ns,
        start_ns,
        end_ns: s.now_ns(),
        outcome,
        sport,
        new_conn: true,
        source_kept: kept,
    }
}

/// Writes one GET and reads one response; returns the serving pod (empty
/// when it did not say and `require_pod` is false), whether the response
/// closes the connection, and the peer address the pod saw.
async fn exchange(
    c: &mut TcpStream,
    close: bool,
    require_pod: bool,
) -> Result<(Arc<str>, bool, Option<Ipv4Addr>), ErrorKind> {
    let req: &[u8] = if close {
        b"GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: svc\r\n\r\n"
    };
    c.write_all(req)
        .await
        .map_err(|e| ErrorKind::from_io(&e, false))?;
    let mut buf = Vec::with_capacity(256);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_some(c, &mut buf).await?;
        if buf.len() > 16 * 1024 {
            return Err(ErrorKind::BadResponse);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status_ok = head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2");
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or(ErrorKind::BadResponse)?;
    let server_error = head.starts_with("HTTP/1.1 5") || head.starts_with("HTTP/1.0 5");
    let pod = match header("x-pod") {
        Some(p) => p,
        None if !require_pod || server_error => String::new(),
        None => return Err(ErrorKind::BadResponse),
    };
    while buf.len() < head_end + len {
        read_some(c, &mut buf).await?;
    }
    if server_error {
        return Err(ErrorKind::Http5xx);
    }
    if !status_ok {
        return Err(ErrorKind::BadResponse);
    }
    // RFC 9112 9.6: a response with `Connection: close` ends the
    // connection; a keep-alive client (nginx's upstream keepalive too)
    // opens a new one for the next request.
    let closes = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let peer = header("x-peer").and_then(|v| v.parse().ok());
    Ok((Arc::from(pod), closes, peer))
}

/// Appends what one read returns; the peer closing is `Eof`.
async fn read_some(c: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), ErrorKind> {
    let mut chunk = [0u8; 1024];
    let n = c
        .read(&mut chunk)
        .await
        .map_err(|e| ErrorKind::from_io(&e, false))?;
    if n == 0 {
        return Err(ErrorKind::Eof);
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Keep-alive pool: `pool` connections, each carrying requests one after
/// another; a failed connection is replaced on the next request.
async fn keep_alive(s: Arc<Shared>, load: Load, pool: u32, begin: Instant, end: Instant) {
    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(65536);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut tasks = tokio::task::JoinSet::new();
    let closed_loop = matches!(load, Load::Closed { .. });
    let workers = match load {
        Load::Closed { concurrency } => concurrency.min(pool).max(1),
        Load::Open { .. } => pool.max(1),
    };
    for _ in 0..workers {
        let s2 = Arc::clone(&s);
        let rx = Arc::clone(&rx);
        tasks.spawn(async move {
            let mut conn: Option<(TcpStream, u64)> = None;
            loop {
                let scheduled_ns = if closed_loop {
                    if s2.stopped(end) {
                        break;
                    }
                    s2.now_ns()
                } else {
                    match rx.lock().await.recv().await {
                        Some(t) => t,
                        None => break,
                    }
                };
                let start_ns = s2.now_ns();
                let generation = s2.generation.load(Ordering::Relaxed);
                if conn.as_ref().is_some_and(|(_, g)| *g != generation) {
                    conn = None; // restart_client: drop pooled connections
                }
                let mut new_conn = false;
                if conn.is_none() {
                    match connect(&s2).await {
                        Ok(c) => {
                            conn = Some((c, generation));
                            new_conn = true;
                        }
                        Err(k) => {
                            s2.send(RequestRecord {
                                client: s2.plan.index,
                                scheduled_ns,
                                start_ns,
                                end_ns: s2.now_ns(),
                                outcome: Outcome::Err(k),
                                sport: 0,
                                new_conn: true,
                                source_kept: false,
                            });
                            if closed_loop {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            if !closed_loop {
                                s2.in_flight.fetch_sub(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                    }
                }
                let Some((c, _)) = conn.as_mut() else {
                    continue;
                };
                let sport = local_port(c);
                let r =
                    tokio::time::timeout(s2.plan.timeout, exchange(c, false, s2.plan.require_pod))
                        .await;
                let mut server_closes = false;
                let mut source_kept = false;
                let outcome = match r {
                    Ok(Ok((backend, closes, peer))) => {
                        server_closes = closes;
                        source_kept = peer == Some(s2.plan.local_ip);
                        Outcome::Ok { backend }
                    }
                    Ok(Err(k)) => Outcome::Err(k),
                    Err(_) => Outcome::Err(ErrorKind::Timeout),
                };
                if server_closes || matches!(outcome, Outcome::Err(_)) {
                    conn = None;
                }
                s2.send(RequestRecord {
                    client: s2.plan.index,
                    scheduled_ns,
                    start_ns,
                    end_ns: s2.now_ns(),
                    outcome,
                    sport,
                    new_conn,
                    source_kept,
                });
                if !closed_loop {
                    s2.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
        });
    }
    if let Load::Open { max_in_flight, .. } = load {
        // Capacity 65536 exceeds max_in_flight (<= 10000): never full.
        open_loop(&s, max_in_flight, begin, end, |t| tx.try_send(t).is_ok()).await;
        drop(tx);
    }
    while tasks.join_next().await.is_some() {}
}
