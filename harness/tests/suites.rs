//! End to end: shortened runs (20 s) of every shipped suite through the real
//! topology, datapath and pod processes; each asserts its verdict and the
//! mechanism behind it, the accounting, and that nothing is left behind.
mod common;

use std::path::{Path, PathBuf};

use common::run_options;
use svclab::runner::{self, RunOutcome};
use svclab_report::{derive, record::Verdict};
use svclab_testsupport::{
    one_at_a_time,
    procs::{orphans_named_since, uptime_now, wait_no_run_processes, wait_none},
    require_root,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `suites/<name>.yaml` scaled to 20 s, one run at a time (they share
/// two cores; parallel runs would measure each other).
fn run(name: &str) -> RunOutcome {
    run_for(name, 20.0)
}

/// Runs `suites/<name>.yaml` scaled to `secs` (kubelet/HPA clocks scale
/// with it).
fn run_for(name: &str, secs: f64) -> RunOutcome {
    run_loaded(name, secs, |_| {})
}

/// As [`run_for`], with the loaded suite edited first.
fn run_loaded(name: &str, secs: f64, edit: impl FnOnce(&mut svclab_suite::Suite)) -> RunOutcome {
    let _guard = one_at_a_time();
    let t0 = uptime_now();
    let path = repo().join("suites").join(format!("{name}.yaml"));
    let mut loaded = svclab_suite::load(&path).expect("suite loads");
    edit(&mut loaded.suite);
    let f = secs / loaded.suite.duration.0.as_secs_f64();
    let out = std::env::temp_dir().join(format!("svclab-e2e-{}", std::process::id()));
    let opts = run_options(out, f);
    let outcome = runner::run_suite(&loaded, &opts).expect("run");
    let r = &outcome.record;
    assert!(r.error.is_none(), "{name}: run error {:?}", r.error);
    // Accounting: every request has exactly one outcome.
    let sent: u64 = r.buckets.iter().map(|b| b.client.sent).sum();
    let ok: u64 = r.buckets.iter().map(|b| b.client.ok).sum();
    let errors: u64 = r
        .buckets
        .iter()
        .map(|b| b.client.errors.values().sum::<u64>())
        .sum();
    assert_eq!(sent, ok + errors, "{name}: sent = ok + errors");
    assert!(outcome.dir.join("index.html").exists() && outcome.dir.join("run.json").exists());
    // Nothing with the run prefix and no pod process survives the run.
    let prefix = format!("svl-{}-", r.run_id);
    let left = svclab_testsupport::topo::netns_with_prefix(&prefix);
    assert!(left.is_empty(), "{name}: leftover netns {left:?}");
    let mounts = svclab_cgroup::leftover_mounts(&prefix);
    assert!(
        mounts.is_empty(),
        "{name}: leftover cgroup trees {mounts:?}"
    );
    let procs: Vec<String> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .map(|c| String::from_utf8_lossy(&c).into_owned())
                .filter(|c| c.contains(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(procs.is_empty(), "{name}: leftover pod processes {procs:?}");
    // Nor any real program of the run: shims and what they started (by
    // the run's id or netns in their arguments or environment), nginx's
    // workers (by name, started since this test began, in a namespace that
    // no longer exists: another test's live nginx is not a leftover).
    let left = wait_no_run_processes(&r.run_id, std::time::Duration::from_secs(3));
    assert!(left.is_empty(), "{name}: leftover programs {left:?}");
    let left = wait_none(std::time::Duration::from_secs(2), || {
        orphans_named_since("nginx", t0)
    });
    assert!(left.is_empty(), "{name}: leftover nginx {left:?}");
    outcome
}

fn mech(o: &RunOutcome, key: &str) -> f64 {
    *o.record
        .mechanism
        .get(key)
        .unwrap_or_else(|| panic!("mechanism {key} missing: {:?}", o.record.mechanism))
}

fn assert_pass(name: &str, o: &RunOutcome) {
    assert_eq!(
        o.verdict,
        Verdict::Pass,
        "{name}: {:#?}",
        o.record.expectations
    );
}

#[test]
fn ct_port_reuse_legacy_pins_reused_ports() {
    require_root!();
    let o = run("ct-port-reuse-legacy");
    assert_pass("legacy", &o);
    let kept = mech(&o, "reused_ports_kept_backend_after_scale_up");
    assert!(
        kept >= 0.95,
        "legacy: only {kept:.3} of reused ports kept their backend"
    );
    // Accounting: per backend, the client's completed connections and the
    // datapath's SYN count agree within 1%.
    let diff = mech(&o, "accounting_max_backend_diff");
    assert!(
        diff <= 0.01,
        "client and datapath per-backend connection counts differ by {diff:.4}"
    );
}

#[test]
fn ct_port_reuse_fixed_rebalances() {
    require_root!();
    let o = run("ct-port-reuse-fixed");
    assert_pass("fixed", &o);
    let kept = mech(&o, "reused_ports_kept_backend_after_scale_up");
    assert!(
        kept < 0.7,
        "fixed: {kept:.3} of reused ports kept their backend"
    );
    assert!(
        o.record
            .datapath
            .reasons
            .get("ct-rebalance")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

/// Cilium 1.15.8 with its adaptive CT GC: no pass during the run, so
/// ports reused 15 s after their FIN find their expired entries and reopen
/// them to the old backends; the same run collecting every 5 s (svclab's
/// old default) spreads them. At 45 s the scale-up lands as the first
/// round of ports ends.
#[test]
fn ct_port_reuse_gc_1_15_8_pins_until_the_agent_collects() {
    require_root!();
    let o = run_for("ct-port-reuse-gc-1.15.8", 45.0);
    assert_pass("gc 1.15.8", &o);
    assert!(
        reason(&o, "ct-reopen") > 300,
        "{:?}",
        o.record.datapath.reasons
    );
    let gc: Vec<_> = o
        .record
        .events
        .iter()
        .filter(|e| e.kind == "ct_gc")
        .collect();
    assert_eq!(gc.len(), 1, "only the pass at start: {gc:#?}");
    assert!(gc[0].detail.contains("next pass in 300s"), "{gc:#?}");
    let collected = run_loaded("ct-port-reuse-gc-1.15.8", 45.0, |s| {
        s.datapath.gc_interval = Some(svclab_suite::Dur(std::time::Duration::from_secs(5)));
    });
    let share = collected
        .record
        .expectations
        .iter()
        .find(|e| e.metric == "new_backend_share")
        .and_then(|e| e.measured)
        .expect("measured");
    assert!(share > 0.25, "a 5 s GC spreads the reused ports: {share}");
}

/// A kernel-port incident-A suite at half its length with twice its rate:
/// the same connects before the scale-up (the same ports have CT entries)
/// and reuse gaps half as long.
fn run_kernel(profile: &str) -> RunOutcome {
    run_loaded(&format!("ct-port-reuse-kernel-{profile}"), 35.0, |s| {
        for c in &mut s.clients {
            c.load.rate *= 2;
        }
    })
}

fn reason(o: &RunOutcome, r: &str) -> u64 {
    o.record.datapath.reasons.get(r).copied().unwrap_or(0)
}

#[test]
fn kernel_ports_cilium_1_11_pin_the_old_backends() {
    require_root!();
    let o = run_kernel("1.11");
    assert_pass("kernel 1.11", &o);
    assert_eq!(reason(&o, "ct-rebalance") + reason(&o, "ct-reopen-new"), 0);
    assert!(
        reason(&o, "ct-reopen") > 1000,
        "{:?}",
        o.record.datapath.reasons
    );
    assert!(mech(&o, "reused_ports_kept_backend_after_scale_up") >= 0.99);
}

#[test]
fn kernel_ports_cilium_1_12_rebalance_past_the_grace() {
    require_root!();
    let o = run_kernel("1.12");
    assert_pass("kernel 1.12", &o);
    assert!(
        reason(&o, "ct-rebalance") > 300,
        "{:?}",
        o.record.datapath.reasons
    );
    assert_eq!(reason(&o, "ct-reopen-new"), 0);
}

#[test]
fn kernel_ports_cilium_1_16_select_anew_at_once() {
    require_root!();
    let o = run_kernel("1.16");
    assert_pass("kernel 1.16", &o);
    assert_eq!(
        reason(&o, "ct-reopen"),
        0,
        "{:?}",
        o.record.datapath.reasons
    );
    assert!(reason(&o, "ct-reopen-new") + reason(&o, "ct-rebalance") > 1000);
    assert!(mech(&o, "reused_ports_kept_backend_after_scale_up") < 0.7);
}

#[test]
fn ct_flush_rebalances() {
    require_root!();
    assert_pass("flush", &run("ct-flush-rebalances"));
}

#[test]
fn keepalive_pinning() {
    require_root!();
    assert_pass("keepalive", &run("keepalive-pinning"));
}

#[test]
fn client_restart_rebalances() {
    require_root!();
    let o = run("client-restart-rebalances");
    assert_pass("client restart", &o);
    assert!(
        o.record
            .events
            .iter()
            .any(|e| e.kind == "restart_client" && e.detail.contains("pod recreated")),
        "{:?}",
        o.record.events
    );
}

#[test]
fn kill_pod() {
    require_root!();
    let o = run("kill-pod");
    assert_pass("kill-pod", &o);
    assert!(
        o.record.backends.iter().any(|b| b.killed)
            && o.record.backends.iter().any(|b| b.replacement)
    );
}

/// A derived metric over the whole run.
fn whole(o: &RunOutcome, metric: &str) -> f64 {
    let r = &o.record;
    derive::metric(r, metric, [0.0, r.duration_s])
        .unwrap_or_else(|| panic!("{metric} undefined over the run"))
}

#[test]
fn probe_tcp_false_healthy_keeps_drowning_pods_ready() {
    require_root!();
    let o = run_for("probe-tcp-false-healthy", 45.0);
    assert_pass("false-healthy", &o);
    assert_eq!(whole(&o, "restarts"), 0.0, "TCP probes restarted a pod");
    assert_eq!(whole(&o, "min_ready"), 4.0, "a pod left the endpoints");
    let fill = whole(&o, "accept_queue_fill");
    assert!(fill >= 0.6, "accept queues only {fill:.2} of the backlog");
    // The TCP probes kept succeeding while the queues were deep.
    let tcp_ok: u32 = o
        .record
        .buckets
        .iter()
        .flat_map(|b| b.pods.values())
        .filter(|p| p.backlog > 0 && p.accept_queue_max * 2 >= p.backlog)
        .filter_map(|p| p.probes.get("readiness"))
        .map(|p| p.success)
        .sum();
    assert!(
        tcp_ok > 0,
        "no TCP readiness success while a queue was half full"
    );
}

#[test]
fn probe_liveness_cascade_restarts_pods_in_turn() {
    require_root!();
    let o = run_for("probe-liveness-cascade", 45.0);
    assert_pass("cascade", &o);
    let r = &o.record;
    let restarted = r.pods.iter().filter(|p| !p.restarts.is_empty()).count();
    assert!(restarted >= 3, "only {restarted} pods restarted");
    assert!(
        r.pods
            .iter()
            .flat_map(|p| &p.restarts)
            .all(|x| x.reason.starts_with("liveness probe failed")),
        "every restart is a liveness kill"
    );
    // Restarted pods kept their name and IP (same pod, new container).
    for p in r.pods.iter().filter(|p| !p.restarts.is_empty()) {
        assert_eq!(
            p.restarts.last().map(|x| x.count),
            Some(p.restarts.len() as u32)
        );
    }
    assert!(whole(&o, "min_ready") <= 1.0);
    assert!(
        r.pods
            .iter()
            .flat_map(|p| &p.phases)
            .any(|c| c.phase == svclab_report::record::PodPhase::BackOff),
        "no pod waited out a back-off"
    );
    assert!(
        r.buckets
            .iter()
            .filter_map(|b| b.deployments.get("web"))
            .any(|d| d.hpa_desired.is_some()),
        "the autoscaler never ran"
    );
}

#[test]
fn probe_recommended_rides_out_the_spike() {
    require_root!();
    let o = run_for("probe-recommended", 45.0);
    assert_pass("recommended", &o);
    assert_eq!(whole(&o, "restarts"), 0.0);
    // Readiness shed load: some pod left the endpoints during the spike.
    assert!(
        o.record
            .pods
            .iter()
            .flat_map(|p| &p.phases)
            .any(|c| c.phase == svclab_report::record::PodPhase::NotReady),
        "readiness never shed load"
    );
}

/// nginx's access log (requests per backend by X-Pod) and the datapath's
/// new connections per backend agree within 1% (each backend with 100+).
fn assert_access_log_agrees(name: &str, o: &RunOutcome) {
    let logs = &o.record.access_logs;
    assert!(
        logs.iter().map(|a| a.requests).sum::<u64>() > 1000,
        "{name}: access log too short: {logs:?}"
    );
    let diff = mech(o, "access_log_vs_datapath_max_backend_diff");
    assert!(
        diff <= 0.01,
        "{name}: access log and datapath per-backend counts differ by {diff:.4}: {logs:?} vs {:?}",
        o.record.datapath.backends
    );
    // svclab's own client (X-Pod passed through nginx) agrees too.
    let diff = mech(o, "client_responses_vs_access_log_max_backend_diff");
    assert!(
        diff <= 0.01,
        "{name}: client responses vs access log {diff:.4}"
    );
}

#[test]
fn ct_port_reuse_nginx_legacy_pins_nginx_ports() {
    require_root!();
    let o = run_for("ct-port-reuse-nginx-legacy", 30.0);
    assert_pass("nginx legacy", &o);
    assert_access_log_agrees("nginx legacy", &o);
    let share = o
        .record
        .expectations
        .iter()
        .find(|e| e.metric == "new_backend_conn_share")
        .and_then(|e| e.measured);
    assert!(share.is_some_and(|s| s < 0.15), "{share:?}");
    // The mechanism: SYNs on nginx's reused ports reopened old entries.
    assert!(
        mech(&o, "ct_reopen_per_request") > 0.5,
        "{:?}",
        o.record.mechanism
    );
}

/// Real nginx under socket-LB: the client pod's nginx (started by the shim
/// inside the pod's cgroup) has its upstream connect()s translated by the
/// connect4 program, so its reused ports reach the new backends at once;
/// nginx's access log agrees with the program's per-backend counts.
#[test]
fn ct_port_reuse_nginx_under_socket_lb_reaches_new_backends() {
    require_root!();
    let o = run_loaded("ct-port-reuse-nginx-legacy", 30.0, |s| {
        s.datapath.engine = svclab_suite::model::EngineSpec::SocketLb;
        s.datapath.ct_reuse = None;
        s.expect.retain(|e| e.metric != "new_backend_conn_share");
    });
    assert_access_log_agrees("nginx socket-lb", &o);
    let r = &o.record;
    let xlate = r.datapath.reasons.get("sock-xlate").copied().unwrap_or(0);
    assert!(
        xlate > 1000,
        "nginx's connects were translated: {:?}",
        r.datapath.reasons
    );
    let new: u64 = ["web-3", "web-4", "web-5"]
        .iter()
        .filter_map(|b| r.datapath.backends.get(*b))
        .map(|b| b.connections)
        .sum();
    let all: u64 = r.datapath.backends.values().map(|b| b.connections).sum();
    assert!(
        new as f64 >= 0.2 * all as f64,
        "new backends got {new} of {all}: {:?}",
        r.datapath.backends
    );
}

#[test]
fn ct_port_reuse_nginx_fixed_rebalances_nginx_ports() {
    require_root!();
    let o = run_for("ct-port-reuse-nginx-fixed", 30.0);
    assert_pass("nginx fixed", &o);
    assert_access_log_agrees("nginx fixed", &o);
    assert!(
        o.record
            .datapath
            .reasons
            .get("ct-rebalance")
            .copied()
            .unwrap_or(0)
            > 0
    );
}

#[test]
fn probe_nginx_tcp_false_healthy_keeps_real_nginx_ready() {
    require_root!();
    let o = run_for("probe-nginx-tcp-false-healthy", 45.0);
    assert_pass("nginx false-healthy", &o);
    assert_eq!(whole(&o, "restarts"), 0.0);
    assert!(
        o.record.programs.iter().any(|p| p
            .config
            .as_deref()
            .is_some_and(|c| c.contains("worker_connections 16;"))),
        "{:?}",
        o.record.programs
    );
}

#[test]
fn container_http_server_serves_from_an_arbitrary_command() {
    require_root!();
    let o = run("container-http-server");
    assert_pass("container", &o);
    assert_eq!(
        o.record.share_basis,
        svclab_report::record::ShareBasis::Connections
    );
    assert!(o.record.backends.iter().any(|b| b.killed));
}

/// `scale-1000` at a size CI can afford, on one node so that the node's
/// pod CIDR has to grow past a /24 (608 pods at peak: a /22) and the
/// kernel-wide neighbour table would overflow without permanent entries:
/// every pod starts, serves evenly, is reaped, and no netns is left.
/// 21 s (time scale 0.35) puts the kill at 14.0 s, on a bucket's edge: at
/// 20 s it fell at 13.33 s, inside the bucket [13, 14) that the "no errors
/// before the kill" window [0, 13.33) counts (a window takes the buckets
/// whose start lies in it), so a reset from the kill failed that window.
#[test]
fn scale_1000_at_600_pods_on_one_node() {
    require_root!();
    let o = run_loaded("scale-1000", 21.0, |s| {
        s.cluster.nodes = 1;
        s.deployments[0].replicas = 600;
        for c in &mut s.clients {
            c.node = 0;
        }
        for e in &mut s.timeline {
            if let svclab_suite::model::Action::Scale { replicas, .. } = &mut e.action {
                *replicas = 660;
            }
        }
    });
    assert_pass("scale-1000 (600 pods)", &o);
    let r = &o.record;
    // 660 after the scale-up and 10 replacements of the killed pods.
    assert_eq!(r.backends.len(), 670, "backends");
    assert_eq!(r.backends.iter().filter(|b| b.killed).count(), 10);
    let beyond_24 = r
        .backends
        .iter()
        .filter(|b| !b.addr.starts_with("198.18.0."))
        .count();
    assert!(
        beyond_24 > 400,
        "only {beyond_24} pods outside 198.18.0.0/24: the pod CIDR did not grow"
    );
    assert!(
        r.backends.iter().all(|b| b.addr.starts_with("198.18.")),
        "every pod address is in 198.18.0.0/16"
    );
}

/// Seconds of the events of `kind` whose detail starts with `pod `.
fn event_at(o: &RunOutcome, kind: &str, pod: &str) -> Option<f64> {
    o.record
        .events
        .iter()
        .find(|e| e.kind == kind && e.detail.starts_with(&format!("{pod} ")))
        .map(|e| e.t_s)
}

/// The lags the datapath updates of the run report ("... (lag 0.512s)"),
/// leaving out the ones flushed at t=0 (pods made before the clients).
fn propagation_lags(o: &RunOutcome) -> Vec<f64> {
    o.record
        .events
        .iter()
        .filter(|e| e.kind == "endpoint_update" && e.t_s > 0.5)
        .filter_map(|e| {
            let lag = e.detail.rsplit_once("(lag ")?.1.strip_suffix("s)")?;
            lag.parse().ok()
        })
        .collect()
}

/// Old pods (revision 1) and new ones (2) of a finished rollout.
fn assert_rolled_over(name: &str, o: &RunOutcome) {
    let r = &o.record;
    assert_eq!(r.rollouts.len(), 1, "{name}: {:?}", r.rollouts);
    assert!(
        r.rollouts[0].complete_s.is_some(),
        "{name}: {:?}",
        r.rollouts
    );
    let old: Vec<_> = r.backends.iter().filter(|b| b.revision == 1).collect();
    let new: Vec<_> = r.backends.iter().filter(|b| b.revision == 2).collect();
    assert_eq!(old.len(), 4, "{name}");
    assert_eq!(new.len(), 4, "{name}");
    assert!(
        old.iter()
            .all(|b| b.sigterm_s.is_some() && b.removed_s.is_some())
    );
    assert!(new.iter().all(|b| b.removed_s.is_none()));
}

#[test]
fn rollout_502_errors_while_old_pods_exit_at_sigterm() {
    require_root!();
    let o = run("rollout-502");
    assert_pass("rollout-502", &o);
    assert_rolled_over("rollout-502", &o);
    let errors = whole(&o, "errors_during_rollout");
    assert!(errors > 0.0, "{errors}");
    // The propagation delay (1 s, scaled 0.5): every datapath update lags
    // the pod change by about that much.
    let lags = propagation_lags(&o);
    assert!(!lags.is_empty());
    assert!(
        lags.iter().all(|l| (0.45..0.9).contains(l)),
        "lags {lags:?}"
    );
    // No preStop: SIGTERM the moment the pod is deleted.
    assert!(o.record.events.iter().all(|e| e.kind != "pre_stop"));
}

#[test]
fn rollout_graceful_has_no_errors() {
    require_root!();
    let o = run("rollout-graceful");
    assert_pass("rollout-graceful", &o);
    assert_rolled_over("rollout-graceful", &o);
    assert_eq!(whole(&o, "errors"), 0.0);
    // preStop ordering: hook, then (after the 3 s sleep, scaled 1.5 s)
    // SIGTERM, then the exit; the datapath stopped sending new flows
    // before SIGTERM.
    for b in o.record.backends.iter().filter(|b| b.revision == 1) {
        let hook = event_at(&o, "pre_stop", &b.name).expect("preStop ran");
        let term = event_at(&o, "sigterm", &b.name).expect("SIGTERM sent");
        let exit = event_at(&o, "container_exited", &b.name).expect("exited by itself");
        assert!(
            term - hook >= 1.45 && term - hook < 2.0,
            "{}: {hook} {term}",
            b.name
        );
        assert!(exit > term);
        assert!(event_at(&o, "sigkill", &b.name).is_none());
    }
    assert_eq!(whole(&o, "requests_to_terminating"), 0.0);
}

#[test]
fn scale_down_keepalive_resets_unless_drained() {
    require_root!();
    let o = run("scale-down-keepalive");
    assert_pass("scale-down-keepalive", &o);
    let r = &o.record;
    // The ReplicaSet deleted the newest pods of each deployment.
    for dep in ["api", "api-drained"] {
        let gone: Vec<&str> = r
            .backends
            .iter()
            .filter(|b| b.deployment == dep && b.removed_s.is_some())
            .map(|b| b.name.as_str())
            .collect();
        assert_eq!(gone.len(), 3, "{dep}: {gone:?}");
        for n in gone {
            let ord: u32 = n
                .rsplit('-')
                .next()
                .and_then(|x| x.parse().ok())
                .expect("ordinal");
            assert!(ord >= 3, "{dep}: {n} is not among the newest");
        }
    }
}

/// fault-lossy-backend at its own length (the pod server's 60 s read
/// timeout that pins the workers is mechanism, not schedule): the lossy
/// pod leaves the service and stays out after the heal; the independent
/// ICMP probe measured the round-trip loss 20% each way implies (36%)
/// within 5 sigma of ~300 echoes, and the fault program dropped packets.
#[test]
fn fault_lossy_backend_takes_the_lossy_pod_out_for_longer_than_the_fault() {
    require_root!();
    let o = run_for("fault-lossy-backend", 60.0);
    assert_pass("fault-lossy-backend", &o);
    let f = &o.record.faults[0];
    assert_eq!(
        (f.name.as_str(), f.target.as_str()),
        ("lossy-link", "web-2")
    );
    assert!((f.end_s - f.start_s - 30.0).abs() < 0.5, "{f:?}");
    assert!(f.probe_sent > 250, "{f:?}");
    assert!(
        (22.0..50.0).contains(&f.measured_loss_pct),
        "probe loss {:.1}% vs 36% implied",
        f.measured_loss_pct
    );
    assert!(f.dropped > 0 && f.dropped < f.matched, "{f:?}");
    let out = event_at(&o, "pod_not_ready", "web-2").expect("web-2 left the service");
    assert!((10.0..40.0).contains(&out), "not ready at {out}");
}

/// fault-reset-idle at its own length (the 5 s reset period is
/// mechanism): four passes, one `reset` error per destroyed connection,
/// nothing between passes.
#[test]
fn fault_reset_idle_costs_one_request_per_destroyed_connection() {
    require_root!();
    let o = run_for("fault-reset-idle", 40.0);
    assert_pass("fault-reset-idle", &o);
    let f = &o.record.faults[0];
    let errors: u64 = o
        .record
        .buckets
        .iter()
        .map(|b| b.client.errors.get("reset").copied().unwrap_or(0))
        .sum();
    assert!(f.resets >= 20, "{f:?}");
    assert!(
        errors.abs_diff(f.resets) <= f.resets / 5,
        "{errors} reset errors for {} destroyed connections",
        f.resets
    );
    let passes = o
        .record
        .buckets
        .iter()
        .filter(|b| !b.client.errors.is_empty())
        .count();
    assert!((4..=8).contains(&passes), "errors in {passes} buckets");
}

/// fault-cross-node-latency at its own length: the delay between the
/// nodes sends the client's own node more of nginx's requests (its
/// keep-alive cache hands out the connection freed last), measured as
/// 1.7-1.9x over two runs; asserted at 1.2x.
#[test]
fn fault_cross_node_latency_favours_the_clients_node() {
    require_root!();
    let o = run_for("fault-cross-node-latency", 60.0);
    assert_pass("fault-cross-node-latency", &o);
    let node: std::collections::BTreeMap<&str, u8> = o
        .record
        .pods
        .iter()
        .map(|p| (p.name.as_str(), p.node))
        .collect();
    let served = |n: u8| -> u64 {
        o.record
            .buckets
            .iter()
            .filter(|b| b.t_s >= 25.0)
            .flat_map(|b| b.backends.iter())
            .filter(|(name, _)| node.get(name.as_str()) == Some(&n))
            .map(|(_, v)| v.responses)
            .sum()
    };
    let (local, remote) = (served(0), served(1));
    assert!(
        local as f64 >= 1.2 * remote as f64,
        "client's node served {local}, the other {remote}"
    );
    let f = &o.record.faults[0];
    assert!((9.0..15.0).contains(&f.rtt_p50_ms), "{f:?}");
}

/// fault-node-partition at its own length (the 40 s grace and 10 s
/// renewals are kubelet/controller constants at time_scale 1): the node
/// turns NotReady 40-55 s after its last renewal, then Ready after the
/// heal, and the probe across the cut saw nothing.
#[test]
fn fault_node_partition_drops_the_node_after_the_grace() {
    require_root!();
    let o = run_for("fault-node-partition", 90.0);
    assert_pass("fault-node-partition", &o);
    let at = |kind: &str| {
        o.record
            .events
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.t_s)
    };
    let down = at("node_not_ready").expect("node 1 turned NotReady");
    assert!((40.0..=56.0).contains(&down), "NotReady at {down}");
    let up = at("node_ready").expect("node 1 Ready again");
    assert!((70.0..=86.0).contains(&up), "Ready at {up}");
    let f = &o.record.faults[0];
    assert!(f.probe_sent > 400 && f.probe_received == 0, "{f:?}");
}

/// nodeport-external-local at half length on the default engine and on
/// kube-proxy (iptables), whose expectations differ only in how much of the
/// Cluster phase keeps the client's address; node 2's Local NodePort turns
/// away its third either way.
#[test]
fn nodeport_external_local_keeps_addresses_and_drops_on_the_empty_node() {
    require_root!();
    for engine in [
        svclab_suite::model::EngineSpec::Ebpf,
        svclab_suite::model::EngineSpec::KubeProxyIptables,
    ] {
        let o = run_loaded("nodeport-external-local", 20.0, |s| {
            s.datapath.engine = engine
        });
        assert_pass("nodeport-external-local", &o);
        assert!(
            o.record.suite.datapath.iter().any(|d| d.name
                == "service web-local NodePort 30081: endpoints on node 2"
                && d.value == "no local endpoint"),
            "{engine:?}: {:?}",
            o.record.suite.datapath
        );
    }
}
