//! `svclab import` on inline manifests: namespaces in matching, values
//! Kubernetes defaults or accepts beyond svclab's limits (capped with a
//! listed warning), input the apiserver rejects and missing required
//! fields (bad input, never an internal error), and losses that only a
//! comment used to tell.
use std::path::PathBuf;

use svclab_manifests::import::{ImportError, Imported, Input, Options, import};
use svclab_suite::model::{Dur, HpaMetricKind};

fn input(text: &str) -> Vec<Input> {
    vec![Input {
        path: PathBuf::from("in.yaml"),
        text: text.to_owned(),
    }]
}

fn ok(text: &str) -> Imported {
    import(&input(text), &Options::default()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn bad(text: &str) -> String {
    match import(&input(text), &Options::default()) {
        Ok(i) => panic!("imported:\n{}", i.text),
        Err(ImportError::Internal(e)) => panic!("internal error instead of bad input: {e}"),
        Err(e @ ImportError::Bad { .. }) => e.to_string(),
        Err(e) => panic!("not a Bad error: {e}"),
    }
}

fn lines(i: &Imported) -> Vec<String> {
    i.unmapped.iter().map(ToString::to_string).collect()
}

fn listed(i: &Imported, needle: &str) -> bool {
    lines(i).iter().any(|l| l.contains(needle))
}

/// A Deployment `name` in `ns` with pod labels app=web, its pod spec's
/// extra lines `pod` (indented 6) and container extra lines `ctr`
/// (indented 8), and its spec's extra lines `spec` (indented 2).
fn deploy(name: &str, ns: &str, spec: &str, pod: &str, ctr: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: 2
{spec}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
{pod}
      containers:
        - name: app
          image: example/app:1
          ports:
            - containerPort: 8080
{ctr}
"
    )
}

fn indent(n: usize, text: &str) -> String {
    text.lines()
        .map(|l| format!("{}{l}", " ".repeat(n)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn svc(name: &str, ns: &str, port: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports:
    - port: 80
{port}
"
    )
}

fn hpa(ns: &str, target: &str, extra: &str) -> String {
    format!(
        "---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: {ns}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}
  minReplicas: 1
  maxReplicas: 5
{extra}
"
    )
}

fn simple(ctr: &str) -> String {
    deploy("web", "default", "", "", &indent(10, ctr))
}

#[test]
fn services_and_hpas_match_workloads_in_their_own_namespace() {
    let text = format!(
        "{}---\n{}{}{}",
        deploy("web", "a", "", "", ""),
        deploy("web", "b", "", "", "").replace("8080", "9090"),
        svc("web", "b", "      targetPort: 9090"),
        hpa("b", "web", ""),
    );
    let i = ok(&text);
    assert_eq!(i.suite.deployments.len(), 2);
    let b = &i.suite.deployments[1];
    assert_eq!(b.server.port, 9090);
    assert_eq!(i.suite.services[0].selector, b.name);
    assert_eq!(i.suite.autoscalers[0].deployment, b.name);
    // Absent namespace is `default`: nothing there to select.
    let e = bad(&format!(
        "{}{}",
        deploy("web", "a", "", "", ""),
        svc("web", "default", "")
    ));
    assert!(
        e.contains("matches no pod template in namespace default"),
        "{e}"
    );
}

#[test]
fn zero_probe_timings_take_kubernetes_defaults() {
    let i = ok(&simple(
        "livenessProbe:\n  tcpSocket: {port: 8080}\n  periodSeconds: 0\n  timeoutSeconds: 0\n  successThreshold: 0\n  failureThreshold: 0",
    ));
    let p = i.suite.deployments[0].probes.liveness.as_ref().unwrap();
    assert_eq!(p.period, Dur::from_secs(10));
    assert_eq!(p.timeout, Dur::from_secs(1));
    assert_eq!(p.success_threshold, 1);
    assert_eq!(p.failure_threshold, 3);
}

#[test]
fn values_beyond_svclabs_limits_are_capped_with_a_warning() {
    let text = deploy(
        "web",
        "default",
        "  minReadySeconds: 900\n  strategy:\n    rollingUpdate: {maxSurge: \"200%\", maxUnavailable: 300}",
        "      terminationGracePeriodSeconds: 3600",
        &indent(
            10,
            "readinessProbe:\n  tcpSocket: {port: 8080}\n  timeoutSeconds: 120",
        ),
    );
    let i = ok(&text);
    let d = &i.suite.deployments[0];
    assert_eq!(d.termination_grace, Dur::from_secs(600));
    assert_eq!(d.min_ready_seconds, Dur::from_secs(600));
    assert_eq!(
        d.probes.readiness.as_ref().unwrap().timeout,
        Dur::from_secs(60)
    );
    for needle in [
        "terminationGracePeriodSeconds: 3600s is capped at 600s",
        "minReadySeconds: 900s is capped at 600s",
        "readinessProbe.timeoutSeconds: 120 is capped at 60",
        "maxSurge: \"200%\" is capped at \"100%\"",
        "maxUnavailable: 300 is capped at 200",
    ] {
        assert!(listed(&i, needle), "{needle} not in {:#?}", lines(&i));
    }
}

#[test]
fn what_the_apiserver_rejects_is_bad_input() {
    for (spec, pod, ctr, needle) in [
        (
            "  strategy:\n    type: Recreate\n    rollingUpdate: {maxSurge: 1}",
            "",
            "",
            "spec.strategy.rollingUpdate: may not be specified",
        ),
        (
            "  strategy:\n    rollingUpdate: {maxSurge: abc}",
            "",
            "",
            "spec.strategy.rollingUpdate.maxSurge: expected a count",
        ),
        (
            "  strategy:\n    rollingUpdate: {maxSurge: 0, maxUnavailable: \"0%\"}",
            "",
            "",
            "maxUnavailable: may not be 0 when maxSurge is 0",
        ),
        (
            "",
            "      terminationGracePeriodSeconds: 10",
            "lifecycle:\n  preStop:\n    sleep: {seconds: 20}",
            "preStop.sleep.seconds: 20s is longer than",
        ),
    ] {
        let e = bad(&deploy("web", "default", spec, pod, &indent(10, ctr)));
        assert!(
            e.starts_with("in.yaml: document 1 (Deployment web): "),
            "{e}"
        );
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let e = bad(&format!(
        "{}{}",
        simple(""),
        svc(
            "web",
            "default",
            "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}"
        )
    ));
    assert!(
        e.contains(
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds: expected seconds 1..=86400"
        ),
        "{e}"
    );
}

#[test]
fn missing_required_fields_are_bad_input() {
    let e = bad(&format!(
        "{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec: {{maxReplicas: 3}}\n",
        simple("")
    ));
    assert!(
        e.contains("document 2 (HorizontalPodAutoscaler web): spec.scaleTargetRef: missing"),
        "{e}"
    );
    let e = bad(&simple("").replace("        - name: app\n          image", "        - image"));
    assert!(
        e.contains("spec.template.spec.containers[0].name: missing"),
        "{e}"
    );
    let e = bad(&simple("").replace("- containerPort: 8080", "- name: http"));
    assert!(
        e.contains("containers[0].ports[0].containerPort: missing"),
        "{e}"
    );
    let e = bad(&simple("readinessProbe:\n  httpGet: {path: /ready}"));
    assert!(e.contains("readinessProbe.httpGet.port: missing"), "{e}");
    let e = bad(&simple("livenessProbe:\n  tcpSocket: {}"));
    assert!(e.contains("livenessProbe.tcpSocket.port: missing"), "{e}");
}

#[test]
fn unreachable_toleration_tolerance_and_named_health_port_map() {
    let text = format!(
        "{}{}",
        deploy(
            "web",
            "default",
            "",
            "      tolerations:\n        - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}\n        - {key: dedicated, operator: Exists}",
            &indent(10, "  - {name: health, containerPort: 8081}"),
        ),
        hpa(
            "default",
            "web",
            "  behavior:\n    scaleUp: {tolerance: 200m}\n    scaleDown: {tolerance: \"0.2\"}"
        ),
    );
    let i = ok(&text);
    let d = &i.suite.deployments[0];
    assert_eq!(d.unreachable_toleration, Dur::from_secs(30));
    assert_eq!(d.server.health.as_ref().map(|h| h.port), Some(8081));
    assert!((i.suite.autoscalers[0].tolerance - 0.2).abs() < 1e-9);
    assert!(listed(&i, "tolerations[1]"), "{:#?}", lines(&i));
    assert!(!listed(&i, "tolerations[0]"), "{:#?}", lines(&i));
    // Different tolerances per direction: listed, the default kept.
    let text = text.replace(
        "scaleDown: {tolerance: \"0.2\"}",
        "scaleDown: {tolerance: \"0.3\"}",
    );
    let i = ok(&text);
    assert!((i.suite.autoscalers[0].tolerance - 0.1).abs() < 1e-9);
    assert!(
        listed(
            &i,
            "scaleUp tolerance 0.2 and scaleDown tolerance 0.3 differ"
        ),
        "{:#?}",
        lines(&i)
    );
}

#[test]
fn target_port_zero_or_empty_is_the_port_and_numeric_strings_are_numbers() {
    for tp in ["      targetPort: 0", "      targetPort: \"\""] {
        let i = ok(&format!(
            "{}{}",
            simple("").replace("8080", "80"),
            svc("web", "default", tp)
        ));
        assert_eq!(i.suite.services[0].port, 80);
        assert_eq!(i.suite.deployments[0].server.port, 80);
        assert_eq!(i.suite.services[0].target_port, None);
    }
    let i = ok(&format!(
        "{}{}",
        simple("readinessProbe:\n  httpGet: {path: /ready, port: \"8080\"}"),
        svc("web", "default", "      targetPort: \"8080\"")
    ));
    assert_eq!(i.suite.deployments[0].server.port, 8080);
    assert_eq!(i.suite.services[0].target_port, None);
    let r = i.suite.deployments[0].probes.readiness.as_ref().unwrap();
    assert_eq!(r.http.as_ref().unwrap().port, None, "the serving port");
}

#[test]
fn zero_replicas_with_an_hpa_keeps_zero_and_lists_the_hpa() {
    let text = format!(
        "{}{}",
        simple("").replace("replicas: 2", "replicas: 0"),
        hpa("default", "web", "")
    );
    let i = ok(&text);
    assert_eq!(i.suite.deployments[0].replicas, 0);
    assert!(i.suite.autoscalers.is_empty());
    assert!(listed(&i, "turns autoscaling off"), "{:#?}", lines(&i));
}

#[test]
fn losses_in_comments_are_listed_too() {
    let text = format!(
        "{}{}",
        simple("resources:\n  limits: {cpu: \"100\"}"),
        hpa(
            "default",
            "web",
            "  metrics:\n    - type: ContainerResource\n      containerResource: {name: cpu, container: app, target: {type: Utilization, averageUtilization: 150}}"
        )
    );
    let i = ok(&text);
    for needle in [
        "averageUtilization: 150% is capped",
        "containerResource.container: container \"app\"",
        "limits.cpu: \"100\" = 100 cores is clamped to 64",
    ] {
        assert!(listed(&i, needle), "{needle} not in {:#?}", lines(&i));
    }
    let i = ok(&format!(
        "{}{}",
        simple("").replace("          ports:\n            - containerPort: 8080\n", ""),
        hpa(
            "default",
            "web",
            "  metrics:\n    - type: Pods\n      pods: {metric: {name: http_requests_per_second, selector: {matchLabels: {a: b}}}, target: {type: AverageValue, averageValue: \"5\"}}"
        )
    ));
    assert_eq!(
        i.suite.autoscalers[0].metric.kind,
        HpaMetricKind::RequestRate
    );
    assert!(
        listed(&i, "pods.metric.selector: a metric label selector"),
        "{:#?}",
        lines(&i)
    );
    assert!(
        listed(&i, "the pod server listens on 8080"),
        "{:#?}",
        lines(&i)
    );
    // An autoscaling/v1 HPA's errors name its own field.
    let e = bad(&format!(
        "{}---\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n  scaleTargetRef: {{kind: Deployment, name: web}}\n  maxReplicas: 3\n  targetCPUUtilizationPercentage: 0\n",
        simple("")
    ));
    assert!(
        e.contains("): spec.targetCPUUtilizationPercentage: "),
        "{e}"
    );
}

#[test]
fn hook_and_probe_fields_the_suite_would_refuse_are_bad_input_not_internal() {
    let e = bad(&simple("lifecycle:\n  preStop:\n    exec: {command: []}"));
    assert!(
        e.contains("lifecycle.preStop.exec.command: expected a command"),
        "{e}"
    );
    let e = bad(&simple(
        "readinessProbe:\n  httpGet: {port: 8080, httpHeaders: [{name: \"bad name\", value: x}]}",
    ));
    assert!(
        e.contains("httpGet.httpHeaders[0].name: expected an HTTP header name"),
        "{e}"
    );
    let i = ok(&simple(
        "readinessProbe:\n  httpGet: {port: 8080, path: ready}",
    ));
    let r = i.suite.deployments[0].probes.readiness.as_ref().unwrap();
    assert_eq!(r.http.as_ref().unwrap().path, "/ready");
}

#[test]
fn cluster_ips_run_up_to_198_19_0_254() {
    let services = |n: usize| {
        (0..n)
            .map(|k| svc(&format!("s{k}"), "default", ""))
            .collect::<String>()
    };
    // .10 to .254 is 245 Services.
    let i = ok(&format!("{}{}", simple(""), services(245)));
    assert_eq!(
        i.suite.services.last().map(|s| s.cluster_ip.to_string()),
        Some("198.19.0.254".to_owned())
    );
    let e = bad(&format!("{}{}", simple(""), services(246)));
    assert!(
        e.contains("spec.clusterIP: more Services than 198.19.0.10..=254 holds"),
        "{e}"
    );
}
