//! Stage 4 of a run: the run record from what the stages gathered — buckets
//! played, datapath totals, mechanism figures, each expectation evaluated,
//! the host it ran on — the verdict, and `run.json`, `series.csv` and
//! `index.html` written to the run folder.
use std::{collections::BTreeMap, sync::atomic::Ordering};

use anyhow::Context as _;
use svclab_report::{
    derive::mechanism::ClientTotals,
    record::{self as rec, RunRecord, Verdict},
};

use super::ctx::{Gathered, RunCtx, RunOutcome};
use crate::{cluster::Cluster, load::aggregator::Aggregator};

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
            datapath_mode: g.engine.mode.clone(),
            datapath: g
                .engine
                .settings
                .iter()
                .map(|(name, value, from)| rec::DatapathSetting {
                    name: name.clone(),
                    value: value.clone(),
                    from: (*from).to_owned(),
                })
                .chain(service_policies(suite))
                .collect(),
        },
        host: Some(super::host::host_info()),
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
        faults: g.faults,
    };
    record.mechanism = svclab_report::derive::mechanism::mechanism(&record, &client_totals(&g.agg));
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
    tracing::info!(
        verdict = %record.verdict.word(),
        "writing the report to {}",
        dir.display()
    );
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

/// The clients' totals the mechanism figures need
/// ([`svclab_report::derive::mechanism`]).
fn client_totals(agg: &Aggregator) -> ClientTotals {
    ClientTotals {
        sent: agg.totals.sent,
        ok: agg.totals.ok,
        conns_by_backend: agg
            .client_conns
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect(),
        kept_after_scale: agg.kept_after_scale(),
    }
}

/// Each service's effective policies, for the Datapath table: session
/// affinity (`None` by default), and its internal traffic policy and
/// traffic distribution when set (which endpoints each node then uses is
/// in the `node_endpoints` events).
fn service_policies(suite: &svclab_suite::model::Suite) -> Vec<rec::DatapathSetting> {
    let ports = svclab_suite::model::node_ports(&suite.services);
    let mut rows: Vec<rec::DatapathSetting> = suite
        .services
        .iter()
        .zip(ports)
        .flat_map(|(s, node_port)| {
            let mut v = Vec::new();
            if s.internal_traffic_policy == svclab_suite::model::TrafficPolicy::Local {
                v.push(rec::DatapathSetting {
                    name: format!("service {}: internal traffic policy", s.name),
                    value: "Local: each node's pods reach only its own endpoints".to_owned(),
                    from: "suite".to_owned(),
                });
            }
            if let Some(port) = node_port {
                v.push(rec::DatapathSetting {
                    name: format!("service {}: type", s.name),
                    value: format!("NodePort {port} on every node's address (198.19.255.<node+1>)"),
                    from: "suite".to_owned(),
                });
                let (value, from) = if s.external_local() {
                    (
                        "Local: each node's NodePort reaches only its own endpoints, client address kept",
                        "suite",
                    )
                } else {
                    (
                        "Cluster: any endpoint; kube-proxy masquerades every external flow, Cilium only flows to another node",
                        if s.external_traffic_policy.is_some() { "suite" } else { "default" },
                    )
                };
                v.push(rec::DatapathSetting {
                    name: format!("service {}: external traffic policy", s.name),
                    value: value.to_owned(),
                    from: from.to_owned(),
                });
            }
            if s.traffic_distribution.is_some() {
                v.push(rec::DatapathSetting {
                    name: format!("service {}: traffic distribution", s.name),
                    value: "PreferClose: each node keeps its zone's ready endpoints while its zone has one"
                        .to_owned(),
                    from: "suite".to_owned(),
                });
            }
            v
        })
        .collect();
    rows.extend(suite.services.iter().map(|s| {
        let (value, from) = match (s.affinity(), s.session_affinity_timeout) {
            (Some(t), Some(_)) => (format!("ClientIP, timeout {} s", t.as_secs()), "suite"),
            (Some(t), None) => (
                format!("ClientIP, timeout {} s (Kubernetes' default)", t.as_secs()),
                "suite",
            ),
            (None, _) => ("None".to_owned(), "default"),
        };
        rec::DatapathSetting {
            name: format!("service {}: session affinity", s.name),
            value,
            from: from.to_owned(),
        }
    }));
    rows
}
