//! The node's kube-proxy thread: kube-proxy's `BoundedFrequencyRunner`
//! pacing ([`Bucket`]), the state a sync works from, and one sync: render
//! the mode's batch from the state (`iptables.rs` or `nftables.rs`), apply
//! it in one atomic `iptables-nft-restore` or `nft -f -`, then kube-proxy's
//! stale UDP conntrack cleanup.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddrV4,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use svclab_datapath::{Backend, Frontend};

use crate::engines::dataplane::NodePort;

use super::{
    iptables::{self, ServiceRules, SyncPlan},
    model::{Mode, NodePortRules, cluster_endpoints, stale_udp},
    nftables::{self, NftState},
    tools,
};

/// proxier.go `NewProxier`: `burstSyncs := 2`.
const BURST_SYNCS: f64 = 2.0;

/// kube-proxy's `BoundedFrequencyRunner`: a token bucket of `BURST_SYNCS`
/// refilled once per `min` (pkg/util/async/bounded_frequency_runner.go;
/// `minInterval == 0` means no limit).
#[derive(Debug)]
pub struct Bucket {
    min: Duration,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(min: Duration, now: Instant) -> Self {
        Self {
            min,
            tokens: BURST_SYNCS,
            at: now,
        }
    }

    /// Takes a token if one is there.
    pub fn try_accept(&mut self, now: Instant) -> bool {
        if self.min.is_zero() {
            return true;
        }
        let refill = now.saturating_duration_since(self.at).as_secs_f64() / self.min.as_secs_f64();
        self.tokens = (self.tokens + refill).min(BURST_SYNCS);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until the next token.
    pub fn wait(&self) -> Duration {
        self.min.mul_f64((1.0 - self.tokens).max(0.0))
    }
}

#[derive(Debug, Default)]
pub(super) struct Svc {
    pub name: String,
    pub backends: Vec<Backend>,
    /// Session affinity timeout in seconds.
    pub affinity: Option<u32>,
    /// No local endpoint under internalTrafficPolicy Local.
    pub none_local: bool,
    /// `type: NodePort` on this node.
    pub node_port: Option<NodePort>,
    /// The endpoints of the NodePort's external traffic.
    pub np_backends: Vec<Backend>,
    /// No local endpoint under externalTrafficPolicy Local.
    pub np_none_local: bool,
    /// The service's cluster-wide endpoints (the short-circuit target under
    /// externalTrafficPolicy Local).
    pub np_cluster: Vec<Backend>,
}

impl Svc {
    /// The service as a sync renders it.
    fn rules(&self, f: Frontend) -> ServiceRules {
        ServiceRules {
            name: self.name.clone(),
            frontend: f,
            endpoints: cluster_endpoints(&self.backends),
            affinity: self.affinity,
            none_local: self.none_local,
            node_port: self.node_port.map(|np| NodePortRules {
                port: np.port,
                node_addr: np.node_addr,
                external_local: np.external_local,
                internal_local: np.internal_local,
                endpoints: cluster_endpoints(&self.np_backends),
                none_local: self.np_none_local,
                cluster: cluster_endpoints(&self.np_cluster),
            }),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub services: BTreeMap<Frontend, Svc>,
    pub changed: BTreeSet<Frontend>,
    /// No sync has run yet (kube-proxy's `needFullSync` at start).
    pub first: bool,
    pub pending: bool,
    pub wanted: u64,
    pub synced: u64,
    /// Chains the last sync left in place.
    pub active: BTreeSet<String>,
    pub counted: BTreeSet<(Frontend, SocketAddrV4)>,
    pub programmed: BTreeMap<Frontend, Vec<SocketAddrV4>>,
    pub error: Option<String>,
    pub stop: bool,
    pub syncs: u64,
    /// The nftables mode's element and chain bookkeeping.
    pub nft: NftState,
}

pub(super) type Shared = Arc<(Mutex<State>, Condvar)>;

pub(super) fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.0.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The node's kube-proxy: waits for changes and syncs them, at most as
/// often as the bucket allows.
pub(super) fn sync_loop(sh: &Shared, min: Duration, mode: Mode) {
    let mut bucket = Bucket::new(min, Instant::now());
    let mut st = lock(sh);
    loop {
        while !st.pending && !st.stop {
            st =
                sh.1.wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        if st.stop {
            return;
        }
        if !bucket.try_accept(Instant::now()) {
            let wait = bucket.wait().max(Duration::from_millis(1));
            st =
                sh.1.wait_timeout(st, wait)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            continue;
        }
        let (batch, gen_, udp) = plan(&mut st, mode);
        drop(st);
        let mut result = apply(&batch);
        // "Finish housekeeping, clear stale conntrack entries for UDP
        // Services" (proxier.go, after the restore).
        for (f, ep) in udp {
            let vip = f.vip.to_string();
            let mut args = vec!["-D", "-p", "udp", "--orig-dst", &vip];
            let dst;
            if let Some(ep) = ep {
                dst = ep.ip().to_string();
                args.extend(["--dst-nat", &dst]);
            }
            if let Err(e) = tools::run_here(tools::CONNTRACK, &args, None)
                && !e.to_string().contains("0 flow entries")
            {
                result = Err(e);
            }
        }
        st = lock(sh);
        st.syncs += 1;
        st.synced = gen_;
        if let Err(e) = result {
            tracing::error!("kube-proxy sync: {e:#}");
            st.error = Some(format!("{e:#}"));
        }
        sh.1.notify_all();
    }
}

type UdpCleanup = Vec<(Frontend, Option<SocketAddrV4>)>;

/// One sync's input for the mode's tool.
pub(super) enum Batch {
    Iptables(String),
    Nft(nftables::Tx),
}

/// Applies a sync in the calling thread's netns: one atomic
/// `iptables-restore --noflush --counters` (kube-proxy's `RestoreAll(...,
/// NoFlushTables, RestoreCounters)`), or `nft -f -` (one transaction, as
/// knftables runs it) after the deletion of chains stale for a second.
fn apply(batch: &Batch) -> anyhow::Result<()> {
    match batch {
        Batch::Iptables(text) => {
            tools::run_here(
                tools::IPTABLES_RESTORE,
                &["--noflush", "--counters"],
                Some(text),
            )?;
        }
        Batch::Nft(tx) => {
            if let Some(pre) = &tx.pre
                && let Err(e) = tools::run_here(tools::NFT, &["-f", "-"], Some(pre))
            {
                // proxier.go: "Unable to delete stale chains; will retry later".
                tracing::warn!("deleting stale nftables chains: {e:#}");
            }
            tools::run_here(tools::NFT, &["-f", "-"], Some(&tx.main))?;
        }
    }
    Ok(())
}

/// One sync's restore input from the state, and what the state becomes.
fn plan(st: &mut State, mode: Mode) -> (Batch, u64, UdpCleanup) {
    let services: Vec<ServiceRules> = st.services.iter().map(|(f, s)| s.rules(*f)).collect();
    let new_counters: Vec<(Frontend, SocketAddrV4)> = services
        .iter()
        .flat_map(ServiceRules::counter_keys)
        .filter(|k| !st.counted.contains(k))
        .collect();
    let changed = std::mem::take(&mut st.changed);
    let batch = match mode {
        Mode::Iptables => {
            let active = iptables::active_chains(&services);
            let stale = st.active.difference(&active).cloned().collect();
            let sync = SyncPlan {
                full: st.first,
                changed,
                stale,
                new_counters: new_counters.clone(),
            };
            st.active = active;
            Batch::Iptables(iptables::render(&services, &sync))
        }
        Mode::Nftables => Batch::Nft(nftables::render(
            &services,
            st.first,
            &changed,
            &new_counters,
            &mut st.nft,
            Instant::now(),
        )),
    };
    let mut udp = Vec::new();
    for s in &services {
        let before = st.programmed.get(&s.frontend).cloned().unwrap_or_default();
        for ep in stale_udp(s.frontend, &before, &s.endpoints) {
            udp.push((s.frontend, ep));
        }
        st.programmed.insert(s.frontend, s.endpoints.clone());
    }
    st.counted.extend(new_counters);
    st.first = false;
    st.pending = false;
    (batch, st.wanted, udp)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use svclab_datapath::BackendState;

    use super::*;

    /// A sync renders the state's NodePort (its external list through
    /// `cluster_endpoints`, as the internal one) and adds the NodePort's
    /// counter rules once; a later partial sync of the changed service
    /// rewrites its external chain without adding them again.
    #[test]
    fn a_node_port_is_rendered_and_counted_once() {
        let f = Frontend::tcp(Ipv4Addr::new(198, 19, 0, 10), 80);
        let be = |h: u8, state| Backend {
            addr: SocketAddrV4::new(Ipv4Addr::new(198, 18, 1, h), 8080),
            state,
        };
        let mut st = State {
            first: true,
            ..State::default()
        };
        st.services.insert(
            f,
            Svc {
                name: "web".into(),
                backends: vec![be(2, BackendState::Active), be(3, BackendState::Active)],
                node_port: Some(NodePort {
                    port: 30080,
                    node_addr: Ipv4Addr::new(198, 19, 255, 1),
                    external_local: true,
                    internal_local: false,
                }),
                np_backends: vec![
                    be(3, BackendState::Active),
                    be(2, BackendState::Terminating),
                ],
                ..Svc::default()
            },
        );
        let (Batch::Iptables(text), ..) = plan(&mut st, Mode::Iptables) else {
            panic!("iptables mode renders an iptables batch");
        };
        let svl = iptables::svl_chain("web", svclab_datapath::Protocol::Tcp);
        let sep3 = iptables::sep_chain(
            "web",
            svclab_datapath::Protocol::Tcp,
            be(3, BackendState::Active).addr,
        );
        assert!(
            text.contains(&format!(
                "-A {svl} -m comment --comment \"default/web -> 198.18.1.3:8080\" -j {sep3}"
            )),
            "the terminating endpoint is left out while one is ready: {text}"
        );
        let np_counter =
            "--ctorigdst 198.19.255.1/32 --ctorigdstport 30080 -p tcp -d 198.18.1.3/32";
        assert_eq!(text.matches(np_counter).count(), 2, "packets and new");
        assert!(
            st.active
                .contains(&iptables::ext_chain("web", svclab_datapath::Protocol::Tcp))
        );
        st.changed.insert(f);
        let (Batch::Iptables(text), ..) = plan(&mut st, Mode::Iptables) else {
            panic!("iptables mode renders an iptables batch");
        };
        assert!(!text.contains(np_counter));
        assert!(text.contains(":KUBE-EXT-"));
    }
}
