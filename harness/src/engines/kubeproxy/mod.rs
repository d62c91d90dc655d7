//! kube-proxy as a node's service dataplane ([`KubeProxyDataplane`]): the
//! node's "kube-proxy" is a thread that entered the node netns and writes
//! kube-proxy v1.30's rules for its ClusterIP and NodePort services there
//! (`iptables.rs`, `nftables.rs`) in one `iptables-nft-restore` batch or
//! `nft` transaction per sync, paced like kube-proxy's
//! `BoundedFrequencyRunner`; the kernel's own conntrack and NAT carry the
//! traffic. Per-endpoint counters come from svclab's counter rules; live
//! flows and flushes from `conntrack` (`tools.rs`). Nothing here touches the
//! root namespace: every command runs inside the node netns, and the rules
//! go with the netns at teardown.
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddrV4,
    sync::{Arc, Condvar, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use svclab_datapath::{Backend, Frontend, NetnsRef};

use super::dataplane::{Dataplane, DataplaneCounters, NodePort};

pub mod conntrack;
pub mod inspect;
pub mod iptables;
mod model;
pub mod nftables;
mod sync;
pub mod tools;

pub use self::model::{Mode, cluster_endpoints, stale_udp};

pub use self::sync::Bucket;
use self::sync::{Shared, State, Svc, lock, sync_loop};

/// kube-proxy v1.30's default `iptables.minSyncPeriod`
/// (pkg/proxy/apis/config/v1alpha1/defaults.go).
pub const DEFAULT_MIN_SYNC_PERIOD: Duration = Duration::from_secs(1);

/// Whether this machine has what a kube-proxy engine runs, checked before
/// any kernel state exists: the tools, and for nftables the kernel's
/// nf_tables (an `nft --check` in a throwaway network namespace, so the
/// root namespace's firewall is not even read).
pub fn check_machine(mode: Mode) -> Result<(), String> {
    let needed: &[&str] = match mode {
        Mode::Iptables => &[
            tools::IPTABLES_RESTORE,
            tools::IPTABLES_SAVE,
            tools::CONNTRACK,
        ],
        Mode::Nftables => &[tools::NFT, tools::CONNTRACK],
    };
    for t in needed {
        if !tools::on_path(t) {
            return Err(format!(
                "engine {} needs `{t}`, which this machine lacks \
                 (Debian: apt-get install iptables nftables conntrack; or scripts/bootstrap.sh run)",
                mode.engine()
            ));
        }
    }
    conntrack::check_machine().map_err(|e| format!("engine {}: {e}", mode.engine()))?;
    if mode == Mode::Nftables {
        tools::nft_probe().map_err(|e| {
            format!(
                "engine kube-proxy-nftables: this kernel's nf_tables does not take kube-proxy's table: {e:#}"
            )
        })?;
    }
    Ok(())
}

/// kube-proxy (iptables or nftables mode) on one node.
pub struct KubeProxyDataplane {
    mode: Mode,
    netns: NetnsRef,
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl KubeProxyDataplane {
    /// Starts the node's sync thread in `netns`; `names` gives each
    /// service frontend its name (chain names hash it, as kube-proxy's do).
    pub fn start(
        mode: Mode,
        netns: &NetnsRef,
        names: BTreeMap<Frontend, String>,
        min_sync_period: Duration,
    ) -> anyhow::Result<Self> {
        conntrack::setup(netns)?;
        let shared: Shared = Arc::new((
            Mutex::new(State {
                first: true,
                services: names
                    .into_iter()
                    .map(|(f, name)| {
                        (
                            f,
                            Svc {
                                name,
                                ..Svc::default()
                            },
                        )
                    })
                    .collect(),
                ..State::default()
            }),
            Condvar::new(),
        ));
        let ns = netns.try_clone()?;
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-proxy {}", netns.name()))
            .spawn(move || {
                if let Err(e) = ns.enter_current_thread() {
                    let mut st = lock(&sh);
                    st.error = Some(format!("{e:#}"));
                    sh.1.notify_all();
                    return;
                }
                sync_loop(&sh, min_sync_period, mode);
            })
            .context("starting the kube-proxy sync thread")?;
        Ok(Self {
            mode,
            netns: netns.try_clone()?,
            shared,
            thread: Some(thread),
        })
    }

    fn mark(&self, f: impl FnOnce(&mut State) -> bool) -> anyhow::Result<()> {
        let mut st = lock(&self.shared);
        if let Some(e) = &st.error {
            bail!("kube-proxy sync failed in {}: {e}", self.netns.name());
        }
        if f(&mut st) {
            st.pending = true;
            st.wanted += 1;
            self.shared.1.notify_all();
        }
        Ok(())
    }

    /// Applies `change` to `frontend`'s service; a real change (`change`
    /// returns true) marks the service changed and queues a sync.
    fn edit(
        &self,
        frontend: Frontend,
        change: impl FnOnce(&mut Svc) -> bool,
    ) -> anyhow::Result<()> {
        self.mark(|st| {
            let changed = change(st.services.entry(frontend).or_default());
            if changed {
                st.changed.insert(frontend);
            }
            changed
        })
    }

    fn frontends(&self) -> Vec<Frontend> {
        lock(&self.shared).services.keys().copied().collect()
    }

    /// Every open NodePort as the original destination of its connections
    /// (`node_addr:port`).
    fn node_ports(&self) -> Vec<Frontend> {
        lock(&self.shared)
            .services
            .iter()
            .filter_map(|(f, s)| {
                s.node_port.map(|np| Frontend {
                    vip: np.node_addr,
                    port: np.port,
                    proto: f.proto,
                })
            })
            .collect()
    }

    /// Rule syncs so far.
    pub fn syncs(&self) -> u64 {
        lock(&self.shared).syncs
    }
}

/// Sets `*slot` to `v`; whether it changed.
fn replace<T: PartialEq>(slot: &mut T, v: T) -> bool {
    *slot != v && {
        *slot = v;
        true
    }
}

impl Dataplane for KubeProxyDataplane {
    /// A NodePort opened, closed or changed queues a sync that rewrites
    /// the service's chains (`KUBE-EXT`, and which list is in `KUBE-SVC` or
    /// `KUBE-SVL` depends on the policies).
    fn set_node_port(
        &mut self,
        frontend: Frontend,
        node_port: Option<NodePort>,
    ) -> anyhow::Result<()> {
        self.edit(frontend, |s| replace(&mut s.node_port, node_port))
    }

    /// A change of the external list queues a sync, as `set_backends`.
    fn set_node_port_backends(
        &mut self,
        frontend: Frontend,
        backends: &[Backend],
        none_local: bool,
        cluster: &[Backend],
    ) -> anyhow::Result<()> {
        self.edit(frontend, |s| {
            let list = s.np_backends != backends && {
                s.np_backends = backends.to_vec();
                true
            };
            let all = s.np_cluster != cluster && {
                s.np_cluster = cluster.to_vec();
                true
            };
            replace(&mut s.np_none_local, none_local) | list | all
        })
    }

    /// kube-proxy does not care about pod interfaces.
    fn attach(&mut self, _lxc: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn detach(&mut self, _lxc: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn upsert_service(&mut self, frontend: Frontend) -> anyhow::Result<()> {
        self.mark(|st| {
            let fresh = !st.services.contains_key(&frontend);
            let e = st.services.entry(frontend).or_default();
            if e.name.is_empty() {
                e.name = format!("svc-{}-{}", frontend.vip, frontend.port).replace('.', "-");
            }
            st.changed.insert(frontend);
            fresh || st.first
        })
    }

    /// A service change queues a sync: its chains are rewritten with or
    /// without the affinity rules.
    fn set_session_affinity(
        &mut self,
        frontend: Frontend,
        timeout: Option<Duration>,
    ) -> anyhow::Result<()> {
        let secs = timeout.map(|t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX));
        self.edit(frontend, |s| replace(&mut s.affinity, secs))
    }

    fn set_no_local_endpoints(&mut self, frontend: Frontend, none: bool) -> anyhow::Result<()> {
        self.edit(frontend, |s| replace(&mut s.none_local, none))
    }

    /// An endpoint change queues a sync (kube-proxy's change tracker: only a
    /// real change calls `Sync()`).
    fn set_backends(&mut self, frontend: Frontend, backends: &[Backend]) -> anyhow::Result<()> {
        self.edit(frontend, |s| {
            s.backends != backends && {
                s.backends = backends.to_vec();
                true
            }
        })
    }

    /// Deletes the conntrack entries of every service ClusterIP (what an
    /// operator's `conntrack -D --orig-dst <ClusterIP>` does) and of every
    /// NodePort (`conntrack -D -p tcp --orig-dst <node> --orig-port-dst
    /// <nodePort>`).
    fn flush_ct(&mut self) -> anyhow::Result<u64> {
        let mut n = 0;
        let clusterips = self.frontends().into_iter().map(|f| (f, false));
        let node_ports = self.node_ports().into_iter().map(|f| (f, true));
        for (f, by_port) in clusterips.chain(node_ports) {
            let vip = f.vip.to_string();
            let port = f.port.to_string();
            let proto = match f.proto {
                svclab_datapath::Protocol::Tcp => "tcp",
                svclab_datapath::Protocol::Udp => "udp",
            };
            let mut args = vec!["-D"];
            if by_port {
                args.extend(["-p", proto, "--orig-dst", &vip, "--orig-port-dst", &port]);
            } else {
                args.extend(["--orig-dst", &vip]);
            }
            match tools::run_in(&self.netns, tools::CONNTRACK, &args, None) {
                Ok((_, err)) => n += tools::parse_deleted(&err),
                // conntrack exits 1 when nothing matched.
                Err(e) if e.to_string().contains("0 flow entries") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    fn counters(&self) -> anyhow::Result<DataplaneCounters> {
        let backends = match self.mode {
            Mode::Iptables => {
                let (save, _) = tools::run_in(
                    &self.netns,
                    tools::IPTABLES_SAVE,
                    &["-c", "-t", "filter"],
                    None,
                )?;
                tools::parse_counters(&save)
            }
            Mode::Nftables => {
                let (list, _) = tools::run_in(
                    &self.netns,
                    tools::NFT,
                    &["list", "table", "ip", "svclab"],
                    None,
                )?;
                nftables::parse_counters(&list)
            }
        };
        let new: u64 = backends.values().map(|b| b.syns).sum();
        let mut reasons = BTreeMap::new();
        reasons.insert("new_conntrack_dnat".to_owned(), new);
        Ok(DataplaneCounters { reasons, backends })
    }

    /// Conntrack entries whose original destination is a service (its
    /// ClusterIP, or its NodePort on this node), by the endpoint they were
    /// DNATed to, in any TCP state (TIME_WAIT ones included: they are in
    /// the table, though a SYN on one starts over).
    fn live_flows(&self) -> anyhow::Result<BTreeMap<SocketAddrV4, u64>> {
        let fronts: BTreeSet<SocketAddrV4> = self
            .frontends()
            .iter()
            .chain(&self.node_ports())
            .map(Frontend::addr)
            .collect();
        let (out, _) = tools::run_in(&self.netns, tools::CONNTRACK, &["-L"], None)?;
        let mut m = BTreeMap::new();
        for l in tools::parse_conntrack(&out) {
            if fronts.contains(&l.orig_dst) {
                *m.entry(l.reply_src).or_default() += 1;
            }
        }
        Ok(m)
    }

    fn inspect_ids(&self) -> BTreeMap<String, u32> {
        BTreeMap::new()
    }

    fn engine(&self) -> &'static str {
        self.mode.engine()
    }

    fn wait_synced(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.shared);
        let want = st.wanted;
        while st.synced < want && st.error.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "kube-proxy in {} did not sync within {timeout:?}",
                    self.netns.name()
                );
            }
            st = self
                .shared
                .1
                .wait_timeout(st, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        if let Some(e) = &st.error {
            bail!("kube-proxy sync failed in {}: {e}", self.netns.name());
        }
        Ok(())
    }

    /// Stops the sync thread; the rules and conntrack entries go with the
    /// node netns.
    fn close(mut self: Box<Self>) -> anyhow::Result<()> {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the kube-proxy sync thread panicked"))?;
        }
        Ok(())
    }
}

impl Drop for KubeProxyDataplane {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_sync_period_allows_a_burst_of_two_then_one_per_period() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Duration::from_secs(1), t0);
        assert!(b.try_accept(t0));
        assert!(b.try_accept(t0));
        assert!(!b.try_accept(t0), "a third sync at once waits");
        assert!(b.wait() > Duration::from_millis(900));
        assert!(!b.try_accept(t0 + Duration::from_millis(500)));
        assert!(b.try_accept(t0 + Duration::from_millis(1001)));
        let mut z = Bucket::new(Duration::ZERO, t0);
        assert!(
            (0..10).all(|_| z.try_accept(t0)),
            "minSyncPeriod 0: no limit"
        );
    }
}
