//! The suite's timeline → `timeline.sh`, a commented bash script: it
//! applies load.yaml at the run's 0s, then waits for each step's time and
//! runs its `kubectl` command (scale, delete pods, patch for a rollout).
//! Steps with no kubectl equivalent are comments saying what would do it:
//! a conntrack flush (the CNI's own tool), spikes (already in the k6
//! scenario), network faults (Chaos Mesh NetworkChaos, written out).
use std::fmt::Write as _;

use serde_json::json;
use svclab_suite::{
    Dur, Suite,
    model::{Action, Fault, PodTemplate},
};

use super::{
    Area, Notes, line,
    load::job_name,
    push_comment, shell_quote,
    workloads::{CONTAINER, container_command, pod_server_args},
};

/// The script's body (after the header).
pub(super) fn script(suite: &Suite, notes: &mut Notes) -> String {
    let mut out = String::new();
    out.push_str(PRELUDE);
    let mut steps: Vec<_> = suite.timeline.iter().collect();
    steps.sort_by_key(|e| e.at);
    for (i, e) in steps.into_iter().enumerate() {
        out.push('\n');
        step(suite, i, e.at, &e.action, notes, &mut out);
    }
    out.push('\n');
    comment(
        &mut out,
        &format!("{}: the run ends (the suite's duration).", suite.duration),
    );
    line(&mut out, format!("at {}", ms(suite.duration)));
    let logs: Vec<String> = suite
        .clients
        .iter()
        .map(|c| format!("kubectl logs job/{}", job_name(&c.name)))
        .collect();
    line(
        &mut out,
        format!(
            "echo {}",
            shell_quote(&format!("run over; k6's summaries: {}", logs.join("; ")))
        ),
    );
    out
}

const PRELUDE: &str = r#"
set -euo pipefail
cd "$(dirname "$0")"

start_ms=$(( $(date +%s%N) / 1000000 ))
# at MS: wait until MS milliseconds after the start.
at() {
  local wait=$(( start_ms + $1 - $(date +%s%N) / 1000000 ))
  if (( wait > 0 )); then
    sleep "$(( wait / 1000 )).$(printf '%03d' $(( wait % 1000 )))"
  fi
}

# 0s: the load starts: every client's k6 Job (each keeps its own start offset).
kubectl apply -f load.yaml
"#;

fn ms(d: Dur) -> u128 {
    d.0.as_millis()
}

fn comment(out: &mut String, text: &str) {
    push_comment(out, text, "#  ");
}

/// Lines that list the deployment's running pods, oldest first.
fn pods_oldest_first(deployment: &str) -> String {
    format!(
        "kubectl get pods -l app={deployment} --field-selector=status.phase=Running --sort-by=.metadata.creationTimestamp -o name"
    )
}

fn step(suite: &Suite, i: usize, at: Dur, action: &Action, notes: &mut Notes, out: &mut String) {
    let when = format!("{at}:");
    match action {
        Action::Scale {
            deployment,
            replicas,
        } => {
            let mut text = format!("{when} scale {deployment} to {replicas} replicas.");
            if suite
                .autoscalers
                .iter()
                .any(|a| &a.deployment == deployment)
            {
                text.push_str(" Its HPA will set the count again at its next sync.");
            }
            comment(out, &text);
            line(out, format!("at {}", ms(at)));
            line(
                out,
                format!("kubectl scale deployment/{deployment} --replicas={replicas}"),
            );
        }
        Action::Kill { deployment, count } => {
            comment(
                out,
                &format!(
                    "{when} kill {count} pod(s) of {deployment}, oldest first. svclab SIGKILLs them and the ReplicaSet replaces them (new names and IPs); the closest kubectl step is a forced delete: the pods leave the API (and the endpoints) at once, kubelet kills the containers with a minimal grace."
                ),
            );
            line(out, format!("at {}", ms(at)));
            line(
                out,
                format!(
                    "{} | head -n {count} | xargs -r kubectl delete --grace-period=0 --force --wait=false",
                    pods_oldest_first(deployment)
                ),
            );
        }
        Action::DeletePod { deployment, index } => {
            comment(
                out,
                &format!(
                    "{when} delete pod {index} of {deployment} gracefully (preStop, SIGTERM, its terminationGracePeriodSeconds); here the {}th oldest running pod.",
                    index + 1
                ),
            );
            line(out, format!("at {}", ms(at)));
            line(
                out,
                format!(
                    "{} | sed -n '{}p' | xargs -r kubectl delete --wait=false",
                    pods_oldest_first(deployment),
                    index + 1
                ),
            );
        }
        Action::FlushCt { node } => {
            let which = node.map_or_else(|| "every node".to_owned(), |n| format!("node {n}"));
            comment(
                out,
                &format!(
                    "{when} flush the service conntrack on {which}. No kubectl equivalent: on Cilium run `cilium bpf ct flush global` in the node's agent pod (kubectl -n kube-system exec <cilium pod> -- cilium bpf ct flush global); with kube-proxy, `conntrack -F` on the node."
                ),
            );
            notes.add(
                Area::Timeline,
                format!("timeline {at} flush_ct: no kubectl step; timeline.sh says what to run on the node."),
            );
        }
        Action::RestartClient { client, keep_ip } => {
            let mut text = format!(
                "{when} restart client {client}: its Job replaces the deleted pod (new pod, new IP, fresh source ports); the new k6 starts its scenario over."
            );
            if *keep_ip {
                text.push_str(" keep_ip (a container restart in the same pod) has no kubectl step; this replaces the pod.");
                notes.add(
                    Area::Timeline,
                    format!("timeline {at} restart_client {client} keep_ip: written as a pod replacement (new IP)."),
                );
            }
            comment(out, &text);
            line(out, format!("at {}", ms(at)));
            line(
                out,
                format!(
                    "kubectl delete pod -l app={} --wait=false",
                    job_name(client)
                ),
            );
        }
        Action::Rollout {
            deployment,
            template,
        } => {
            let patch = rollout_patch(template, i);
            if let Some(d) = suite.deployments.iter().find(|d| d.name == *deployment) {
                for why in unpatched(d, template) {
                    let text = format!(
                        "timeline {at} rollout {deployment}: {why}; the patch does not change the container's ports, Service targetPort or probes, so the new pods keep the deployment's."
                    );
                    comment(out, &text);
                    notes.add(Area::Timeline, text);
                }
            }
            comment(
                out,
                &format!(
                    "{when} roll {deployment} out to a new pod template (a new ReplicaSet, under the deployment's strategy)."
                ),
            );
            line(out, format!("at {}", ms(at)));
            line(
                out,
                format!(
                    "kubectl patch deployment/{deployment} --type=strategic -p {}",
                    shell_quote(&patch)
                ),
            );
        }
        Action::Spike {
            client,
            rate,
            duration,
        } => {
            let until = duration.map_or_else(|| "to the end".to_owned(), |d| format!("for {d}"));
            comment(
                out,
                &format!(
                    "{when} spike: client {client} sends {rate} req/s {until}. Nothing to run: it is a step of the k6 scenario in load.yaml ({}).",
                    job_name(client)
                ),
            );
        }
        Action::Fault(f) => fault(at, f, notes, out),
        Action::ClearFault(name) => {
            comment(
                out,
                &format!(
                    "{when} clear fault {name}. With Chaos Mesh: kubectl delete networkchaos {}",
                    chaos_name(name)
                ),
            );
        }
    }
}

/// A strategic merge patch giving the container the template's server or
/// program; the `svclab.io/rollout` annotation makes a new ReplicaSet even
/// when the container does not change. Switching between the pod server
/// and a program writes both `command` and `args` (explicit `null` deletes
/// a field in a strategic merge patch), so nothing of the other stays.
fn rollout_patch(template: &PodTemplate, i: usize) -> String {
    let mut container = json!({ "name": CONTAINER });
    if let Some(s) = &template.server {
        container["command"] = json!(["svclab"]);
        container["args"] = json!(pod_server_args(s));
        container["resources"] = json!({ "limits": { "cpu": super::quantity(s.cpus).0 } });
    }
    if let Some(c) = &template.container {
        let (command, env, _) = container_command(c, c.port);
        container["command"] = json!(command);
        container["args"] = serde_json::Value::Null;
        if !env.is_empty() {
            container["env"] = serde_json::to_value(env).unwrap_or_default();
        }
    }
    json!({
        "spec": { "template": {
            "metadata": { "annotations": { "svclab.io/rollout": format!("step-{i}") } },
            "spec": { "containers": [container] },
        } }
    })
    .to_string()
}

/// What a rollout's template changes that its patch does not: the
/// serving port and the health port.
fn unpatched(d: &svclab_suite::model::Deployment, template: &PodTemplate) -> Vec<String> {
    let mut out = Vec::new();
    let port = template
        .server
        .as_ref()
        .map(|s| s.port)
        .or_else(|| template.container.as_ref().map(|c| c.port));
    if let Some(p) = port
        && p != d.port()
    {
        out.push(format!(
            "the template's port {p} differs from the deployment's {}",
            d.port()
        ));
    }
    let was = match d.workload() {
        svclab_suite::model::Workload::PodServer(s) => s.health.as_ref().map(|h| h.port),
        _ => None,
    };
    let now = template
        .server
        .as_ref()
        .and_then(|s| s.health.as_ref().map(|h| h.port));
    if template.server.is_some() && was != now {
        let shown = |p: Option<u16>| p.map_or_else(|| "none".to_owned(), |p| p.to_string());
        out.push(format!(
            "the template's health port {} differs from the deployment's {}",
            shown(now),
            shown(was)
        ));
    }
    out
}

/// A Chaos Mesh object name from a fault's name (lowercase, `-` for `_`).
fn chaos_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// A fault as a commented Chaos Mesh NetworkChaos (pod and deployment
/// targets), or a comment saying what would do it.
fn fault(at: Dur, f: &Fault, notes: &mut Notes, out: &mut String) {
    let when = format!("{at}:");
    let lasts = f
        .duration
        .map_or_else(|| "until cleared".to_owned(), |d| format!("for {d}"));
    comment(
        out,
        &format!(
            "{when} fault {} ({}) on {} {lasts}. svclab injects it itself; with Chaos Mesh installed, uncomment:",
            f.name,
            f.kinds().join(", "),
            target_words(f)
        ),
    );
    notes.add(
        Area::Timeline,
        format!(
            "timeline {at} fault {}: written as a commented Chaos Mesh NetworkChaos (or a comment where Chaos Mesh has none).",
            f.name
        ),
    );
    let t = &f.target;
    let (mode, selector) = if let Some(pod) = &t.pod {
        let dep = pod.rsplit_once('-').map_or(pod.as_str(), |(d, _)| d);
        (
            format!("one        # svclab's pod {pod}: Chaos Mesh picks one of {dep}'s"),
            dep.to_owned(),
        )
    } else if let Some(dep) = &t.deployment {
        (
            t.pods.map_or_else(
                || "all".to_owned(),
                |n| format!("fixed\n#   value: \"{n}\""),
            ),
            dep.clone(),
        )
    } else {
        comment(
            out,
            "(none: NetworkChaos selects pods; a node or node-to-node fault is a PhysicalMachineChaos run by chaosd on the node, or tc netem there by hand)",
        );
        return;
    };
    let mut spec = String::new();
    let kind = if let Some(l) = &f.loss {
        let percent = l
            .percent
            .or_else(|| {
                l.burst
                    .as_ref()
                    .map(svclab_suite::model::BurstSpec::mean_loss)
            })
            .unwrap_or(0.0);
        let _ = write!(
            spec,
            "#   loss:\n#     loss: \"{percent}\"\n#     correlation: \"{}\"\n",
            l.correlation.unwrap_or(0.0)
        );
        if l.burst.is_some() {
            spec.push_str("#   # svclab's burst (Gilbert-Elliott) model as its mean loss: Chaos Mesh has no gemodel\n");
        }
        "loss"
    } else if let Some(d) = &f.delay {
        let _ = write!(
            spec,
            "#   delay:\n#     latency: \"{}\"\n#     jitter: \"{}\"\n#     correlation: \"0\"\n",
            d.time,
            d.jitter.unwrap_or_default()
        );
        "delay"
    } else if let Some(b) = &f.bandwidth {
        let _ = write!(
            spec,
            "#   bandwidth:\n#     rate: \"{}\"\n#     limit: 10000\n#     buffer: {}\n",
            b.rate,
            b.burst
                .as_deref()
                .and_then(|s| svclab_suite::model::parse_size(s).ok())
                .unwrap_or(16 * 1024)
        );
        "bandwidth"
    } else if f.blackhole {
        spec.push_str("#   loss:\n#     loss: \"100\"\n");
        "loss"
    } else {
        comment(
            out,
            "(none: Chaos Mesh has no action that resets TCP connections; `ss -K` in the pod's netns on its node does, or a service mesh's abort fault)",
        );
        return;
    };
    if t.service.is_some() {
        spec.push_str("#   # svclab narrows it to one service's traffic: add a target selecting that service's clients\n");
    }
    let direction = match f.direction {
        svclab_suite::model::Direction::Both => "both",
        svclab_suite::model::Direction::From => "to",
        svclab_suite::model::Direction::To => "from",
    };
    let duration = f
        .duration
        .map(|d| format!("#   duration: \"{d}\"\n"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "# kubectl apply -f - <<'EOF'\n\
         # apiVersion: chaos-mesh.org/v1alpha1\n\
         # kind: NetworkChaos\n\
         # metadata:\n\
         #   name: {name}\n\
         # spec:\n\
         #   action: {kind}\n\
         #   mode: {mode}\n\
         #   selector:\n\
         #     labelSelectors:\n\
         #       app: {selector}\n\
         #   direction: {direction}   # Chaos Mesh's `to` is the pods' egress (svclab's `from`); `from`/`both` want a target\n\
         {duration}{spec}# EOF\n",
        name = chaos_name(&f.name),
    );
}

fn target_words(f: &Fault) -> String {
    let t = &f.target;
    if let Some(p) = &t.pod {
        t.service.as_ref().map_or_else(
            || format!("pod {p}"),
            |s| format!("pod {p} (service {s}'s traffic)"),
        )
    } else if let Some(d) = &t.deployment {
        t.pods.map_or_else(
            || format!("deployment {d}"),
            |n| format!("{n} pod(s) of deployment {d}"),
        )
    } else if let Some(n) = t.node {
        format!("node {n}")
    } else if let Some([a, b]) = t.path {
        format!("the path between nodes {a} and {b}")
    } else {
        "nothing".to_owned()
    }
}
