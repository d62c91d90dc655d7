//! Deployments, StatefulSets and ReplicaSets → suite deployments: replicas,
//! strategy, minReadySeconds, the grace period, the serving container's
//! ports, probes (named ports resolved through the container's own ports),
//! preStop hook and CPU limit. The customer's image cannot run here: the
//! pod runs svclab's pod server on the same ports, or the `--command` the
//! user gave for that container.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, ReplicaSet, StatefulSet},
        core::v1::{Container, PodSpec, PodTemplateSpec},
    },
    apimachinery::pkg::util::intstr::IntOrString,
};
use svclab_suite::model::{
    self, ContainerSpec, Dur, HealthSpec, IntOrPercent, Probes, ServerSpec, Strategy, StrategyType,
};

use super::{
    context::Context,
    error::ImportError,
    probes::{lifecycle, probe},
    read::{Object, WorkloadKind},
};

/// A workload as read, before its serving port is known.
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    /// Index of its object.
    pub obj: usize,
    pub kind: WorkloadKind,
    /// Its suite name (a DNS label of at most 40 characters).
    pub name: String,
    /// The pod template's labels (what Service selectors match).
    pub labels: BTreeMap<String, String>,
    pub replicas: u32,
    pub strategy: Option<Strategy>,
    pub min_ready: Dur,
    pub pod: PodSpec,
    /// (container index, port) the first Service targets; set by
    /// `service::map`.
    pub serving: Option<(usize, u16)>,
}

const TEMPLATE: &str = "spec.template";
const POD: &str = "spec.template.spec";

/// Reads workload object `i`.
pub(crate) fn read(
    cx: &mut Context,
    i: usize,
    o: &Object,
    kind: WorkloadKind,
) -> Result<Workload, ImportError> {
    required(o)?;
    let (replicas, template, min_ready, strategy) = match kind {
        WorkloadKind::Deployment => {
            let d: Deployment = o.typed()?;
            let spec = d.spec.unwrap_or_default();
            let strategy = deployment_strategy(cx, i, o, spec.strategy)?;
            (
                spec.replicas,
                spec.template,
                spec.min_ready_seconds,
                strategy,
            )
        }
        WorkloadKind::StatefulSet => {
            let s: StatefulSet = o.typed()?;
            let spec = s.spec.unwrap_or_default();
            cx.note(format!(
                "{}: mapped as a deployment: a StatefulSet's ordinal identity (stable names, per-pod volumes, ordered start and update) is not modelled",
                o.origin
            ));
            for (path, why) in [
                (
                    "spec.serviceName",
                    "the governing headless Service gives pods stable DNS names, which svclab does not model",
                ),
                (
                    "spec.podManagementPolicy",
                    "svclab starts and replaces pods in parallel, as `Parallel` does",
                ),
                (
                    "spec.updateStrategy",
                    "a StatefulSet updates one ordinal at a time; svclab's `rollout` follows a Deployment's strategy",
                ),
                ("spec.volumeClaimTemplates", "svclab's pods have no volumes"),
                (
                    "spec.persistentVolumeClaimRetentionPolicy",
                    "svclab's pods have no volumes",
                ),
                ("spec.ordinals", "ordinal identity is not modelled"),
            ] {
                cx.why(i, path, why);
            }
            (spec.replicas, spec.template, spec.min_ready_seconds, None)
        }
        WorkloadKind::ReplicaSet => {
            let r: ReplicaSet = o.typed()?;
            let spec = r.spec.unwrap_or_default();
            cx.note(format!(
                "{}: mapped as a deployment (a ReplicaSet has no strategy: the deployment keeps the default RollingUpdate 25%/25%)",
                o.origin
            ));
            let Some(template) = spec.template else {
                return Err(o.bad(TEMPLATE, "missing; expected the pod template"));
            };
            (spec.replicas, template, spec.min_ready_seconds, None)
        }
    };
    cx.used(i, "spec.selector");
    let replicas = match replicas {
        Some(n) => {
            cx.used(i, "spec.replicas");
            u32::try_from(n)
                .ok()
                .filter(|n| *n <= svclab_suite::MAX_REPLICAS_N)
                .ok_or_else(|| o.bad("spec.replicas", format!("expected 0..=2000, got {n}")))?
        }
        None => {
            cx.note(format!(
                "{}: spec.replicas is not set; Kubernetes' default 1 is used (an HPA, if any, moves it into its range)",
                o.origin
            ));
            1
        }
    };
    let min_ready = seconds(cx, i, o, "spec.minReadySeconds", min_ready.map(i64::from))?.map(|d| {
        cap(
            cx,
            i,
            "spec.minReadySeconds",
            d,
            MAX_SECONDS_10M,
            "min_ready_seconds",
        )
    });
    let PodTemplateSpec { metadata, spec } = template;
    let labels = metadata.and_then(|m| m.labels).unwrap_or_default();
    cx.used(i, format!("{TEMPLATE}.metadata.labels"));
    let Some(pod) = spec else {
        return Err(o.bad(POD, "missing; expected the pod spec with its containers"));
    };
    if pod.containers.is_empty() {
        return Err(o.bad(
            &format!("{POD}.containers"),
            "expected at least one container",
        ));
    }
    Ok(Workload {
        obj: i,
        kind,
        name: label_name(&o.origin.name),
        labels,
        replicas,
        strategy,
        min_ready: min_ready.unwrap_or_default(),
        pod,
        serving: None,
    })
}

/// The required fields of the pod template's containers that
/// k8s-openapi would fill with a default: each container's `name`, each
/// port's `containerPort`, each probe's and hook's handler port.
fn required(o: &Object) -> Result<(), ImportError> {
    let Some(containers) = o
        .raw
        .pointer("/spec/template/spec/containers")
        .and_then(serde_json::Value::as_array)
    else {
        return Ok(());
    };
    for (k, c) in containers.iter().enumerate() {
        let cp = format!("{POD}.containers[{k}]");
        let ptr = format!("/spec/template/spec/containers/{k}");
        o.require(&ptr, &cp, &["name"])?;
        let ports = c.get("ports").and_then(serde_json::Value::as_array);
        for j in 0..ports.map_or(0, Vec::len) {
            o.require(
                &format!("{ptr}/ports/{j}"),
                &format!("{cp}.ports[{j}]"),
                &["containerPort"],
            )?;
        }
        let handlers = [
            ("startupProbe", "startupProbe"),
            ("readinessProbe", "readinessProbe"),
            ("livenessProbe", "livenessProbe"),
            ("lifecycle/preStop", "lifecycle.preStop"),
            ("lifecycle/postStart", "lifecycle.postStart"),
        ];
        for (hp, shown) in handlers {
            for action in ["httpGet", "tcpSocket", "grpc"] {
                let at = format!("{ptr}/{hp}/{action}");
                if o.raw.pointer(&at).is_some_and(|v| !v.is_null()) {
                    o.require(&at, &format!("{cp}.{shown}.{action}"), &["port"])?;
                }
            }
        }
    }
    Ok(())
}

fn deployment_strategy(
    cx: &mut Context,
    i: usize,
    o: &Object,
    s: Option<k8s_openapi::api::apps::v1::DeploymentStrategy>,
) -> Result<Option<Strategy>, ImportError> {
    let Some(s) = s else { return Ok(None) };
    let mut out = Strategy::default();
    match s.type_.as_deref() {
        Some("Recreate") => out.kind = StrategyType::Recreate,
        Some("RollingUpdate") | None => {}
        Some(other) => {
            return Err(o.bad(
                "spec.strategy.type",
                format!("expected RollingUpdate or Recreate, got {other:?}"),
            ));
        }
    }
    cx.used(i, "spec.strategy.type");
    if out.kind == StrategyType::Recreate && s.rolling_update.is_some() {
        return Err(o.bad(
            "spec.strategy.rollingUpdate",
            "may not be specified when strategy type is Recreate (Kubernetes rejects it); expected no rollingUpdate, or type RollingUpdate",
        ));
    }
    if let Some(r) = s.rolling_update {
        for (key, v, slot) in [
            ("maxSurge", r.max_surge, &mut out.max_surge),
            (
                "maxUnavailable",
                r.max_unavailable,
                &mut out.max_unavailable,
            ),
        ] {
            let path = format!("spec.strategy.rollingUpdate.{key}");
            match v {
                Some(IntOrString::Int(n)) => {
                    let n = u32::try_from(n).map_err(|_| {
                        o.bad(
                            &path,
                            format!("expected a count >= 0 or a percentage, got {n}"),
                        )
                    })?;
                    *slot = IntOrPercent::Count(if n > MAX_COUNT {
                        cx.warn(
                            i,
                            path.clone(),
                            format!("{n} is capped at {MAX_COUNT}: svclab's rollout counts are at most {MAX_COUNT} pods"),
                        );
                        MAX_COUNT
                    } else {
                        n
                    });
                }
                Some(IntOrString::String(t)) => {
                    let pct = t
                        .strip_suffix('%')
                        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|d| d.parse::<u64>().ok())
                        .ok_or_else(|| {
                            o.bad(
                                &path,
                                format!(
                                    "expected a count >= 0 or a percentage like \"25%\", got {t:?}"
                                ),
                            )
                        })?;
                    if pct > 100 && key == "maxUnavailable" {
                        return Err(o.bad(
                            &path,
                            format!("expected a percentage of at most 100% (Kubernetes rejects more), got {t:?}"),
                        ));
                    }
                    *slot = IntOrPercent::Percent(if pct > 100 {
                        cx.warn(
                            i,
                            path.clone(),
                            format!("{t:?} is capped at \"100%\": svclab's rollout percentages are at most 100%"),
                        );
                        "100%".to_owned()
                    } else {
                        format!("{pct}%")
                    });
                }
                None => {}
            }
            cx.used(i, path);
        }
    }
    if out.kind == StrategyType::RollingUpdate
        && out.max_surge.is_zero()
        && out.max_unavailable.is_zero()
    {
        return Err(o.bad(
            "spec.strategy.rollingUpdate.maxUnavailable",
            "may not be 0 when maxSurge is 0 (Kubernetes rejects it: the rollout could never replace a pod); expected a count or percentage above 0 in one of them",
        ));
    }
    Ok(Some(out))
}

/// svclab's largest rollout count (suite validation of max_surge and
/// max_unavailable).
const MAX_COUNT: u32 = 200;

/// svclab's longest termination grace and minReadySeconds (10m).
pub(crate) const MAX_SECONDS_10M: u64 = 600;

/// `d` capped at `max` seconds, with a warning naming the original.
pub(crate) fn cap(cx: &mut Context, i: usize, path: &str, d: Dur, max: u64, what: &str) -> Dur {
    if d.0 > std::time::Duration::from_secs(max) {
        cx.warn(
            i,
            path.to_owned(),
            format!(
                "{}s is capped at {max}s: svclab's {what} is at most {max}s",
                d.0.as_secs()
            ),
        );
        Dur::from_secs(max)
    } else {
        d
    }
}

/// A `--command NAME=CMD`: the container name and the argv.
pub(crate) type Commands = BTreeMap<String, (String, Vec<String>)>;

pub(crate) fn parse_commands(args: &[String]) -> Result<Commands, ImportError> {
    let mut out = Commands::new();
    for arg in args {
        let bad = |message: &str| ImportError::Command {
            arg: arg.clone(),
            message: message.to_owned(),
        };
        let (name, cmd) = arg.split_once('=').ok_or_else(|| {
            bad("expected NAME=COMMAND (a container name, `=`, the command line)")
        })?;
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if name.is_empty() || argv.is_empty() {
            return Err(bad(
                "expected NAME=COMMAND with a container name and a non-empty command",
            ));
        }
        if out.insert(name.to_owned(), (arg.clone(), argv)).is_some() {
            return Err(bad("this container already has a --command"));
        }
    }
    Ok(out)
}

/// A deployment for the suite, with the comments its fields carry.
#[derive(Clone, Debug)]
pub(crate) struct Mapped {
    pub model: model::Deployment,
    /// Comment lines above the item.
    pub head: Vec<String>,
    /// Trailing comments, keyed by the suite field (`replicas`,
    /// `server.port`, `probes.liveness`, ...).
    pub comments: BTreeMap<String, String>,
}

/// Makes the workloads' suite names unique (`web`, `web-2`, ...).
pub(crate) fn name_all(workloads: &mut [Workload]) {
    let mut names = std::collections::BTreeSet::new();
    for w in workloads {
        let stem = w.name.clone();
        let mut n = 2;
        while !names.insert(w.name.clone()) {
            w.name = format!("{}-{n}", stem.chars().take(37).collect::<String>());
            n += 1;
        }
    }
}

/// Builds every workload's suite deployment.
pub(crate) fn map(
    cx: &mut Context,
    objects: &[Object],
    workloads: &[Workload],
    commands: &Commands,
) -> Result<Vec<Mapped>, ImportError> {
    let mut claimed = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for w in workloads {
        out.push(one(cx, &objects[w.obj], w, commands, &mut claimed)?);
    }
    if let Some((name, (arg, _))) = commands.iter().find(|(n, _)| !claimed.contains(*n)) {
        let known: Vec<&str> = workloads
            .iter()
            .flat_map(|w| w.pod.containers.iter().map(|c| c.name.as_str()))
            .collect();
        return Err(ImportError::Command {
            arg: arg.clone(),
            message: format!(
                "no serving container named {name:?}; expected one of: {}",
                known.join(", ")
            ),
        });
    }
    Ok(out)
}

fn one(
    cx: &mut Context,
    o: &Object,
    w: &Workload,
    commands: &Commands,
    claimed: &mut std::collections::BTreeSet<String>,
) -> Result<Mapped, ImportError> {
    let i = w.obj;
    let mut head = vec![format!(
        "from {} {}, {} document {}{}",
        o.origin.kind,
        o.origin.name,
        o.origin.file,
        o.origin.doc,
        o.origin.item()
    )];
    let mut comments = BTreeMap::new();
    if w.name != o.origin.name {
        head.push(format!(
            "named {:?} in the manifest (suite names are DNS labels of at most 40 characters)",
            o.origin.name
        ));
    }
    // The serving container: the one the first Service targets, else the
    // first; its port: the targeted one, else its first declared port.
    let (ci, port) = match w.serving {
        Some(s) => s,
        None => {
            let c = &w.pod.containers[0];
            let first = c
                .ports
                .iter()
                .flatten()
                .find(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                .and_then(|p| u16::try_from(p.container_port).ok().filter(|p| *p > 0));
            if first.is_none() {
                cx.warn(
                    i,
                    format!("{POD}.containers[0].ports"),
                    "no TCP containerPort declared and no Service targets the pods: the pod server listens on 8080, svclab's default",
                );
            }
            (0, first.unwrap_or(8080))
        }
    };
    let c = &w.pod.containers[ci];
    let cp = format!("{POD}.containers[{ci}]");
    cx.used(i, format!("{cp}.name"));
    cx.used(i, format!("{cp}.image"));
    if let Some(image) = &c.image {
        head.push(format!(
            "container {}: image {image} does not run here; {}",
            c.name,
            if commands.contains_key(&c.name) {
                "the --command given for it runs in its place"
            } else {
                "svclab's pod server serves its port and probe endpoints"
            }
        ));
    }
    for (key, why) in [
        ("command", "the customer's image does not run here"),
        ("args", "the customer's image does not run here"),
        ("env", "the customer's image does not run here"),
        ("envFrom", "the customer's image does not run here"),
        ("workingDir", "the customer's image does not run here"),
    ] {
        cx.why(i, format!("{cp}.{key}"), why);
    }
    for (k, other) in w.pod.containers.iter().enumerate() {
        if k != ci {
            cx.why(
                i,
                format!("{POD}.containers[{k}]"),
                format!(
                    "container {:?} (image {}) is a second container: a suite pod runs one server, the serving container {:?}",
                    other.name,
                    other.image.as_deref().unwrap_or("none"),
                    c.name
                ),
            );
        }
    }
    cx.why(
        i,
        format!("{POD}.initContainers"),
        "init containers are not modelled: the pod's server starts at once",
    );
    let serving_port_name = port_name(c, port);
    let mut ports_comment = format!("containerPort {port}");
    if let Some(n) = &serving_port_name {
        ports_comment = format!("containerPort {n} ({port})");
    }
    for (j, p) in c.ports.iter().flatten().enumerate() {
        if u16::try_from(p.container_port).ok() == Some(port) {
            for key in ["containerPort", "name", "protocol"] {
                cx.used(i, format!("{cp}.ports[{j}].{key}"));
            }
        }
    }

    // Probes, on the serving container's ports.
    let mut probes = Probes::default();
    let mut health: Option<u16> = None;
    let mut probe_ports: Vec<u16> = Vec::new();
    for (kind, key) in [
        ("startup", "startupProbe"),
        ("readiness", "readinessProbe"),
        ("liveness", "livenessProbe"),
    ] {
        let p = match key {
            "startupProbe" => &c.startup_probe,
            "readinessProbe" => &c.readiness_probe,
            _ => &c.liveness_probe,
        };
        let Some(p) = p else { continue };
        let pp = format!("{cp}.{key}");
        let Some((probe, off_port, note)) = probe(cx, o, c, &pp, p, port)? else {
            continue;
        };
        if let Some(off) = off_port {
            probe_ports.push(off);
        }
        comments.insert(
            format!("probes.{kind}"),
            format!("from {}{pp}", o.origin.prefix),
        );
        if let Some(note) = note {
            comments.insert(format!("probes.{kind}.handler"), note);
        }
        match kind {
            "startup" => probes.startup = Some(probe),
            "readiness" => probes.readiness = Some(probe),
            _ => probes.liveness = Some(probe),
        }
    }
    let command = commands.get(&c.name);
    if let Some(first) = probe_ports.first().copied() {
        if command.is_none() {
            health = Some(first);
            comments.insert(
                "server.health".into(),
                format!(
                    "probes target containerPort {}: the pod server answers health checks there",
                    port_name(c, first)
                        .map_or_else(|| first.to_string(), |n| format!("{n} ({first})"))
                ),
            );
        }
        for (j, p) in c.ports.iter().flatten().enumerate() {
            if u16::try_from(p.container_port).ok() == Some(first) {
                for key in ["containerPort", "name", "protocol"] {
                    cx.used(i, format!("{cp}.ports[{j}].{key}"));
                }
            }
        }
        if probe_ports.iter().any(|p| *p != first) {
            cx.note(format!(
                "{}: probes target several ports other than the serving port; the pod server opens one health port ({first}), nothing listens on the others",
                o.origin
            ));
        }
    }
    if health.is_none() && command.is_none() && probe_ports.is_empty() {
        // No probe targets it, but a port named `health` is the pod
        // server's health listener (what export writes for server.health).
        for (j, p) in c.ports.iter().flatten().enumerate() {
            if p.name.as_deref() == Some("health")
                && let Some(n) = u16::try_from(p.container_port)
                    .ok()
                    .filter(|n| *n != 0 && *n != port)
            {
                health = Some(n);
                for key in ["containerPort", "name", "protocol"] {
                    cx.used(i, format!("{cp}.ports[{j}].{key}"));
                }
                comments.insert(
                    "server.health".into(),
                    format!("containerPort health ({n}): the pod server's health listener"),
                );
                break;
            }
        }
    }
    for (j, p) in c.ports.iter().flatten().enumerate() {
        let n = u16::try_from(p.container_port).ok();
        if n != Some(port) && n != health.or(probe_ports.first().copied()) {
            cx.why(
                i,
                format!("{cp}.ports[{j}]"),
                "the pod's server listens on the serving port (and one health port) only",
            );
        }
    }

    // Resources: only the CPU limit has a knob (the pod server's `cpus`).
    let mut server = ServerSpec {
        port,
        health: health.map(|port| HealthSpec { port, workers: 1 }),
        ..ServerSpec::default()
    };
    comments.insert("server.port".into(), ports_comment);
    let rp = format!("{cp}.resources");
    if let Some(r) = &c.resources {
        if let Some(q) = r.limits.as_ref().and_then(|l| l.get("cpu")) {
            let path = format!("{rp}.limits.cpu");
            let cores = cpu_cores(&q.0).ok_or_else(|| {
                o.bad(
                    &path,
                    format!("expected a CPU quantity like 500m or 2, got {:?}", q.0),
                )
            })?;
            if command.is_some() {
                cx.why(
                    i,
                    path,
                    "a --command program runs without svclab's CPU model",
                );
            } else {
                let clamped = cores.clamp(0.1, 64.0);
                server.cpus = clamped;
                cx.used(i, path.clone());
                let mut note = format!("resources.limits.cpu {:?}", q.0);
                if (clamped - cores).abs() > f64::EPSILON {
                    note.push_str(&format!(" = {cores} cores, clamped into 0.1..=64"));
                    cx.warn(
                        i,
                        path.clone(),
                        format!(
                            "{:?} = {cores} cores is clamped to {clamped}: svclab's server.cpus is 0.1..=64",
                            q.0
                        ),
                    );
                }
                note.push_str(": processor sharing for cpu_time");
                comments.insert("server.cpus".into(), note);
            }
        }
        cx.why(
            i,
            format!("{rp}.requests"),
            "requests only place pods on nodes (svclab places them round robin) and are the base of CPU utilization, which the HPA's busy-workers ratio stands in for",
        );
        for key in ["memory", "ephemeral-storage"] {
            cx.why(
                i,
                format!("{rp}.limits.{key}"),
                "svclab's pod server has no memory or storage model",
            );
        }
    }
    if command.is_some() {
        // `server` configures the pod server, which the container replaces.
        server = ServerSpec::default();
    }
    let container = command.map(|(_, argv)| {
        claimed.insert(c.name.clone());
        ContainerSpec {
            command: argv.clone(),
            env: BTreeMap::new(),
            port,
        }
    });
    if container.is_some() {
        comments.insert(
            "container".into(),
            format!(
                "--command {}=...: runs in the pod netns in place of the image",
                c.name
            ),
        );
    }

    let grace = seconds(
        cx,
        i,
        o,
        &format!("{POD}.terminationGracePeriodSeconds"),
        w.pod.termination_grace_period_seconds,
    )?;
    let grace_path = format!("{POD}.terminationGracePeriodSeconds");
    let asked_grace = grace.unwrap_or(Dur::from_secs(30));
    let grace = grace.map(|g| cap(cx, i, &grace_path, g, MAX_SECONDS_10M, "termination_grace"));
    let mut lifecycle = lifecycle(cx, o, c, &cp, port)?;
    if let Some(pre) = lifecycle.pre_stop.as_mut()
        && let Some(sleep) = pre.sleep
    {
        let sp = format!("{cp}.lifecycle.preStop.sleep.seconds");
        if sleep.0 > asked_grace.0 {
            return Err(o.bad(
                &sp,
                format!(
                    "{}s is longer than the pod's terminationGracePeriodSeconds {}s (Kubernetes rejects it); expected at most the grace",
                    sleep.0.as_secs(),
                    asked_grace.0.as_secs()
                ),
            ));
        }
        let g = grace.unwrap_or(Dur::from_secs(30));
        if sleep.0 > g.0 {
            cx.warn(
                i,
                sp,
                format!(
                    "{}s is capped at {}s, the capped termination grace: svclab's preStop sleep is at most the grace",
                    sleep.0.as_secs(),
                    g.0.as_secs()
                ),
            );
            pre.sleep = Some(g);
        }
    }
    let unreachable_toleration = tolerations(cx, i, &w.pod)?;
    if unreachable_toleration.is_some() {
        comments.insert(
            "unreachable_toleration".into(),
            "the node.kubernetes.io/unreachable NoExecute toleration's tolerationSeconds".into(),
        );
    }
    if grace.is_some() {
        comments.insert(
            "termination_grace".into(),
            "terminationGracePeriodSeconds".into(),
        );
    }
    for (key, why) in [
        (
            "affinity",
            "svclab places pods round robin over deployments[].nodes",
        ),
        (
            "nodeSelector",
            "svclab places pods round robin over deployments[].nodes",
        ),
        (
            "topologySpreadConstraints",
            "svclab places pods round robin over deployments[].nodes",
        ),
        ("volumes", "svclab's pods have no volumes"),
        ("serviceAccountName", "svclab's pods have no API access"),
        ("serviceAccount", "svclab's pods have no API access"),
        ("imagePullSecrets", "the customer's image does not run here"),
        ("priorityClassName", "svclab does not preempt"),
        (
            "hostNetwork",
            "svclab's pods have their own network namespace",
        ),
    ] {
        cx.why(i, format!("{POD}.{key}"), why);
    }
    let mut strategy = Strategy::default();
    if let Some(s) = &w.strategy {
        strategy = s.clone();
        comments.insert("strategy".into(), "spec.strategy".into());
    }
    if w.min_ready.0 > std::time::Duration::ZERO {
        comments.insert("min_ready_seconds".into(), "spec.minReadySeconds".into());
    }
    let model = model::Deployment {
        name: w.name.clone(),
        replicas: w.replicas,
        nodes: Vec::new(),
        server,
        container,
        nginx: None,
        probes,
        termination_grace: grace.unwrap_or(Dur::from_secs(30)),
        lifecycle,
        strategy,
        min_ready_seconds: w.min_ready,
        unreachable_toleration: unreachable_toleration.unwrap_or(Dur::from_secs(300)),
    };
    Ok(Mapped {
        model,
        head,
        comments,
    })
}

/// The `node.kubernetes.io/unreachable` NoExecute toleration's seconds
/// (deployments[].unreachable_toleration); every other toleration is
/// listed as not mapped.
fn tolerations(cx: &mut Context, i: usize, pod: &PodSpec) -> Result<Option<Dur>, ImportError> {
    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    let mut out = None;
    for (j, t) in pod.tolerations.iter().flatten().enumerate() {
        let tp = format!("{POD}.tolerations[{j}]");
        let effect_ok = matches!(t.effect.as_deref(), Some("NoExecute") | None | Some(""));
        let op_ok = matches!(t.operator.as_deref(), Some("Exists") | None | Some(""));
        if t.key.as_deref() == Some(UNREACHABLE) && effect_ok && op_ok && out.is_none() {
            match t.toleration_seconds {
                Some(n) => {
                    let secs = u64::try_from(n.max(0)).unwrap_or_default();
                    for key in ["key", "operator", "effect", "tolerationSeconds", "value"] {
                        cx.used(i, format!("{tp}.{key}"));
                    }
                    out = Some(cap(
                        cx,
                        i,
                        &format!("{tp}.tolerationSeconds"),
                        Dur::from_secs(secs),
                        3600,
                        "unreachable_toleration",
                    ));
                }
                None => cx.why(
                    i,
                    tp,
                    "tolerating an unreachable node forever has no knob: deployments[].unreachable_toleration is at most 1h",
                ),
            }
            continue;
        }
        cx.why(
            i,
            tp,
            "svclab places pods round robin over deployments[].nodes (only the node.kubernetes.io/unreachable NoExecute toleration is a knob: deployments[].unreachable_toleration)",
        );
    }
    Ok(out)
}

/// The name of container `c`'s port `port`, if it declares one.
fn port_name(c: &Container, port: u16) -> Option<String> {
    c.ports
        .iter()
        .flatten()
        .find(|p| u16::try_from(p.container_port).ok() == Some(port))
        .and_then(|p| p.name.clone())
}

/// Seconds as a duration; a negative value is bad input.
pub(crate) fn seconds(
    cx: &mut Context,
    i: usize,
    o: &Object,
    path: &str,
    v: Option<i64>,
) -> Result<Option<Dur>, ImportError> {
    let Some(v) = v else { return Ok(None) };
    let s = u64::try_from(v).map_err(|_| o.bad(path, format!("expected seconds >= 0, got {v}")))?;
    cx.used(i, path.to_owned());
    Ok(Some(Dur::from_secs(s)))
}

/// Kubernetes CPU quantity in cores: `500m` → 0.5, `2` → 2, `1.5` → 1.5.
pub(crate) fn cpu_cores(q: &str) -> Option<f64> {
    let q = q.trim();
    let (num, scale) = match q.strip_suffix('m') {
        Some(n) => (n, 1000.0),
        None => (q, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v / scale)
}

/// `name` as a suite name: a DNS label of at most 40 characters.
pub(crate) fn label_name(name: &str) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(40);
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() { "app".to_owned() } else { s }
}
