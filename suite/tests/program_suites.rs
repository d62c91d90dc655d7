//! Real programs in a suite: `deployments[].container`, `deployments[].nginx`
//! and `clients[].proxy`/`upstream`, accepted with their defaults and
//! rejected at the exact line:column with what was expected.
mod common;

use std::path::Path;

use common::edit;
use svclab_suite::{SuiteError, model::Workload, parse};

#[track_caller]
fn rejects(text: &str, pos: &str, field: &str, phrase: &str) {
    let err = match parse(text, Path::new("suites/bad.yaml")) {
        Ok(_) => panic!("suite was accepted:\n{text}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert!(matches!(err, SuiteError::Invalid(_)), "{shown}");
    assert_eq!(err.exit_code(), 2);
    let d = err.diagnostic().expect("a located error");
    assert_eq!(format!("{}:{}", d.line, d.column), pos, "{shown}");
    assert_eq!(d.field, field, "{shown}");
    assert!(
        d.message.contains(phrase),
        "message lacks {phrase:?}: {shown}"
    );
}

fn container(lines: &str) -> String {
    edit("    replicas: 3\n", &format!("    replicas: 3\n{lines}"))
}

#[test]
fn a_container_with_an_installed_program_is_accepted_with_its_port() {
    let s = parse(
        &container(
            "    container:\n      command: [sh, -c, 'exec sleep 1 {pod}']\n      port: 9000\n",
        ),
        Path::new("suites/ok.yaml"),
    )
    .expect("valid");
    let d = &s.suite.deployments[0];
    assert!(matches!(d.workload(), Workload::Container(_)));
    assert_eq!(d.port(), 9000);
    assert!(!d.names_pod());
}

/// A program this machine lacks is not a mistake in the file: the suite
/// is valid, and the problem is the machine's, located at the program's
/// name (`validate` warns, `run` refuses).
#[test]
fn a_missing_program_is_a_machine_problem_at_its_name() {
    let text =
        container("    container:\n      command: [/no/such/svclab-prog]\n      port: 9000\n");
    let l = svclab_suite::parse(&text, std::path::Path::new("t.yaml")).expect("valid file");
    let m = svclab_suite::machine_warnings(&l);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].field, "deployments[0].container.command[0]");
    assert_eq!((m[0].line, m[0].column), (6, 17));
    assert!(
        m[0].message.contains("no program `/no/such/svclab-prog`"),
        "{m:?}"
    );
}

#[test]
fn a_placeholder_in_the_program_is_rejected() {
    rejects(
        &container("    container:\n      command: [\"{pod}\"]\n      port: 9000\n"),
        "6:17",
        "deployments[0].container.command[0]",
        "without placeholders",
    );
}

#[test]
fn an_empty_command_is_rejected() {
    rejects(
        &container("    container:\n      command: []\n      port: 9000\n"),
        "6:16",
        "deployments[0].container.command",
        "a list of 1..=64 arguments",
    );
}

#[test]
fn server_and_container_together_are_rejected() {
    rejects(
        &container(
            "    server: { port: 80 }\n    container:\n      command: [sh]\n      port: 9000\n",
        ),
        "5:13",
        "deployments[0].server",
        "expected no `server` with `container`",
    );
}

#[test]
fn upstream_without_proxy_is_rejected() {
    rejects(
        &edit(
            "    service: web\n",
            "    service: web\n    upstream: { keepalive: 2 }\n",
        ),
        "13:15",
        "clients[0].upstream",
        "only with `proxy: nginx`",
    );
}

/// The nginx cases need nginx installed (`./just setup`); without it the
/// preset is itself the error.
fn nginx_installed() -> bool {
    svclab_suite::nginx_binary().is_some()
}

#[test]
fn keepalive_needs_http_1_1() {
    if !nginx_installed() {
        eprintln!("SKIPPED keepalive_needs_http_1_1: nginx not installed");
        return;
    }
    rejects(
        &edit(
            "    service: web\n",
            "    service: web\n    proxy: nginx\n    upstream: { keepalive: 8 }\n",
        ),
        "14:28",
        "clients[0].upstream.keepalive",
        "proxy_http_version: 1.1",
    );
}

#[test]
fn an_unknown_next_upstream_value_is_rejected() {
    if !nginx_installed() {
        eprintln!("SKIPPED an_unknown_next_upstream_value_is_rejected: nginx not installed");
        return;
    }
    rejects(
        &edit(
            "    service: web\n",
            "    service: web\n    proxy: nginx\n    upstream: { proxy_next_upstream: [error, sometimes] }\n",
        ),
        "14:46",
        "clients[0].upstream.proxy_next_upstream[1]",
        "expected one of error, timeout",
    );
}

#[test]
fn a_proxy_needs_ephemeral_ports() {
    if !nginx_installed() {
        eprintln!("SKIPPED a_proxy_needs_ephemeral_ports: nginx not installed");
        return;
    }
    rejects(
        &edit(
            "    service: web\n",
            "    service: web\n    proxy: nginx\n    source_ports: { mode: pool, range: [40000, 40999] }\n",
        ),
        "14:27",
        "clients[0].source_ports.mode",
        "expected `ephemeral` with `proxy`",
    );
}

#[test]
fn the_nginx_preset_has_nginx_1_22_defaults() {
    if !nginx_installed() {
        eprintln!("SKIPPED the_nginx_preset_has_nginx_1_22_defaults: nginx not installed");
        return;
    }
    let s = parse(&container("    nginx: {}\n"), Path::new("suites/ok.yaml")).expect("valid");
    let Workload::Nginx(n) = s.suite.deployments[0].workload() else {
        panic!("not nginx");
    };
    assert_eq!(
        (n.port, n.worker_processes, n.worker_connections, n.backlog),
        (8080, 1, 512, 511)
    );
    assert_eq!(n.keepalive_timeout.0.as_secs(), 75);
    assert!(s.suite.deployments[0].names_pod());
}
