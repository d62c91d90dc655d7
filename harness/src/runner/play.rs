//! Stage 2 of a run: start the clients at t=0 and play the suite — every
//! few milliseconds a kubelet pass and the autoscalers, pod telemetry every
//! 100 ms, timeline actions when due, and at each bucket boundary the
//! datapath's per-backend counters, faults ending when their time is up —
//! until the suite's end or a signal;
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
use svclab_report::record::Event;
use svclab_suite::model::{Action, TimelineEntry};

use super::{
    ctx::{Gathered, RunCtx},
    record::datapath_totals,
    setup,
};
use crate::{
    cluster::{Cluster, state_file},
    load::{
        aggregator::Aggregator,
        client::{self, ClientHandle, ClientPlan, RequestRecord},
    },
};

/// How often pods are sampled (accept queue, busy workers) within a bucket.
const POD_SAMPLE: Duration = Duration::from_millis(100);

/// A spike to undo: when, which client, the rate to restore.
type SpikeEnd = (Duration, String, u32);

/// The running clients and what starting one anew needs.
struct Clients {
    handles: Vec<ClientHandle>,
    /// Where clients send their records.
    tx: mpsc::Sender<RequestRecord>,
    /// The run's t=0.
    t0: Instant,
    /// Record index of the next recreated client pod: its source ports are
    /// new 5-tuples, not reuses of the old pod's.
    next_index: u16,
}

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
    let t0 = c.start_clock()?;
    g.engine.settings.extend(c.node_view_settings());
    // t=0 is known now: monitors print run times from it.
    state_file::write_state(&ctx.dir, &c.state(&ctx.run_id, &ctx.prefix, false)?)?;
    c.event(
        0.0,
        "run_start",
        format!("run {} started", ctx.run_id),
        false,
    );
    let mut clients = Clients {
        handles: Vec::new(),
        next_index: u16::try_from(plans.len()).unwrap_or(u16::MAX),
        tx,
        t0,
    };
    for plan in plans {
        clients
            .handles
            .push(client::start(plan, t0, clients.tx.clone())?);
    }
    let mut timeline: Vec<_> = ctx.suite.timeline.iter().collect();
    timeline.sort_by_key(|e| e.at);
    let mut next_action = 0;
    let mut next_sample = bucket;
    let mut next_pod_sample = Duration::ZERO;
    let mut last_new: BTreeMap<String, u64> = BTreeMap::new();
    let mut spike_ends: Vec<SpikeEnd> = Vec::new();
    // The events logged so far (those of setup are not: the initial pods).
    let mut logged = c.events.len();
    loop {
        let now = t0.elapsed();
        while let Ok(r) = rx.try_recv() {
            g.agg.add(r);
        }
        // A bucket closes at its boundary, before anything due at that
        // instant changes the cluster: SYNs to pods a scale-up creates
        // belong to the bucket that starts with it.
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
        c.kubelet_tick()?;
        c.terminations_tick()?;
        c.rollout_tick()?;
        c.endpoints_tick()?;
        c.note_ct_gc();
        c.autoscale()?;
        c.faults_tick(now)?;
        c.node_lifecycle_tick()?;
        if now >= next_pod_sample {
            c.sample_pods();
            next_pod_sample = now + POD_SAMPLE;
        }
        end_spikes(c, &clients.handles, &mut spike_ends, now);
        while next_action < timeline.len() && timeline[next_action].at.0 <= now {
            let e = timeline[next_action];
            next_action += 1;
            let t = now.as_secs_f64();
            let done = act(ctx, c, &mut clients, e, t);
            log_events(c, &mut logged);
            let spike_end = done.with_context(|| {
                format!("timeline action {} at {}", action_key(&e.action), e.at)
            })?;
            if let Some(end) = spike_end {
                spike_ends.push((now + end.0, end.1, end.2));
            }
            if matches!(e.action, Action::Scale { .. }) {
                g.agg.mark_scale((t * 1e9) as u64);
            }
            // Pods change only through actions: refresh what `inspect` reads.
            state_file::write_state(&ctx.dir, &c.state(&ctx.run_id, &ctx.prefix, false)?)?;
        }
        log_events(c, &mut logged);
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
    let by_signal = opts.stop.load(Ordering::Relaxed);
    tracing::info!(
        "stopping clients at {}{}",
        secs(g.elapsed.as_secs_f64()),
        if by_signal {
            ", stopped by a signal"
        } else {
            ""
        }
    );
    ctx.progress.set_prefix("stopping");
    let Clients {
        mut handles, tx, ..
    } = clients;
    for h in &mut handles {
        h.stop()?;
    }
    drop(tx);
    while let Ok(r) = rx.recv_timeout(Duration::from_millis(50)) {
        g.agg.add(r);
    }
    c.end_faults(g.elapsed.as_secs_f64());
    log_events(c, &mut logged);
    c.note_all_conns_after_sigterm();
    g.datapath = datapath_totals(c)?;
    g.access_logs = c.access_logs();
    g.pods = c.pod_records();
    g.interrupted = opts.stop.load(Ordering::Relaxed);
    if opts.hold && !g.interrupted {
        hold(ctx, c)?;
        g.hold_released = true;
    }
    Ok(())
}

/// Event kinds not logged one line each: too many in a large run or a
/// probe cascade (the report lists them all and charts readiness), or
/// logged by a line of their own (`restart`).
const UNLOGGED_EVENTS: [&str; 6] = [
    "pod_created",
    "pod_ready",
    "pod_not_ready",
    "endpoint_update",
    "node_endpoints",
    "restart",
];

/// Logs the events recorded since `logged` in the words of the report's
/// events table, e.g. `scale web 3 → 6 at 20.0 s event=scale`: every
/// timeline event (actions, spike and fault ends) and the lifecycle events
/// but the most numerous ([`UNLOGGED_EVENTS`]).
fn log_events(c: &Cluster, logged: &mut usize) {
    for e in c.events.get(*logged..).unwrap_or_default() {
        if let Some(line) = event_line(e) {
            tracing::info!(event = %e.kind, "{line}");
        }
    }
    *logged = c.events.len();
}

/// An event's log message, None for the kinds not logged.
fn event_line(e: &Event) -> Option<String> {
    (e.timeline || !UNLOGGED_EVENTS.contains(&e.kind.as_str()))
        .then(|| format!("{} at {}", e.detail, secs(e.t_s)))
}

/// Seconds from the run's start as the log writes them: `20.0 s`.
fn secs(t: f64) -> String {
    format!("{t:.1} s")
}

/// The suite file's key of an action (`scale`, `kill`, ...), for errors.
fn action_key(action: &Action) -> &'static str {
    match action {
        Action::Scale { .. } => "scale",
        Action::Kill { .. } => "kill",
        Action::DeletePod { .. } => "delete_pod",
        Action::FlushCt { .. } => "flush_ct",
        Action::RestartClient { .. } => "restart_client",
        Action::Rollout { .. } => "rollout",
        Action::Spike { .. } => "spike",
        Action::Fault(_) => "fault",
        Action::ClearFault(_) => "clear_fault",
    }
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
    ctx: &RunCtx<'_>,
    c: &mut Cluster,
    clients: &mut Clients,
    entry: &TimelineEntry,
    t: f64,
) -> anyhow::Result<Option<(Duration, String, u32)>> {
    match &entry.action {
        Action::Spike {
            client,
            rate,
            duration,
        } => {
            let mut before = None;
            for h in clients.handles.iter().filter(|h| &h.name == client) {
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
        Action::Rollout {
            deployment,
            template,
        } => {
            let words = c.rollout(deployment, template)?;
            c.event(t, "rollout", words, true);
        }
        Action::FlushCt { node } => {
            let n = c.flush_ct(*node)?;
            c.event(t, "flush_ct", format!("flush CT ({n} entries)"), true);
        }
        Action::Fault(f) => {
            let words = c.start_fault(f, t, entry.at.0, &ctx.prefix)?;
            c.event(t, "fault", words, true);
        }
        Action::ClearFault(name) => {
            let words = c.clear_fault(name, t)?;
            c.event(t, "fault_end", words, true);
        }
        Action::RestartClient { client, keep_ip } => {
            let detail = if *keep_ip {
                let proxy = c.restart_client_proxy(client)?;
                for h in clients.handles.iter().filter(|h| &h.name == client) {
                    h.restart_in_place();
                }
                let with = if proxy { " with its nginx" } else { "" };
                format!("restart client {client}{with} in place (same pod and IP)")
            } else {
                recreate_client(ctx, c, clients, client)?
            };
            c.event(t, "restart_client", detail, true);
        }
    }
    Ok(None)
}

/// Replaces a client's pod as Kubernetes does: the old client stops (its
/// in-flight requests finish), its pod goes, a new pod with a new IP takes
/// over the rest of the schedule at the current rate. Every 5-tuple is new,
/// so the service CT misses. Returns the event's words.
fn recreate_client(
    ctx: &RunCtx<'_>,
    c: &mut Cluster,
    clients: &mut Clients,
    name: &str,
) -> anyhow::Result<String> {
    let i = ctx
        .suite
        .clients
        .iter()
        .position(|cl| cl.name == name)
        .with_context(|| format!("no client {name}"))?;
    let pos = clients
        .handles
        .iter()
        .position(|h| h.name == name)
        .with_context(|| format!("client {name} is not running"))?;
    let mut old = clients.handles.remove(pos);
    let rate = old.rate();
    old.stop()?;
    drop(old);
    let old_ip = c.remove_client_pod(name)?;
    let mut plan = setup::client_plan(ctx, c, i)?;
    let new_ip = plan.local_ip;
    plan.index = clients.next_index;
    clients.next_index = clients.next_index.saturating_add(1);
    let end = plan.start + plan.duration;
    plan.start = plan.start.max(clients.t0.elapsed());
    plan.duration = end.saturating_sub(plan.start);
    let h = client::start(plan, clients.t0, clients.tx.clone())?;
    // An ongoing spike carries over to the new pod.
    h.set_rate(rate);
    clients.handles.insert(pos, h);
    Ok(format!(
        "restart client {name}: pod recreated at {new_ip} (was {old_ip})"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t_s: f64, kind: &str, detail: &str, timeline: bool) -> Event {
        Event {
            t_s,
            kind: kind.into(),
            detail: detail.into(),
            timeline,
        }
    }

    #[test]
    fn events_log_as_the_report_words_them_with_the_time_to_a_tenth() {
        let line = |e: Event| event_line(&e);
        assert_eq!(
            line(event(20.000187835, "scale", "scale web 3 → 6", true)).as_deref(),
            Some("scale web 3 → 6 at 20.0 s")
        );
        assert_eq!(
            line(event(12.04, "kill", "kill web-0, web-1", true)).as_deref(),
            Some("kill web-0, web-1 at 12.0 s")
        );
        assert_eq!(
            line(event(
                39.96,
                "fault_end",
                "fault lossy ended after 30.0 s",
                false
            ))
            .as_deref(),
            Some("fault lossy ended after 30.0 s at 40.0 s")
        );
        // Numerous lifecycle events stay in run.json and the report.
        for kind in UNLOGGED_EVENTS {
            assert_eq!(line(event(1.0, kind, "web-3 ready", false)), None, "{kind}");
        }
        // A timeline event is logged whatever its kind.
        assert!(line(event(1.0, "pod_ready", "x", true)).is_some());
    }

    #[test]
    fn action_keys_are_the_suite_files() {
        let actions = [
            Action::Kill {
                deployment: "web".into(),
                count: 2,
            },
            Action::DeletePod {
                deployment: "web".into(),
                index: 0,
            },
            Action::RestartClient {
                client: "c".into(),
                keep_ip: false,
            },
            Action::ClearFault("f".into()),
            Action::FlushCt { node: None },
        ];
        for a in actions {
            // The key serde writes the action under, as a suite file has it.
            let value = serde_json::to_value(&a).expect("action serialises");
            let key = value.as_object().and_then(|o| o.keys().next().cloned());
            assert_eq!(key.as_deref(), Some(action_key(&a)), "{a:?}");
        }
    }
}
