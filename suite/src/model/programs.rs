//! Real programs in pods: `deployments[].container` (any argv as the pod's
//! container), `deployments[].nginx` (Debian's nginx as the pod's server)
//! and `clients[].proxy: nginx` with its `clients[].upstream` settings
//! (nginx in the client pod in front of the service VIP). Defaults are
//! nginx 1.22.1's (Debian 12's package), each cited where it is defined.
use std::{collections::BTreeMap, time::Duration};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults::{d60, one_u32};
use crate::duration::Dur;

/// The placeholders `command` and `env` values may contain, replaced per pod.
pub const PLACEHOLDERS: [&str; 4] = ["{pod}", "{pod_ip}", "{port}", "{run_dir}"];

/// Any program as the pod's container: kubelet starts it in the pod netns,
/// probes it, restarts it with back-off when it exits, and ends it with
/// SIGTERM → grace → SIGKILL (its whole process group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainerSpec {
    /// argv: the program (a path, or a name looked up in PATH; it must
    /// exist when the suite is validated) and its arguments. `{pod}`,
    /// `{pod_ip}`, `{port}` and `{run_dir}` are replaced per pod in every
    /// argument (not in the program itself); other braces are left alone.
    #[schemars(length(min = 1, max = 64))]
    pub command: Vec<String>,
    /// Environment variables added to the harness's own (same placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The port it serves on: the service's default target port, the
    /// probes' default port, the accept queue the report samples. 1..=65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

/// Debian's nginx as the pod's server: every response (`200`, body
/// `<pod>\n`) names the pod in the body and an `X-Pod` header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NginxServerSpec {
    /// `listen` port, 1..=65535, default 8080.
    #[serde(default = "d8080")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// `worker_processes`, 1..=16, default 1 (nginx 1.22.1
    /// src/core/nginx.c:1096).
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1, max = 16))]
    pub worker_processes: u32,
    /// `worker_connections` per worker, 2..=65535, default 512 (nginx
    /// 1.22.1 src/event/ngx_event.c:13). A worker at its limit still
    /// accepts and closes the new connection at once (nginx 1.22.1
    /// src/event/ngx_event_accept.c:142-150, "worker_connections are not
    /// enough"; measured: the client sees a reset, the accept queue stays
    /// near empty), unlike svclab's pod server, which stops accepting.
    #[serde(default = "d512")]
    #[schemars(range(min = 2, max = 65535))]
    pub worker_connections: u32,
    /// `listen ... backlog=`, 1..=65535, default 511 (nginx 1.22.1
    /// src/os/unix/ngx_linux_config.h:107, NGX_LISTEN_BACKLOG).
    #[serde(default = "d511")]
    #[schemars(range(min = 1, max = 65535))]
    pub backlog: u32,
    /// `keepalive_timeout`, default `75s` (nginx 1.22.1
    /// src/http/ngx_http_core_module.c:3754); `0s` closes after every response.
    #[serde(default = "d75")]
    pub keepalive_timeout: Dur,
    /// Time before answering, at most `60s`, default `0ms` (`return 200`).
    /// Above 0 the location answers with `echo_sleep` (Debian's
    /// libnginx-mod-http-echo): a timer, so a waiting request holds a
    /// connection, not a worker.
    #[serde(default)]
    pub delay: Dur,
}

/// What runs in a client pod in front of the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyKind {
    /// Debian's nginx: `proxy_pass` to the service VIP, listening on the
    /// pod's 127.0.0.1:8080; svclab's load generator sends into it.
    Nginx,
}

/// The client-side nginx's upstream settings (the customer's config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// `keepalive` idle connections cached per worker; 0 (default, nginx's:
    /// no `keepalive` directive) opens a connection per request. 0..=1024.
    #[serde(default)]
    #[schemars(range(max = 1024))]
    pub keepalive: u32,
    /// `proxy_http_version`: 1.0 (default, nginx 1.22.1
    /// src/http/modules/ngx_http_proxy_module.c:3820) or 1.1 (needed by
    /// `keepalive`).
    #[serde(default = "v10")]
    pub proxy_http_version: f64,
    /// `proxy_next_upstream`, default `[error, timeout]` (nginx 1.22.1
    /// ngx_http_proxy_module.c:3611): error, timeout, invalid_header,
    /// http_500, http_502, http_503, http_504, http_403, http_404, http_429,
    /// non_idempotent, off.
    #[serde(default = "default_next_upstream")]
    pub proxy_next_upstream: Vec<String>,
    /// `proxy_next_upstream_tries`, 0 (default: unlimited, nginx 1.22.1
    /// ngx_http_proxy_module.c:3473) ..= 100.
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub proxy_next_upstream_tries: u32,
    /// `proxy_connect_timeout`, default `60s` (ngx_http_proxy_module.c:3494), 1ms..=10m.
    #[serde(default = "d60")]
    pub proxy_connect_timeout: Dur,
    /// `proxy_send_timeout`, default `60s` (ngx_http_proxy_module.c:3497), 1ms..=10m.
    #[serde(default = "d60")]
    pub proxy_send_timeout: Dur,
    /// `proxy_read_timeout`, default `60s` (ngx_http_proxy_module.c:3500), 1ms..=10m.
    #[serde(default = "d60")]
    pub proxy_read_timeout: Dur,
    /// `worker_processes` of the client's nginx, 1..=16, default 1.
    #[serde(default = "one_u32")]
    #[schemars(range(min = 1, max = 16))]
    pub worker_processes: u32,
}

/// The values `proxy_next_upstream` accepts (nginx 1.22.1
/// ngx_http_proxy_module.c:249, ngx_http_proxy_next_upstream_masks).
pub const NEXT_UPSTREAM: [&str; 12] = [
    "error",
    "timeout",
    "invalid_header",
    "http_500",
    "http_502",
    "http_503",
    "http_504",
    "http_403",
    "http_404",
    "http_429",
    "non_idempotent",
    "off",
];

fn d8080() -> u16 {
    8080
}
fn d512() -> u32 {
    512
}
fn d511() -> u32 {
    511
}
fn d75() -> Dur {
    Dur(Duration::from_secs(75))
}
fn v10() -> f64 {
    1.0
}
fn default_next_upstream() -> Vec<String> {
    vec!["error".to_owned(), "timeout".to_owned()]
}

impl Default for NginxServerSpec {
    fn default() -> Self {
        Self {
            port: d8080(),
            worker_processes: 1,
            worker_connections: d512(),
            backlog: d511(),
            keepalive_timeout: d75(),
            delay: Dur::default(),
        }
    }
}

impl Default for UpstreamSpec {
    fn default() -> Self {
        Self {
            keepalive: 0,
            proxy_http_version: v10(),
            proxy_next_upstream: default_next_upstream(),
            proxy_next_upstream_tries: 0,
            proxy_connect_timeout: d60(),
            proxy_send_timeout: d60(),
            proxy_read_timeout: d60(),
            worker_processes: 1,
        }
    }
}

/// Where a program is found: `name` itself when it has a '/', else the
/// first executable `name` in `PATH` (as execvp looks it up).
#[must_use]
pub fn find_program(name: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        let p = std::path::PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/sbin"), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| executable(p))
}
