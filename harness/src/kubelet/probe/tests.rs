//! Unit tests of the prober: start jitter, gate bits, kubelet's probe
//! headers and URLs, exec outcomes.
use super::{handlers::*, *};

#[test]
fn start_jitter_spreads_within_the_period() {
    let fracs: Vec<f64> = (0..200)
        .map(|i| start_jitter(&format!("web-{i}"), ProbeKind::Readiness))
        .collect();
    assert!(fracs.iter().all(|f| (0.0..1.0).contains(f)));
    let early = fracs.iter().filter(|f| **f < 0.5).count();
    assert!(
        (60..=140).contains(&early),
        "{early} of 200 in the first half"
    );
    assert_ne!(
        start_jitter("web-0", ProbeKind::Readiness),
        start_jitter("web-0", ProbeKind::Liveness)
    );
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// `probe_headers` as owned pairs, to compare with `h(..)`.
fn headers(extra: &[(String, String)]) -> Vec<(String, String)> {
    probe_headers(extra)
        .into_iter()
        .map(|(k, v)| h(k, v))
        .collect()
}

#[test]
fn gate_bits() {
    assert_eq!(kind_bit(ProbeKind::Startup), 1);
    assert_eq!(kind_bit(ProbeKind::Readiness), 2);
    assert_eq!(kind_bit(ProbeKind::Liveness), 4);
    let g = ProbeGate::default();
    for k in ProbeKind::ALL {
        assert!(!g.is_open(k));
    }
    g.set(&[ProbeKind::Startup], 3, 1_000);
    assert_eq!(g.kinds.load(Ordering::Relaxed), 1);
    assert!(g.is_open(ProbeKind::Startup));
    assert!(!g.is_open(ProbeKind::Readiness));
    assert_eq!(g.generation.load(Ordering::Relaxed), 3);
    assert_eq!(g.container_start_ns.load(Ordering::Relaxed), 1_000);
    // `set` opens exactly the given kinds.
    g.set(&[ProbeKind::Readiness, ProbeKind::Liveness], 4, 2_000);
    assert_eq!(g.kinds.load(Ordering::Relaxed), 0b110);
    assert!(!g.is_open(ProbeKind::Startup));
    assert!(g.is_open(ProbeKind::Readiness));
    assert!(g.is_open(ProbeKind::Liveness));
    assert_eq!(g.generation.load(Ordering::Relaxed), 4);
    g.close();
    assert_eq!(g.kinds.load(Ordering::Relaxed), 0);
    for k in ProbeKind::ALL {
        assert!(!g.is_open(k));
    }
    // The generation stays for reports of probes that were running.
    assert_eq!(g.generation.load(Ordering::Relaxed), 4);
}

#[test]
fn default_headers() {
    assert_eq!(
        headers(&[]),
        vec![
            h("User-Agent", USER_AGENT),
            h("Accept", "*/*"),
            h("Connection", "close")
        ]
    );
}

#[test]
fn handler_headers_override_defaults_case_insensitively() {
    let got = headers(&[h("user-agent", "mine/1"), h("ACCEPT", "application/json")]);
    assert_eq!(
        got,
        vec![
            h("user-agent", "mine/1"),
            h("ACCEPT", "application/json"),
            h("Connection", "close")
        ]
    );
    // Extra headers are kept, in order, repeats too.
    let got = headers(&[h("X-A", "1"), h("X-A", "2"), h("Host", "example")]);
    assert_eq!(
        got,
        vec![
            h("X-A", "1"),
            h("X-A", "2"),
            h("Host", "example"),
            h("User-Agent", USER_AGENT),
            h("Accept", "*/*"),
            h("Connection", "close")
        ]
    );
}

#[test]
fn empty_overrides_remove_the_header() {
    // kubelet deletes an Accept that was set to ""; Go sends no empty User-Agent.
    let got = headers(&[h("Accept", ""), h("User-Agent", "")]);
    assert_eq!(got, vec![h("Connection", "close")]);
}

#[test]
fn connection_close_not_doubled() {
    let got = headers(&[h("connection", "Close")]);
    assert_eq!(
        got,
        vec![
            h("connection", "Close"),
            h("User-Agent", USER_AGENT),
            h("Accept", "*/*")
        ]
    );
}

#[test]
fn url_gets_a_leading_slash() {
    let a: SocketAddrV4 = "198.18.0.5:8080".parse().unwrap();
    assert_eq!(probe_url(a, "/healthz"), "http://198.18.0.5:8080/healthz");
    assert_eq!(
        probe_url(a, "healthz?x=1"),
        "http://198.18.0.5:8080/healthz?x=1"
    );
    assert_eq!(probe_url(a, ""), "http://198.18.0.5:8080/");
}

#[test]
fn exec_outcomes_without_netns_change() {
    // The caller's own netns: no root needed to enter it.
    let ns = PathBuf::from("/proc/thread-self/ns/net");
    let sh = |s: &str| vec!["/bin/sh".to_owned(), "-c".to_owned(), s.to_owned()];
    let t = Duration::from_secs(5);
    // setns into the namespace one is already in needs CAP_SYS_ADMIN;
    // without root the spawn fails, which is a Failure too.
    if !svclab_topology::is_root() {
        let (o, _) = exec_blocking(&ns, &sh("exit 0"), t);
        assert_eq!(o, ProbeOutcome::Failure);
        return;
    }
    assert_eq!(
        exec_blocking(&ns, &sh("exit 0"), t).0,
        ProbeOutcome::Success
    );
    let (o, d) = exec_blocking(&ns, &sh("exit 3"), t);
    assert_eq!(o, ProbeOutcome::Failure);
    assert!(d.contains("exited with 3"), "{d}");
    let start = Instant::now();
    let (o, _) = exec_blocking(&ns, &sh("sleep 5"), Duration::from_millis(100));
    assert_eq!(o, ProbeOutcome::Timeout);
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(exec_blocking(&ns, &[], t).0, ProbeOutcome::Failure);
}
