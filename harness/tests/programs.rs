//! Real programs as pod containers, end to end: started in the pod netns
//! with their placeholders expanded, output captured in `pods/<pod>.log`,
//! a program that exits restarted with kubelet's growing back-off and its
//! exit recorded as the reason, ended by PID (its whole process group) on
//! every path — the run's end, and the harness SIGKILLed (the shims kill
//! nginx's master and workers) — and a missing program refused as bad
//! input before anything exists.
mod common;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use common::{run_options, svclab, workdir};
use svclab::runner;
use svclab_testsupport::{
    one_at_a_time,
    procs::{named_since, run_processes, uptime_now, wait_no_run_processes, wait_none},
    require_root,
};

fn netns_of(run_id: &str) -> Vec<String> {
    let prefix = format!("svl-{run_id}-");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

const LIFECYCLE: &str = r#"
name: programs-lifecycle
duration: 16s
kubelet: { time_scale: 0.05 }
deployments:
  - name: srv
    replicas: 2
    container:
      command:
        - sh
        - -c
        - ip -o -4 addr show dev eth0; echo "args {pod} {pod_ip} {port} $GREETING"; exec python3 -m http.server {port} --bind {pod_ip} --directory {run_dir}
      env: { GREETING: "hi-{pod}" }
      port: 8000
    probes:
      readiness: { http: { path: / }, period: 20s }
  - name: crash
    replicas: 1
    container:
      command: [sh, -c, "echo crash-start {pod}; sleep 0.2; exit 3"]
      port: 9000
services:
  - { name: srv, cluster_ip: 198.19.0.30, port: 80, selector: srv }
clients:
  - { name: c, service: srv, load: { mode: open, rate: 40 } }
expect:
  - { metric: ok_rate, min: 20 }
"#;

#[test]
fn a_container_runs_in_its_pod_restarts_with_back_off_and_leaves_nothing() {
    require_root!();
    let _g = one_at_a_time();
    let t0 = uptime_now();
    let dir = workdir("programs");
    let path = dir.join("programs-lifecycle.yaml");
    std::fs::write(&path, LIFECYCLE).expect("write suite");
    let loaded = svclab_suite::load(&path).expect("suite loads");
    let o = runner::run_suite(&loaded, &run_options(dir.join("out"), 1.0)).expect("run");
    let r = &o.record;
    assert!(r.error.is_none(), "run error {:?}", r.error);
    assert_eq!(
        r.share_basis,
        svclab_report::record::ShareBasis::Connections
    );
    // Expanded arguments and env; the eth0 the program sees is the pod's
    // (python could bind the pod IP only inside the pod netns).
    for pod in r.pods.iter().filter(|p| p.deployment == "srv") {
        let log = std::fs::read_to_string(o.dir.join("pods").join(format!("{}.log", pod.name)))
            .expect("pod log");
        assert!(
            log.contains(&format!("inet {}/", pod.ip)),
            "{}: eth0 is not the pod's: {log}",
            pod.name
        );
        assert!(
            log.contains(&format!("args {0} {1} 8000 hi-{0}", pod.name, pod.ip)),
            "{}: placeholders not expanded: {log}",
            pod.name
        );
        assert!(pod.restarts.is_empty(), "{}: {:?}", pod.name, pod.restarts);
    }
    let ok: u64 = r.buckets.iter().map(|b| b.client.ok).sum();
    assert!(ok > 200, "only {ok} responses from the program");
    // The crashing container: CrashLoopBackOff with kubelet's doubling
    // back-off (0.5 s, 1 s, 2 s, ... at time_scale 0.05), its exit code as
    // the reason, every start in its log.
    let crash = r
        .pods
        .iter()
        .find(|p| p.deployment == "crash")
        .expect("crash pod");
    assert!(crash.restarts.len() >= 3, "{:?}", crash.restarts);
    // Restarts while the setup waits for the other pods to be ready are
    // recorded at t=0 (a busy machine saw three there); the growth is
    // checked on those after t=0, whose times are exact.
    let after: Vec<f64> = crash
        .restarts
        .iter()
        .map(|x| x.t_s)
        .filter(|&t| t > 0.0)
        .collect();
    assert!(after.len() >= 3, "{:?}", crash.restarts);
    assert!(
        crash
            .restarts
            .iter()
            .all(|x| x.reason == "container exited: exit code 3"),
        "{:?}",
        crash.restarts
    );
    let gaps: Vec<f64> = after.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.windows(2).all(|g| g[1] > g[0]),
        "back-off does not grow: {gaps:?}"
    );
    assert!(
        crash
            .phases
            .iter()
            .any(|p| p.phase == svclab_report::record::PodPhase::BackOff)
    );
    let log = std::fs::read_to_string(o.dir.join("pods/crash-0.log")).expect("crash log");
    assert!(
        log.matches("crash-start crash-0").count() > crash.restarts.len(),
        "{log}"
    );
    assert!(
        log.contains("[svclab] container exited: exit status: 3"),
        "{log}"
    );
    assert!(
        r.programs.iter().any(|p| p.owner == "deployment srv"),
        "{:?}",
        r.programs
    );
    assert!(netns_of(&r.run_id).is_empty(), "{:?}", netns_of(&r.run_id));
    let left = wait_no_run_processes(&r.run_id, Duration::from_secs(3));
    assert!(left.is_empty(), "processes of the run left: {left:?}");
    let left = named_since("python3", t0);
    assert!(left.is_empty(), "python left: {left:?}");
}

#[test]
fn a_missing_program_is_bad_input_and_nothing_is_created() {
    let dir = workdir("missing");
    let path = dir.join("missing.yaml");
    std::fs::write(
        &path,
        LIFECYCLE.replace(
            "command: [sh, -c, \"echo crash-start {pod}; sleep 0.2; exit 3\"]",
            "command: [/nonexistent/svclab-no-such-program, x]",
        ),
    )
    .expect("write suite");
    let out = svclab(&[
        "run",
        "-q",
        path.to_str().expect("utf8"),
        "--out",
        dir.join("out").to_str().expect("utf8"),
    ])
    .output()
    .expect("svclab run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("deployments[1].container.command[0]")
            && err.contains("/nonexistent/svclab-no-such-program")
            && err.contains("missing.yaml:"),
        "{err}"
    );
    assert!(!dir.join("out").exists(), "a run folder was created");
}

const NGINX_PODS: &str = r#"
name: programs-nginx-kill
duration: 60s
deployments:
  - name: web
    replicas: 2
    nginx: { worker_processes: 2 }
services:
  - { name: web, cluster_ip: 198.19.0.31, port: 80, selector: web }
clients:
  - { name: c, service: web, proxy: nginx, connection: keep-alive, pool_size: 4, load: { mode: open, rate: 20 } }
expect:
  - { metric: ok_rate, min: 1 }
"#;

/// Waits until run `run_id` has at least `n` live processes.
fn wait_processes(run_id: &str, n: usize) -> Vec<(u32, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = run_processes(run_id);
        if p.len() >= n || Instant::now() > deadline {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigkill_of_the_harness_takes_every_nginx_process_with_it() {
    require_root!();
    let _g = one_at_a_time();
    let t0 = uptime_now();
    let dir = workdir("nginx-kill");
    let path = dir.join("programs-nginx-kill.yaml");
    std::fs::write(&path, NGINX_PODS).expect("write suite");
    let mut child = svclab(&[
        "run",
        "-q",
        path.to_str().expect("utf8"),
        "--out",
        dir.to_str().expect("utf8"),
    ])
    .stderr(Stdio::null())
    .stdout(Stdio::null())
    .spawn()
    .expect("spawn");
    // The run folder's name is the run id.
    let deadline = Instant::now() + Duration::from_secs(20);
    let run_id = loop {
        let id = std::fs::read_dir(dir.join("programs-nginx-kill"))
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned());
        if let Some(id) = id {
            break id;
        }
        assert!(Instant::now() < deadline, "no run folder");
        std::thread::sleep(Duration::from_millis(50));
    };
    // 3 shims and 3 masters name the run; 2 + 2 + 1 workers.
    let procs = wait_processes(&run_id, 6);
    assert!(procs.len() >= 6, "processes of the run: {procs:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while named_since("nginx", t0).len() < 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let nginx = named_since("nginx", t0);
    assert!(nginx.len() >= 8, "nginx processes: {nginx:?}");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The shims got SIGHUP (PR_SET_PDEATHSIG) and killed their groups.
    let left = wait_no_run_processes(&run_id, Duration::from_secs(5));
    assert!(
        left.is_empty(),
        "left after SIGKILL of the harness: {left:?}"
    );
    let left = wait_none(Duration::from_secs(2), || named_since("nginx", t0));
    assert!(
        left.is_empty(),
        "nginx left after SIGKILL of the harness: {left:?}"
    );
    let out = svclab(&["clean", "--run", &run_id])
        .output()
        .expect("clean");
    assert!(out.status.success(), "{out:?}");
    assert!(netns_of(&run_id).is_empty(), "{:?}", netns_of(&run_id));
}

/// A program that says when it gets SIGTERM and exits 0 on it, a preStop
/// exec before it, deleted at t=3s.
const TERM_SUITE: &str = r#"
name: programs-sigterm
duration: 8s
deployments:
  - name: srv
    replicas: 2
    termination_grace: 5s
    lifecycle:
      pre_stop: { exec: { command: [sh, -c, "sleep 0.5"] } }
    container:
      command:
        - python3
        - -c
        - "import signal,sys,http.server as h; signal.signal(signal.SIGTERM, lambda *a: (print('got-term', flush=True), sys.exit(0))); h.HTTPServer(('{pod_ip}', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
      port: 8000
services:
  - { name: srv, cluster_ip: 198.19.0.31, port: 80, selector: srv }
clients:
  - { name: c, service: srv, load: { mode: open, rate: 20 } }
timeline:
  - { at: 3s, delete_pod: { deployment: srv, index: 0 } }
"#;

#[test]
fn a_program_gets_prestop_then_sigterm_as_it_is_and_exits_on_its_own() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("programs-sigterm");
    let path = dir.join("programs-sigterm.yaml");
    std::fs::write(&path, TERM_SUITE).expect("write suite");
    let loaded = svclab_suite::load(&path).expect("suite loads");
    let o = runner::run_suite(&loaded, &run_options(dir.join("out"), 1.0)).expect("run");
    let r = &o.record;
    assert!(r.error.is_none(), "run error {:?}", r.error);
    let at = |kind: &str| {
        r.events
            .iter()
            .find(|e| e.kind == kind && e.detail.starts_with("srv-0 "))
            .unwrap_or_else(|| panic!("no {kind} event: {:#?}", r.events))
            .clone()
    };
    let (hook, done, term, exit) = (
        at("pre_stop"),
        at("pre_stop_done"),
        at("sigterm"),
        at("container_exited"),
    );
    assert!(done.detail.contains("success"), "{}", done.detail);
    assert!(
        term.t_s - hook.t_s >= 0.45,
        "preStop first: {} {}",
        hook.t_s,
        term.t_s
    );
    assert!(exit.t_s >= term.t_s);
    // The program's own exit (its handler), not the shim's or a SIGKILL.
    assert!(exit.detail.contains("exit code 0"), "{}", exit.detail);
    assert!(!r.events.iter().any(|e| e.kind == "sigkill"));
    let log = std::fs::read_to_string(o.dir.join("pods/srv-0.log")).expect("pod log");
    assert!(log.contains("got-term"), "{log}");
    let left = wait_no_run_processes(&r.run_id, Duration::from_secs(3));
    assert!(left.is_empty(), "processes of the run left: {left:?}");
}
