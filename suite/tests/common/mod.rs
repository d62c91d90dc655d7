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
