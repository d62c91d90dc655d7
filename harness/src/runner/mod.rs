//! One suite run end to end: build the cluster, start clients, play the
//! timeline while sampling the datapath every bucket, stop on time or on
//! Ctrl-C, tear everything down, then write the run record and report and
//! return the verdict. Kernel state is created only after the suite
//! validated; teardown runs on every path.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use svclab_datapath::{CtKind, NetnsRef};
use svclab_report::record::{self as rec, RunRecord, Verdict};
use svclab_suite::{
    LoadedSuite,
    model::{Action, ConnectionMode, CtReuseSpec, LoadMode, PortMode, SelectionSpec},
};

use crate::{
    cluster::{Cluster, probe::Handler, state_file},
    load::{
        aggregator::Aggregator,
        client::{self, ClientHandle, ClientPlan, Outcome},
    },
};

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Reports go to `<out>/<suite>/<run-id>/`.
    pub out: PathBuf,
    /// Multiplies the suite's run time, timeline, client start/duration and
    /// expectation windows (1.0 = as written). Datapath timeouts and grace
    /// are mechanism, not schedule, and stay as written.
    pub time_scale: f64,
    pub quiet: bool,
    /// After the run, keep the topology up (for `svclab inspect`) until
    /// SIGINT/SIGTERM, then tear down.
    pub hold: bool,
    /// Set by SIGINT/SIGTERM (or a test) to stop early.
    pub stop: Arc<AtomicBool>,
    /// The svclab executable that runs pod servers.
    pub exe: PathBuf,
}

#[derive(Debug)]
pub struct RunOutcome {
    pub verdict: Verdict,
    pub dir: PathBuf,
    pub record: RunRecord,
}

pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "r{:x}{:x}{n}",
        secs & 0xff_ffff,
        std::process::id() & 0xffff
    )
}

fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil-from-days (Howard Hinnant), UTC.
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The kubelet/HPA time scale of a run: the suite's `kubelet.time_scale`
/// times the command line's `--time-scale`. Below 0.005 probe periods and
/// back-offs mean nothing: that is an error (bad input for `svclab run`).
pub fn kube_scale(suite: &svclab_suite::model::Suite, time_scale: f64) -> Result<f64, String> {
    let k = suite.kubelet.time_scale * time_scale;
    if k >= 0.005 {
        Ok(k)
    } else {
        Err(format!(
            "kubelet.time_scale {} × --time-scale {time_scale} = {k:.4}: below 0.005, probe periods and back-offs that short mean nothing; use a larger --time-scale",
            suite.kubelet.time_scale
        ))
    }
}

/// The suite with its schedule multiplied by `f`.
pub fn scale_schedule(suite: &svclab_suite::model::Suite, f: f64) -> svclab_suite::model::Suite {
    use svclab_suite::model::Dur;
    let sc = |d: Dur| {
        Dur(Duration::from_millis(
            (d.0.as_secs_f64() * f * 1000.0).round() as u64,
        ))
    };
    let mut s = suite.clone();
    if (f - 1.0).abs() < f64::EPSILON {
        return s;
    }
    s.duration = sc(s.duration);
    for c in &mut s.clients {
        c.start = sc(c.start);
        c.duration = c.duration.map(sc);
    }
    for e in &mut s.timeline {
        e.at = sc(e.at);
        if let Action::Spike { duration, .. } = &mut e.action {
            *duration = duration.map(sc);
        }
    }
    for e in &mut s.expect {
        e.window = e.window.map(|[a, b]| [sc(a), sc(b)]);
    }
    s
}

/// Runs one suite; its log goes to `<run-dir>/run.log` (tracing).
pub fn run_suite(loaded: &LoadedSuite, opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    let run_id = new_run_id();
    let dir = opts.out.join(&loaded.suite.name).join(&run_id);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the run folder {}", dir.display()))?;
    let log = std::fs::File::create(dir.join("run.log"))
        .with_context(|| format!("creating {}", dir.join("run.log").display()))?;
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(log))
        .with_ansi(false)
        .with_target(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(suite = %loaded.suite.name, path = %loaded.path.display(), run_id, "run starting");
        let r = run_suite_in(loaded, opts, run_id.clone(), dir.clone());
        match &r {
            Ok(o) => tracing::info!(verdict = ?o.verdict, "run finished"),
            Err(e) => tracing::error!("run failed: {e:#}"),
        }
        r
    })
}

fn run_suite_in(
    loaded: &LoadedSuite,
    opts: &RunOptions,
    run_id: String,
    dir: PathBuf,
) -> anyhow::Result<RunOutcome> {
    let scaled = scale_schedule(&loaded.suite, opts.time_scale);
    let suite = &scaled;
    let prefix = format!("svl-{run_id}-");
    let duration = suite.duration.0;
    let bucket = suite.bucket.0;
    let n_buckets = usize::try_from(duration.as_nanos().div_ceil(bucket.as_nanos().max(1)))
        .unwrap_or(1)
        .max(1);
    let started_at = rfc3339_now();

    let progress = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(duration.as_secs())
    };
    progress.set_style(
        ProgressStyle::with_template("{prefix:>9} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_prefix("topology");

    let mut cluster = None;
    let mut clients: Vec<ClientHandle> = Vec::new();
    let (tx, rx) = mpsc::channel();
    let mut agg = Aggregator::new(bucket, n_buckets)?;
    let mut error: Option<String> = None;
    let mut elapsed = Duration::ZERO;
    let mut datapath_totals = rec::DatapathTotals::default();
    let mut interrupted = false;

    let kube_scale = kube_scale(suite, opts.time_scale).map_err(anyhow::Error::msg)?;
    let mut kubelet_info = rec::KubeletInfo::default();
    let mut pod_records = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        let c = cluster.insert(Cluster::build(
            &prefix,
            suite,
            opts.exe.clone(),
            kube_scale,
        )?);
        kubelet_info = kubelet_info_of(suite, kube_scale, &c.autoscaler_lines());
        tracing::info!(
            nodes = suite.cluster.nodes,
            prefix,
            "topology and datapaths up"
        );
        progress.set_prefix("pods");
        for d in &suite.deployments {
            c.scale(&d.name, d.replicas, 0.0, true)?;
        }
        let mut plans = Vec::new();
        for (i, cl) in suite.clients.iter().enumerate() {
            let (ip, netns_path) = c.add_client_pod(&cl.name, cl.node)?;
            if cl.source_ports.mode == PortMode::Ephemeral {
                let [lo, hi] = cl.source_ports.range;
                c.set_sysctl_in_client(
                    &cl.name,
                    "net.ipv4.ip_local_port_range",
                    &format!("{lo} {hi}"),
                )?;
            }
            let svc = suite
                .services
                .iter()
                .find(|s| s.name == cl.service)
                .context("client service")?;
            plans.push(ClientPlan {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                name: cl.name.clone(),
                netns: NetnsRef::open(&netns_path)?,
                local_ip: ip,
                target: std::net::SocketAddrV4::new(svc.cluster_ip, svc.port),
                connection: match cl.connection {
                    ConnectionMode::PerRequest => client::Connection::PerRequest,
                    ConnectionMode::KeepAlive => {
                        client::Connection::KeepAlive { pool: cl.pool_size }
                    }
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
                    .map_or(duration.saturating_sub(cl.start.0), |d| d.0),
                timeout: cl.timeout.0,
            });
        }

        wait_initial_ready(c, suite, &opts.stop)?;
        state_file::write_state(&dir, &c.state(&run_id, &prefix, false)?)?;
        tracing::info!(
            pods = c.ready_pods(),
            clients = suite.clients.len(),
            "pods ready; starting clients"
        );
        progress.set_prefix("running");
        let t0 = Instant::now();
        c.start_clock(t0);
        c.event(0.0, "run_start", format!("run {run_id} started"), false);
        for plan in plans {
            clients.push(client::start(plan, t0, tx.clone())?);
        }
        let mut timeline: Vec<_> = suite.timeline.iter().collect();
        timeline.sort_by_key(|e| e.at);
        let mut next_action = 0;
        let mut next_sample = bucket;
        let mut next_pod_sample = Duration::ZERO;
        let mut last_new: BTreeMap<String, u64> = BTreeMap::new();
        // Spikes to undo: (when, client, rate to restore).
        let mut spike_ends: Vec<(Duration, String, u32)> = Vec::new();
        loop {
            let now = t0.elapsed();
            while let Ok(r) = rx.try_recv() {
                agg.add(r);
            }
            c.kubelet_tick()?;
            c.autoscale()?;
            if now >= next_pod_sample {
                c.sample_pods();
                next_pod_sample = now + POD_SAMPLE;
            }
            spike_ends.retain(|(at, client, rate)| {
                if *at > now {
                    return true;
                }
                for h in clients.iter().filter(|h| &h.name == client) {
                    h.set_rate(*rate);
                }
                c.event(
                    now.as_secs_f64(),
                    "spike_end",
                    format!("{client} back to {rate} req/s"),
                    true,
                );
                false
            });
            while next_action < timeline.len() && timeline[next_action].at.0 <= now {
                let e = timeline[next_action];
                next_action += 1;
                let t = now.as_secs_f64();
                tracing::info!(at = t, action = ?e.action, "timeline action");
                if let Some(end) = act(c, &clients, &e.action, t)? {
                    spike_ends.push((now + end.0, end.1, end.2));
                }
                // Pods change only through actions: refresh what `inspect` reads.
                state_file::write_state(&dir, &c.state(&run_id, &prefix, false)?)?;
            }
            if now >= next_sample {
                let i =
                    agg.bucket_of(u64::try_from((next_sample - bucket).as_nanos()).unwrap_or(0));
                sample(c, &mut agg, i, &mut last_new)?;
                let (pods, deployments) = c.take_buckets();
                agg.set_pods(i, pods, deployments);
                next_sample += bucket;
                let (ok, errs) = agg.bucket_rates(i);
                progress.set_position(now.as_secs().min(duration.as_secs()));
                progress.set_message(format!(
                    "{ok} ok/s, {errs} err/s, {} ready pods",
                    c.ready_pods()
                ));
            }
            if now >= duration || opts.stop.load(Ordering::Relaxed) {
                elapsed = now.min(duration);
                break;
            }
            std::thread::sleep(
                Duration::from_millis(20)
                    .min(next_sample.saturating_sub(now))
                    .max(Duration::from_millis(1)),
            );
        }
        tracing::info!(
            elapsed = elapsed.as_secs_f64(),
            stopped_by_signal = opts.stop.load(Ordering::Relaxed),
            "stopping clients"
        );
        progress.set_prefix("stopping");
        for cl in &mut clients {
            cl.stop()?;
        }
        drop(tx);
        while let Ok(r) = rx.recv_timeout(Duration::from_millis(50)) {
            agg.add(r);
        }
        datapath_totals = totals(c)?;
        pod_records = c.pod_records();
        interrupted = opts.stop.load(Ordering::Relaxed);
        if opts.hold && !interrupted {
            state_file::write_state(&dir, &c.state(&run_id, &prefix, true)?)?;
            progress.suspend(|| {
                eprintln!(
                    "holding run {run_id}: inspect with `svclab inspect {}`; Ctrl-C tears it down",
                    dir.display()
                );
            });
            progress.set_prefix("holding");
            wait_for(&opts.stop);
        }
        Ok(())
    })();
    if let Err(e) = &result {
        error = Some(format!("{e:#}"));
    }

    if let Some(e) = &error {
        tracing::error!("run error: {e}");
    }
    tracing::info!("teardown");
    progress.set_prefix("teardown");
    drop(clients);
    if error.is_some() {
        interrupted |= opts.stop.load(Ordering::Relaxed);
    }
    let (backends, mut events) = match cluster.take() {
        Some(c) => {
            if pod_records.is_empty() {
                // Stopped early by an error: still keep what the pods did.
                pod_records = c.pod_records();
            }
            let backends = c.backends.clone();
            let events = c.events.clone();
            if let Err(e) = c.teardown() {
                error.get_or_insert_with(|| format!("{e:#}"));
            }
            (backends, events)
        }
        None => (Vec::new(), Vec::new()),
    };
    let _ = std::fs::remove_file(dir.join(state_file::STATE_FILE));
    if interrupted {
        events.push(rec::Event {
            t_s: elapsed.as_secs_f64(),
            kind: "interrupted".into(),
            detail: "stopped by signal".into(),
            timeline: true,
        });
    }
    progress.finish_and_clear();

    let buckets_done = if interrupted || error.is_some() {
        usize::try_from(elapsed.as_nanos().div_ceil(bucket.as_nanos().max(1)))
            .unwrap_or(0)
            .clamp(1, n_buckets)
    } else {
        n_buckets
    };
    let mut record = RunRecord {
        schema: rec::SCHEMA_VERSION,
        run_id: run_id.clone(),
        suite: rec::SuiteInfo {
            name: suite.name.clone(),
            path: loaded.path.display().to_string(),
            description: suite.description.clone(),
            header: loaded.header.clone(),
            yaml: loaded.text.clone(),
            datapath_mode: datapath_mode(loaded),
        },
        started_at,
        duration_s: duration.as_secs_f64(),
        elapsed_s: elapsed.as_secs_f64(),
        bucket_s: bucket.as_secs_f64(),
        seed: suite.seed,
        interrupted,
        backends,
        buckets: agg.buckets(buckets_done),
        events,
        datapath: datapath_totals,
        mechanism: BTreeMap::new(),
        expectations: Vec::new(),
        verdict: Verdict::Pass,
        error: error.clone(),
        pods: pod_records,
        kubelet: kubelet_info,
    };
    record.mechanism = mechanism(&record, &agg);
    let specs: Vec<svclab_report::derive::ExpectationSpec> = suite
        .expect
        .iter()
        .map(|e| svclab_report::derive::ExpectationSpec {
            metric: e.metric.clone(),
            window_s: e.window.map_or([0.0, duration.as_secs_f64()], |[a, b]| {
                [a.0.as_secs_f64(), b.0.as_secs_f64()]
            }),
            min: e.min,
            max: e.max,
            note: e.note.clone(),
        })
        .collect();
    record.expectations = svclab_report::derive::evaluate(&record, &specs);
    record.verdict = if error.is_some() {
        Verdict::Error
    } else if interrupted {
        Verdict::Interrupted
    } else if record.expectations.iter().all(|e| e.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    tracing::info!(verdict = ?record.verdict, dir = %dir.display(), "writing the report");
    svclab_report::write::write_report(&dir, &record)
        .with_context(|| format!("writing the report to {}", dir.display()))?;
    Ok(RunOutcome {
        verdict: record.verdict,
        dir,
        record,
    })
}

fn datapath_mode(loaded: &LoadedSuite) -> String {
    let d = &loaded.suite.datapath;
    let sel = match d.selection {
        SelectionSpec::Random => "random selection".to_owned(),
        SelectionSpec::Maglev => format!("Maglev (M={})", d.maglev_table_size),
    };
    let reuse = match d.ct_reuse {
        CtReuseSpec::Legacy => "legacy CT reuse".to_owned(),
        CtReuseSpec::CloseRebalance => {
            format!("close-rebalance CT reuse (grace {})", d.rebalance_grace)
        }
    };
    format!("{sel}, {reuse}, service TCP timeout {}", d.timeouts.tcp)
}

/// Plays one timeline action. A spike with a duration returns when (from
/// now) to restore which client to which rate.
fn act(
    c: &mut Cluster,
    clients: &[ClientHandle],
    action: &Action,
    t: f64,
) -> anyhow::Result<Option<(Duration, String, u32)>> {
    match action {
        Action::Spike {
            client,
            rate,
            duration,
        } => {
            let mut before = None;
            for h in clients.iter().filter(|h| &h.name == client) {
                before = Some(h.rate());
                h.set_rate(*rate);
            }
            let before = before.with_context(|| format!("no client {client}"))?;
            let how_long = duration.map_or("to the end".to_owned(), |d| format!("for {d}"));
            c.event(
                t,
                "spike",
                format!("spike {client} {before} → {rate} req/s {how_long}"),
                true,
            );
            return Ok(duration.map(|d| (d.0, client.clone(), before)));
        }
        Action::Scale {
            deployment,
            replicas,
        } => {
            let before = c
                .pods
                .values()
                .filter(|p| &p.deployment == deployment)
                .count();
            c.event(
                t,
                "scale",
                format!("scale {deployment} {before} → {replicas}"),
                true,
            );
            c.scale(deployment, *replicas, t, false)?;
        }
        Action::Kill { deployment, count } => {
            let victims = c.kill(deployment, *count, t)?;
            c.event(t, "kill", format!("kill {}", victims.join(", ")), true);
        }
        Action::DeletePod { deployment, index } => {
            let name = c.delete_pod(deployment, *index, t)?;
            c.event(t, "delete_pod", format!("delete {name}"), true);
        }
        Action::FlushCt { node } => {
            let n = c.flush_ct(*node)?;
            c.event(t, "flush_ct", format!("flush CT ({n} entries)"), true);
        }
        Action::RestartClient { client } => {
            for h in clients.iter().filter(|h| &h.name == client) {
                h.restart();
            }
            c.event(
                t,
                "restart_client",
                format!("restart client {client}"),
                true,
            );
        }
    }
    Ok(None)
}

/// How often pods are sampled (accept queue, busy workers) within a bucket.
const POD_SAMPLE: Duration = Duration::from_millis(100);

/// Before clients start, lets kubelet bring the initial pods to Ready (as a
/// rollout would), up to 30 s plus the slowest start; pods that are still
/// not ready then are left to kubelet and the run goes on.
fn wait_initial_ready(
    c: &mut Cluster,
    suite: &svclab_suite::model::Suite,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let want: usize = suite
        .deployments
        .iter()
        .map(|d| usize::try_from(d.replicas).unwrap_or(0))
        .sum();
    let slowest = suite
        .deployments
        .iter()
        .map(|d| d.server.startup_time.0)
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
    // Telemetry so far belongs to no bucket.
    let _ = c.take_buckets();
    Ok(())
}

/// The kubelet/HPA settings in words, after scaling.
fn kubelet_info_of(
    suite: &svclab_suite::model::Suite,
    scale: f64,
    autoscalers: &[String],
) -> rec::KubeletInfo {
    let d = |secs: f64| svclab_suite::model::Dur(Duration::from_secs_f64(secs * scale));
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
            let handler = match crate::cluster::kubelet::handler(
                p,
                &dep.server,
                std::net::Ipv4Addr::UNSPECIFIED,
                Path::new(""),
            ) {
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

/// Per-backend new connections (delta of SYNs DNATed to it) and
/// live service CT entries, summed over nodes, into bucket `i`.
fn sample(
    c: &mut Cluster,
    agg: &mut Aggregator,
    i: usize,
    last: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let names = c.addr_names();
    let mut new_total: BTreeMap<String, u64> = BTreeMap::new();
    let mut ct: BTreeMap<String, u64> = BTreeMap::new();
    for n in &c.nodes {
        let counters = n.datapath.counters()?;
        for (addr, s) in &counters.backends {
            if let Some(name) = names.get(addr) {
                *new_total.entry(name.clone()).or_default() += s.syns;
            }
        }
        for e in n.datapath.ct_entries()? {
            if e.kind == CtKind::Service
                && e.expires_in.is_some()
                && let Some(name) = e.backend.and_then(|a| names.get(&a))
            {
                *ct.entry(name.clone()).or_default() += 1;
            }
        }
    }
    for (name, total) in &new_total {
        let prev = last.insert(name.clone(), *total).unwrap_or(0);
        agg.set_datapath(
            i,
            name,
            total.saturating_sub(prev),
            ct.get(name).copied().unwrap_or(0),
        );
    }
    for (name, n) in &ct {
        if !new_total.contains_key(name) {
            agg.set_datapath(i, name, 0, *n);
        }
    }
    Ok(())
}

fn totals(c: &Cluster) -> anyhow::Result<rec::DatapathTotals> {
    let names = c.addr_names();
    let mut t = rec::DatapathTotals::default();
    for n in &c.nodes {
        let counters = n.datapath.counters()?;
        for (r, v) in &counters.reasons {
            *t.reasons.entry(r.name().to_owned()).or_default() += v;
        }
        for (addr, s) in &counters.backends {
            if let Some(name) = names.get(addr) {
                let e = t.backends.entry(name.clone()).or_default();
                e.selections += s.selections;
                e.reselections += s.reselections;
                e.packets += s.packets;
                e.bytes += s.bytes;
                e.connections += s.syns;
            }
        }
    }
    Ok(t)
}

/// Figures that show the mechanism behind the verdict.
fn mechanism(record: &RunRecord, agg: &Aggregator) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let sent = agg.totals.sent as f64;
    if sent > 0.0 {
        m.insert("ok_fraction".into(), agg.totals.ok as f64 / sent);
        if let Some(r) = record.datapath.reasons.get("ct-reopen") {
            m.insert("ct_reopen_per_request".into(), *r as f64 / sent);
        }
    }
    // Accounting: connections the clients completed per backend against
    // the SYNs the datapath sent there.
    let mut client_conns: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &agg.records {
        if let Outcome::Ok { backend } = &r.outcome
            && r.new_conn
        {
            *client_conns.entry(backend).or_default() += 1;
        }
    }
    let client_total: u64 = client_conns.values().sum();
    let dp_total: u64 = record
        .datapath
        .backends
        .values()
        .map(|b| b.connections)
        .sum();
    if client_total > 0 {
        m.insert(
            "datapath_conns_per_client_conn".into(),
            dp_total as f64 / client_total as f64,
        );
        let worst = client_conns
            .iter()
            .filter(|(_, n)| **n >= 100)
            .map(|(name, n)| {
                let dp = record
                    .datapath
                    .backends
                    .get(*name)
                    .map_or(0, |b| b.connections);
                (dp as f64 - *n as f64).abs() / *n as f64
            })
            .fold(0.0, f64::max);
        m.insert("accounting_max_backend_diff".into(), worst);
    }
    // Reused source ports after the last scale-up: did they keep the backend
    // they had before it?
    if let Some(t) = record
        .events
        .iter()
        .rev()
        .find(|e| e.kind == "scale")
        .map(|e| e.t_s)
    {
        let t_ns = (t * 1e9) as u64;
        let mut before: BTreeMap<(u16, u16), Arc<str>> = BTreeMap::new();
        for r in &agg.records {
            if let Outcome::Ok { backend } = &r.outcome
                && r.end_ns < t_ns
                && r.sport != 0
            {
                before.insert((r.client, r.sport), Arc::clone(backend));
            }
        }
        let (mut kept, mut total) = (0u64, 0u64);
        for r in &agg.records {
            if let Outcome::Ok { backend } = &r.outcome
                && r.start_ns > t_ns + 1_000_000_000
                && let Some(b) = before.get(&(r.client, r.sport))
            {
                total += 1;
                kept += u64::from(b == backend);
            }
        }
        if total > 0 {
            m.insert(
                "reused_ports_kept_backend_after_scale_up".into(),
                kept as f64 / total as f64,
            );
        }
    }
    m
}

/// Loads a suite for the CLI: bad input is exit code 2.
pub fn load_suite(path: &Path) -> Result<LoadedSuite, svclab_suite::SuiteError> {
    svclab_suite::load(path)
}

/// Keeps polling until `stop` is set (for `--hold`).
pub fn wait_for(stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}
