//! Suite → Kubernetes manifests (`svclab export`): the suite's deployments,
//! services and autoscalers as the API's own objects (k8s-openapi, Kubernetes
//! v1.33), its clients as k6 Jobs and its timeline as a commented
//! `kubectl` script, so a customer can replay an incident on a real cluster.
//!
//! What has no Kubernetes equivalent (the simulated datapath, kubelet's time
//! scale, the verdict's expectations, ...) is never dropped silently: it
//! becomes a note, in [`Exported::notes`] and in the header comment of the
//! file it concerns. Each stage of the output has its own file under
//! `export/`: workloads (Deployments), services (Services and HPAs), load
//! (Jobs) and timeline (the script).
mod load;
mod services;
mod timeline;
mod workloads;

use std::fmt::Write as _;

use serde::Serialize;
use svclab_suite::{Dur, Suite};

/// The Kubernetes release whose API the objects are written in (the
/// `k8s-openapi` feature this crate builds with).
pub const KUBERNETES_VERSION: &str = "v1.33";

/// The label every exported pod carries with its deployment's (or
/// client's) name; services and the timeline select pods by it.
pub const APP_LABEL: &str = "app";

/// The image tag of every image svclab cannot name (its own pod server,
/// an arbitrary `container` program): `grep PLACEHOLDER` finds them all.
pub const PLACEHOLDER: &str = "PLACEHOLDER";

/// The load generator's image: k6's constant/ramping arrival-rate executors
/// are an open loop with a bound on requests in flight, as svclab's clients.
pub const K6_IMAGE: &str = "grafana/k6:1.0.0";

/// What `svclab export` writes: files (name, text) and the notes on what
/// did not become a Kubernetes object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// `deployments.yaml`, `services.yaml`, `autoscalers.yaml` (when the
    /// suite has autoscalers), `load.yaml`, `timeline.sh`, `NOTES.txt`, in
    /// that order.
    pub files: Vec<ExportedFile>,
    /// Everything of the suite that has no Kubernetes equivalent or was
    /// approximated, one sentence each.
    pub notes: Vec<String>,
}

/// One output file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportedFile {
    /// The file name, without a folder.
    pub name: String,
    /// Its text: multi-document YAML for the manifests, bash for the timeline.
    pub text: String,
}

impl Exported {
    /// The file of this name.
    #[must_use]
    pub fn file(&self, name: &str) -> Option<&ExportedFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Why a suite could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A reference the suite's validation should have refused.
    #[error("{field}: {name:?} names no {what} of the suite (validate the suite first)")]
    Dangling {
        field: String,
        name: String,
        what: &'static str,
    },
    /// An object that would not serialize (a bug).
    #[error("writing {file}: {source}")]
    Yaml {
        file: &'static str,
        #[source]
        source: serde_yaml::Error,
    },
    /// A value serde_json refused (a bug).
    #[error("writing {file}: {source}")]
    Json {
        file: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Which output a note concerns; [`Area::Suite`] notes head every file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Area {
    Suite,
    Deployments,
    Services,
    Autoscalers,
    Load,
    Timeline,
}

/// Notes gathered while exporting, by the file they concern.
#[derive(Debug, Default)]
struct Notes(Vec<(Area, String)>);

impl Notes {
    fn add(&mut self, area: Area, note: impl Into<String>) {
        self.0.push((area, note.into()));
    }

    /// The header comment of a file of `area`: its notes and the suite's.
    fn header(&self, suite: &Suite, area: Area, what: &str) -> String {
        let mut out = format!(
            "# {what}\n# Exported by `svclab export` from suite {} (Kubernetes {KUBERNETES_VERSION} API).\n",
            suite.name
        );
        let mine: Vec<&str> = self
            .0
            .iter()
            .filter(|(a, _)| *a == area || *a == Area::Suite)
            .map(|(_, n)| n.as_str())
            .collect();
        if !mine.is_empty() {
            out.push_str("#\n# Not exported as is (see NOTES.txt for all notes):\n");
            for n in mine {
                push_comment(&mut out, &format!("- {n}"), "#  ");
            }
        }
        out
    }
}

/// Appends `text` as `#` comment lines wrapped near 78 columns; lines
/// after the first start with `cont` (then a space).
fn push_comment(out: &mut String, text: &str, cont: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 78 && line.len() > cont.len() {
            out.push_str(&line);
            out.push('\n');
            line = cont.to_owned();
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// Exports `suite` (validated: `svclab_suite::load` or `parse`) as
/// Kubernetes manifests, a load Job per client and a timeline script.
pub fn export(suite: &Suite) -> Result<Exported, ExportError> {
    let mut notes = Notes::default();
    suite_notes(suite, &mut notes);
    let deployments = workloads::deployments(suite, &mut notes)?;
    let services = services::services(suite, &mut notes)?;
    let autoscalers = services::autoscalers(suite, &mut notes)?;
    let load = load::clients(suite, &mut notes)?;
    let script = timeline::script(suite, &mut notes);

    let mut files = Vec::new();
    let mut yaml_file = |name: &'static str, area: Area, what: &str, docs: Vec<String>| {
        let mut text = notes.header(suite, area, what);
        for doc in docs {
            text.push_str("---\n");
            text.push_str(&doc);
        }
        files.push(ExportedFile {
            name: name.to_owned(),
            text,
        });
    };
    yaml_file(
        "deployments.yaml",
        Area::Deployments,
        "The suite's deployments (and nginx configs): `kubectl apply -f deployments.yaml`.",
        deployments,
    );
    yaml_file(
        "services.yaml",
        Area::Services,
        "The suite's services: `kubectl apply -f services.yaml`.",
        services,
    );
    if !autoscalers.is_empty() {
        yaml_file(
            "autoscalers.yaml",
            Area::Autoscalers,
            "The suite's HorizontalPodAutoscalers: `kubectl apply -f autoscalers.yaml`.",
            autoscalers,
        );
    }
    yaml_file(
        "load.yaml",
        Area::Load,
        "The suite's clients as k6 Jobs; timeline.sh applies this file at the run's 0s.",
        load,
    );
    let mut sh = String::from("#!/usr/bin/env bash\n");
    sh.push_str(&notes.header(
        suite,
        Area::Timeline,
        "The suite's timeline as kubectl steps at the suite's times.",
    ));
    sh.push_str(&script);
    files.push(ExportedFile {
        name: "timeline.sh".to_owned(),
        text: sh,
    });
    let all: Vec<String> = notes.0.iter().map(|(_, n)| n.clone()).collect();
    let mut text = format!(
        "svclab export of suite {} (Kubernetes {KUBERNETES_VERSION} API)\n\n\
         Apply deployments.yaml, services.yaml{} and wait for the rollout;\n\
         then run timeline.sh, which starts the load (load.yaml) and replays\n\
         the timeline. Images tagged {PLACEHOLDER} must be replaced first.\n\n\
         What the export could not carry over, or approximated:\n",
        suite.name,
        if suite.autoscalers.is_empty() {
            ""
        } else {
            ", autoscalers.yaml"
        },
    );
    for n in &all {
        let mut c = String::new();
        push_comment(&mut c, &format!("- {n}"), "#  ");
        text.push_str(&c.replace("\n#   ", "\n  ").replacen("# ", "", 1));
    }
    files.push(ExportedFile {
        name: "NOTES.txt".to_owned(),
        text,
    });
    Ok(Exported { files, notes: all })
}

/// Notes on suite sections that are about svclab's simulated cluster, not
/// objects.
fn suite_notes(suite: &Suite, notes: &mut Notes) {
    let dp = &suite.datapath;
    let profile = serde_json::to_value(dp.profile)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    notes.add(
        Area::Suite,
        format!(
            "datapath (engine {}, profile {profile}, and its conntrack settings): svclab simulates the service datapath; on a real cluster the CNI (Cilium, kube-proxy) and its version decide it.",
            dp.engine.name()
        ),
    );
    if (suite.kubelet.time_scale - 1.0).abs() > f64::EPSILON {
        notes.add(
            Area::Suite,
            format!(
                "kubelet.time_scale {}: svclab runs kubelet's and the HPA's clocks that much faster; the manifests keep the suite's probe, grace and HPA times as written (unscaled), so on a real cluster they run slower against the load and the timeline than in svclab.",
                suite.kubelet.time_scale
            ),
        );
    }
    if suite.endpoints.propagation_delay != Dur::from_millis(100) {
        notes.add(
            Area::Suite,
            format!(
                "endpoints.propagation_delay {}: the lag from a pod change to the datapath is the cluster's (EndpointSlice controller and agent), not a setting.",
                suite.endpoints.propagation_delay
            ),
        );
    }
    let cluster = &suite.cluster;
    if cluster.nodes > 1 || !cluster.zones.is_empty() {
        notes.add(
            Area::Suite,
            format!(
                "cluster: {} simulated node(s){}; a real cluster has its own nodes (label them topology.kubernetes.io/zone for zones).",
                cluster.nodes,
                if cluster.zones.is_empty() {
                    String::new()
                } else {
                    format!(" in zones {}", cluster.zones.join(", "))
                }
            ),
        );
    }
    if cluster.node_monitor_grace_period != Dur::from_millis(40_000) {
        notes.add(
            Area::Suite,
            format!(
                "cluster.node_monitor_grace_period {}: kube-controller-manager's --node-monitor-grace-period, a flag of the control plane.",
                cluster.node_monitor_grace_period
            ),
        );
    }
    if !suite.expect.is_empty() {
        let mut metrics: Vec<&str> = suite.expect.iter().map(|e| e.metric.as_str()).collect();
        metrics.dedup();
        notes.add(
            Area::Suite,
            format!(
                "expect ({}): svclab's verdict on its own measurements; check them against the k6 summary and your monitoring.",
                metrics.join(", ")
            ),
        );
    }
    if let Some(m) = &suite.matrix {
        notes.add(
            Area::Suite,
            format!(
                "matrix ({}): `svclab compare` runs the suite under several datapaths; a real cluster has one.",
                m.engines.join(", ")
            ),
        );
    }
    if !suite.regression.is_empty() {
        notes.add(
            Area::Suite,
            "regression: thresholds of svclab's nightly runs, not exported.",
        );
    }
}

/// One object as a YAML document.
fn to_yaml<T: Serialize>(file: &'static str, object: &T) -> Result<String, ExportError> {
    serde_yaml::to_string(object).map_err(|source| ExportError::Yaml { file, source })
}

/// `d` in whole seconds, rounded up (a Kubernetes field takes seconds); a
/// note says when that changed the value.
fn whole_secs(d: Dur, field: &str, area: Area, notes: &mut Notes) -> i64 {
    let ms = d.0.as_millis();
    let secs = ms.div_ceil(1000);
    if !ms.is_multiple_of(1000) {
        notes.add(
            area,
            format!("{field} {d}: Kubernetes takes whole seconds; written as {secs}s."),
        );
    }
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// [`whole_secs`] for an `i32` field, at least `min`.
fn secs_i32(d: Dur, field: &str, min: i32, area: Area, notes: &mut Notes) -> i32 {
    let s = i32::try_from(whole_secs(d, field, area, notes)).unwrap_or(i32::MAX);
    if s < min {
        notes.add(
            area,
            format!("{field} {d}: Kubernetes' minimum is {min}s; written as {min}s."),
        );
        return min;
    }
    s
}

/// A Kubernetes quantity for a non-negative number: `2`, `1500m`.
fn quantity(v: f64) -> k8s_openapi::apimachinery::pkg::api::resource::Quantity {
    let milli = (v * 1000.0).round().max(0.0) as u64;
    k8s_openapi::apimachinery::pkg::api::resource::Quantity(if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    })
}

/// `text` as one shell word in single quotes.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The labels of a deployment's (or client's) pods.
fn app_labels(name: &str) -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([(APP_LABEL.to_owned(), name.to_owned())])
}

/// Appends `line` and a newline.
fn line(out: &mut String, line: impl AsRef<str>) {
    let _ = writeln!(out, "{}", line.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_whole_or_milli() {
        assert_eq!(quantity(1.0).0, "1");
        assert_eq!(quantity(0.5).0, "500m");
        assert_eq!(quantity(12.25).0, "12250m");
    }

    #[test]
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn comments_wrap_and_indent() {
        let mut out = String::new();
        push_comment(&mut out, &format!("- {}", "word ".repeat(30)), "#  ");
        assert!(
            out.lines().all(|l| l.len() <= 78 && l.starts_with('#')),
            "{out}"
        );
        assert!(
            out.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("#   word"))
        );
    }
}
