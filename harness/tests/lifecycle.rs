//! The `svclab run` process from the outside: exit codes and cleanup after a
//! bad suite, a failing run, SIGINT mid-run and SIGKILL mid-run (followed by
//! `svclab clean`). After each, no netns with the run's prefix and no pod
//! process of the run may remain.
mod common;

use common::{svclab, workdir};
use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};
use svclab_testsupport::{one_at_a_time, require_root};

const SMALL: &str = "\
# lifecycle test suite
duration: DURATION
deployments:
  - { name: web, replicas: 2 }
services:
  - { name: web, cluster_ip: 198.19.0.10, port: 80, selector: web }
clients:
  - { name: c, service: web, load: { mode: open, rate: 50 } }
expect:
  - { metric: ok_rate, min: OKMIN }
";

fn write_suite(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).expect("write suite");
    p
}

fn svl_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("svl-r"))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for the run started by `child` to have created its namespaces;
/// returns its run id.
fn wait_run_id(before: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(n) = svl_netns().into_iter().find(|n| !before.contains(n)) {
            let id = n
                .trim_start_matches("svl-")
                .split('-')
                .next()
                .unwrap_or("")
                .to_owned();
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "run never created its namespaces"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PIDs whose command line mentions the run's netns (its pod servers).
fn run_processes(run_id: &str) -> Vec<u32> {
    let needle = format!("svl-{run_id}-");
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                        .unwrap_or(false)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn assert_clean(run_id: &str) {
    let prefix = format!("svl-{run_id}-");
    let left: Vec<String> = svl_netns()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "leftover netns of {run_id}: {left:?}");
    let mounts = svclab_cgroup::leftover_mounts(&prefix);
    assert!(
        mounts.is_empty(),
        "leftover cgroup trees of {run_id}: {mounts:?}"
    );
    let lock = Path::new(svclab::runlock::RUN_DIR).join(format!("{prefix}run.lock"));
    assert!(!lock.exists(), "leftover run lock {}", lock.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !run_processes(run_id).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        run_processes(run_id).is_empty(),
        "leftover pod processes: {:?}",
        run_processes(run_id)
    );
}

/// Writes `text` as `<dir>/<name>.yaml` and starts `svclab run -q` on it
/// (plus `extra` flags); returns the child and its run id once the run has
/// created its namespaces.
fn start_run(dir: &Path, name: &str, text: &str, extra: &[&str]) -> (Child, String) {
    let suite = write_suite(dir, name, text);
    let before = svl_netns();
    let mut args = vec!["run", "-q"];
    args.extend_from_slice(extra);
    args.extend([
        suite.to_str().expect("utf8"),
        "--out",
        dir.to_str().expect("utf8"),
    ]);
    let child = svclab(&args).stderr(Stdio::null()).spawn().expect("spawn");
    (child, wait_run_id(&before))
}

/// A 60 s run of the small suite, 3 s in: its pods are up and serving.
fn mid_run(dir: &Path, name: &str) -> (Child, String) {
    let (child, run_id) = start_run(
        dir,
        name,
        &SMALL.replace("DURATION", "60s").replace("OKMIN", "1"),
        &[],
    );
    std::thread::sleep(Duration::from_secs(3));
    (child, run_id)
}

/// Ctrl-C to a run the test started, by its PID.
fn interrupt(child: &Child) {
    // SAFETY: signalling our own child by PID.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid"), libc::SIGINT) };
}

/// The record of run `run_id` of suite `name` under `dir`.
fn read_run(dir: &Path, name: &str, run_id: &str) -> svclab_report::record::RunRecord {
    svclab_report::write::read_record(&dir.join(name).join(run_id).join("run.json"))
        .expect("run.json")
}

/// Ends a run the test started if the test panics before it does: Ctrl-C
/// by PID, so the run tears its namespaces down (a held run would otherwise
/// wait for a signal forever).
struct InterruptOnPanic(u32);

impl Drop for InterruptOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(pid) = i32::try_from(self.0)
        {
            // SAFETY: signalling our own child by PID.
            unsafe { libc::kill(pid, libc::SIGINT) };
            std::thread::sleep(Duration::from_secs(5));
        }
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("svclab did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_suite_exits_2_with_position_and_creates_nothing() {
    let _g = one_at_a_time();
    let dir = workdir("bad");
    let bad = write_suite(
        &dir,
        "bad",
        &SMALL
            .replace("DURATION", "30s")
            .replace("OKMIN", "1")
            .replace("replicas: 2", "replicas: -2"),
    );
    let before = svl_netns();
    let out = svclab(&[
        "run",
        bad.to_str().expect("utf8"),
        "--out",
        dir.to_str().expect("utf8"),
    ])
    .output()
    .expect("run svclab");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:4:") && err.contains("deployments[0].replicas"),
        "{err}"
    );
    assert_eq!(svl_netns(), before, "no kernel state for a bad suite");
    let out = svclab(&["validate", bad.to_str().expect("utf8")])
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(2));
    let out = svclab(&["run", "/nonexistent/suite.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    // kubelet clocks scaled below what means anything: bad input, nothing created.
    let fast = write_suite(
        &dir,
        "fast",
        &format!(
            "{}kubelet:\n  time_scale: 0.01\n",
            SMALL.replace("DURATION", "30s").replace("OKMIN", "1")
        ),
    );
    let out = svclab(&[
        "run",
        fast.to_str().expect("utf8"),
        "--time-scale",
        "0.1",
        "--out",
        dir.to_str().expect("utf8"),
    ])
    .output()
    .expect("run svclab");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("below 0.005"), "{err}");
    assert_eq!(
        svl_netns(),
        before,
        "no kernel state for a too-fast kubelet"
    );
}

/// Malformed variants of the small suite: (what is wrong, suite text, expected
/// "line:column: field" fragment).
fn malformed() -> Vec<(&'static str, String, &'static str)> {
    let ok = SMALL.replace("DURATION", "30s").replace("OKMIN", "1");
    let v = |from: &str, to: &str| ok.replacen(from, to, 1);
    vec![
        ("negative replicas", v("replicas: 2", "replicas: -2"), ":4:"),
        (
            "string replicas",
            v("replicas: 2", "replicas: two"),
            "deployments[0].replicas",
        ),
        (
            "unknown top-level field",
            format!("{ok}colour: blue\n"),
            "colour",
        ),
        (
            "unknown nested field",
            v("replicas: 2 }", "replicas: 2, surge: 1 }"),
            "surge",
        ),
        (
            "duration without unit",
            v("duration: 30s", "duration: 30"),
            "duration",
        ),
        (
            "bad duration unit",
            v("duration: 30s", "duration: 30x"),
            "duration",
        ),
        (
            "negative duration",
            v("duration: 30s", "duration: -1s"),
            "duration",
        ),
        (
            "ClusterIP outside 198.19.0.0/24",
            v("198.19.0.10", "10.0.0.10"),
            "services[0].cluster_ip",
        ),
        (
            "ClusterIP not an address",
            v("198.19.0.10", "198.19.0.300"),
            "services[0].cluster_ip",
        ),
        (
            "unknown selector",
            v("selector: web", "selector: api"),
            "services[0].selector",
        ),
        (
            "unknown service in client",
            v("service: web, load", "service: api, load"),
            "clients[0].service",
        ),
        (
            "rate zero",
            v("rate: 50", "rate: 0"),
            "clients[0].load.rate",
        ),
        (
            "unknown metric",
            v("metric: ok_rate", "metric: happiness"),
            "expect[0].metric",
        ),
        (
            "timeline on unknown deployment",
            format!("{ok}timeline:\n  - at: 5s\n    scale: {{ deployment: api, replicas: 3 }}\n"),
            "timeline[0].scale.deployment",
        ),
        (
            "timeline past the end",
            format!("{ok}timeline:\n  - at: 50s\n    flush_ct: {{}}\n"),
            "timeline[0].at",
        ),
        (
            "YAML syntax error",
            v("- { name: web, replicas: 2 }", "- { name: web, replicas: 2"),
            ":",
        ),
    ]
}

#[test]
fn malformed_suites_exit_2_and_create_nothing() {
    let _g = one_at_a_time();
    let dir = workdir("malformed");
    let before = svl_netns();
    let cases = malformed();
    assert!(cases.len() >= 15);
    for (i, (what, text, expect)) in cases.iter().enumerate() {
        let path = write_suite(&dir, &format!("bad{i}"), text);
        let out = svclab(&[
            "run",
            path.to_str().expect("utf8"),
            "--out",
            dir.to_str().expect("utf8"),
        ])
        .output()
        .expect("run svclab");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        let file = format!("bad{i}.yaml:");
        let pos = err.split(&file).nth(1).unwrap_or("");
        let mut nums = pos.split(':').take(2).map(|n| n.parse::<u32>());
        assert!(
            matches!((nums.next(), nums.next()), (Some(Ok(_)), Some(Ok(_)))),
            "{what}: no line:column in {err}"
        );
        assert!(err.contains(expect), "{what}: expected {expect:?} in {err}");
        assert_eq!(
            svl_netns(),
            before,
            "{what}: kernel state created for a bad suite"
        );
    }
    assert!(!dir.join("bad0").exists(), "no report for a bad suite");
}

#[test]
fn failing_run_exits_1_writes_report_and_cleans_up() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("fail");
    // 50 req/s can never reach an ok rate of 1e6.
    let (mut child, run_id) = start_run(
        &dir,
        "fail",
        &SMALL.replace("DURATION", "4s").replace("OKMIN", "1000000"),
        &[],
    );
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "an expectation failed");
    let record = read_run(&dir, "fail", &run_id);
    assert_eq!(record.verdict, svclab_report::record::Verdict::Fail);
    assert!(
        record.buckets.iter().map(|b| b.client.ok).sum::<u64>() > 100,
        "traffic flowed"
    );
    assert_clean(&run_id);
}

#[test]
fn sigint_mid_run_tears_down_and_reports_interrupted() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("int");
    let (mut child, run_id) = mid_run(&dir, "int");
    assert!(!run_processes(&run_id).is_empty(), "pods running mid-run");
    interrupt(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    let record = read_run(&dir, "int", &run_id);
    assert!(record.interrupted);
    assert_eq!(record.verdict, svclab_report::record::Verdict::Interrupted);
    assert!(record.elapsed_s < 30.0);
    assert!(dir.join("int").join(&run_id).join("index.html").exists());
    assert_clean(&run_id);
}

#[test]
fn sigint_during_teardown_still_marks_the_run_interrupted() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("tdint");
    // Twenty pods over two nodes: teardown takes long enough to be hit.
    let text = SMALL
        .replace("DURATION", "3s")
        .replace("OKMIN", "1")
        .replace("replicas: 2", "replicas: 20")
        .replace("duration: 3s\n", "duration: 3s\ncluster: { nodes: 2 }\n");
    let (mut child, run_id) = start_run(&dir, "tdint", &text, &[]);
    let log = dir.join("tdint").join(&run_id).join("run.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("INFO teardown") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no teardown in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    interrupt(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let record = read_run(&dir, "tdint", &run_id);
    assert_eq!(status.code(), Some(130), "verdict {:?}", record.verdict);
    assert!(record.interrupted);
    assert_eq!(record.verdict, svclab_report::record::Verdict::Interrupted);
    assert!(record.events.iter().any(|e| e.kind == "interrupted"));
    assert_clean(&run_id);
}

#[test]
fn sigkill_mid_run_then_clean_leaves_nothing() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("kill");
    let (mut child, run_id) = mid_run(&dir, "kill");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Pod servers die with the harness (PR_SET_PDEATHSIG); the namespaces stay
    // until `svclab clean` removes them by the run's prefix.
    let out = svclab(&["clean", "--run", &run_id])
        .output()
        .expect("clean");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("svl-{run_id}-")));
    assert_clean(&run_id);
}

/// A run killed while its network faults are in force (a delay line with
/// its NFQUEUE rule, a loss program, a rate limit, a reset rule): the
/// faults lived in the run's namespaces, so `svclab clean --run` leaves
/// nothing, and the root namespace never had a rule of the run.
#[test]
fn sigkill_mid_fault_then_clean_leaves_nothing() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("killfault");
    let text = SMALL.replace("DURATION", "60s").replace("OKMIN", "1")
        + "timeline:
  - { at: 1s, fault: { name: slow, target: { pod: web-0 }, delay: { time: 20ms } } }
  - { at: 1s, fault: { name: lossy, target: { pod: web-1 }, loss: { percent: 5 } } }
  - { at: 1s, fault: { name: narrow, target: { pod: web-1 }, bandwidth: { rate: 10mbit } } }
  - { at: 1s, fault: { name: refuse, target: { pod: web-0 }, reset: { new_percent: 5 } } }
";
    let (mut child, run_id) = start_run(&dir, "killfault", &text, &[]);
    std::thread::sleep(Duration::from_secs(4));
    let log = std::fs::read_to_string(dir.join("killfault").join(&run_id).join("run.log"))
        .unwrap_or_default();
    // One line per fault started, in the events table's words:
    // `fault slow: ... at 1.0 s event=fault`.
    assert_eq!(
        log.lines().filter(|l| l.ends_with(" event=fault")).count(),
        4,
        "faults started: {log}"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = svclab(&["clean", "--run", &run_id])
        .output()
        .expect("clean");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&run_id);
    let root = std::process::Command::new("iptables-nft-save")
        .output()
        .expect("iptables-nft-save");
    assert!(
        !String::from_utf8_lossy(&root.stdout).contains(&run_id),
        "no rule of the run in the root namespace"
    );
}

/// Starts `text` under `--hold` and waits until it holds: the child, its
/// run id, its run folder and the guard that interrupts it if the test
/// panics first.
fn held_run(dir: &Path, name: &str, text: &str) -> (Child, String, PathBuf, InterruptOnPanic) {
    let (child, run_id) = start_run(dir, name, text, &["--hold"]);
    let guard = InterruptOnPanic(child.id());
    let run_dir = dir.join(name).join(&run_id);
    wait_held(&run_dir);
    (child, run_id, run_dir, guard)
}

/// `svclab inspect <run_dir> <extra>`, which must succeed: its output.
fn inspect(run_dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["inspect", run_dir.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    let out = svclab(&args).output().expect("inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (60 s at most) until the run in `run_dir` holds (`--hold`).
fn wait_held(run_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(run_dir.join("state.json"))
        .unwrap_or_default()
        .contains("\"held\": true")
    {
        assert!(Instant::now() < deadline, "run never reached the hold");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Socket-LB: a run killed with SIGKILL leaves its cgroup2 mount and
/// cgroups (the links went with the process); `svclab clean --run` removes
/// them with the namespaces.
#[test]
fn sigkill_mid_socket_lb_run_then_clean_leaves_nothing() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("killsock");
    let text = SMALL
        .replace("DURATION", "60s")
        .replace("OKMIN", "1")
        .replace(
            "deployments:",
            "datapath: { engine: socket-lb }\ndeployments:",
        );
    let (mut child, run_id) = start_run(&dir, "killsock", &text, &[]);
    std::thread::sleep(Duration::from_secs(3));
    let prefix = format!("svl-{run_id}-");
    assert_eq!(
        svclab_cgroup::leftover_mounts(&prefix).len(),
        1,
        "the run mounted its cgroup tree"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let out = svclab(&["clean", "--run", &run_id])
        .output()
        .expect("clean");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("cgroup tree"), "{said}");
    assert_clean(&run_id);
}

/// Socket-LB under `--hold`: `svclab inspect` reads the reverse map of
/// every node; Ctrl-C tears down the cgroup tree.
#[test]
fn held_socket_lb_run_shows_its_reverse_map() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("holdsock");
    let text = SMALL
        .replace("DURATION", "3s")
        .replace("OKMIN", "1")
        .replace(
            "deployments:",
            "datapath: { engine: socket-lb }\ndeployments:",
        );
    let (mut child, run_id, run_dir, _interrupt) = held_run(&dir, "holdsock", &text);
    let text = inspect(&run_dir, &[]);
    assert!(text.contains("socket-LB reverse translation"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("198.19.0.10:80 <- 198.18.") && l.contains("(web-")),
        "reverse entries name the service and a backend pod: {text}"
    );
    assert!(text.contains("sock-xlate="), "{text}");
    interrupt(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
    assert_clean(&run_id);
}

#[test]
fn held_run_can_be_inspected_then_torn_down() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("hold");
    let text = SMALL
        .replace("DURATION", "4s")
        .replace("OKMIN", "1")
        .replace(
            "load: { mode: open, rate: 50 }",
            "source_ports: { mode: pool, range: [41000, 41009] }, load: { mode: open, rate: 50 }",
        )
        // Cilium 1.11: a reused port reopens its entry (1.16 would select anew).
        .replace(
            "deployments:",
            "datapath: { profile: cilium-1.11 }\ndeployments:",
        );
    let (mut child, run_id, run_dir, _interrupt) = held_run(&dir, "hold", &text);
    // A held run is live: `svclab clean` leaves it alone.
    let out = svclab(&["clean", "--run", &run_id])
        .output()
        .expect("clean");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("skipping svl-{run_id}-*: a live run")),
        "{said}"
    );
    assert!(
        svl_netns()
            .iter()
            .any(|n| n.starts_with(&format!("svl-{run_id}-"))),
        "the live run's namespaces stay"
    );
    let text = inspect(&run_dir, &["--port", "41003"]);
    assert!(
        text.contains("198.19.0.10:80/TCP"),
        "services listed: {text}"
    );
    let svc_line = text
        .lines()
        .find(|l| l.contains("SVC") && l.contains(":41003 ->"))
        .unwrap_or_else(|| panic!("no CT entry for port 41003: {text}"));
    assert!(
        svc_line.contains("backend=198.18.0.") && svc_line.contains("(web-"),
        "{svc_line}"
    );
    // 4 s at 50 req/s over 10 ports: port 41003 was reused ~20 times.
    assert!(
        !svc_line.contains("Reopened=0 "),
        "reused port reopened its entry: {svc_line}"
    );
    interrupt(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "a held run that passed exits 0 after Ctrl-C"
    );
    assert!(
        !run_dir.join("state.json").exists(),
        "state file removed at teardown"
    );
    assert_clean(&run_id);
    let out = svclab(&["inspect", run_dir.to_str().expect("utf8")])
        .output()
        .expect("inspect");
    assert_eq!(
        out.status.code(),
        Some(2),
        "nothing to inspect after teardown"
    );
}

#[test]
fn nightly_runs_all_suites_keeps_history_and_shows_broken_ones() {
    require_root!();
    let _g = one_at_a_time();
    let dir = workdir("nightly");
    let suites = dir.join("suites");
    std::fs::create_dir_all(&suites).expect("suites dir");
    write_suite(
        &suites,
        "alpha",
        &SMALL.replace("DURATION", "3s").replace("OKMIN", "1"),
    );
    write_suite(
        &suites,
        "beta",
        &SMALL
            .replace("DURATION", "3s")
            .replace("OKMIN", "1")
            .replace("198.19.0.10", "198.19.0.11"),
    );
    write_suite(&suites, "broken", "duration: 3s\ndeployments: [}\n");
    let out = dir.join("reports");
    for night in 0..2 {
        let status = svclab(&[
            "nightly",
            "-q",
            "--suites",
            suites.to_str().expect("utf8"),
            "--out",
            out.to_str().expect("utf8"),
        ])
        .stderr(Stdio::null())
        .status()
        .expect("nightly");
        assert_eq!(
            status.code(),
            Some(1),
            "night {night}: a broken suite makes the nightly fail"
        );
    }
    let index = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    for name in ["alpha", "beta", "broken"] {
        assert!(index.contains(name), "{name} in the index");
    }
    assert!(
        index.contains("BROKEN") && index.contains("PASS"),
        "verdict badges"
    );
    assert!(index.contains("<svg"), "sparklines");
    assert!(index.contains("alpha/r"), "links to the reports");
    let history: Vec<_> = std::fs::read_dir(out.join("history").join("alpha"))
        .expect("history")
        .flatten()
        .collect();
    assert_eq!(history.len(), 2, "one history entry per night");
    // Every run the nightly made (its report folders are named by run id)
    // left nothing behind. Only this test's runs: a machine-wide scan would
    // also see whatever else the machine is running.
    let mut runs = 0;
    for suite in ["alpha", "beta"] {
        for e in std::fs::read_dir(out.join(suite))
            .expect("suite reports")
            .flatten()
        {
            let id = e.file_name().to_string_lossy().into_owned();
            if id.starts_with('r') && e.path().join("run.json").exists() {
                assert_clean(&id);
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 4, "two suites on two nights");

    // An output folder that cannot be written: clear message, exit 2, nothing run.
    let ro = dir.join("ro");
    std::fs::write(&ro, b"a file, not a folder").expect("write");
    let out2 = svclab(&[
        "nightly",
        "--suites",
        suites.to_str().expect("utf8"),
        "--out",
        ro.join("x").to_str().expect("utf8"),
    ])
    .output()
    .expect("nightly");
    assert_eq!(out2.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out2.stderr).contains("ro/x"));
}

#[test]
fn report_rerenders_and_rejects_a_corrupt_record() {
    let _g = one_at_a_time();
    let dir = workdir("report");
    let run = dir.join("run");
    svclab_report::write::write_report(&run, &svclab_report::sample::incident_a(false))
        .expect("write");
    std::fs::remove_file(run.join("index.html")).expect("rm");
    let out = svclab(&["report", run.to_str().expect("utf8")])
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(run.join("index.html"))
            .expect("html")
            .contains("<svg")
    );
    std::fs::write(run.join("run.json"), b"{\"schema\": 1, \"run_id\": ").expect("corrupt");
    let before = std::fs::read(run.join("index.html")).expect("html");
    let out = svclab(&["report", run.to_str().expect("utf8")])
        .output()
        .expect("report");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run.json"),
        "names the file"
    );
    assert_eq!(
        std::fs::read(run.join("index.html")).expect("html"),
        before,
        "nothing half-written"
    );
}
