//! Real programs in pods: a deployment's `container` and `nginx` preset,
//! and a client's `proxy`/`upstream`. Whether this machine has the
//! programs (the container's command, nginx for either preset) is not a
//! rule of the file: [`machine_problems`] lists what is missing, which
//! `validate` and `list` print as warnings and `run` refuses to start
//! without (`./just setup` installs nginx).
use std::time::Duration;

use super::checker::{Checker, MINUTE};
use crate::{
    expected::{
        AT_MOST_10M, BACKLOG, CONTAINER_COMMAND, NGINX_CONNECTIONS, NGINX_WORKERS, PORT,
        PROXY_TIMEOUT, SERVICE_TIME,
    },
    model::{
        Client, ContainerSpec, Deployment, NEXT_UPSTREAM, NginxServerSpec, PortMode, UpstreamSpec,
        find_program,
    },
};

/// Where the nginx presets look for nginx (Debian's path first).
pub const NGINX_BIN: [&str; 2] = ["/usr/sbin/nginx", "nginx"];
/// Debian's echo module, needed by `nginx.delay`.
pub const NGINX_ECHO_MODULE: &str = "/usr/share/nginx/modules/ngx_http_echo_module.so";

/// The nginx binary, if installed.
#[must_use]
pub fn nginx_binary() -> Option<std::path::PathBuf> {
    NGINX_BIN.iter().find_map(|n| find_program(n))
}

/// `{p}` is `deployments[i]`: at most one of server/container/nginx given.
pub(super) fn deployment(c: &mut Checker<'_>, p: &str, d: &Deployment) {
    let server_given = c.ix.get(&format!("{p}.server")).is_some();
    if d.container.is_some() && d.nginx.is_some() {
        c.fail(
            &format!("{p}.nginx"),
            "expected one of `container` and `nginx`, not both: a pod runs one server".to_owned(),
        );
    }
    if server_given && (d.container.is_some() || d.nginx.is_some()) {
        let other = if d.container.is_some() {
            "container"
        } else {
            "nginx"
        };
        c.fail(
            &format!("{p}.server"),
            format!("expected no `server` with `{other}`: `server` configures svclab's pod server, which `{other}` replaces"),
        );
    }
    if let Some(ct) = &d.container {
        container(c, &format!("{p}.container"), ct);
    }
    if let Some(n) = &d.nginx {
        nginx_server(c, &format!("{p}.nginx"), n);
    }
}

fn container(c: &mut Checker<'_>, p: &str, ct: &ContainerSpec) {
    c.expect(ct.port != 0, &format!("{p}.port"), PORT, ct.port);
    let Some(prog) = ct.command.first() else {
        c.fail(
            &format!("{p}.command"),
            format!("expected {CONTAINER_COMMAND}, got an empty list"),
        );
        return;
    };
    let pp = format!("{p}.command[0]");
    if prog.contains('{') {
        c.fail(
            &pp,
            format!("expected a program name or path without placeholders (they expand in the arguments only), got `{prog}`"),
        );
    }
    if ct.command.len() > 64 {
        c.fail(
            &format!("{p}.command"),
            format!(
                "expected {CONTAINER_COMMAND}, got {} arguments",
                ct.command.len()
            ),
        );
    }
    for k in ct.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            c.fail(
                &format!("{p}.env"),
                format!("expected environment variable names without '=' or NUL, got `{k}`"),
            );
        }
    }
}

/// What this machine lacks to run `suite`, as (field path, message): the
/// container command's program, nginx for the nginx presets.
#[must_use]
pub fn machine_problems(suite: &crate::model::Suite) -> Vec<(String, String)> {
    const NO_NGINX: &str = "this machine has no nginx (/usr/sbin/nginx; `./just setup` or `scripts/bootstrap.sh nginx` installs Debian's nginx)";
    let mut out = Vec::new();
    for (i, d) in suite.deployments.iter().enumerate() {
        if let Some(ct) = &d.container
            && let Some(prog) = ct.command.first()
            && !prog.contains('{')
            && find_program(prog).is_none()
        {
            out.push((
                format!("deployments[{i}].container.command[0]"),
                format!(
                    "this machine has no program `{prog}` (not found in PATH, or not executable)"
                ),
            ));
        }
        if d.nginx.is_some() && nginx_binary().is_none() {
            out.push((format!("deployments[{i}].nginx"), NO_NGINX.to_owned()));
        }
    }
    for (i, c) in suite.clients.iter().enumerate() {
        if matches!(c.proxy, Some(crate::model::ProxyKind::Nginx)) && nginx_binary().is_none() {
            out.push((format!("clients[{i}].proxy"), NO_NGINX.to_owned()));
        }
    }
    out.extend(fault_tools(suite));
    out
}

/// The tools a fault kind needs from this machine: `tc` (iproute2) for a
/// bandwidth limit, `iptables-nft` for the delay queue (its NFQUEUE rule)
/// and for refusing new connections (REJECT with tcp-reset).
fn fault_tools(suite: &crate::model::Suite) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, e) in suite.timeline.iter().enumerate() {
        let crate::model::Action::Fault(f) = &e.action else {
            continue;
        };
        let mut need = |key: &str, prog: &str, why: &str| {
            if find_program(prog).is_none() {
                out.push((
                    format!("timeline[{i}].fault.{key}"),
                    format!(
                        "this machine has no `{prog}` ({why}; `scripts/bootstrap.sh run` installs it)"
                    ),
                ));
            }
        };
        if f.bandwidth.is_some() {
            need("bandwidth", "tc", "iproute2's tc sets the TBF rate limit");
        }
        if f.delay.is_some() {
            need("delay", "iptables-nft", "the delay queue's NFQUEUE rule");
        }
        if f.reset.as_ref().is_some_and(|r| r.new_percent.is_some()) {
            need("reset", "iptables-nft", "REJECT --reject-with tcp-reset");
        }
    }
    out
}

fn nginx_server(c: &mut Checker<'_>, p: &str, n: &NginxServerSpec) {
    c.expect(n.port != 0, &format!("{p}.port"), PORT, n.port);
    c.expect(
        (1..=16).contains(&n.worker_processes),
        &format!("{p}.worker_processes"),
        NGINX_WORKERS,
        n.worker_processes,
    );
    c.expect(
        (2..=65535).contains(&n.worker_connections),
        &format!("{p}.worker_connections"),
        NGINX_CONNECTIONS,
        n.worker_connections,
    );
    c.expect(
        (1..=65535).contains(&n.backlog),
        &format!("{p}.backlog"),
        BACKLOG,
        n.backlog,
    );
    c.expect(
        n.keepalive_timeout.0 <= 10 * MINUTE,
        &format!("{p}.keepalive_timeout"),
        AT_MOST_10M,
        n.keepalive_timeout,
    );
    c.expect(
        n.delay.0 <= Duration::from_secs(60),
        &format!("{p}.delay"),
        SERVICE_TIME,
        n.delay,
    );
    if !n.delay.0.is_zero() && !std::path::Path::new(NGINX_ECHO_MODULE).exists() {
        c.fail(
            &format!("{p}.delay"),
            format!("expected nginx's echo module at {NGINX_ECHO_MODULE} for a delay (Debian: libnginx-mod-http-echo; `./just setup` installs it), found none"),
        );
    }
}

/// `{p}` is `clients[i]`.
pub(super) fn client(c: &mut Checker<'_>, p: &str, cl: &Client) {
    if cl.proxy.is_none() {
        if cl.upstream.is_some() {
            c.fail(
                &format!("{p}.upstream"),
                "expected `upstream` only with `proxy: nginx`: it configures the proxy's upstream"
                    .to_owned(),
            );
        }
        return;
    }
    if cl.source_ports.mode == PortMode::Pool {
        c.fail(
            &format!("{p}.source_ports.mode"),
            "expected `ephemeral` with `proxy`: nginx's upstream connections take kernel-chosen ports from the range".to_owned(),
        );
    }
    if let Some(u) = &cl.upstream {
        upstream(c, &format!("{p}.upstream"), u);
    }
}

fn upstream(c: &mut Checker<'_>, p: &str, u: &UpstreamSpec) {
    let v = u.proxy_http_version;
    if v != 1.0 && v != 1.1 {
        c.fail(
            &format!("{p}.proxy_http_version"),
            format!("expected 1.0 or 1.1, got {v}"),
        );
    }
    if u.keepalive > 1024 {
        c.fail(
            &format!("{p}.keepalive"),
            format!("expected an integer 0..=1024, got {}", u.keepalive),
        );
    }
    if u.keepalive > 0 && v != 1.1 {
        // nginx docs (ngx_http_upstream_module, keepalive): "For HTTP, the
        // proxy_http_version directive should be set to 1.1".
        c.fail(
            &format!("{p}.keepalive"),
            format!("expected `proxy_http_version: 1.1` with keepalive {} (HTTP/1.0 upstream connections close after each request)", u.keepalive),
        );
    }
    if u.proxy_next_upstream.is_empty() {
        c.fail(
            &format!("{p}.proxy_next_upstream"),
            "expected 1 or more of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off".to_owned(),
        );
    }
    for (j, v) in u.proxy_next_upstream.iter().enumerate() {
        if !NEXT_UPSTREAM.contains(&v.as_str()) {
            c.fail(
                &format!("{p}.proxy_next_upstream[{j}]"),
                format!("expected one of {}, got `{v}`", NEXT_UPSTREAM.join(", ")),
            );
        }
    }
    if u.proxy_next_upstream.iter().any(|v| v == "off") && u.proxy_next_upstream.len() > 1 {
        c.fail(
            &format!("{p}.proxy_next_upstream"),
            "expected `off` alone (nginx: \"off\" cannot be combined with other values)".to_owned(),
        );
    }
    c.expect(
        u.proxy_next_upstream_tries <= 100,
        &format!("{p}.proxy_next_upstream_tries"),
        "an integer 0..=100",
        u.proxy_next_upstream_tries,
    );
    c.expect(
        (1..=16).contains(&u.worker_processes),
        &format!("{p}.worker_processes"),
        NGINX_WORKERS,
        u.worker_processes,
    );
    for (name, d) in [
        ("proxy_connect_timeout", u.proxy_connect_timeout),
        ("proxy_send_timeout", u.proxy_send_timeout),
        ("proxy_read_timeout", u.proxy_read_timeout),
    ] {
        c.expect(
            d.0 >= Duration::from_millis(1) && d.0 <= 10 * MINUTE,
            &format!("{p}.{name}"),
            PROXY_TIMEOUT,
            d,
        );
    }
}
