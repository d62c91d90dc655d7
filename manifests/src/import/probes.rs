//! A container's probes and preStop hook → the suite's: handlers (httpGet
//! with path and headers, tcpSocket, exec; gRPC does not map), kubelet's
//! timing fields, and named ports resolved through the container's own
//! ports, as kubelet resolves them.
use k8s_openapi::{
    api::core::v1::{Container, HTTPHeader, LifecycleHandler},
    apimachinery::pkg::util::intstr::IntOrString,
};
use svclab_suite::model::{
    self, Dur, ExecProbe, HttpGetAction, HttpHeader, HttpProbe, PreStop, Probe, TcpProbe,
};

use super::{context::Context, error::ImportError, read::Object};

/// A port as a number: a number as is, a name through `c`'s ports
/// (Kubernetes resolves a probe's or hook's named port in its own
/// container).
pub(crate) fn resolve_port(
    o: &Object,
    path: &str,
    c: &Container,
    v: &IntOrString,
) -> Result<u16, ImportError> {
    match v {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p > 0).ok_or_else(|| {
            o.bad(
                path,
                format!("expected a port 1..=65535 or a port name, got {n}"),
            )
        }),
        IntOrString::String(s) => {
            if let Ok(n) = s.parse::<i32>() {
                // A numeric string is the number, as a Service's
                // targetPort reads it.
                return resolve_port(o, path, c, &IntOrString::Int(n));
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| {
                    let names: Vec<&str> = c
                        .ports
                        .iter()
                        .flatten()
                        .filter_map(|p| p.name.as_deref())
                        .collect();
                    o.bad(
                        path,
                        format!(
                            "no container port named {s:?} in container {:?}; expected one of: {}",
                            c.name,
                            if names.is_empty() {
                                "(the container names no ports)".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ),
                    )
                })
        }
    }
}

/// One probe: the model, the port it targets when that is not the serving
/// port, and a comment on its handler.
pub(crate) type MappedProbe = (Probe, Option<u16>, Option<String>);

pub(crate) fn probe(
    cx: &mut Context,
    o: &Object,
    c: &Container,
    pp: &str,
    p: &k8s_openapi::api::core::v1::Probe,
    serving: u16,
) -> Result<Option<MappedProbe>, ImportError> {
    let i = o.index;
    let mut off = None;
    let note;
    let mut out = Probe {
        tcp: None,
        http: None,
        exec: None,
        initial_delay: Dur::default(),
        period: Dur::from_secs(10),
        timeout: Dur::from_secs(1),
        success_threshold: 1,
        failure_threshold: 3,
    };
    let port_note = |n: u16, name: Option<&String>| {
        let shown = name.map_or_else(|| n.to_string(), |s| format!("{s} = {n}"));
        if n == serving {
            format!("port {shown}, the serving port")
        } else {
            format!("port {shown}, the health port")
        }
    };
    if let Some(h) = &p.http_get {
        let path = format!("{pp}.httpGet");
        let n = resolve_port(o, &format!("{path}.port"), c, &h.port)?;
        cx.used(i, format!("{path}.port"));
        let named = match &h.port {
            IntOrString::String(s) => Some(s.clone()),
            IntOrString::Int(_) => None,
        };
        let target = request_path(o, &format!("{path}.path"), h.path.as_deref())?;
        cx.used(i, format!("{path}.path"));
        let mut text = port_note(n, named.as_ref());
        if !target.starts_with("/healthz") && n == serving {
            text.push_str(&format!(
                "; the pod server answers {target} like a request (service_time, cpu_time), /healthz* as a health check"
            ));
        }
        note = Some(text);
        out.http = Some(HttpProbe {
            path: target,
            port: (n != serving).then_some(n),
            headers: headers(
                cx,
                o,
                &format!("{path}.httpHeaders"),
                h.http_headers.as_ref(),
            )?,
        });
        if n != serving {
            off = Some(n);
        }
        cx.why(i, format!("{path}.host"), "kubelet probes the pod IP here");
        cx.why(
            i,
            format!("{path}.scheme"),
            "svclab's pod server speaks plain HTTP",
        );
    } else if let Some(t) = &p.tcp_socket {
        let path = format!("{pp}.tcpSocket");
        let n = resolve_port(o, &format!("{path}.port"), c, &t.port)?;
        cx.used(i, format!("{path}.port"));
        let named = match &t.port {
            IntOrString::String(s) => Some(s.clone()),
            IntOrString::Int(_) => None,
        };
        note = Some(port_note(n, named.as_ref()));
        out.tcp = Some(TcpProbe {
            port: (n != serving).then_some(n),
        });
        if n != serving {
            off = Some(n);
        }
        cx.why(i, format!("{path}.host"), "kubelet probes the pod IP here");
    } else if let Some(e) = &p.exec {
        let path = format!("{pp}.exec.command");
        let command = e.command.clone().unwrap_or_default();
        if command.first().is_none_or(String::is_empty) {
            return Err(o.bad(&path, "expected a command with a program to run"));
        }
        cx.used(i, path);
        note = Some(
            "exec runs on this host in the pod's netns (not in the customer's image): the program must exist here".to_owned(),
        );
        out.exec = Some(ExecProbe { command });
    } else if p.grpc.is_some() {
        cx.why(
            i,
            pp.to_owned(),
            "a gRPC probe: svclab's kubelet probes over TCP, HTTP or exec only; the pod runs without this probe (Kubernetes: always passing)",
        );
        return Ok(None);
    } else {
        return Err(o.bad(pp, "expected one handler: httpGet, tcpSocket, exec or grpc"));
    }
    let fields: [(&str, Option<i32>); 5] = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("periodSeconds", p.period_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    let liveness_or_startup = !pp.ends_with("readinessProbe");
    for (key, v) in fields {
        let Some(v) = v else { continue };
        let path = format!("{pp}.{key}");
        let n = u32::try_from(v)
            .map_err(|_| o.bad(&path, format!("expected an integer >= 0, got {v}")))?;
        cx.used(i, path.clone());
        // Kubernetes' SetDefaults_Probe: 0 in these four is "not set".
        let default = match key {
            "periodSeconds" => 10,
            "timeoutSeconds" | "successThreshold" => 1,
            "failureThreshold" => 3,
            _ => 0,
        };
        let n = if n == 0 { default } else { n };
        if key == "successThreshold" && liveness_or_startup && n != 1 {
            return Err(o.bad(
                &path,
                format!("must be 1 for liveness and startup probes (Kubernetes rejects it otherwise), got {n}"),
            ));
        }
        // svclab's limits (suite validation): a larger value Kubernetes
        // accepts is capped, with a warning naming the original.
        let (max, limit) = match key {
            "initialDelaySeconds" => (3600, "svclab's initial_delay is at most 1h"),
            "timeoutSeconds" => (60, "svclab's probe timeout is at most 60s"),
            "failureThreshold" => (1000, "svclab's failure_threshold is at most 1000"),
            _ => (u32::MAX, ""),
        };
        let n = if n > max {
            cx.warn(i, path.clone(), format!("{v} is capped at {max}: {limit}"));
            max
        } else {
            n
        };
        match key {
            "initialDelaySeconds" => out.initial_delay = Dur::from_secs(n.into()),
            "periodSeconds" => out.period = Dur::from_secs(n.into()),
            "timeoutSeconds" => out.timeout = Dur::from_secs(n.into()),
            "successThreshold" => out.success_threshold = n,
            _ => out.failure_threshold = n,
        }
    }
    cx.why(
        i,
        format!("{pp}.terminationGracePeriodSeconds"),
        "a probe-level grace is not modelled: the pod's termination_grace applies",
    );
    Ok(Some((out, off, note)))
}

/// A probe's or hook's request path: absent is `/`, as kubelet sends it;
/// one kubelet could not put on the request line is bad input.
fn request_path(o: &Object, path: &str, v: Option<&str>) -> Result<String, ImportError> {
    let p = v.filter(|p| !p.is_empty()).unwrap_or("/");
    let p = if p.starts_with('/') {
        p.to_owned()
    } else {
        // kubelet joins the path onto the URL with a `/`.
        format!("/{p}")
    };
    if p.len() > 1024 || p.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err(o.bad(
            path,
            "expected a request path of at most 1024 bytes without whitespace or control characters",
        ));
    }
    Ok(p)
}

/// HTTP headers; a name that is not an HTTP token or a value with CR, LF
/// or NUL is bad input (the apiserver rejects such a name).
fn headers(
    cx: &mut Context,
    o: &Object,
    path: &str,
    h: Option<&Vec<HTTPHeader>>,
) -> Result<Vec<HttpHeader>, ImportError> {
    cx.used(o.index, path.to_owned());
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let mut out = Vec::new();
    for (j, h) in h.into_iter().flatten().enumerate() {
        if !token(&h.name) {
            return Err(o.bad(
                &format!("{path}[{j}].name"),
                format!(
                    "expected an HTTP header name (token characters), got {:?}",
                    h.name
                ),
            ));
        }
        if h.value.contains(['\r', '\n', '\0']) {
            return Err(o.bad(
                &format!("{path}[{j}].value"),
                "expected a header value without CR, LF or NUL",
            ));
        }
        out.push(HttpHeader {
            name: h.name.clone(),
            value: h.value.clone(),
        });
    }
    Ok(out)
}

/// The container's preStop hook.
pub(crate) fn lifecycle(
    cx: &mut Context,
    o: &Object,
    c: &Container,
    cp: &str,
    serving: u16,
) -> Result<model::Lifecycle, ImportError> {
    let i = o.index;
    let Some(l) = &c.lifecycle else {
        return Ok(model::Lifecycle::default());
    };
    let lp = format!("{cp}.lifecycle");
    cx.why(
        i,
        format!("{lp}.postStart"),
        "postStart hooks are not modelled",
    );
    cx.why(
        i,
        format!("{lp}.stopSignal"),
        "svclab's kubelet always sends SIGTERM",
    );
    let Some(h) = &l.pre_stop else {
        return Ok(model::Lifecycle::default());
    };
    let hp = format!("{lp}.preStop");
    let LifecycleHandler {
        exec,
        http_get,
        sleep,
        tcp_socket,
    } = h;
    let mut pre = PreStop {
        exec: None,
        http_get: None,
        sleep: None,
    };
    if let Some(e) = exec {
        let command = e.command.clone().unwrap_or_default();
        if command.first().is_none_or(String::is_empty) {
            return Err(o.bad(
                &format!("{hp}.exec.command"),
                "expected a command with a program to run",
            ));
        }
        cx.used(i, format!("{hp}.exec.command"));
        pre.exec = Some(ExecProbe { command });
    } else if let Some(g) = http_get {
        let port = resolve_port(o, &format!("{hp}.httpGet.port"), c, &g.port)?;
        cx.used(i, format!("{hp}.httpGet.port"));
        cx.used(i, format!("{hp}.httpGet.path"));
        pre.http_get = Some(HttpGetAction {
            path: request_path(o, &format!("{hp}.httpGet.path"), g.path.as_deref())?,
            port: (port != serving).then_some(port),
            headers: headers(
                cx,
                o,
                &format!("{hp}.httpGet.httpHeaders"),
                g.http_headers.as_ref(),
            )?,
        });
        cx.why(
            i,
            format!("{hp}.httpGet.host"),
            "the hook GETs the pod IP here",
        );
        cx.why(
            i,
            format!("{hp}.httpGet.scheme"),
            "svclab's pod server speaks plain HTTP",
        );
    } else if let Some(s) = sleep {
        let secs = u64::try_from(s.seconds)
            .map_err(|_| o.bad(&format!("{hp}.sleep.seconds"), "expected seconds >= 0"))?;
        cx.used(i, format!("{hp}.sleep.seconds"));
        pre.sleep = Some(Dur::from_secs(secs));
    } else if tcp_socket.is_some() {
        cx.why(
            i,
            format!("{hp}.tcpSocket"),
            "a tcpSocket preStop hook is deprecated and not modelled",
        );
        return Ok(model::Lifecycle::default());
    } else {
        return Err(o.bad(&hp, "expected one handler: exec, httpGet or sleep"));
    }
    Ok(model::Lifecycle {
        pre_stop: Some(pre),
    })
}
