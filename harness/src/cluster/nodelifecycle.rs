//! Node heartbeats and the node-lifecycle controller, for partitions. Each
//! node's kubelet renews its Lease through the API server; svclab's control
//! plane sits on the fabric bridge (`CONTROL_PLANE_ADDR`, in the fabric
//! netns) and a renewal is a real TCP connection from the node's netns to
//! it, so only a node actually cut off from the fabric (a `blackhole`
//! fault on the node) stops renewing; a path fault between two workers
//! does not, as in a real cluster. The controller, every monitor period,
//! marks a node whose last renewal is older than the grace period
//! NotReady and its pods not ready (their endpoints leave every service:
//! `MarkPodsNotReady`), and Ready again once renewals resume (kubelet
//! then reports its pods' own readiness).
//!
//! Kubernetes v1.31 (files and symbols; the kubernetes tree is too large
//! to fetch here, so no line numbers): kubelet renews every
//! `NodeLeaseDurationSeconds` (40) × `nodeLeaseRenewIntervalFraction`
//! (0.25) = 10 s (pkg/kubelet/kubelet.go); the controller runs every
//! `NodeMonitorPeriod` 5 s with `NodeMonitorGracePeriod` 40 s
//! (pkg/controller/nodelifecycle/config/v1alpha1/defaults.go; 50 s from
//! v1.32, CHANGELOG-1.32, PR 126287); `tryUpdateNodeHealth` sets Ready
//! Unknown past the grace and `monitorNodeHealth` calls
//! `MarkPodsNotReady` (pkg/controller/util/node/controller_utils.go).
//!
//! Taint-based eviction, from the same sources: `doNoExecuteTaintingPass`
//! (node_lifecycle_controller.go) puts `node.kubernetes.io/unreachable:
//! NoExecute` on a node whose Ready condition is Unknown through the
//! zone's rate-limited queue — `--node-eviction-rate` 0.1 nodes/s with a
//! burst of 1 (`EvictionRateLimiterBurst`, scheduler/rate_limited_queue.go)
//! in a Normal zone; `ComputeZoneState` calls a zone with no Ready node
//! FullDisruption (no taints: `handleDisruption` marks every node
//! reachable again) and one with more than 2 and at least
//! `--unhealthy-zone-threshold` 55% NotReady PartialDisruption (rate 0 at
//! or under `--large-cluster-size-threshold` 50 nodes: `ReducedQPSFunc`).
//! svclab's nodes are one zone. `markNodeAsReachable` removes the taint
//! when the node is Ready again. The taint-eviction controller then deletes
//! each pod `tolerationSeconds` after it saw the taint
//! (pkg/controller/tainteviction/taint_eviction.go `processPodOnNode`:
//! `triggerTime := startTime.Add(minTolerationTime)`); every pod tolerates
//! it for 300 s (the DefaultTolerationSeconds admission plugin) unless its
//! deployment sets `unreachable_toleration` (`cluster/eviction.rs`).
use std::{
    net::{SocketAddrV4, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use svclab_topology::CONTROL_PLANE_ADDR;

/// The API server's port on the control plane's address.
const API_PORT: u16 = 6443;
/// kubelet's lease renew interval (40 s × 0.25).
pub(super) const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The controller's `--node-monitor-period`.
pub(super) const MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// How long one renewal may take (a lost SYN is retried within it).
const RENEW_TIMEOUT: Duration = Duration::from_secs(2);
/// `--node-eviction-rate` 0.1 nodes/s: one NoExecute taint per 10 s.
pub(super) const TAINT_INTERVAL: Duration = Duration::from_secs(10);
/// `--unhealthy-zone-threshold`.
const UNHEALTHY_ZONE_THRESHOLD: f32 = 0.55;
/// `--large-cluster-size-threshold`.
const LARGE_CLUSTER_THRESHOLD: usize = 50;

/// What one controller pass changed on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NodeChange {
    /// Its lease went stale this long ago: NotReady, pods not ready.
    NotReady(u8, Duration),
    /// Renewing again.
    Ready(u8),
    /// `unreachable:NoExecute` added: its pods' tolerations start.
    Tainted(u8),
    /// The taint removed (Ready again, or the zone fully disrupted).
    Untainted(u8, &'static str),
}

/// `ComputeZoneState`'s verdict for the one zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

fn zone_state(nodes: usize, not_ready: usize) -> ZoneState {
    let ready = nodes - not_ready.min(nodes);
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f32 / nodes as f32 >= UNHEALTHY_ZONE_THRESHOLD {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// The control plane's listener and one renewer thread per node.
pub(super) struct NodeLeases {
    /// Per node: when its last renewal got through.
    last: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Scaled constants.
    renew: Duration,
    period: Duration,
    grace: Duration,
    next_check: Instant,
    /// Nodes the controller marked NotReady.
    pub(super) not_ready: std::collections::BTreeSet<u8>,
    /// Nodes with the `unreachable:NoExecute` taint, since when.
    pub(super) tainted: std::collections::BTreeMap<u8, Instant>,
    /// The taint queue's next token (rate 1 per `taint_every`, burst 1).
    next_taint: Instant,
    taint_every: Duration,
}

impl NodeLeases {
    /// Starts the API server's listener in `fabric` and a renewer in each
    /// of `nodes`; times are multiplied by `scale` (kubelet.time_scale).
    pub(super) fn start(
        fabric: &NetnsRef,
        nodes: &[NetnsRef],
        grace: Duration,
        scale: f64,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddrV4::new(CONTROL_PLANE_ADDR, API_PORT);
        let listener = fabric
            .run(|| TcpListener::bind(addr))?
            .with_context(|| format!("the control plane's listener on {addr}"))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let now = Instant::now();
        let last = Arc::new(Mutex::new(vec![now; nodes.len()]));
        let renew = RENEW_INTERVAL.mul_f64(scale);
        let mut threads = Vec::new();
        let flag = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("apiserver".into())
                .spawn(move || {
                    while !flag.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((s, _)) => drop(s),
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
                .context("starting the control plane's listener")?,
        );
        for (i, ns) in nodes.iter().enumerate() {
            let ns = ns.try_clone()?;
            let (flag, last) = (Arc::clone(&stop), Arc::clone(&last));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lease-node{i}"))
                    .spawn(move || {
                        // A dedicated thread: every renewal's socket is
                        // made in the node's netns.
                        if ns.enter_current_thread().is_err() {
                            return;
                        }
                        let mut next = Instant::now();
                        while !flag.load(Ordering::Relaxed) {
                            if Instant::now() >= next {
                                if TcpStream::connect_timeout(&addr.into(), RENEW_TIMEOUT).is_ok()
                                    && let Ok(mut v) = last.lock()
                                {
                                    v[i] = Instant::now();
                                }
                                next += renew;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    })
                    .context("starting a lease renewer")?,
            );
        }
        Ok(Self {
            last,
            stop,
            threads,
            renew,
            period: MONITOR_PERIOD.mul_f64(scale),
            grace: grace.mul_f64(scale),
            next_check: now,
            not_ready: std::collections::BTreeSet::new(),
            tainted: std::collections::BTreeMap::new(),
            next_taint: now,
            taint_every: TAINT_INTERVAL.mul_f64(scale),
        })
    }

    /// The controller's pass when one is due: the nodes that turned
    /// NotReady (with how long since their last renewal) and Ready again,
    /// then the NoExecute taints the zone's state and the rate allow.
    pub(super) fn check(&mut self, now: Instant) -> Vec<NodeChange> {
        if now < self.next_check {
            return Vec::new();
        }
        self.next_check = now + self.period;
        let Ok(last) = self.last.lock() else {
            return Vec::new();
        };
        let nodes = last.len();
        let mut changes = Vec::new();
        for (i, t) in last.iter().enumerate() {
            let i = u8::try_from(i).unwrap_or(u8::MAX);
            let since = now.saturating_duration_since(*t);
            let stale = since > self.grace;
            if stale && self.not_ready.insert(i) {
                changes.push(NodeChange::NotReady(i, since));
            } else if !stale && self.not_ready.remove(&i) {
                changes.push(NodeChange::Ready(i));
                if self.tainted.remove(&i).is_some() {
                    changes.push(NodeChange::Untainted(i, "Ready again"));
                }
            }
        }
        drop(last);
        match zone_state(nodes, self.not_ready.len()) {
            ZoneState::FullDisruption => {
                for n in std::mem::take(&mut self.tainted).into_keys() {
                    changes.push(NodeChange::Untainted(
                        n,
                        "no node is Ready (full disruption: no evictions)",
                    ));
                }
            }
            // Rate 0 in a small cluster: no new taints.
            ZoneState::PartialDisruption if nodes <= LARGE_CLUSTER_THRESHOLD => {}
            ZoneState::PartialDisruption | ZoneState::Normal => {
                for &n in &self.not_ready {
                    if self.tainted.contains_key(&n) || now < self.next_taint {
                        continue;
                    }
                    self.tainted.insert(n, now);
                    self.next_taint = now + self.taint_every;
                    changes.push(NodeChange::Tainted(n));
                }
            }
        }
        changes
    }

    /// Renewal interval and grace period as scaled.
    pub(super) fn timings(&self) -> (Duration, Duration) {
        (self.renew, self.grace)
    }
}

impl Drop for NodeLeases {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases(last: Vec<Instant>, grace: Duration) -> NodeLeases {
        let start = last.iter().min().copied().unwrap_or_else(Instant::now);
        NodeLeases {
            last: Arc::new(Mutex::new(last)),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            renew: RENEW_INTERVAL,
            period: MONITOR_PERIOD,
            grace,
            next_check: start,
            not_ready: std::collections::BTreeSet::new(),
            tainted: std::collections::BTreeMap::new(),
            next_taint: start,
            taint_every: TAINT_INTERVAL,
        }
    }

    /// `tryUpdateNodeHealth`: NotReady only once the last renewal is older
    /// than the grace; Ready again at the first pass after a renewal; no
    /// pass before the monitor period is up.
    #[test]
    fn a_node_turns_not_ready_past_the_grace_and_ready_after_a_renewal() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(40);
        let mut l = leases(vec![t0, t0], grace);
        assert!(
            l.check(t0 + Duration::from_secs(39)).is_empty(),
            "within the grace"
        );
        l.last.lock().expect("lock")[0] = t0 + Duration::from_secs(35);
        let at = t0 + Duration::from_secs(45);
        assert_eq!(
            l.check(at),
            vec![
                NodeChange::NotReady(1, Duration::from_secs(45)),
                NodeChange::Tainted(1)
            ],
            "node 1 stale, node 0 renewed; the taint follows at once"
        );
        assert!(
            l.check(at + Duration::from_secs(1)).is_empty(),
            "next pass 5 s later"
        );
        l.last.lock().expect("lock")[1] = at + Duration::from_secs(2);
        let back = at + MONITOR_PERIOD;
        assert_eq!(
            l.check(back),
            vec![
                NodeChange::Ready(1),
                NodeChange::Untainted(1, "Ready again")
            ]
        );
        assert!(l.not_ready.is_empty() && l.tainted.is_empty());
    }

    /// `ComputeZoneState` and the taint queue's rate: one node per 10 s in
    /// a Normal zone, none in a small partially disrupted zone, and no
    /// taints at all when no node is Ready.
    #[test]
    fn taints_follow_the_zone_state_and_the_eviction_rate() {
        assert_eq!(zone_state(2, 1), ZoneState::Normal);
        assert_eq!(zone_state(2, 2), ZoneState::FullDisruption);
        assert_eq!(zone_state(5, 2), ZoneState::Normal, "not more than 2");
        assert_eq!(zone_state(5, 3), ZoneState::PartialDisruption, "60% ≥ 55%");
        assert_eq!(zone_state(6, 3), ZoneState::Normal, "50% < 55%");

        let t0 = Instant::now();
        let grace = Duration::from_secs(40);
        let old = t0 - Duration::from_secs(60);
        // Two of four nodes go stale at once: Normal, one taint now and
        // the next 10 s later.
        let mut l = leases(vec![t0, t0, old, old], grace);
        let c = l.check(t0);
        assert_eq!(
            c.iter()
                .filter(|c| matches!(c, NodeChange::Tainted(_)))
                .count(),
            1,
            "{c:?}"
        );
        let c = l.check(t0 + Duration::from_secs(5));
        assert!(c.is_empty(), "the queue's next token is 10 s away: {c:?}");
        let c = l.check(t0 + Duration::from_secs(10));
        assert_eq!(c, vec![NodeChange::Tainted(3)]);
        // Every node stale: full disruption, the taints come off.
        let mut l = leases(vec![old, old], grace);
        let c = l.check(t0);
        assert_eq!(
            c,
            vec![
                NodeChange::NotReady(0, Duration::from_secs(60)),
                NodeChange::NotReady(1, Duration::from_secs(60))
            ],
            "no taint in a fully disrupted zone"
        );
        // Three of five stale in a small cluster: no taints.
        let mut l = leases(vec![t0, t0, old, old, old], grace);
        let c = l.check(t0);
        assert!(
            !c.iter().any(|c| matches!(c, NodeChange::Tainted(_))),
            "{c:?}"
        );
    }
}
