//! What the suite crate's integration tests share: the minimal valid suite
//! every case edits, and the edits. Line numbers of `MIN`, for positions:
//!  1 duration / 2 deployments / 3 `- name: web` / 4 replicas / 5 services /
//!  6 `- name: web` / 7 cluster_ip / 8 port / 9 selector / 10 clients /
//!  11 `- name: nginx` / 12 service
#![allow(dead_code, reason = "each test binary uses a different subset")]

/// A minimal valid suite; cases edit it.
pub const MIN: &str = "\
duration: 60s
deployments:
  - name: web
    replicas: 3
services:
  - name: web
    cluster_ip: 198.19.0.10
    port: 80
    selector: web
clients:
  - name: nginx
    service: web
";

/// `MIN` with `from` replaced by `to` (which must occur exactly once).
pub fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        MIN.matches(from).count(),
        1,
        "{from:?} must occur once in MIN"
    );
    MIN.replacen(from, to, 1)
}

/// `MIN` with `tail` appended.
pub fn with(tail: &str) -> String {
    format!("{MIN}{tail}")
}

/// `text` is refused with exit 2 at `pos` (line:column) on `field`, with
/// `phrase` in the message.
#[track_caller]
pub fn rejects(text: &str, pos: &str, field: &str, phrase: &str) {
    let err = match svclab_suite::parse(text, std::path::Path::new("suites/bad.yaml")) {
        Ok(_) => panic!("suite was accepted:\n{text}"),
        Err(e) => e,
    };
    let shown = err.to_string();
    assert_eq!(err.exit_code(), 2, "{shown}");
    let d = err.diagnostic().expect("a located error");
    assert_eq!(format!("{}:{}", d.line, d.column), pos, "{shown}");
    assert_eq!(d.field, field, "{shown}");
    assert!(
        d.message.contains(phrase),
        "message lacks {phrase:?}: {shown}"
    );
    assert!(matches!(
        err,
        svclab_suite::SuiteError::Invalid(_) | svclab_suite::SuiteError::Type(_)
    ));
}
