//! What no stage mapped: every object is walked field by field, and each
//! field no stage used (and that is not the apiserver's bookkeeping or a
//! default kubectl prints) is listed with the reason a stage gave, or a
//! general one. So nothing in the input is dropped without a line saying so.
use serde_json::Value;

use super::{context::Context, error::Unmapped, read::Object};

/// Defaults the apiserver fills in and kubectl prints, by path suffix (list
/// indexes as `[]`): at this value the field says nothing the suite lacks.
const DEFAULTS: &[(&str, &str)] = &[
    ("spec.revisionHistoryLimit", "10"),
    ("spec.progressDeadlineSeconds", "600"),
    ("spec.template.spec.dnsPolicy", "\"ClusterFirst\""),
    ("spec.template.spec.restartPolicy", "\"Always\""),
    ("spec.template.spec.schedulerName", "\"default-scheduler\""),
    ("spec.template.spec.enableServiceLinks", "true"),
    (".terminationMessagePath", "\"/dev/termination-log\""),
    (".terminationMessagePolicy", "\"File\""),
    (".protocol", "\"TCP\""),
    (".httpGet.scheme", "\"HTTP\""),
    ("spec.ipFamilies", "[\"IPv4\"]"),
    ("spec.ipFamilyPolicy", "\"SingleStack\""),
    ("spec.sessionAffinity", "\"None\""),
    ("spec.internalTrafficPolicy", "\"Cluster\""),
    ("spec.externalTrafficPolicy", "\"Cluster\""),
    ("spec.allocateLoadBalancerNodePorts", "true"),
    ("spec.publishNotReadyAddresses", "false"),
    ("spec.paused", "false"),
];

/// Fields whose value does not matter here: the image does not run.
const IGNORED: &[&str] = &[".imagePullPolicy"];

/// Every unmapped field of every object, in input order.
pub(crate) fn collect(cx: &Context, objects: &[Object]) -> Vec<Unmapped> {
    let mut out = Vec::new();
    for o in objects {
        let i = o.index;
        let push = |out: &mut Vec<Unmapped>, path: &str, why: String| {
            out.push(Unmapped {
                origin: o.origin.clone(),
                path: if path.is_empty() {
                    o.origin.prefix.trim_end_matches('.').to_owned()
                } else {
                    format!("{}{path}", o.origin.prefix)
                },
                why,
            });
        };
        if let Some(why) = cx.objects.get(&i) {
            push(&mut out, "", why.clone());
            continue;
        }
        if let Some(ns) = o.raw.pointer("/metadata/namespace").and_then(Value::as_str)
            && ns != "default"
        {
            push(
                &mut out,
                "metadata.namespace",
                format!("{ns}: svclab runs one namespace; names are kept"),
            );
        }
        if let Value::Object(map) = &o.raw {
            for (k, v) in map {
                if !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status") {
                    walk(cx, i, v, k, &mut |path, why| push(&mut out, path, why));
                }
            }
        }
        for (j, path, why) in &cx.warnings {
            if *j == i {
                push(&mut out, path, why.clone());
            }
        }
    }
    out
}

fn walk(cx: &Context, i: usize, v: &Value, path: &str, push: &mut dyn FnMut(&str, String)) {
    if cx.used.contains(&(i, path.to_owned())) || is_default(path, v) || is_empty(v) {
        return;
    }
    if let Some(why) = cx.why.get(&(i, path.to_owned())) {
        push(path, why.clone());
        return;
    }
    let inner = has_inner(cx, i, path);
    match v {
        Value::Object(map) if inner => {
            for (k, v) in map {
                walk(cx, i, v, &format!("{path}.{k}"), push);
            }
        }
        Value::Array(items) if inner => {
            for (k, v) in items.iter().enumerate() {
                walk(cx, i, v, &format!("{path}[{k}]"), push);
            }
        }
        _ => push(
            path,
            "svclab has no equivalent; the suite runs without it".to_owned(),
        ),
    }
}

/// Whether a stage used or explained something inside `path`.
fn has_inner(cx: &Context, i: usize, path: &str) -> bool {
    let inside = |(j, p): &(usize, String)| {
        *j == i
            && p.strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    cx.used.iter().any(inside) || cx.why.keys().any(inside)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn is_default(path: &str, v: &Value) -> bool {
    let norm = normalize(path);
    if IGNORED.iter().any(|s| norm.ends_with(s)) {
        return true;
    }
    DEFAULTS.iter().any(|(suffix, value)| {
        (norm == *suffix || (suffix.starts_with('.') && norm.ends_with(suffix)))
            && serde_json::from_str::<Value>(value).is_ok_and(|d| d == *v)
    })
}

/// `a[3].b` → `a[].b`.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for ch in path.chars() {
        match ch {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(ch),
        }
    }
    out
}
