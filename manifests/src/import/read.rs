//! The input side of an import: files split into YAML (or JSON) documents,
//! `List` kinds into their items, and each object's kind decided from its
//! `apiVersion` and `kind` before it is typed with k8s-openapi.
//!
//! Decision on kinds: what svclab maps (Deployment, StatefulSet,
//! ReplicaSet, Service, HorizontalPodAutoscaler, PodDisruptionBudget) is
//! read; any other kind of a built-in API group that the group really has
//! (ConfigMap, Ingress, Role, ...; a sysdump holds dozens) and any custom
//! resource (a group outside Kubernetes' own, `cilium.io/v2`) is listed as
//! not mapped; a kind a built-in group does not have (`apps/v1
//! Deploymnet`) or an object without `apiVersion`/`kind` is bad input.
use std::path::Path;

use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::error::{ImportError, Origin};

/// Which stage reads an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkloadKind {
    Deployment,
    StatefulSet,
    ReplicaSet,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Workload(WorkloadKind),
    Service,
    /// autoscaling/v2 (v1 and v2beta2 are rewritten to v2's shape).
    Hpa,
    Pdb,
    /// Not mapped, and why.
    Skip(&'static str),
}

/// One Kubernetes object of the input.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    /// Its index among every object of the input (set by `import`).
    pub index: usize,
    pub origin: Origin,
    pub kind: Kind,
    /// The object as read (a List item on its own).
    pub raw: Value,
    /// An autoscaling/v1 HPA whose `targetCPUUtilizationPercentage` is
    /// `spec.metrics[0]` of `raw`: what concerns that metric names the v1
    /// field.
    pub v1_cpu: bool,
}

impl Object {
    /// Bad input at `path` (relative to the object).
    pub(crate) fn bad(&self, path: &str, message: impl Into<String>) -> ImportError {
        ImportError::Bad {
            origin: Box::new(self.origin.clone()),
            path: format!("{}{path}", self.origin.prefix),
            message: message.into(),
        }
    }

    /// Its `metadata.namespace` (absent or empty = `default`, as
    /// `kubectl apply` places it).
    pub(crate) fn namespace(&self) -> &str {
        self.raw
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// Bad input unless every field `keys` names is present under the
    /// value at `path` (a JSON pointer, `/spec/scaleTargetRef`, shown as
    /// `shown`). k8s-openapi fills a missing required field with its
    /// default, so this runs on the raw value before typing.
    pub(crate) fn require(
        &self,
        pointer: &str,
        shown: &str,
        keys: &[&str],
    ) -> Result<(), ImportError> {
        let Some(v) = self.raw.pointer(pointer) else {
            return Err(self.bad(shown, "missing; Kubernetes requires it"));
        };
        for key in keys {
            if v.get(key).is_none_or(Value::is_null) {
                let path = if shown.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{shown}.{key}")
                };
                return Err(self.bad(&path, "missing; Kubernetes requires it"));
            }
        }
        Ok(())
    }

    /// The object typed as `T`; a field of the wrong type is bad input at
    /// its path.
    pub(crate) fn typed<T: DeserializeOwned>(&self) -> Result<T, ImportError> {
        serde_path_to_error::deserialize(self.raw.clone()).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            self.bad(&path, format!("{}", e.inner()))
        })
    }
}

/// Every object in `text` (the file `path`), in order.
pub(crate) fn objects(path: &Path, text: &str) -> Result<Vec<Object>, ImportError> {
    let file = path.display().to_string();
    let mut out = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = i + 1;
        let syntax = |message: String| ImportError::Syntax {
            file: path.to_owned(),
            doc,
            message,
        };
        let yaml = serde_yaml::Value::deserialize(de).map_err(|e| syntax(e.to_string()))?;
        if yaml.is_null() {
            continue;
        }
        let value = serde_json::to_value(&yaml).map_err(|e| syntax(e.to_string()))?;
        let bare = Origin {
            file: file.clone(),
            doc,
            prefix: String::new(),
            kind: String::new(),
            name: String::new(),
        };
        let (api, kind) = header(&bare, &value)?;
        if kind == "List" || (kind.ends_with("List") && value.get("items").is_some()) {
            let items = match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                Some(Value::Null) | None => Vec::new(),
                Some(other) => {
                    return Err(bad(
                        &bare,
                        "items",
                        format!("expected a list of objects, got {}", type_name(other)),
                    ));
                }
            };
            // A typed list (`DeploymentList`) leaves its items' kind out.
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            for (j, mut item) in items.into_iter().enumerate() {
                let at = Origin {
                    prefix: format!("items[{j}]."),
                    ..bare.clone()
                };
                if let (Some(k), Some(map)) = (item_kind, item.as_object_mut()) {
                    map.entry("kind").or_insert_with(|| Value::from(k));
                    map.entry("apiVersion")
                        .or_insert_with(|| Value::from(api.clone()));
                }
                out.push(object(at, item)?);
            }
        } else {
            out.push(object(bare, value)?);
        }
    }
    Ok(out)
}

fn bad(origin: &Origin, path: &str, message: impl Into<String>) -> ImportError {
    ImportError::Bad {
        origin: Box::new(origin.clone()),
        path: format!("{}{path}", origin.prefix),
        message: message.into(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `apiVersion` and `kind`, both required strings.
fn header(origin: &Origin, v: &Value) -> Result<(String, String), ImportError> {
    let Value::Object(map) = v else {
        return Err(bad(
            origin,
            "",
            format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), got {}",
                type_name(v)
            ),
        ));
    };
    let field = |key: &str| match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(bad(
            origin,
            key,
            format!("expected a non-empty string, got {}", type_name(other)),
        )),
        None => Err(bad(
            origin,
            key,
            "missing; expected a Kubernetes object with apiVersion and kind (as `kubectl get -o yaml` writes it)",
        )),
    };
    Ok((field("apiVersion")?, field("kind")?))
}

fn object(mut origin: Origin, mut value: Value) -> Result<Object, ImportError> {
    let (api, kind) = header(&origin, &value)?;
    origin.kind.clone_from(&kind);
    origin.name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api.as_str()));
    let k = classify(group, version, &kind).map_err(|e| bad(&origin, "kind", e))?;
    let v1_cpu = k == Kind::Hpa
        && api == "autoscaling/v1"
        && value
            .pointer("/spec/targetCPUUtilizationPercentage")
            .is_some();
    if k == Kind::Hpa && version != "v2" {
        value = hpa_to_v2(&origin, value)?;
    }
    Ok(Object {
        index: 0,
        origin,
        kind: k,
        raw: value,
        v1_cpu,
    })
}

/// Kubernetes' own API groups (core is "").
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "autoscaling",
    "policy",
    "batch",
    "extensions",
    "networking.k8s.io",
    "discovery.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
    "metrics.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
];

/// Kinds of the data-path-relevant groups that are not mapped, and why;
/// groups not listed here take any kind as not mapped.
const SKIPPED: &[(&str, &[&str], &str)] = &[
    (
        "",
        &["ConfigMap", "Secret", "ServiceAccount"],
        "configuration the customer's image reads; svclab's pod server reads none",
    ),
    (
        "",
        &["Namespace"],
        "svclab runs one namespace; names are kept, namespaces dropped",
    ),
    (
        "",
        &["Pod", "PodTemplate", "ReplicationController"],
        "pods come from their Deployment here; import the Deployment (or ReplicaSet) that owns them",
    ),
    (
        "",
        &["Endpoints"],
        "svclab derives endpoints from the selected deployment's ready pods",
    ),
    (
        "",
        &["Node"],
        "svclab builds its own nodes (cluster.nodes; node i's pod CIDR is 198.18.i.0/24)",
    ),
    (
        "",
        &[
            "Event",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "LimitRange",
            "ResourceQuota",
            "ComponentStatus",
            "Binding",
        ],
        "not on the service data path svclab models",
    ),
    (
        "apps",
        &["DaemonSet"],
        "one pod per node is not modelled; a Deployment with replicas = nodes is the nearest",
    ),
    (
        "apps",
        &["ControllerRevision"],
        "a controller's history, not configuration",
    ),
    (
        "batch",
        &["Job", "CronJob"],
        "run-to-completion pods are not modelled",
    ),
    (
        "networking.k8s.io",
        &["Ingress", "IngressClass"],
        "svclab has no ingress controller: clients send to the Service",
    ),
    (
        "networking.k8s.io",
        &["NetworkPolicy"],
        "svclab's datapath does not enforce network policy",
    ),
    (
        "networking.k8s.io",
        &["IPAddress", "ServiceCIDR"],
        "svclab assigns ClusterIPs from its own range (198.19.0.0/24)",
    ),
    (
        "discovery.k8s.io",
        &["EndpointSlice"],
        "svclab derives endpoints from the selected deployment's ready pods",
    ),
];

fn classify(group: &str, version: &str, kind: &str) -> Result<Kind, String> {
    Ok(match (group, kind) {
        ("apps", "Deployment") if version == "v1" => Kind::Workload(WorkloadKind::Deployment),
        ("apps", "StatefulSet") if version == "v1" => Kind::Workload(WorkloadKind::StatefulSet),
        ("apps", "ReplicaSet") if version == "v1" => Kind::Workload(WorkloadKind::ReplicaSet),
        ("", "Service") if version == "v1" => Kind::Service,
        ("autoscaling", "HorizontalPodAutoscaler")
            if matches!(version, "v1" | "v2" | "v2beta2") =>
        {
            Kind::Hpa
        }
        ("policy", "PodDisruptionBudget") if version == "v1" => Kind::Pdb,
        ("apps" | "extensions", "Deployment" | "StatefulSet" | "ReplicaSet")
        | ("", "Service")
        | ("policy", "PodDisruptionBudget")
        | ("autoscaling", "HorizontalPodAutoscaler") => {
            let want = match kind {
                "Service" => "v1",
                "PodDisruptionBudget" => "policy/v1",
                "HorizontalPodAutoscaler" => "autoscaling/v2 (or v1)",
                _ => "apps/v1",
            };
            return Err(format!(
                "{kind} in API version {}{version}, which Kubernetes no longer serves; expected apiVersion {want}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!("{group}/")
                }
            ));
        }
        _ => {
            if let Some((_, _, why)) = SKIPPED
                .iter()
                .find(|(g, kinds, _)| *g == group && kinds.contains(&kind))
            {
                return Ok(Kind::Skip(why));
            }
            let listed = SKIPPED.iter().any(|(g, _, _)| *g == group)
                || matches!(group, "apps" | "autoscaling" | "policy");
            if !BUILTIN_GROUPS.contains(&group) && group.contains('.') {
                Kind::Skip("a custom resource: svclab does not model it")
            } else if BUILTIN_GROUPS.contains(&group) && !listed {
                Kind::Skip("not on the service data path svclab models")
            } else {
                return Err(format!(
                    "unknown kind {kind:?} in apiVersion {:?}; expected a Kubernetes kind: \
                     Deployment, StatefulSet, ReplicaSet (apps/v1), Service (v1), \
                     HorizontalPodAutoscaler (autoscaling/v2), PodDisruptionBudget (policy/v1), \
                     or one svclab lists as not mapped (ConfigMap, Ingress, ...)",
                    if group.is_empty() {
                        version.to_owned()
                    } else {
                        format!("{group}/{version}")
                    }
                ));
            }
        }
    })
}

/// An autoscaling/v1 or v2beta2 HPA in v2's shape: v2beta2's fields are
/// v2's; v1's `targetCPUUtilizationPercentage` is v2's CPU Utilization
/// metric.
fn hpa_to_v2(origin: &Origin, mut v: Value) -> Result<Value, ImportError> {
    let version = v["apiVersion"].as_str().unwrap_or_default().to_owned();
    v["apiVersion"] = Value::from("autoscaling/v2");
    if version == "autoscaling/v1"
        && let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(pct) = spec.remove("targetCPUUtilizationPercentage")
    {
        let Some(pct) = pct.as_i64() else {
            return Err(bad(
                origin,
                "spec.targetCPUUtilizationPercentage",
                "expected an integer percentage",
            ));
        };
        spec.insert(
            "metrics".into(),
            serde_json::json!([{ "type": "Resource", "resource": { "name": "cpu",
                "target": { "type": "Utilization", "averageUtilization": pct } } }]),
        );
    }
    Ok(v)
}
