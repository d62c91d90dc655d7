//! Semantic validation: the rules a well-typed suite must also meet before
//! the harness creates anything in the kernel (ranges, references between
//! sections, address and port collisions, per-node pod capacity).
//!
//! [`check`] runs one function per suite section, each in its own file, in
//! a fixed order: later sections use what earlier ones established (the
//! valid duration, node count and time scale, the names each declares).
//! The findings are then sorted into document order. The expectation texts
//! the rules print live in [`crate::expected`].
mod autoscalers;
mod capacity;
mod checker;
mod clients;
mod cluster;
mod datapath;
mod deployments;
mod expect;
mod faults;
mod kubelet;
mod probes;
mod programs;
mod regression;
pub(crate) mod services;
mod text;
mod timeline;
mod top;

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

pub use self::{
    capacity::{POD_HEADROOM, max_pods_per_node, pods_per_node},
    faults::DEFAULT_DELAY_LIMIT,
    programs::{NGINX_ECHO_MODULE, machine_problems, nginx_binary},
    services::unsupported_features,
};
pub use crate::expected::REGRESSION_FIGURES;
use checker::Checker;

use crate::{
    error::{Diagnostic, SuiteError},
    index::PathIndex,
    model::{Dur, Suite},
};

/// Every rule violation in `suite`, sorted into document order.
#[must_use]
pub fn check(suite: &Suite, index: &PathIndex) -> Vec<Diagnostic> {
    let mut c = Checker::new(index);
    // Each of these is `None` while invalid: checks against it wait, so a
    // bad value is one error, not one per field compared with it.
    let duration = top::check(&mut c, suite);
    let nodes = cluster::check(&mut c, &suite.cluster);
    datapath::check(&mut c, &suite.datapath);
    let scale = kubelet::check(&mut c, &suite.kubelet);
    let dur = duration.unwrap_or(Duration::MAX);

    let deployments: HashSet<&str> = suite.deployments.iter().map(|d| d.name.as_str()).collect();
    let services: HashSet<&str> = suite.services.iter().map(|s| s.name.as_str()).collect();
    let clients: HashSet<&str> = suite.clients.iter().map(|c| c.name.as_str()).collect();

    deployments::check(&mut c, &suite.deployments, nodes, scale);
    services::check(
        &mut c,
        &suite.services,
        &deployments,
        !suite.cluster.zones.is_empty(),
    );
    for (field, m) in services::unsupported_features(&suite.services, &suite.datapath) {
        c.fail(&field, m);
    }
    let client_info = clients::check(
        &mut c,
        suite,
        &clients::Context {
            services: &services,
            nodes,
            duration,
        },
    );
    // The first deployment of each name (duplicates are reported above).
    let mut replicas: HashMap<&str, u32> = HashMap::new();
    for d in &suite.deployments {
        replicas.entry(d.name.as_str()).or_insert(d.replicas);
    }
    let mut hpa_max: HashMap<&str, u32> = HashMap::new();
    for a in &suite.autoscalers {
        hpa_max
            .entry(a.deployment.as_str())
            .or_insert(a.max_replicas);
    }
    let mut selectors: HashMap<&str, &str> = HashMap::new();
    for s in &suite.services {
        selectors
            .entry(s.name.as_str())
            .or_insert(s.selector.as_str());
    }
    let known = timeline::Known {
        duration: Dur(dur),
        nodes,
        deployments: &deployments,
        services: &services,
        selectors: &selectors,
        replicas: &replicas,
        hpa_max: &hpa_max,
        clients: &clients,
        client_info: &client_info,
        total_rate: suite
            .clients
            .iter()
            .filter(|c| c.load.mode == crate::model::LoadMode::Open)
            .map(|c| u64::from(c.load.rate))
            .sum(),
    };
    timeline::check(&mut c, &suite.timeline, &known);
    faults::check(&mut c, &suite.timeline, &known);
    autoscalers::check(&mut c, suite, scale, &deployments);
    regression::check(&mut c, &suite.regression);
    expect::check(&mut c, suite, dur);
    expect::matrix(&mut c, suite);
    if let Some(n) = nodes {
        capacity::check(&mut c, suite, n);
    }

    c.into_sorted()
}

/// Checks `suite` and returns its first problem in document order.
pub fn validate(suite: &Suite, index: &PathIndex) -> Result<(), SuiteError> {
    match check(suite, index).into_iter().next() {
        Some(d) => Err(SuiteError::Invalid(d)),
        None => Ok(()),
    }
}
