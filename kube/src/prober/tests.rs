//! Unit tests of the prober workers: thresholds, the startup gate, initial
//! delays, on-hold after a kill and resets on a new container, each checked
//! against kubelet's worker.go semantics.
use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn spec(initial_delay: u64, success_threshold: u32, failure_threshold: u32) -> ProbeSpec {
    ProbeSpec {
        initial_delay: secs(initial_delay),
        period: secs(1),
        success_threshold,
        failure_threshold,
    }
}

/// All three probes, no initial delays; startup 1/3, readiness 2/3,
/// liveness 1/3 (success/failure thresholds).
fn all_three() -> ContainerProbes {
    ContainerProbes::new(
        Some(spec(0, 1, 3)),
        Some(spec(0, 2, 3)),
        Some(spec(0, 1, 3)),
    )
}

use ProbeKind::{Liveness, Readiness, Startup};
use ProbeOutcome::{Failure, Success, Timeout};

fn gates(p: &ContainerProbes) -> [bool; 3] {
    ProbeKind::ALL.map(|k| p.gate_open(k))
}

#[test]
fn names() {
    let kinds = ProbeKind::ALL.map(ProbeKind::name);
    assert_eq!(kinds, ["startup", "readiness", "liveness"]);
    let outcomes = [Success, Failure, Timeout].map(ProbeOutcome::name);
    assert_eq!(outcomes, ["success", "failure", "timeout"]);
    assert!(Success.is_success());
    assert!(!Failure.is_success());
    assert!(!Timeout.is_success());
}

#[test]
fn new_worker_initial_values_before_any_result() {
    // newWorker: startup starts Unknown (not started), readiness
    // Failure (not ready), liveness Success (no kill).
    let mut p = all_three();
    assert!(!p.running() && !p.started() && !p.ready());
    assert_eq!(gates(&p), [false, false, false], "nothing runs yet");
    let d = p.container_started(secs(0));
    assert_eq!(d, ProbeDecision::default());
    assert!(p.running() && !p.started() && !p.ready());
    // doProbe: only the startup worker probes until started.
    assert_eq!(gates(&p), [true, false, false]);
}

#[test]
fn no_startup_probe_means_started_at_once() {
    // Without a startup probe the container is Started as soon as it
    // runs; readiness still needs its first success.
    let mut p = ContainerProbes::new(None, Some(spec(0, 1, 3)), Some(spec(0, 1, 3)));
    let d = p.container_started(secs(0));
    assert_eq!(
        d,
        ProbeDecision {
            ready_changed: None,
            started: true,
            kill: None
        }
    );
    assert!(p.started() && !p.ready());
    assert_eq!(gates(&p), [false, true, true]);
    let d = p.observe(Readiness, Success, secs(1));
    assert_eq!(d.ready_changed, Some(true));
}

#[test]
fn no_readiness_probe_ready_once_running_and_started() {
    // kubelet's status: without a readiness probe, ready = started.
    let mut p = ContainerProbes::new(None, None, Some(spec(0, 1, 3)));
    let d = p.container_started(secs(0));
    assert_eq!(d.ready_changed, Some(true));
    assert!(p.ready());
    // With a startup probe it waits for the startup success.
    let mut p = ContainerProbes::new(Some(spec(0, 1, 3)), None, None);
    assert_eq!(p.container_started(secs(0)).ready_changed, None);
    assert!(!p.ready());
    let d = p.observe(Startup, Success, secs(1));
    assert_eq!(
        d,
        ProbeDecision {
            ready_changed: Some(true),
            started: true,
            kill: None
        }
    );
}

#[test]
fn startup_success_opens_readiness_and_liveness_and_stops_startup() {
    // doProbe: "Disable other probes until container has started" and
    // "Stop probing for startup once container has started".
    let mut p = all_three();
    p.container_started(secs(0));
    let d = p.observe(Startup, Success, secs(1));
    assert!(d.started);
    assert_eq!(d.ready_changed, None, "readiness probe still decides");
    assert!(p.started() && !p.ready());
    assert_eq!(gates(&p), [false, true, true]);
    // Startup results after that are stale.
    assert_eq!(
        p.observe(Startup, Failure, secs(2)),
        ProbeDecision::default()
    );
}

#[test]
fn startup_success_threshold_is_one() {
    // Validation requires successThreshold 1 for startup probes.
    let mut p = ContainerProbes::new(Some(spec(0, 5, 3)), None, None);
    p.container_started(secs(0));
    assert!(p.observe(Startup, Success, secs(1)).started);
}

#[test]
fn result_run_reaches_success_threshold_to_become_ready() {
    // doProbe: `lastResult == result → resultRun++ else resultRun = 1`;
    // published once `resultRun >= SuccessThreshold`.
    let mut p = ContainerProbes::new(None, Some(spec(0, 3, 3)), None);
    p.container_started(secs(0));
    assert_eq!(p.observe(Readiness, Success, secs(1)).ready_changed, None);
    assert_eq!(p.observe(Readiness, Success, secs(2)).ready_changed, None);
    // A failure restarts the run.
    assert_eq!(p.observe(Readiness, Failure, secs(3)).ready_changed, None);
    assert_eq!(p.observe(Readiness, Success, secs(4)).ready_changed, None);
    assert_eq!(p.observe(Readiness, Success, secs(5)).ready_changed, None);
    assert_eq!(
        p.observe(Readiness, Success, secs(6)).ready_changed,
        Some(true)
    );
    // Further successes re-publish the same value: no change.
    assert_eq!(p.observe(Readiness, Success, secs(7)).ready_changed, None);
    assert!(p.ready());
}

#[test]
fn readiness_failure_threshold_unreadies_and_never_kills() {
    // Readiness results go to the readiness manager only; only liveness
    // and startup failures put the worker on hold for a restart.
    let mut p = ContainerProbes::new(None, Some(spec(0, 1, 3)), None);
    p.container_started(secs(0));
    assert_eq!(
        p.observe(Readiness, Success, secs(1)).ready_changed,
        Some(true)
    );
    assert_eq!(
        p.observe(Readiness, Failure, secs(2)),
        ProbeDecision::default()
    );
    assert_eq!(
        p.observe(Readiness, Timeout, secs(3)),
        ProbeDecision::default()
    );
    let d = p.observe(Readiness, Failure, secs(4));
    assert_eq!(
        d,
        ProbeDecision {
            ready_changed: Some(false),
            started: false,
            kill: None
        }
    );
    assert!(p.gate_open(Readiness), "readiness keeps probing");
    // Recovery: one success (threshold 1) flips it back.
    assert_eq!(
        p.observe(Readiness, Success, secs(5)).ready_changed,
        Some(true)
    );
}

#[test]
fn timeout_is_a_failure_in_the_same_run() {
    // The prober maps a timeout to results.Failure, so failures and
    // timeouts extend one run.
    let mut p = ContainerProbes::new(None, None, Some(spec(0, 1, 3)));
    p.container_started(secs(0));
    assert_eq!(p.observe(Liveness, Timeout, secs(1)).kill, None);
    assert_eq!(p.observe(Liveness, Failure, secs(2)).kill, None);
    assert_eq!(p.observe(Liveness, Timeout, secs(3)).kill, Some(Liveness));
}

#[test]
fn liveness_failure_kills_and_holds_every_worker_until_new_container() {
    // doProbe: liveness/startup Failure published → onHold = true,
    // resultRun = 0; a new container ID clears onHold.
    let mut p = ContainerProbes::new(None, Some(spec(0, 1, 3)), Some(spec(0, 1, 2)));
    p.container_started(secs(0));
    p.observe(Readiness, Success, secs(1));
    assert!(p.ready());
    // A success between failures restarts the run.
    p.observe(Liveness, Failure, secs(1));
    p.observe(Liveness, Success, secs(2));
    assert_eq!(p.observe(Liveness, Failure, secs(3)).kill, None);
    let d = p.observe(Liveness, Failure, secs(4));
    assert_eq!(d.kill, Some(Liveness));
    assert_eq!(d.ready_changed, None, "ready until the container stops");
    assert_eq!(gates(&p), [false, false, false], "on hold");
    assert!(!p.should_probe(Readiness, secs(5)));
    // Results in flight are ignored while on hold.
    assert_eq!(
        p.observe(Liveness, Failure, secs(5)),
        ProbeDecision::default()
    );
    assert_eq!(
        p.observe(Readiness, Failure, secs(5)),
        ProbeDecision::default()
    );
    // The runtime kills it.
    let d = p.container_stopped();
    assert_eq!(d.ready_changed, Some(false));
    assert!(!p.running() && !p.ready() && !p.started());
    // The restarted container probes again with fresh runs: one
    // failure is not enough to kill it again.
    let d = p.container_started(secs(20));
    assert!(d.started);
    assert_eq!(d.ready_changed, None);
    assert_eq!(gates(&p), [false, true, true]);
    assert_eq!(p.observe(Liveness, Failure, secs(21)).kill, None);
    assert_eq!(p.observe(Liveness, Failure, secs(22)).kill, Some(Liveness));
}

#[test]
fn startup_failure_threshold_kills() {
    // A startup Failure published is handled like liveness's.
    let mut p = all_three();
    p.container_started(secs(0));
    assert_eq!(p.observe(Startup, Failure, secs(1)).kill, None);
    assert_eq!(p.observe(Startup, Timeout, secs(2)).kill, None);
    let d = p.observe(Startup, Failure, secs(3));
    assert_eq!(d.kill, Some(Startup));
    assert!(!d.started);
    assert_eq!(gates(&p), [false, false, false]);
    p.container_stopped();
    p.container_started(secs(10));
    assert_eq!(gates(&p), [true, false, false], "startup probes again");
}

#[test]
fn initial_delay_counts_from_each_container_start() {
    // doProbe: skip while `time.Since(StartedAt) < InitialDelaySeconds`.
    let mut p = ContainerProbes::new(Some(spec(5, 1, 3)), Some(spec(3, 1, 3)), None);
    p.container_started(secs(100));
    assert!(p.gate_open(Startup));
    assert!(!p.should_probe(Startup, secs(104)));
    assert!(p.should_probe(Startup, secs(105)));
    assert!(p.observe(Startup, Success, secs(105)).started);
    // Readiness's own delay also runs from the container start.
    assert!(!p.should_probe(Readiness, secs(102)));
    assert!(p.should_probe(Readiness, secs(103)));
    assert!(!p.should_probe(Liveness, secs(105)), "not configured");
    p.container_stopped();
    p.container_started(secs(200));
    assert!(!p.should_probe(Startup, secs(204)));
    assert!(p.should_probe(Startup, secs(205)));
}

#[test]
fn gates_closed_for_unconfigured_probes_and_stopped_containers() {
    let mut p = ContainerProbes::new(None, None, None);
    p.container_started(secs(0));
    assert_eq!(gates(&p), [false, false, false]);
    assert!(p.started() && p.ready());
    assert_eq!(
        p.observe(Liveness, Failure, secs(1)),
        ProbeDecision::default()
    );
    assert_eq!(p.spec(Liveness), None);

    let mut p = all_three();
    p.container_started(secs(0));
    p.observe(Startup, Success, secs(1));
    p.container_stopped();
    assert_eq!(gates(&p), [false, false, false]);
    // A stale readiness success after the stop changes nothing.
    assert_eq!(
        p.observe(Readiness, Success, secs(2)),
        ProbeDecision::default()
    );
    assert!(!p.ready());
}

#[test]
fn readiness_result_before_started_is_stale() {
    // doProbe returns early for non-startup probes while not started.
    let mut p = all_three();
    p.container_started(secs(0));
    assert_eq!(
        p.observe(Readiness, Success, secs(1)),
        ProbeDecision::default()
    );
    assert_eq!(
        p.observe(Liveness, Failure, secs(1)),
        ProbeDecision::default()
    );
    p.observe(Startup, Success, secs(2));
    // The earlier success did not count toward the threshold of 2.
    assert_eq!(p.observe(Readiness, Success, secs(3)).ready_changed, None);
    assert_eq!(
        p.observe(Readiness, Success, secs(4)).ready_changed,
        Some(true)
    );
}

#[test]
fn new_container_resets_result_runs() {
    // A new container ID resets the results to their initial values;
    // the runs restart too (see the module notes on this choice).
    let mut p = ContainerProbes::new(None, Some(spec(0, 2, 3)), None);
    p.container_started(secs(0));
    p.observe(Readiness, Success, secs(1));
    p.container_stopped();
    p.container_started(secs(10));
    assert_eq!(p.observe(Readiness, Success, secs(11)).ready_changed, None);
    assert_eq!(
        p.observe(Readiness, Success, secs(12)).ready_changed,
        Some(true)
    );
}

#[test]
fn container_started_twice_reports_unready_when_it_was_ready() {
    // A restart seen without a stop: readiness resets to Failure.
    let mut p = ContainerProbes::new(None, Some(spec(0, 1, 3)), None);
    p.container_started(secs(0));
    p.observe(Readiness, Success, secs(1));
    let d = p.container_started(secs(5));
    assert_eq!(d.ready_changed, Some(false));
    assert!(!p.ready());
}

#[test]
fn initial_delay_counts_whole_seconds_as_kubelet_truncates() {
    // worker.go compares int32(elapsed seconds) with the setting: a
    // fractional delay waits until the next whole second.
    let ms = Duration::from_millis;
    assert_eq!(effective_initial_delay(ms(0)), ms(0));
    assert_eq!(effective_initial_delay(ms(1000)), ms(1000));
    assert_eq!(effective_initial_delay(ms(1500)), ms(2000));
    assert_eq!(effective_initial_delay(ms(1)), ms(1000));
}

#[test]
fn deletion_stops_liveness_and_startup_but_readiness_goes_on() {
    // worker.go doProbe with a DeletionTimestamp: liveness and startup
    // set Success and stop; readiness keeps probing.
    let mut p = all_three();
    p.container_started(secs(0));
    assert!(p.observe(Startup, Success, secs(1)).started);
    assert_eq!(
        p.observe(Readiness, Success, secs(2)).ready_changed,
        None,
        "threshold 2"
    );
    assert_eq!(
        p.observe(Readiness, Success, secs(3)).ready_changed,
        Some(true)
    );
    assert_eq!(p.pod_deleting(), ProbeDecision::default());
    assert!(p.deleting());
    assert_eq!(gates(&p), [false, true, false]);
    // A liveness failure that was in flight no longer kills.
    for t in 4..8 {
        assert_eq!(p.observe(Liveness, Failure, secs(t)).kill, None);
    }
    // A draining pod failing readiness turns not ready (serving=false).
    p.observe(Readiness, Failure, secs(8));
    p.observe(Readiness, Failure, secs(9));
    let d = p.observe(Readiness, Failure, secs(10));
    assert_eq!(d.ready_changed, Some(false));
    assert!(p.readiness_trigger(), "not ready: each sync triggers a run");
}

#[test]
fn deletion_during_startup_counts_as_started() {
    // The startup worker's Success on deletion makes the container
    // started (UpdatePodStatus), so readiness begins; without a
    // readiness probe the container is ready at once.
    let mut p = all_three();
    p.container_started(secs(0));
    let d = p.pod_deleting();
    assert!(d.started && d.ready_changed.is_none());
    assert_eq!(gates(&p), [false, true, false]);
    let mut no_readiness = ContainerProbes::new(Some(spec(0, 1, 3)), None, None);
    no_readiness.container_started(secs(0));
    assert_eq!(no_readiness.pod_deleting().ready_changed, Some(true));
}

#[test]
fn readiness_is_triggered_while_started_and_not_ready() {
    let mut p = all_three();
    p.container_started(secs(0));
    assert!(
        !p.readiness_trigger(),
        "not started: readiness does not run"
    );
    p.observe(Startup, Success, secs(1));
    assert!(p.readiness_trigger(), "startup success syncs the pod");
    p.observe(Readiness, Success, secs(2));
    p.observe(Readiness, Success, secs(3));
    assert!(p.ready() && !p.readiness_trigger(), "ready: no trigger");
    let mut plain = ContainerProbes::new(None, Some(spec(0, 1, 3)), None);
    plain.container_started(secs(0));
    assert!(
        plain.readiness_trigger(),
        "no startup probe: at container start"
    );
}
