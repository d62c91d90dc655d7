//! What each field expects, in words: the expectation texts the
//! validator's rules print (`expected <what>, got <value>`), the table from a
//! field path to its text ([`expected_for`]) and [`ticked_list`] for naming
//! alternatives.
//!
//! A leaf shared by the validator and the typing-error translation, so
//! `replicas: -1` (a typing error) and `replicas: 300` (a rule) read alike.
use crate::field_path;

pub(crate) const SUITE_NAME: &str =
    "a suite name of 1..=64 letters, digits, '.', '_' or '-', not starting with '.' or '-'";
pub(crate) const DURATION: &str = "a duration above 0s and at most 1h";
pub(crate) const BUCKET: &str = "a duration from 100ms up to the suite duration";
pub(crate) const NODES: &str = "an integer 1..=16";
pub(crate) const MAGLEV: &str =
    "one of the prime table sizes 251, 509, 1021, 2039, 4093, 8191, 16381";
pub(crate) const GC: &str = "a duration of at least 100ms";
pub(crate) const MIN_SYNC: &str = "a duration of at most 1h";
pub(crate) const CT_SIZE: &str = "an integer 16..=16777216";
pub(crate) const AT_MOST_1H: &str = "a duration of at most 1h";
pub(crate) const GRACE: &str =
    "a whole number of seconds of at most 1h (Cilium's datapath counts whole seconds)";
pub(crate) const CT_TIMEOUT: &str =
    "a whole number of seconds, at least 1s (Cilium's datapath counts whole seconds)";
pub(crate) const LABEL: &str = "a DNS label: 1..=40 lowercase letters, digits or '-', starting and ending with a letter or digit";
/// Most replicas per deployment (and autoscaler max_replicas): bounded by
/// the machine (every pod is a process), not the address plan
/// (`validate/capacity.rs` checks per-node room).
pub const MAX_REPLICAS_N: u32 = 2000;
pub(crate) const REPLICAS: &str = "an integer 0..=2000";
pub(crate) const NODE_INDEX: &str = "a node index 0..=15, below cluster.nodes";
pub(crate) const PORT: &str = "a port 1..=65535";
pub(crate) const WORKERS: &str = "an integer 1..=256";
pub(crate) const BACKLOG: &str = "an integer 1..=65535";
pub(crate) const SERVICE_TIME: &str = "a duration of at most 60s";
pub(crate) const CLUSTER_IP: &str =
    "an IPv4 address in 198.19.0.0/24 other than .0 and .255, like 198.19.0.10";
pub(crate) const POOL_SIZE: &str = "an integer 1..=1024";
pub(crate) const RANGE: &str = "a port range [low, high] with 1024 <= low <= high <= 65535";
pub(crate) const RANGE_PORT: &str = "a port 1024..=65535";
pub(crate) const RATE: &str = "an integer 1..=50000";
pub(crate) const CONCURRENCY: &str = "an integer 1..=1024";
pub(crate) const MAX_IN_FLIGHT: &str = "an integer 1..=10000";
pub(crate) const CLIENT_TIMEOUT: &str = "a duration 1ms..=60s";
pub(crate) const AT_LEAST_1: &str = "an integer of at least 1";
pub(crate) const POD_INDEX: &str = "an integer 0..=199";
pub(crate) const WINDOW: &str = "a window [from, to] with from < to <= the suite duration";
pub(crate) const BOUND: &str = "a finite number";
pub(crate) const TIME_SCALE: &str = "a finite number 0.01..=1";
pub(crate) const AT_MOST_10M: &str = "a duration of at most 10m";
pub(crate) const PROBE_PERIOD: &str =
    "a duration above 0s that is at least 100ms once multiplied by kubelet.time_scale";
pub(crate) const PROBE_TIMEOUT: &str = "a duration 10ms..=60s";
pub(crate) const SUCCESS_ONE: &str =
    "1 (Kubernetes requires success_threshold 1 for liveness and startup probes)";
pub(crate) const FAILURE: &str = "an integer 1..=1000";
pub(crate) const HTTP_PATH: &str = "a request path starting with '/', at most 1024 bytes, without whitespace or control characters";
pub(crate) const HEADER_NAME: &str = "an HTTP header name: 1 or more token characters (letters, digits and !#$%&'*+-.^_`|~; no whitespace or ':')";
pub(crate) const HEADER_VALUE: &str = "a header value without CR, LF or NUL";
pub(crate) const EXEC_COMMAND: &str =
    "a command: a list of 1 or more arguments whose first (the program) is not empty";
pub(crate) const CPU_TIME: &str = "a duration of at most 10s";
pub(crate) const CPUS: &str = "a finite number of cores 0.1..=64";
pub(crate) const READ_TIMEOUT: &str = "a duration from 10ms up to 10m";
pub(crate) const HEALTH_WORKERS: &str = "an integer 1..=16";
pub(crate) const MIN_REPLICAS: &str = "an integer 1..=2000";
pub(crate) const MAX_REPLICAS: &str = "an integer min_replicas..=2000";
pub(crate) const HPA_TARGET: &str = "a per-pod target: a ratio in (0, 1] for `busy-workers`, requests per second in (0, 1000000] for `request-rate`";
pub(crate) const BUSY_TARGET: &str =
    "a ratio in (0, 1] for `busy-workers` (busy workers / workers: 0.6 means 60%)";
pub(crate) const RATE_TARGET: &str =
    "requests per second per pod for `request-rate`: a finite number above 0, at most 1000000";
pub(crate) const TOLERANCE: &str = "a finite number 0..=1";
pub(crate) const CONTAINER_COMMAND: &str =
    "a command: a list of 1..=64 arguments whose first is an installed program";
pub(crate) const NGINX_WORKERS: &str = "an integer 1..=16";
pub(crate) const NGINX_CONNECTIONS: &str = "an integer 2..=65535";
pub(crate) const PROXY_TIMEOUT: &str = "a duration 1ms..=10m";
pub(crate) const INT_OR_PERCENT: &str =
    "a number of pods 0..=200 or a percentage \"0%\"..=\"100%\"";
pub(crate) const PROPAGATION_DELAY: &str = "a duration of at most 1m";
pub(crate) const SPIKE_DURATION: &str = "a duration above 0s that ends by the suite's end";

/// The expectation text for a field path (`deployments[3].replicas` and
/// `deployments[].replicas` alike), used by typing errors too.
pub(crate) fn expected_for(path: &str) -> Option<&'static str> {
    let pattern = field_path::pattern(path);
    if let Some(rest) = pattern.strip_prefix("deployments[].probes.") {
        let (kind, field) = rest.split_once('.')?;
        return probe_expected(kind, field);
    }
    Some(match pattern.as_str() {
        "name" => SUITE_NAME,
        "duration" => DURATION,
        "bucket" => BUCKET,
        "cluster.nodes" => NODES,
        "datapath.maglev_table_size" => MAGLEV,
        "datapath.ct_map_size" => CT_SIZE,
        "datapath.gc_interval" => GC,
        "datapath.min_sync_period" => MIN_SYNC,
        "datapath.rebalance_grace" => GRACE,
        "datapath.timeouts.syn"
        | "datapath.timeouts.tcp"
        | "datapath.timeouts.close"
        | "datapath.timeouts.non_tcp" => CT_TIMEOUT,
        "deployments[].name" | "services[].name" | "clients[].name" => LABEL,
        "deployments[].replicas" | "timeline[].scale.replicas" => REPLICAS,
        "deployments[].nodes[]" | "clients[].node" | "timeline[].flush_ct.node" => NODE_INDEX,
        "deployments[].server.port"
        | "deployments[].server.health.port"
        | "services[].port"
        | "services[].target_port" => PORT,
        "deployments[].server.workers" => WORKERS,
        "deployments[].container.port" | "deployments[].nginx.port" => PORT,
        "deployments[].container.command" => CONTAINER_COMMAND,
        "deployments[].nginx.worker_processes" | "clients[].upstream.worker_processes" => {
            NGINX_WORKERS
        }
        "deployments[].nginx.worker_connections" => NGINX_CONNECTIONS,
        "deployments[].nginx.backlog" => BACKLOG,
        "deployments[].nginx.delay" => SERVICE_TIME,
        "deployments[].nginx.keepalive_timeout" => AT_MOST_10M,
        "clients[].upstream.proxy_connect_timeout"
        | "clients[].upstream.proxy_send_timeout"
        | "clients[].upstream.proxy_read_timeout" => PROXY_TIMEOUT,
        "deployments[].server.backlog" => BACKLOG,
        "deployments[].server.service_time" => SERVICE_TIME,
        "deployments[].server.cpu_time" => CPU_TIME,
        "deployments[].server.cpus" => CPUS,
        "deployments[].server.read_timeout" => READ_TIMEOUT,
        "deployments[].server.health.workers" => HEALTH_WORKERS,
        "deployments[].server.startup_time" | "deployments[].termination_grace" => AT_MOST_10M,
        "services[].cluster_ip" => CLUSTER_IP,
        "clients[].pool_size" => POOL_SIZE,
        "clients[].source_ports.range" => RANGE,
        "clients[].source_ports.range[]" => RANGE_PORT,
        "clients[].load.rate" | "timeline[].spike.rate" => RATE,
        "clients[].load.concurrency" => CONCURRENCY,
        "clients[].load.max_in_flight" => MAX_IN_FLIGHT,
        "clients[].timeout" => CLIENT_TIMEOUT,
        "timeline[].kill.count" => AT_LEAST_1,
        "timeline[].delete_pod.index" => POD_INDEX,
        "timeline[].spike.duration" => SPIKE_DURATION,
        "expect[].window" => WINDOW,
        "expect[].min" | "expect[].max" => BOUND,
        "kubelet.time_scale" => TIME_SCALE,
        "autoscalers[].min_replicas" => MIN_REPLICAS,
        "autoscalers[].max_replicas" => MAX_REPLICAS,
        "autoscalers[].metric.target" => HPA_TARGET,
        "autoscalers[].tolerance" => TOLERANCE,
        "autoscalers[].sync_period" => PROBE_PERIOD,
        "autoscalers[].scale_up_stabilization" | "autoscalers[].scale_down_stabilization" => {
            AT_MOST_1H
        }
        _ => return None,
    })
}

/// [`expected_for`] below `deployments[].probes.<kind>.`.
fn probe_expected(kind: &str, field: &str) -> Option<&'static str> {
    if !matches!(kind, "startup" | "readiness" | "liveness") {
        return None;
    }
    Some(match field {
        "initial_delay" => AT_MOST_1H,
        "period" => PROBE_PERIOD,
        "timeout" => PROBE_TIMEOUT,
        "success_threshold" if kind == "readiness" => AT_LEAST_1,
        "success_threshold" => SUCCESS_ONE,
        "failure_threshold" => FAILURE,
        "tcp.port" | "http.port" => PORT,
        "http.path" => HTTP_PATH,
        "http.headers[].name" => HEADER_NAME,
        "http.headers[].value" => HEADER_VALUE,
        "exec.command" => EXEC_COMMAND,
        _ => return None,
    })
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`" (with `conjunction` "and").
pub(crate) fn ticked_list(items: &[&str], conjunction: &str) -> String {
    let ticked: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match ticked.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{} {conjunction} {last}", rest.join(", "))
        }
        _ => ticked.concat(),
    }
}

/// Key figures the nightly compares against the previous night.
pub const REGRESSION_FIGURES: &[&str] = &[
    "duration_s",
    "imbalance",
    "jain",
    "p99_ms",
    "errors",
    "error_rate",
    "min_ready",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectation_patterns_ignore_indexes() {
        assert_eq!(expected_for("deployments[12].replicas"), Some(REPLICAS));
        assert_eq!(
            expected_for("clients[0].source_ports.range[1]"),
            Some(RANGE_PORT)
        );
        assert_eq!(expected_for("deployments[0].nope"), None);
    }

    #[test]
    fn probe_expectations_depend_on_the_probe_kind() {
        let p = |kind: &str, field: &str| {
            expected_for(&format!("deployments[2].probes.{kind}.{field}"))
        };
        assert_eq!(p("readiness", "success_threshold"), Some(AT_LEAST_1));
        assert_eq!(p("liveness", "success_threshold"), Some(SUCCESS_ONE));
        assert_eq!(p("startup", "success_threshold"), Some(SUCCESS_ONE));
        assert_eq!(p("startup", "http.headers[3].name"), Some(HEADER_NAME));
        assert_eq!(p("liveness", "tcp.port"), Some(PORT));
        assert_eq!(p("sideways", "period"), None);
        assert_eq!(expected_for("deployments[0].probes.liveness"), None);
    }

    #[test]
    fn handler_lists_read_as_prose() {
        assert_eq!(ticked_list(&[], "and"), "");
        assert_eq!(ticked_list(&["tcp"], "and"), "`tcp`");
        assert_eq!(ticked_list(&["tcp", "http"], "and"), "`tcp` and `http`");
        assert_eq!(
            ticked_list(&["tcp", "http", "exec"], "and"),
            "`tcp`, `http` and `exec`"
        );
    }
}
