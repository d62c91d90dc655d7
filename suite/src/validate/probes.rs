//! `deployments[].probes`: each probe has exactly one handler (`tcp`,
//! `http` or `exec`) that is well formed, and kubelet's timing fields within
//! kubelet's bounds.
//!
//! A port that neither the server nor its health listener opens is allowed:
//! a misconfigured probe is a scenario worth running.
use std::time::Duration;

use super::{
    checker::{Checker, HOUR, MINUTE},
    text::{is_header_value, is_http_path, is_token},
};
use crate::{
    expected::{
        AT_LEAST_1, AT_MOST_1H, EXEC_COMMAND, FAILURE, HEADER_NAME, HEADER_VALUE, HTTP_PATH, PORT,
        PROBE_TIMEOUT, SUCCESS_ONE, ticked_list,
    },
    model::{ExecProbe, HttpProbe, Probe},
};

/// One probe at `p`. `kind` is `startup`, `readiness` or `liveness`;
/// `scale` is kubelet.time_scale when valid.
pub(super) fn check(c: &mut Checker<'_>, p: &str, kind: &str, probe: &Probe, scale: Option<f64>) {
    one_handler(c, p, probe);
    timing(c, p, kind, probe, scale);
    if let Some(t) = &probe.tcp
        && let Some(port) = t.port
    {
        c.expect(port != 0, &format!("{p}.tcp.port"), PORT, port);
    }
    if let Some(h) = &probe.http {
        http(c, p, h);
    }
    if let Some(x) = &probe.exec {
        exec(c, p, x);
    }
}

/// Exactly one of `tcp`, `http`, `exec`.
fn one_handler(c: &mut Checker<'_>, p: &str, probe: &Probe) {
    let handlers = [
        ("tcp", probe.tcp.is_some()),
        ("http", probe.http.is_some()),
        ("exec", probe.exec.is_some()),
    ];
    let given: Vec<&str> = handlers.iter().filter(|h| h.1).map(|h| h.0).collect();
    if given.len() != 1 {
        let got = if given.is_empty() {
            // `tcp:` with no value reads as no handler at all: say so.
            let written = handlers
                .iter()
                .map(|h| h.0)
                .find(|k| c.ix.get(&format!("{p}.{k}")).is_some());
            match written {
                Some("exec") => "none (`exec:` has no value)".to_owned(),
                Some(k) => format!("none (`{k}:` has no value; `{k}: {{}}` takes its defaults)"),
                None => "none".to_owned(),
            }
        } else {
            ticked_list(&given, "and")
        };
        c.fail(
            p,
            format!("a probe needs exactly one handler of `tcp`, `http`, `exec`; got {got}"),
        );
    }
}

/// initialDelaySeconds, periodSeconds, timeoutSeconds and the thresholds.
fn timing(c: &mut Checker<'_>, p: &str, kind: &str, probe: &Probe, scale: Option<f64>) {
    c.expect(
        probe.initial_delay.0 <= HOUR,
        &format!("{p}.initial_delay"),
        AT_MOST_1H,
        probe.initial_delay,
    );
    c.scaled_period(&format!("{p}.period"), probe.period, scale);
    c.expect(
        probe.timeout.0 >= Duration::from_millis(10) && probe.timeout.0 <= MINUTE,
        &format!("{p}.timeout"),
        PROBE_TIMEOUT,
        probe.timeout,
    );
    let st = probe.success_threshold;
    let sp = format!("{p}.success_threshold");
    if kind == "readiness" {
        c.expect(st >= 1, &sp, AT_LEAST_1, st);
    } else {
        c.expect(st == 1, &sp, SUCCESS_ONE, st);
    }
    c.expect(
        (1..=1000).contains(&probe.failure_threshold),
        &format!("{p}.failure_threshold"),
        FAILURE,
        probe.failure_threshold,
    );
}

/// `{p}.http`: a request path, port and headers that fit on the wire.
fn http(c: &mut Checker<'_>, p: &str, h: &HttpProbe) {
    let got = if h.path.len() > 1024 {
        format!("a path of {} bytes", h.path.len())
    } else {
        format!("{:?}", h.path)
    };
    c.expect(
        is_http_path(&h.path),
        &format!("{p}.http.path"),
        HTTP_PATH,
        got,
    );
    if let Some(port) = h.port {
        c.expect(port != 0, &format!("{p}.http.port"), PORT, port);
    }
    for (j, hd) in h.headers.iter().enumerate() {
        let hp = format!("{p}.http.headers[{j}]");
        c.expect(
            is_token(&hd.name),
            &format!("{hp}.name"),
            HEADER_NAME,
            format!("{:?}", hd.name),
        );
        c.expect(
            is_header_value(&hd.value),
            &format!("{hp}.value"),
            HEADER_VALUE,
            format!("{:?}", hd.value),
        );
    }
}

/// `{p}.exec.command`: a program to run.
fn exec(c: &mut Checker<'_>, p: &str, x: &ExecProbe) {
    let cp = format!("{p}.exec.command");
    match x.command.first() {
        None => c.fail(&cp, format!("expected {EXEC_COMMAND}, got an empty list")),
        Some(program) if program.is_empty() => c.fail(
            &format!("{cp}[0]"),
            "expected a program to run (the first argument of the command), got \"\"".to_owned(),
        ),
        Some(_) => {}
    }
}
