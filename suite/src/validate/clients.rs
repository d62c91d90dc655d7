//! The `clients` section: names, placement, the service each targets,
//! source ports (and pools that would collide on one node), load, when each
//! sends and its request timeout.
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use super::{checker::Checker, programs};
use crate::{
    expected::{CLIENT_TIMEOUT, CONCURRENCY, MAX_IN_FLIGHT, POOL_SIZE, RANGE, RANGE_PORT, RATE},
    model::{Client, ConnectionMode, Dur, Load, LoadMode, PortMode, Suite},
};

/// A client as a spike sees it.
pub(super) struct ClientInfo {
    pub(super) mode: LoadMode,
    /// [start, end) of its sending, when its start and duration are valid.
    pub(super) window: Option<(Dur, Dur)>,
    /// Outside the cluster (no pod).
    pub(super) external: bool,
}

/// What a client's checks need from the sections before it.
pub(super) struct Context<'a> {
    /// The service names a client may target.
    pub(super) services: &'a HashSet<&'a str>,
    /// cluster.nodes, when valid.
    pub(super) nodes: Option<u8>,
    /// The suite duration, when valid.
    pub(super) duration: Option<Duration>,
}

/// Checks every client; returns what the timeline needs to know of each,
/// by name (a duplicate name is reported here; spikes refer to the first).
pub(super) fn check<'s>(
    c: &mut Checker<'_>,
    suite: &'s Suite,
    cx: &Context<'_>,
) -> HashMap<&'s str, ClientInfo> {
    let mut seen = HashMap::new();
    let mut client_info: HashMap<&str, ClientInfo> = HashMap::new();
    // The external netns has one ip_local_port_range for every external
    // client with kernel-chosen ports: the first one's.
    let mut external_range: Option<(usize, [u16; 2])> = None;
    for (i, cl) in suite.clients.iter().enumerate() {
        let p = format!("clients[{i}]");
        c.name(&format!("{p}.name"), &cl.name, "client", &mut seen);
        c.node(&format!("{p}.node"), cl.node, cx.nodes);
        c.reference(&format!("{p}.service"), &cl.service, "service", cx.services);
        c.expect(
            (1..=1024).contains(&cl.pool_size),
            &format!("{p}.pool_size"),
            POOL_SIZE,
            cl.pool_size,
        );
        if cl.external {
            external(c, &p, cl, suite);
            if cl.source_ports.mode == crate::model::PortMode::Ephemeral {
                match external_range {
                    Some((first, r)) if r != cl.source_ports.range => c.fail(
                        &format!("{p}.source_ports.range"),
                        format!(
                            "external clients share one network namespace and so one ephemeral port range: clients[{first}] has [{}, {}]",
                            r[0], r[1]
                        ),
                    ),
                    Some(_) => {}
                    None => external_range = Some((i, cl.source_ports.range)),
                }
            }
        }
        source_ports(c, &p, cl);
        programs::client(c, &p, cl);
        load(c, &p, &cl.load);
        let window = schedule(c, &p, cl, suite.duration, cx.duration);
        client_info.entry(&cl.name).or_insert(ClientInfo {
            external: cl.external,
            mode: cl.load.mode,
            window,
        });
        c.expect(
            cl.timeout.0 >= Duration::from_millis(1) && cl.timeout.0 <= Duration::from_secs(60),
            &format!("{p}.timeout"),
            CLIENT_TIMEOUT,
            cl.timeout,
        );
    }
    client_info
}

/// An external client: a NodePort service to send to, the fabric it
/// stands on, no proxy of its own.
fn external(c: &mut Checker<'_>, p: &str, cl: &Client, suite: &Suite) {
    if let Some(s) = suite.services.iter().find(|s| s.name == cl.service) {
        c.expect(
            s.service_type == crate::model::ServiceType::NodePort,
            &format!("{p}.external"),
            "a service of `type: NodePort` (an external client reaches it through a node's NodePort)",
            format!("service `{}` of type {:?}", s.name, s.service_type),
        );
    }
    c.expect(
        suite.cluster.nodes >= 2,
        &format!("{p}.external"),
        "2 or more nodes (an external client stands on the nodes' network, which a one-node cluster does not have)",
        format!("{} node", suite.cluster.nodes),
    );
    if cl.proxy.is_some() {
        c.fail(
            &format!("{p}.proxy"),
            "an external client sends straight to the NodePort; `proxy` runs in a client pod"
                .to_owned(),
        );
    }
}

/// `{p}.source_ports`: a valid range, big enough for a keep-alive pool.
fn source_ports(c: &mut Checker<'_>, p: &str, cl: &Client) {
    let [low, high] = cl.source_ports.range;
    let rp = format!("{p}.source_ports.range");
    c.expect(low >= 1024, &format!("{rp}[0]"), RANGE_PORT, low);
    c.expect(low <= high, &rp, RANGE, format!("[{low}, {high}]"));
    let size = u32::from(high.saturating_sub(low)) + 1;
    if cl.source_ports.mode == PortMode::Pool
        && cl.connection == ConnectionMode::KeepAlive
        && low <= high
        && size < cl.pool_size
    {
        c.fail(
            &rp,
            format!(
                "a keep-alive pool of {} connections needs at least {} source ports, the pool range has {size}",
                cl.pool_size, cl.pool_size
            ),
        );
    }
}

/// `{p}.load`: rate, concurrency and the in-flight cap.
fn load(c: &mut Checker<'_>, p: &str, l: &Load) {
    c.expect(
        (1..=50_000).contains(&l.rate),
        &format!("{p}.load.rate"),
        RATE,
        l.rate,
    );
    c.expect(
        (1..=1024).contains(&l.concurrency),
        &format!("{p}.load.concurrency"),
        CONCURRENCY,
        l.concurrency,
    );
    c.expect(
        (1..=10_000).contains(&l.max_in_flight),
        &format!("{p}.load.max_in_flight"),
        MAX_IN_FLIGHT,
        l.max_in_flight,
    );
}

/// `{p}.start` and `{p}.duration` inside the run (`suite_duration` as
/// written, `valid` when it is valid); returns the client's [start, end)
/// when all three are valid.
fn schedule(
    c: &mut Checker<'_>,
    p: &str,
    cl: &Client,
    suite_duration: Dur,
    valid: Option<Duration>,
) -> Option<(Dur, Dur)> {
    let dur = valid.unwrap_or(Duration::MAX);
    let start_ok = cl.start.0 < dur;
    c.expect(
        start_ok,
        &format!("{p}.start"),
        &format!("a start before the suite duration {suite_duration}"),
        cl.start,
    );
    let end = cl.duration.map_or(dur, |d| cl.start.0 + d.0);
    let length_ok = cl.duration.is_none_or(|d| !d.0.is_zero() && end <= dur);
    if let Some(d) = cl.duration {
        c.expect(
            length_ok,
            &format!("{p}.duration"),
            &format!(
                "a duration above 0s that ends by the suite's end (start {} + duration <= {suite_duration})",
                cl.start
            ),
            d,
        );
    }
    (valid.is_some() && start_ok && length_ok).then_some((cl.start, Dur(end)))
}
