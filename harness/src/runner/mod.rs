//! One suite run end to end, in four stages a reader can take one at a
//! time: `setup` builds the cluster, brings the initial pods up and plans
//! the clients; `play` runs clients and timeline while sampling every
//! bucket, until the suite's end or Ctrl-C; `teardown` removes every kernel
//! object and process (on every path, whatever the other stages did);
//! `record` writes the run record and report and gives the verdict. Kernel
//! state is created only after the suite validated.
pub mod compare;
mod ctx;
mod host;
mod play;
mod record;
mod setup;
mod teardown;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use svclab_report::record as rec;
use svclab_suite::{
    LoadedSuite,
    model::{Action, Suite},
};

use self::ctx::{Gathered, RunCtx};

pub use self::ctx::{RunOptions, RunOutcome};
use crate::{cluster::Cluster, load::aggregator::Aggregator};

pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "r{:x}{:x}{n}",
        secs & 0xff_ffff,
        std::process::id() & 0xffff
    )
}

/// The kubelet/HPA time scale of a run: the suite's `kubelet.time_scale`
/// times the command line's `--time-scale`. Below 0.005 probe periods and
/// back-offs mean nothing: that is an error (bad input for `svclab run`).
pub fn kube_scale(suite: &Suite, time_scale: f64) -> Result<f64, String> {
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

/// What must hold before any kernel state exists: the kubelet time scale
/// ([`kube_scale`], returned) and the machine having the suite's engine.
pub fn preflight(suite: &Suite, time_scale: f64) -> Result<f64, String> {
    // A Service feature the engine's release lacks (a `--engines` variant
    // the file's own validation did not see).
    let unsupported: Vec<String> =
        svclab_suite::unsupported_features(&suite.services, &suite.datapath)
            .into_iter()
            .map(|(field, m)| format!("{field}: {m}"))
            .collect();
    if !unsupported.is_empty() {
        return Err(unsupported.join("; "));
    }
    // What `validate` only warns about stops a run.
    let missing: Vec<String> = svclab_suite::machine_problems(suite)
        .into_iter()
        .map(|(field, m)| format!("{field}: {m}"))
        .collect();
    if !missing.is_empty() {
        return Err(missing.join("; "));
    }
    let k = kube_scale(suite, time_scale)?;
    crate::engines::Engine::of(suite.datapath.engine).check_machine()?;
    Ok(k)
}

/// Expectation windows with an edge inside a bucket once the schedule is
/// multiplied by `time_scale` ([`svclab_suite::window_edge_warnings`]).
pub fn window_warnings(suite: &Suite, time_scale: f64) -> Vec<String> {
    svclab_suite::window_edge_warnings(&scale_schedule(suite, time_scale))
}

/// The suite with its schedule multiplied by `f`.
pub fn scale_schedule(suite: &Suite, f: f64) -> Suite {
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
        match &mut e.action {
            Action::Spike { duration, .. } => *duration = duration.map(sc),
            // A fault's length is schedule; its delays and reset period
            // are mechanism and stay as written.
            Action::Fault(f) => f.duration = f.duration.map(sc),
            _ => {}
        }
    }
    for e in &mut s.expect {
        e.window = e.window.map(|[a, b]| [sc(a), sc(b)]);
    }
    s
}

/// Runs one suite; its log goes to `<run-dir>/run.log` (tracing).
pub fn run_suite(loaded: &LoadedSuite, opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    // What the machine lacks (a program, an engine) ends it before even its
    // folder exists.
    let suite = &loaded.suite;
    preflight(suite, opts.time_scale)
        .map_err(|m| anyhow::anyhow!("{}: {m}", loaded.path.display()))?;
    let run_id = new_run_id();
    // Absolute whatever the caller passed (the CLI already makes it so):
    // programs, shims and logs get paths under it, and nginx resolves a
    // relative one against its own prefix.
    let dir = std::path::absolute(opts.out.join(&loaded.suite.name).join(&run_id))
        .with_context(|| format!("resolving the run folder under {}", opts.out.display()))?;
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
        tracing::info!(
            run_id = %run_id,
            "run starting: suite {} from {}",
            loaded.suite.name,
            loaded.path.display()
        );
        let r = run_suite_in(loaded, opts, run_id.clone(), dir.clone());
        match &r {
            Ok(o) => tracing::info!(verdict = %o.verdict.word(), "run finished"),
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
    let mut scaled = scale_schedule(&loaded.suite, opts.time_scale);
    svclab_suite::engines::own_expectations(&mut scaled);
    let suite = &scaled;
    for w in svclab_suite::window_edge_warnings(suite) {
        tracing::warn!("{w}");
    }
    let duration = suite.duration.0;
    let bucket = suite.bucket.0;
    let n_buckets = usize::try_from(duration.as_nanos().div_ceil(bucket.as_nanos().max(1)))
        .unwrap_or(1)
        .max(1);
    let started_at = svclab_report::fmt::rfc3339_now();
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
    let ctx = RunCtx {
        loaded,
        suite,
        opts,
        prefix: format!("svl-{run_id}-"),
        run_id,
        dir,
        duration,
        bucket,
        n_buckets,
        kube_scale: preflight(suite, opts.time_scale).map_err(anyhow::Error::msg)?,
        progress,
    };
    let mut g = Gathered {
        engine: crate::engines::dpconfig::describe(suite),
        agg: Aggregator::new(
            bucket,
            n_buckets,
            suite
                .clients
                .iter()
                .map(|c| c.timeout.0)
                .max()
                .unwrap_or_default(),
        )?,
        elapsed: Duration::ZERO,
        datapath: rec::DatapathTotals::default(),
        kubelet: rec::KubeletInfo::default(),
        pods: Vec::new(),
        backends: Vec::new(),
        rollouts: Vec::new(),
        faults: Vec::new(),
        events: Vec::new(),
        programs: Vec::new(),
        access_logs: Vec::new(),
        interrupted: false,
        hold_released: false,
        error: None,
    };
    // Live from before the first kernel object until teardown has ended:
    // `svclab clean` leaves a locked run alone.
    let lock = crate::runlock::RunLock::acquire(&ctx.prefix)?;
    let mut cluster: Option<Cluster> = None;
    let result = setup::setup(&ctx, &mut cluster, &mut g).and_then(|plans| {
        let c = cluster.as_mut().context("the cluster is gone")?;
        play::play(&ctx, c, plans, &mut g)
    });
    if let Err(e) = &result {
        g.error = Some(format!("{e:#}"));
    }
    teardown::teardown(&ctx, cluster.take(), &mut g);
    drop(lock);
    record::record(&ctx, started_at, g)
}

/// Loads a suite for the CLI: bad input is exit code 2.
pub fn load_suite(path: &Path) -> Result<LoadedSuite, svclab_suite::SuiteError> {
    svclab_suite::load(path)
}
