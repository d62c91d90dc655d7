//! kubelet-style probes against real pods: a TCP probe passes while the
//! application accepts nothing and times out once the kernel's accept queue
//! is full (checked through sock_diag); an HTTP probe on a busy single-worker
//! `svclab pod-server` times out while a TCP probe on the same port passes;
//! exec probes run inside the pod netns; periodic probes follow the gate,
//! the period and the initial delay. Needs root (netns); skipped otherwise.
use std::{
    net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, mpsc},
    time::{Duration, Instant},
};

use socket2::{Domain, Socket, Type};
use svclab::{
    kubelet::{
        pods::PodProcess,
        probe::{Handler, ProbeGate, ProbeKind, ProbeOutcome, ProbeReport, ProbeTask, Prober},
    },
    podserver::{
        podstats::StatsMap,
        sockdiag::{ListenerQueue, SockDiag},
    },
};
use svclab_datapath::NetnsRef;
use svclab_suite::model::ServerSpec;
use svclab_testsupport::{have_root, one_at_a_time};
use svclab_topology::{PodSpec, Topology, TopologySpec, list_with_prefix};

/// Owns everything a test creates; tears it all down in reverse order, on
/// success ([`Env::finish`]) and on panic (Drop), and holds the test's turn
/// until then.
struct Env {
    prefix: String,
    pods: Vec<PodProcess>,
    prober: Option<Prober>,
    topo: Option<Topology>,
    t0: Instant,
    _one: MutexGuard<'static, ()>,
}

impl Env {
    /// One node, the given pods (name, last octet of 198.18.0.x); None,
    /// with the reason printed, without root.
    fn new(tag: &str, pods: &[(&str, u8)]) -> Option<Self> {
        if !have_root(tag) {
            return None;
        }
        let one = one_at_a_time();
        let prefix = format!("svl-tprobe{}{tag}-", std::process::id());
        let topo = Topology::build(TopologySpec {
            prefix: prefix.clone(),
            nodes: 1,
        })
        .expect("building the topology");
        let mut env = Self {
            prefix,
            pods: Vec::new(),
            prober: None,
            topo: Some(topo),
            t0: Instant::now(),
            _one: one,
        };
        for &(name, octet) in pods {
            env.topo()
                .add_pod(PodSpec {
                    name: name.to_owned(),
                    node: 0,
                    ip: Ipv4Addr::new(198, 18, 0, octet),
                })
                .expect("adding a pod");
        }
        Some(env)
    }

    fn topo(&mut self) -> &mut Topology {
        self.topo.as_mut().expect("topology is up")
    }

    fn node_ns(&self) -> NetnsRef {
        let t = self.topo.as_ref().expect("topology is up");
        NetnsRef::open(t.node_netns_path(0)).expect("opening the node netns")
    }

    fn pod_path(&self, pod: &str) -> PathBuf {
        let t = self.topo.as_ref().expect("topology is up");
        t.pod(pod).expect("pod exists").netns_path.clone()
    }

    fn pod_ns(&self, pod: &str) -> NetnsRef {
        NetnsRef::open(self.pod_path(pod)).expect("opening the pod netns")
    }

    /// A prober on the node with 2 threads; returns its report receiver.
    fn start_prober(&mut self) -> mpsc::Receiver<ProbeReport> {
        let (tx, rx) = mpsc::channel();
        let p = Prober::new(&self.node_ns(), 2, self.t0, tx).expect("starting the prober");
        self.prober = Some(p);
        rx
    }

    fn prober(&self) -> &Prober {
        self.prober.as_ref().expect("prober started")
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).expect("fits")
    }

    /// `svclab pod-server` in the pod's netns, killed by PID on teardown.
    fn pod_server(&mut self, pod: &str, server: &ServerSpec) {
        let p = PodProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_svclab")),
            &self.pod_path(pod),
            pod,
            server,
            &StatsMap::create().expect("pod stats page"),
        )
        .expect("spawning svclab pod-server");
        self.pods.push(p);
    }

    fn teardown(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        // Dropping a PodProcess kills it by PID and reaps it.
        self.pods.clear();
        self.prober.take();
        if let Some(t) = self.topo.take()
            && let Err(e) = t.teardown()
        {
            errors.push(e.to_string());
        }
        errors
    }

    /// Tears down and checks that no namespace of this test is left.
    fn finish(mut self) {
        let errors = self.teardown();
        assert!(errors.is_empty(), "teardown: {errors:?}");
        let left = list_with_prefix(&self.prefix);
        assert!(left.is_empty(), "namespaces left behind: {left:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for e in self.teardown() {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("teardown of {}: {e}\n", self.prefix).as_bytes(),
            );
        }
    }
}

/// A listener created inside `ns` with `backlog`, never accepted from.
fn idle_listener(ns: &NetnsRef, port: u16, backlog: i32) -> TcpListener {
    ns.run(|| {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        s.set_reuse_address(true).expect("SO_REUSEADDR");
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())
            .expect("bind");
        s.listen(backlog).expect("listen");
        TcpListener::from(s)
    })
    .expect("entering the pod netns")
}

fn queue(diag: &mut SockDiag, port: u16) -> ListenerQueue {
    diag.listener(port)
        .expect("sock_diag dump")
        .unwrap_or_else(|| panic!("no listener on port {port}"))
}

/// Polls until `f` holds, up to `timeout`.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}

#[test]
fn tcp_probe_passes_until_the_accept_queue_is_full() {
    let Some(mut env) = Env::new("tcp", &[("a", 10)]) else {
        return;
    };
    let pod_ns = env.pod_ns("a");
    let node_ns = env.node_ns();
    const PORT: u16 = 9000;
    const BACKLOG: u32 = 4;
    let addr = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 10), PORT);
    let listener = idle_listener(&pod_ns, PORT, i32::try_from(BACKLOG).expect("small"));
    let mut diag = SockDiag::open_in(&pod_ns).expect("sock_diag socket in the pod netns");
    assert_eq!(
        queue(&mut diag, PORT),
        ListenerQueue {
            depth: 0,
            backlog: BACKLOG
        }
    );
    assert_eq!(diag.listener(PORT + 1).expect("dump"), None);
    env.start_prober();
    let tcp = Handler::Tcp { addr };
    let t = Duration::from_secs(1);

    // The kernel completes the handshake; nobody calls accept().
    let r = env.prober().probe_once(&tcp, t);
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    assert!(r.detail.is_empty());
    // The probe's own connection now waits in the queue (closed by the
    // client, never accepted): probes use up a stalled server's backlog.
    assert!(
        wait_until(Duration::from_secs(1), || queue(&mut diag, PORT).depth == 1),
        "queue after one probe: {:?}",
        queue(&mut diag, PORT)
    );

    // Fill the queue from the node, keeping each connection open, until a
    // connect() times out: its SYN was dropped.
    let held: Vec<TcpStream> = node_ns
        .run(|| {
            let mut held = Vec::new();
            for _ in 0..(BACKLOG * 4) {
                match TcpStream::connect_timeout(&addr.into(), Duration::from_millis(300)) {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
                        break;
                    }
                }
            }
            held
        })
        .expect("entering the node netns");
    // The kernel's limit is `ack_backlog > max_ack_backlog`: the queue holds
    // backlog + 1 connections before SYNs are dropped.
    let full = queue(&mut diag, PORT);
    assert_eq!(
        full,
        ListenerQueue {
            depth: BACKLOG + 1,
            backlog: BACKLOG
        },
        "held {} connections",
        held.len()
    );
    assert_eq!(held.len() + 1, usize::try_from(BACKLOG + 1).expect("small"));

    let r = env.prober().probe_once(&tcp, t);
    assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
    assert!(r.detail.contains("timeout"), "{}", r.detail);
    assert!(
        r.latency >= t && r.latency < t + Duration::from_millis(500),
        "{r:?}"
    );
    // Nothing got in.
    assert_eq!(queue(&mut diag, PORT), full);

    drop(held);
    drop(listener);
    drop(diag);
    env.finish();
}

#[test]
fn probes_dial_from_the_node_netns() {
    let Some(mut env) = Env::new("node", &[]) else {
        return;
    };
    let node_ns = env.node_ns();
    // A loopback listener that exists only in the node netns: a probe made
    // from any other netns would not reach it.
    const PORT: u16 = 9100;
    let listener = idle_listener(&node_ns, PORT, 8);
    let mut diag = SockDiag::open_in(&node_ns).expect("sock_diag socket in the node netns");
    env.start_prober();
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    // The TCP dial (tokio socket in the task).
    let r = env
        .prober()
        .probe_once(&Handler::Tcp { addr }, Duration::from_secs(1));
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    assert!(wait_until(Duration::from_secs(1), || queue(
        &mut diag, PORT
    )
    .depth
        == 1));
    // reqwest's connection (made by hyper's connector on the prober's
    // threads); nobody answers, so it times out, but it is queued here.
    let r = env.prober().probe_once(
        &Handler::Http {
            addr,
            path: "/healthz".to_owned(),
            headers: Vec::new(),
        },
        Duration::from_millis(300),
    );
    assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
    assert!(wait_until(Duration::from_secs(1), || queue(
        &mut diag, PORT
    )
    .depth
        == 2));
    drop(listener);
    drop(diag);
    env.finish();
}

/// A scripted HTTP server on `listener` until `stop`: answers by path and
/// records each request head. `/big` announces 1 MiB, sends 64 KiB and
/// holds the connection: only a client that stops reading early finishes.
fn scripted_server(
    listener: TcpListener,
    stop: Arc<std::sync::atomic::AtomicBool>,
    heads: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    use std::io::{Read as _, Write as _};
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            s.set_nonblocking(false).expect("blocking");
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            heads.lock().expect("heads").push(head);
            let resp: Vec<u8> = match path.as_str() {
                "/ok" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                "/created" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                "/bad" => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec(),
                "/notfound" => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                "/same" => b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n".to_vec(),
                "/same-bad" => {
                    b"HTTP/1.1 301 Moved\r\nLocation: /bad\r\nContent-Length: 0\r\n\r\n".to_vec()
                }
                "/loop" => b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".to_vec(),
                // Another host (inside 198.18.0.0/15, never contacted).
                "/other" => b"HTTP/1.1 302 Found\r\nLocation: http://198.19.254.254:81/x\r\nContent-Length: 0\r\n\r\n".to_vec(),
                "/big" => {
                    let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".to_vec();
                    r.extend(std::iter::repeat_n(b'x', 64 << 10));
                    r
                }
                _ => b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec(),
            };
            let _ = s.write_all(&resp);
            if path == "/big" {
                held.push(s);
            }
        }
    })
}

#[test]
fn http_status_redirects_and_headers_follow_kubelet() {
    let Some(mut env) = Env::new("hstat", &[]) else {
        return;
    };
    let node_ns = env.node_ns();
    const PORT: u16 = 9200;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = scripted_server(
        idle_listener(&node_ns, PORT, 64),
        Arc::clone(&stop),
        Arc::clone(&heads),
    );
    env.start_prober();
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, PORT);
    let get = |path: &str, headers: Vec<(String, String)>| {
        env.prober().probe_once(
            &Handler::Http {
                addr,
                path: path.to_owned(),
                headers,
            },
            Duration::from_secs(2),
        )
    };
    let outcome = |path: &str| get(path, Vec::new());

    let r = outcome("/ok");
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    assert!(r.detail.is_empty());
    assert_eq!(outcome("/created").outcome, ProbeOutcome::Success);
    let r = outcome("/bad");
    assert_eq!(r.outcome, ProbeOutcome::Failure, "{r:?}");
    assert!(r.detail.contains("503"), "{}", r.detail);
    assert_eq!(outcome("/notfound").outcome, ProbeOutcome::Failure);
    // Same host: followed.
    heads.lock().expect("heads").clear();
    assert_eq!(outcome("/same").outcome, ProbeOutcome::Success);
    assert_eq!(outcome("/same-bad").outcome, ProbeOutcome::Failure);
    let paths: Vec<String> = heads
        .lock()
        .expect("heads")
        .iter()
        .map(|h| h.split_whitespace().nth(1).unwrap_or("").to_owned())
        .collect();
    assert_eq!(paths, ["/same", "/ok", "/same-bad", "/bad"]);
    // Another host: not followed, the 3xx counts as success.
    heads.lock().expect("heads").clear();
    let r = outcome("/other");
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    assert_eq!(heads.lock().expect("heads").len(), 1);
    // A loop fails once 10 requests were made (Go's `len(via) >= 10`).
    heads.lock().expect("heads").clear();
    let r = outcome("/loop");
    assert_eq!(r.outcome, ProbeOutcome::Failure, "{r:?}");
    assert!(r.detail.contains("10 redirects"), "{}", r.detail);
    assert_eq!(heads.lock().expect("heads").len(), 10);
    // A large body is cut at 10 KiB, not read to the end (which never comes).
    assert_eq!(outcome("/big").outcome, ProbeOutcome::Success);
    // kubelet's headers, and a handler's override.
    heads.lock().expect("heads").clear();
    assert_eq!(outcome("/ok").outcome, ProbeOutcome::Success);
    let r = get(
        "ok",
        vec![
            ("user-agent".to_owned(), "custom/2".to_owned()),
            ("X-Probe".to_owned(), "1".to_owned()),
        ],
    );
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    let heads_now = heads.lock().expect("heads").clone();
    let lower: Vec<String> = heads_now.iter().map(|h| h.to_ascii_lowercase()).collect();
    assert!(
        lower[0].contains("\r\nuser-agent: kube-probe/1.33\r\n"),
        "{}",
        heads_now[0]
    );
    assert!(lower[0].contains("\r\naccept: */*\r\n"), "{}", heads_now[0]);
    assert!(
        lower[0].contains("\r\nconnection: close\r\n"),
        "{}",
        heads_now[0]
    );
    assert!(lower[1].starts_with("get /ok "), "{}", heads_now[1]);
    assert!(
        lower[1].contains("\r\nuser-agent: custom/2\r\n"),
        "{}",
        heads_now[1]
    );
    assert!(!lower[1].contains("kube-probe"), "{}", heads_now[1]);
    assert!(lower[1].contains("\r\nx-probe: 1\r\n"), "{}", heads_now[1]);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().expect("server thread");
    env.finish();
}

#[test]
fn http_probe_times_out_on_a_busy_worker_while_tcp_passes() {
    let Some(mut env) = Env::new("http", &[("web", 20)]) else {
        return;
    };
    const PORT: u16 = 8080;
    let addr = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 20), PORT);
    env.pod_server(
        "web",
        &ServerSpec {
            port: PORT,
            workers: 1,
            backlog: 16,
            service_time: svclab_suite::model::Dur(Duration::from_secs(3)),
            ..ServerSpec::default()
        },
    );
    let pod_ns = env.pod_ns("web");
    let mut diag = SockDiag::open_in(&pod_ns).expect("sock_diag socket in the pod netns");
    // Listening, seen without opening a connection.
    assert!(
        wait_until(Duration::from_secs(10), || diag
            .listener(PORT)
            .expect("dump")
            .is_some()),
        "pod-server never listened"
    );
    assert_eq!(queue(&mut diag, PORT).backlog, 16);
    env.start_prober();
    let http = Handler::Http {
        addr,
        path: "/healthz".to_owned(),
        headers: Vec::new(),
    };

    // A free worker answers (at once, or after the service time if the
    // server applies it to /healthz too).
    let r = env.prober().probe_once(&http, Duration::from_secs(6));
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");

    // Occupy the only worker with a real request, never read the answer.
    let node_ns = env.node_ns();
    let busy = node_ns
        .run(|| {
            let mut s = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(1))
                .expect("connecting the busy request");
            std::io::Write::write_all(
                &mut s,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .expect("sending the busy request");
            s
        })
        .expect("entering the node netns");
    // The worker accepted it (the queue is empty again) and is now serving it.
    assert!(
        wait_until(Duration::from_secs(1), || queue(&mut diag, PORT).depth == 0),
        "the worker did not accept the busy request"
    );

    let t = Duration::from_secs(1);
    let r = env.prober().probe_once(&http, t);
    assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
    assert!(
        r.latency >= t && r.latency < t + Duration::from_millis(500),
        "{r:?}"
    );
    // Same port, same moment: the kernel still completes the handshake.
    let r = env.prober().probe_once(&Handler::Tcp { addr }, t);
    assert_eq!(
        r.outcome,
        ProbeOutcome::Success,
        "false healthy expected: {r:?}"
    );
    // Both probes' connections wait for the busy worker.
    let q = queue(&mut diag, PORT);
    assert!(q.depth >= 2, "{q:?}");

    drop(busy);
    drop(diag);
    env.finish();
}

#[test]
fn exec_probe_runs_in_the_pod_netns() {
    let Some(mut env) = Env::new("exec", &[("x", 30)]) else {
        return;
    };
    env.start_prober();
    let netns = env.pod_path("x");
    let exec = |command: Vec<String>| Handler::Exec {
        netns: netns.clone(),
        command,
    };
    let t = Duration::from_secs(5);
    let p = env.prober();

    let r = p.probe_once(&exec(sh("exit 0")), t);
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    let r = p.probe_once(&exec(sh("exit 3")), t);
    assert_eq!(r.outcome, ProbeOutcome::Failure, "{r:?}");
    assert!(r.detail.contains("exited with 3"), "{}", r.detail);
    let r = p.probe_once(&exec(vec!["/nonexistent/probe".to_owned()]), t);
    assert_eq!(r.outcome, ProbeOutcome::Failure, "{r:?}");

    let short = Duration::from_millis(200);
    let r = p.probe_once(&exec(sh("sleep 5")), short);
    assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
    assert!(
        r.latency >= short && r.latency < Duration::from_secs(1),
        "killed at the timeout: {r:?}"
    );

    // The command's netns is the pod's (by inode), not the node's.
    let ino = |p: &Path| std::fs::metadata(p).expect("stat netns").ino();
    let pod_ino = ino(&netns);
    let node_path = env.topo.as_ref().expect("up").node_netns_path(0);
    let node_ino = ino(&node_path);
    assert_ne!(pod_ino, node_ino);
    let in_ns = |i: u64| {
        sh(&format!(
            "test \"$(readlink /proc/self/ns/net)\" = 'net:[{i}]'"
        ))
    };
    let r = p.probe_once(&exec(in_ns(pod_ino)), t);
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");
    let r = p.probe_once(&exec(in_ns(node_ino)), t);
    assert_eq!(r.outcome, ProbeOutcome::Failure, "{r:?}");
    // And it sees the pod's interface and address.
    let r = p.probe_once(&exec(sh("grep -q 'eth0:' /proc/net/dev")), t);
    assert_eq!(r.outcome, ProbeOutcome::Success, "{r:?}");

    env.finish();
}

/// Receives every report that arrives within `d`.
fn collect(rx: &mpsc::Receiver<ProbeReport>, d: Duration) -> Vec<ProbeReport> {
    let deadline = Instant::now() + d;
    let mut v = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return v;
        }
        match rx.recv_timeout(left) {
            Ok(r) => v.push(r),
            Err(mpsc::RecvTimeoutError::Timeout) => return v,
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("prober gone"),
        }
    }
}

#[test]
fn periodic_probes_follow_gate_period_and_initial_delay() {
    let Some(mut env) = Env::new("sched", &[("s", 40)]) else {
        return;
    };
    let pod_ns = env.pod_ns("s");
    let listener = idle_listener(&pod_ns, 7000, 1024);
    let rx = env.start_prober();
    let addr = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 40), 7000);
    let period = Duration::from_millis(200);
    let gate = Arc::new(ProbeGate::default());
    let task = ProbeTask {
        pod: Arc::from("s"),
        kind: ProbeKind::Readiness,
        handler: Handler::Tcp { addr },
        period,
        timeout: Duration::from_secs(1),
        initial_delay: Duration::ZERO,
        gate: Arc::clone(&gate),
    };
    let handle = env.prober().spawn(task.clone());

    // Closed gate: the ticks pass without probing.
    assert!(collect(&rx, Duration::from_millis(700)).is_empty());
    // Another kind's bit does not open this probe.
    gate.set(&[ProbeKind::Liveness], 1, env.now_ns());
    assert!(collect(&rx, Duration::from_millis(500)).is_empty());

    // Open: a report per period, with the gate's generation.
    gate.set(&[ProbeKind::Readiness], 7, env.now_ns());
    let opened = env.now_ns();
    let got = collect(&rx, Duration::from_millis(1100));
    assert!((3..=7).contains(&got.len()), "{} reports", got.len());
    for r in &got {
        assert_eq!(r.generation, 7);
        assert_eq!(&*r.pod, "s");
        assert_eq!(r.kind, ProbeKind::Readiness);
        assert_eq!(r.result.outcome, ProbeOutcome::Success, "{:?}", r.result);
        assert!(r.start_ns >= r.due_ns);
        // Loose on purpose: CI machines are shared; the bench measures the
        // 50 ms goal.
        assert!(r.start_ns - r.due_ns < 150_000_000, "late start: {r:?}");
    }
    // The first probe comes at the next tick after opening.
    assert!(got[0].start_ns - opened < 350_000_000, "{:?}", got[0]);
    for w in got.windows(2) {
        // Ticks are whole periods apart (a missed one is skipped, not bunched).
        let gap = w[1].due_ns - w[0].due_ns;
        assert!(
            gap > 0 && gap % 200_000_000 == 0,
            "{:?}",
            (w[0].due_ns, w[1].due_ns)
        );
    }

    // Closed again: at most one attempt that was already running.
    gate.close();
    std::thread::sleep(Duration::from_millis(50));
    let _ = collect(&rx, Duration::from_millis(10));
    assert!(collect(&rx, Duration::from_millis(600)).is_empty());

    // A new container with a 600 ms initial delay: nothing before it.
    drop(handle);
    let delayed = env.prober().spawn(ProbeTask {
        initial_delay: Duration::from_millis(600),
        ..task.clone()
    });
    let started = env.now_ns();
    gate.set(&[ProbeKind::Readiness], 8, started);
    let early = collect(&rx, Duration::from_millis(500));
    assert!(
        early.is_empty(),
        "probed during the initial delay: {early:?}"
    );
    let got = collect(&rx, Duration::from_millis(900));
    assert!(!got.is_empty(), "no probe after the initial delay");
    for r in &got {
        assert_eq!(r.generation, 8);
        assert!(r.start_ns - started >= 600_000_000, "{r:?}");
    }

    // Dropping the handle stops the task.
    drop(delayed);
    std::thread::sleep(Duration::from_millis(50));
    let _ = collect(&rx, Duration::from_millis(10));
    assert!(collect(&rx, Duration::from_millis(600)).is_empty());

    drop(listener);
    env.finish();
}
