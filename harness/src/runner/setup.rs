//! Stage 1 of a run: build the topology and one dataplane per node, create
//! the initial pods, a netns per client (with its port range) and the
//! client plans, and wait — as a rollout would — until kubelet has the
//! initial pods Ready. The cluster goes into the caller's slot as soon as
//! it exists, so teardown finds it whatever fails after.
use std::{
    net::{Ipv4Addr, SocketAddrV4},
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use svclab_report::record as rec;
use svclab_suite::model::{ConnectionMode, Dur, LoadMode, PortMode, ProxyKind, Suite};

use super::ctx::{Gathered, RunCtx};
use crate::{
    cluster::{Cluster, state_file},
    kubelet::{self, probe::Handler},
    load::client::{self, ClientPlan},
};

/// Builds the cluster into `slot` and returns the clients' plans.
pub(super) fn setup(
    ctx: &RunCtx<'_>,
    slot: &mut Option<Cluster>,
    g: &mut Gathered,
) -> anyhow::Result<Vec<ClientPlan>> {
    let suite = ctx.suite;
    let c = slot.insert(Cluster::build(
        &ctx.prefix,
        suite,
        ctx.opts.exe.clone(),
        ctx.kube_scale,
    )?);
    c.run_dir = Some(ctx.dir.clone());
    g.kubelet = kubelet_info_of(suite, ctx.kube_scale, &c.autoscaler_lines());
    tracing::info!(
        nodes = suite.cluster.nodes,
        prefix = %ctx.prefix,
        "topology and datapaths up"
    );
    ctx.progress.set_prefix("pods");
    for d in &suite.deployments {
        c.scale(&d.name, d.replicas, 0.0, true)?;
    }
    let plans = client_plans(ctx, c)?;
    wait_initial_ready(c, suite, &ctx.opts.stop)?;
    state_file::write_state(&ctx.dir, &c.state(&ctx.run_id, &ctx.prefix, false)?)?;
    tracing::info!(
        pods = c.ready_pods(),
        clients = suite.clients.len(),
        "pods ready; starting clients"
    );
    Ok(plans)
}

/// One client pod per suite client (netns, IP, port range) and its plan.
fn client_plans(ctx: &RunCtx<'_>, c: &mut Cluster) -> anyhow::Result<Vec<ClientPlan>> {
    (0..ctx.suite.clients.len())
        .map(|i| client_plan(ctx, c, i))
        .collect()
}

/// Creates the pod of `suite.clients[i]` (netns, IP, port range), or for
/// an external client takes its address in the run's external netns, and
/// returns the client's plan; also what recreating a client pod runs.
pub(super) fn client_plan(
    ctx: &RunCtx<'_>,
    c: &mut Cluster,
    i: usize,
) -> anyhow::Result<ClientPlan> {
    let suite = ctx.suite;
    let cl = suite.clients.get(i).context("no such client")?;
    let svc_i = suite
        .services
        .iter()
        .position(|s| s.name == cl.service)
        .context("client service")?;
    let svc = &suite.services[svc_i];
    let place = if cl.external {
        external_place(ctx, c, i, svc_i)?
    } else {
        pod_place(c, cl, svc)?
    };
    // Responses name their pod unless a deployment behind the service
    // runs an arbitrary program.
    let require_pod = suite
        .deployments
        .iter()
        .filter(|d| d.name == svc.selector)
        .all(|d| d.names_pod());
    let sh = shape(ctx, cl);
    Ok(ClientPlan {
        index: u16::try_from(i).unwrap_or(u16::MAX),
        name: cl.name.clone(),
        netns: NetnsRef::open(&place.netns)?,
        local_ip: place.ip,
        bind_source: cl.external,
        target: place.target,
        require_pod,
        via_proxy: cl.proxy.is_some(),
        cgroup: place.cgroup,
        connection: sh.connection,
        ports: sh.ports,
        load: sh.load,
        start: sh.start,
        duration: sh.duration,
        timeout: sh.timeout,
    })
}

/// Where a client runs and what it sends to.
struct Place {
    netns: std::path::PathBuf,
    ip: Ipv4Addr,
    target: SocketAddrV4,
    cgroup: Option<crate::engines::ClientCgroup>,
}

/// A client pod: its netns and port range, and the service VIP (or its
/// nginx in front of it) as the target.
fn pod_place(
    c: &mut Cluster,
    cl: &svclab_suite::model::Client,
    svc: &svclab_suite::model::Service,
) -> anyhow::Result<Place> {
    let (ip, netns) = c.add_client_pod(&cl.name, cl.node)?;
    if cl.source_ports.mode == PortMode::Ephemeral {
        let [lo, hi] = cl.source_ports.range;
        c.set_sysctl_in_client(
            &cl.name,
            "net.ipv4.ip_local_port_range",
            &format!("{lo} {hi}"),
        )?;
    }
    let vip = SocketAddrV4::new(svc.cluster_ip, svc.port);
    let target = match cl.proxy {
        Some(ProxyKind::Nginx) => c.start_client_proxy(
            &cl.name,
            &svc.name,
            vip,
            &cl.upstream.clone().unwrap_or_default(),
        )?,
        None => vip,
    };
    Ok(Place {
        netns,
        ip,
        target,
        cgroup: c.client_cgroup(&cl.name)?,
    })
}

/// An external client: its address in the run's external netns (bound,
/// as the netns holds every external client's), sending to its node's
/// address at the service's NodePort.
fn external_place(
    ctx: &RunCtx<'_>,
    c: &mut Cluster,
    i: usize,
    svc_i: usize,
) -> anyhow::Result<Place> {
    let suite = ctx.suite;
    let cl = &suite.clients[i];
    let k = suite.clients[..i].iter().filter(|c| c.external).count();
    let k = u8::try_from(k).context("too many external clients")?;
    let node_port = svclab_suite::model::node_ports(&suite.services)[svc_i]
        .context("an external client's service has no NodePort")?;
    let ports = (cl.source_ports.mode == PortMode::Ephemeral).then_some(cl.source_ports.range);
    let (ip, netns) = c.external_client(k, ports)?;
    Ok(Place {
        netns,
        ip,
        target: SocketAddrV4::new(svclab_topology::fabric_address(cl.node), node_port),
        cgroup: None,
    })
}

/// What a client's plan takes from its load settings alone, wherever it
/// runs.
struct Shape {
    connection: client::Connection,
    ports: client::Ports,
    load: client::Load,
    start: Duration,
    duration: Duration,
    timeout: Duration,
}

fn shape(ctx: &RunCtx<'_>, cl: &svclab_suite::model::Client) -> Shape {
    Shape {
        connection: match cl.connection {
            ConnectionMode::PerRequest => client::Connection::PerRequest,
            ConnectionMode::KeepAlive => client::Connection::KeepAlive { pool: cl.pool_size },
        },
        ports: match cl.source_ports.mode {
            PortMode::Ephemeral => client::Ports::Ephemeral,
            PortMode::Pool => client::Ports::Pool {
                low: cl.source_ports.range[0],
                high: cl.source_ports.range[1],
            },
        },
        load: match cl.load.mode {
            LoadMode::Open => client::Load::Open {
                rate: cl.load.rate,
                max_in_flight: cl.load.max_in_flight,
            },
            LoadMode::Closed => client::Load::Closed {
                concurrency: cl.load.concurrency,
            },
        },
        start: cl.start.0,
        duration: cl
            .duration
            .map_or(ctx.duration.saturating_sub(cl.start.0), |d| d.0),
        timeout: cl.timeout.0,
    }
}

/// Before clients start, lets kubelet bring the initial pods to Ready (as a
/// rollout would), up to 30 s plus the slowest start; pods that are still
/// not ready then are left to kubelet and the run goes on.
fn wait_initial_ready(c: &mut Cluster, suite: &Suite, stop: &AtomicBool) -> anyhow::Result<()> {
    let want: usize = suite
        .deployments
        .iter()
        .map(|d| usize::try_from(d.replicas).unwrap_or(0))
        .sum();
    let slowest = suite
        .deployments
        .iter()
        .map(|d| match d.workload() {
            svclab_suite::model::Workload::PodServer(s) => s.startup_time.0,
            _ => Duration::ZERO,
        })
        .max()
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30) + slowest;
    while c.ready_pods() < want && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        c.kubelet_tick()?;
        std::thread::sleep(Duration::from_millis(10));
    }
    if c.ready_pods() < want {
        tracing::warn!(
            ready = c.ready_pods(),
            want,
            "not every initial pod became ready; starting anyway"
        );
    }
    // The initial endpoints reach the dataplanes, and a dataplane that
    // programs asynchronously has applied them, in `Cluster::start_clock`.
    // Telemetry so far belongs to no bucket.
    let _ = c.take_buckets();
    Ok(())
}

/// The kubelet/HPA settings in words, after scaling.
fn kubelet_info_of(suite: &Suite, scale: f64, autoscalers: &[String]) -> rec::KubeletInfo {
    let d = |secs: f64| Dur(Duration::from_secs_f64(secs * scale));
    let mut constants = vec![
        format!(
            "restart back-off {} doubling to {}, reset after {} of running",
            d(10.0),
            d(300.0),
            d(600.0)
        ),
        "probe timeouts are not scaled".to_owned(),
    ];
    if !suite.autoscalers.is_empty() {
        constants.push(format!(
            "HPA CPU initialization period {}, initial readiness delay {}, scale-up policy per {}",
            d(300.0),
            d(30.0),
            d(15.0)
        ));
    }
    let mut probes = Vec::new();
    for dep in &suite.deployments {
        for (kind, p) in [
            ("startup", &dep.probes.startup),
            ("readiness", &dep.probes.readiness),
            ("liveness", &dep.probes.liveness),
        ] {
            let Some(p) = p else { continue };
            // Described from the handler kubelet runs (one place for the port default).
            let handler =
                match kubelet::handler(p, dep.port(), Ipv4Addr::UNSPECIFIED, Path::new("")) {
                    Handler::Tcp { addr } => format!("tcp :{}", addr.port()),
                    Handler::Http { addr, path, .. } => format!("http GET :{}{path}", addr.port()),
                    Handler::Exec { command, .. } => format!("exec {}", command.join(" ")),
                };
            probes.push(format!(
                "{} {kind}: {handler}, initialDelay {}, period {}, timeout {}, successThreshold {}, failureThreshold {}",
                dep.name,
                d(p.initial_delay.0.as_secs_f64()),
                d(p.period.0.as_secs_f64()),
                p.timeout,
                p.success_threshold,
                p.failure_threshold
            ));
        }
    }
    rec::KubeletInfo {
        time_scale: scale,
        constants,
        probes,
        autoscalers: autoscalers.to_vec(),
    }
}
