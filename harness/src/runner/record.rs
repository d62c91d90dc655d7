//! Stage 4 of a run: the run record from what the stages gathered — buckets
//! played, datapath totals, mechanism figures, each expectation evaluated —
//! the verdict, and `run.json` + `index.html` written to the run folder.
use std::{collections::BTreeMap, sync::atomic::Ordering};

use anyhow::Context as _;
use svclab_datapath::{CtReuse, Selection};
use svclab_report::record::{self as rec, RunRecord, Verdict};
use svclab_suite::LoadedSuite;

use super::ctx::{Gathered, RunCtx, RunOutcome};
use crate::{cluster::Cluster, engines::dpconfig, load::aggregator::Aggregator};

/// Writes the record and report; the outcome carries the verdict.
pub(super) fn record(
    ctx: &RunCtx<'_>,
    started_at: String,
    mut g: Gathered,
) -> anyhow::Result<RunOutcome> {
    // A signal at any point before the report is written (mid-run, during
    // teardown, now) makes the run interrupted; only the one that ended
    // `--hold` does not.
    if ctx.opts.stop.load(Ordering::Relaxed) && !g.hold_released {
        g.interrupted = true;
    }
    if g.interrupted {
        g.events.push(rec::Event {
            t_s: g.elapsed.as_secs_f64(),
            kind: "interrupted".into(),
            detail: "stopped by signal".into(),
            timeline: true,
        });
    }
    let (loaded, suite, bucket, n_buckets) = (ctx.loaded, ctx.suite, ctx.bucket, ctx.n_buckets);
    let duration = ctx.duration;
    let buckets_done = if g.interrupted || g.error.is_some() {
        usize::try_from(g.elapsed.as_nanos().div_ceil(bucket.as_nanos().max(1)))
            .unwrap_or(0)
            .clamp(1, n_buckets)
    } else {
        n_buckets
    };
    let mut record = RunRecord {
        schema: rec::SCHEMA_VERSION,
        run_id: ctx.run_id.clone(),
        suite: rec::SuiteInfo {
            name: suite.name.clone(),
            path: loaded.path.display().to_string(),
            description: suite.description.clone(),
            header: loaded.header.clone(),
            yaml: loaded.text.clone(),
            datapath_mode: datapath_mode(loaded),
            datapath: datapath_settings(loaded),
        },
        started_at,
        duration_s: duration.as_secs_f64(),
        elapsed_s: g.elapsed.as_secs_f64(),
        bucket_s: bucket.as_secs_f64(),
        seed: suite.seed,
        interrupted: g.interrupted,
        backends: g.backends,
        buckets: g.agg.buckets(buckets_done),
        events: g.events,
        datapath: g.datapath,
        mechanism: BTreeMap::new(),
        expectations: Vec::new(),
        verdict: Verdict::Pass,
        error: g.error.clone(),
        pods: g.pods,
        kubelet: g.kubelet,
        programs: g.programs,
        access_logs: g.access_logs,
        share_basis: share_basis(suite),
        rollouts: g.rollouts,
    };
    record.mechanism = mechanism(&record, &g.agg);
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
    record.verdict = if g.error.is_some() {
        Verdict::Error
    } else if g.interrupted {
        Verdict::Interrupted
    } else if record.expectations.iter().all(|e| e.pass) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let dir = ctx.dir.clone();
    tracing::info!(verdict = ?record.verdict, dir = %dir.display(), "writing the report");
    svclab_report::write::write_report(&dir, &record)
        .with_context(|| format!("writing the report to {}", dir.display()))?;
    Ok(RunOutcome {
        verdict: record.verdict,
        dir,
        record,
    })
}

/// The datapath's counters over the run, summed over nodes, by backend name.
pub(super) fn datapath_totals(c: &Cluster) -> anyhow::Result<rec::DatapathTotals> {
    let names = c.addr_names();
    let mut t = rec::DatapathTotals::default();
    for n in &c.nodes {
        let counters = n.dataplane.counters()?;
        for (r, v) in &counters.reasons {
            *t.reasons.entry(r.clone()).or_default() += v;
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

/// Responses name their pod unless a deployment runs an arbitrary
/// program: then shares count the datapath's new connections.
fn share_basis(suite: &svclab_suite::Suite) -> rec::ShareBasis {
    if suite.deployments.iter().all(|d| d.names_pod()) {
        rec::ShareBasis::Responses
    } else {
        rec::ShareBasis::Connections
    }
}

/// The datapath in one line: profile, selection, CT reuse, lifetime.
fn datapath_mode(loaded: &LoadedSuite) -> String {
    if let Some(m) = dpconfig::engine_mode(&loaded.suite) {
        return m;
    }
    let c = dpconfig::datapath_config(&loaded.suite);
    let sel = match c.selection {
        Selection::Random => "random selection".to_owned(),
        Selection::Maglev { table_size } => format!("Maglev (M={table_size})"),
    };
    let reuse = match c.ct_reuse {
        CtReuse::Legacy => "legacy CT reuse".to_owned(),
        CtReuse::CloseRebalance { grace } => {
            format!("close-rebalance CT reuse (grace {}s)", grace.as_secs())
        }
        CtReuse::New { .. } => "new selection on every reused closing entry".to_owned(),
    };
    format!(
        "{}: {sel}, {reuse}, service TCP lifetime {}s",
        c.profile.name(),
        c.timeouts.tcp.as_secs()
    )
}

fn datapath_settings(loaded: &LoadedSuite) -> Vec<rec::DatapathSetting> {
    dpconfig::datapath_settings(&loaded.suite)
        .into_iter()
        .map(|(name, value, from)| rec::DatapathSetting {
            name,
            value,
            from: from.to_owned(),
        })
        .collect()
}

/// The datapath's new connections to the backend named `name`.
fn dp_conns(record: &RunRecord, name: &str) -> u64 {
    record
        .datapath
        .backends
        .get(name)
        .map_or(0, |b| b.connections)
}

/// The largest relative difference between a per-backend count and
/// `other`'s count for the same backend, over backends with at least 100.
fn worst_diff<'a>(
    counts: impl Iterator<Item = (&'a str, u64)>,
    other: impl Fn(&str) -> u64,
) -> f64 {
    counts
        .filter(|(_, n)| *n >= 100)
        .map(|(name, n)| (other(name) as f64 - n as f64).abs() / n as f64)
        .fold(0.0, f64::max)
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
    let client_total: u64 = agg.client_conns.values().sum();
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
        let worst = worst_diff(agg.client_conns.iter().map(|(k, n)| (&**k, *n)), |name| {
            dp_conns(record, name)
        });
        m.insert("accounting_max_backend_diff".into(), worst);
    }
    // A client proxy's access log (requests per backend by X-Pod) against
    // the datapath's new connections per backend: the same figure seen
    // from both ends when nginx opens a connection per request.
    let mut log_by: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &record.access_logs {
        for (b, n) in &a.by_backend {
            *log_by.entry(b.as_str()).or_default() += n;
        }
    }
    if !log_by.is_empty() {
        let worst = worst_diff(log_by.iter().map(|(k, n)| (*k, *n)), |name| {
            dp_conns(record, name)
        });
        m.insert("access_log_vs_datapath_max_backend_diff".into(), worst);
        // And svclab's own client, whose responses name the backend that
        // nginx passed through (X-Pod), against both.
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for b in &record.buckets {
            for (name, x) in &b.backends {
                *seen.entry(name.as_str()).or_default() += x.responses;
            }
        }
        let worst = worst_diff(log_by.iter().map(|(k, n)| (*k, *n)), |name| {
            seen.get(name).copied().unwrap_or(0)
        });
        m.insert(
            "client_responses_vs_access_log_max_backend_diff".into(),
            worst,
        );
        let logged: u64 = log_by.values().sum();
        if logged > 0 {
            m.insert(
                "datapath_conns_per_access_log_request".into(),
                dp_total as f64 / logged as f64,
            );
        }
    }
    // Reused source ports after the last scale action: did they keep the
    // backend they had before it?
    if let Some((kept, total)) = agg.kept_after_scale()
        && total > 0
    {
        m.insert(
            "reused_ports_kept_backend_after_scale_up".into(),
            kept as f64 / total as f64,
        );
    }
    m
}
