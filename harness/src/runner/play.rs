//! Stage 2 of a run: start the clients at t=0 and play the suite — every
//! few milliseconds a kubelet pass and the autoscalers, pod telemetry every
//! 100 ms, timeline actions when due, and at each bucket boundary the
//! datapath's per-backend counters — until the suite's end or a signal;
//! then stop the clients, drain their records, read the datapath's totals
//! and (with `--hold`) keep the cluster up for `svclab inspect`.
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_suite::model::Action;

use super::{Gathered, RunCtx, record::datapath_totals};
use crate::{
    cluster::{Cluster, state_file},
    load::{
        aggregator::Aggregator,
        client::{self, ClientHandle, ClientPlan},
    },
};

/// How often pods are sampled (accept queue, busy workers) within a bucket.
const POD_SAMPLE: Duration = Duration::from_millis(100);

/// A spike to undo: when, which client, the rate to restore.
type SpikeEnd = (Duration, String, u32);

/// Plays the run on a built cluster; fills `g` with what it saw.
pub(super) fn play(
    ctx: &RunCtx<'_>,
    c: &mut Cluster,
    plans: Vec<ClientPlan>,
    g: &mut Gathered,
) -> anyhow::Result<()> {
    let (opts, bucket, duration) = (ctx.opts, ctx.bucket, ctx.duration);
    ctx.progress.set_prefix("running");
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    c.start_clock(t0);
    c.event(
        0.0,
        "run_start",
        format!("run {} started", ctx.run_id),
        false,
    );
    let mut clients: Vec<ClientHandle> = Vec::new();
    for plan in plans {
        clients.push(client::start(plan, t0, tx.clone())?);
    }
    let mut timeline: Vec<_> = ctx.suite.timeline.iter().collect();
    timeline.sort_by_key(|e| e.at);
    let mut next_action = 0;
    let mut next_sample = bucket;
    let mut next_pod_sample = Duration::ZERO;
    let mut last_new: BTreeMap<String, u64> = BTreeMap::new();
    let mut spike_ends: Vec<SpikeEnd> = Vec::new();
    loop {
        let now = t0.elapsed();
        while let Ok(r) = rx.try_recv() {
            g.agg.add(r);
        }
        c.kubelet_tick()?;
        c.autoscale()?;
        if now >= next_pod_sample {
            c.sample_pods();
            next_pod_sample = now + POD_SAMPLE;
        }
        end_spikes(c, &clients, &mut spike_ends, now);
        while next_action < timeline.len() && timeline[next_action].at.0 <= now {
            let e = timeline[next_action];
            next_action += 1;
            let t = now.as_secs_f64();
            tracing::info!(at = t, action = ?e.action, "timeline action");
            if let Some(end) = act(c, &clients, &e.action, t)? {
                spike_ends.push((now + end.0, end.1, end.2));
            }
            // Pods change only through actions: refresh what `inspect` reads.
            state_file::write_state(&ctx.dir, &c.state(&ctx.run_id, &ctx.prefix, false)?)?;
        }
        if now >= next_sample {
            let i = g
                .agg
                .bucket_of(u64::try_from((next_sample - bucket).as_nanos()).unwrap_or(0));
            sample(c, &mut g.agg, i, &mut last_new)?;
            let (pods, deployments) = c.take_buckets();
            g.agg.set_pods(i, pods, deployments);
            next_sample += bucket;
            let (ok, errs) = g.agg.bucket_rates(i);
            ctx.progress
                .set_position(now.as_secs().min(duration.as_secs()));
            ctx.progress.set_message(format!(
                "{ok} ok/s, {errs} err/s, {} ready pods",
                c.ready_pods()
            ));
        }
        if now >= duration || opts.stop.load(Ordering::Relaxed) {
            g.elapsed = now.min(duration);
            break;
        }
        std::thread::sleep(
            Duration::from_millis(20)
                .min(next_sample.saturating_sub(now))
                .max(Duration::from_millis(1)),
        );
    }
    tracing::info!(
        elapsed = g.elapsed.as_secs_f64(),
        stopped_by_signal = opts.stop.load(Ordering::Relaxed),
        "stopping clients"
    );
    ctx.progress.set_prefix("stopping");
    for cl in &mut clients {
        cl.stop()?;
    }
    drop(tx);
    while let Ok(r) = rx.recv_timeout(Duration::from_millis(50)) {
        g.agg.add(r);
    }
    g.datapath = datapath_totals(c)?;
    g.pods = c.pod_records();
    g.interrupted = opts.stop.load(Ordering::Relaxed);
    if opts.hold && !g.interrupted {
        hold(ctx, c)?;
    }
    Ok(())
}

/// Restores the rate of every spike whose time is up.
fn end_spikes(c: &mut Cluster, clients: &[ClientHandle], ends: &mut Vec<SpikeEnd>, now: Duration) {
    ends.retain(|(at, client, rate)| {
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
}

/// `--hold`: keeps the cluster up for `svclab inspect` until a signal.
fn hold(ctx: &RunCtx<'_>, c: &Cluster) -> anyhow::Result<()> {
    state_file::write_state(&ctx.dir, &c.state(&ctx.run_id, &ctx.prefix, true)?)?;
    ctx.progress.suspend(|| {
        eprintln!(
            "holding run {}: inspect with `svclab inspect {}`; Ctrl-C tears it down",
            ctx.run_id,
            ctx.dir.display()
        );
    });
    ctx.progress.set_prefix("holding");
    wait_for(&ctx.opts.stop);
    Ok(())
}

/// Keeps polling until `stop` is set.
fn wait_for(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// Per-backend new connections (delta of SYNs DNATed to it) and
/// live service flows, summed over nodes, into bucket `i`.
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
        let counters = n.dataplane.counters()?;
        for (addr, s) in &counters.backends {
            if let Some(name) = names.get(addr) {
                *new_total.entry(name.clone()).or_default() += s.syns;
            }
        }
        for (addr, live) in n.dataplane.live_flows()? {
            if let Some(name) = names.get(&addr) {
                *ct.entry(name.clone()).or_default() += live;
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
