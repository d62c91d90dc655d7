//! The `bandwidth` fault: a TBF qdisc as the root of one interface's
//! egress, set with iproute2's `tc` inside the interface's netns and
//! deleted on drop. Where it sits (chosen in `cluster/faults.rs`): traffic
//! *to* a pod is shaped on its `lxc` in the node (the node's egress toward
//! the pod), traffic *from* it on the pod's own `eth0`. Not IFB on the
//! `lxc` ingress: IFB re-injects a redirected packet with
//! `tc_skip_classify` set (Linux v6.18 drivers/net/ifb.c
//! `ifb_ri_tasklet`), so the service datapath's tc program on that hook
//! would never see it and service traffic would go out untranslated.
use anyhow::Context as _;
use svclab_datapath::NetnsRef;

use crate::engines::kubeproxy::tools;

/// A root TBF on `ifname` in `netns`, deleted on drop.
pub struct Tbf {
    netns: NetnsRef,
    ifname: String,
}

impl std::fmt::Debug for Tbf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tbf on {} in {}", self.ifname, self.netns.name())
    }
}

/// TBF's `latency`: how long a packet may wait for tokens before TBF
/// drops it (tc-tbf(8); sets the queue's byte limit from the rate).
const TBF_LATENCY_MS: u64 = 50;

impl Tbf {
    /// `tc qdisc replace dev <ifname> root tbf rate <bps>bit burst <burst>b
    /// latency 50ms` in `netns`.
    pub fn set(netns: &NetnsRef, ifname: &str, rate_bps: u64, burst: u64) -> anyhow::Result<Self> {
        // Cloned first: nothing may fail between setting the qdisc and owning it.
        let owner = netns.try_clone()?;
        let rate = format!("{rate_bps}bit");
        let burst = format!("{burst}b");
        let latency = format!("{TBF_LATENCY_MS}ms");
        tools::run_in(
            netns,
            "tc",
            &[
                "qdisc", "replace", "dev", ifname, "root", "tbf", "rate", &rate, "burst", &burst,
                "latency", &latency,
            ],
            None,
        )
        .with_context(|| format!("setting a rate limit on {ifname} in netns {}", netns.name()))?;
        Ok(Self {
            netns: owner,
            ifname: ifname.to_owned(),
        })
    }
}

impl Drop for Tbf {
    fn drop(&mut self) {
        if let Err(e) = tools::run_in(
            &self.netns,
            "tc",
            &["qdisc", "del", "dev", &self.ifname, "root"],
            None,
        ) {
            // The interface (its pod) may be gone already.
            tracing::debug!("removing {self:?}: {e:#}");
        }
    }
}

/// The bucket when the suite gives none: 10 ms of the rate, at least 16
/// KiB (TBF needs at least one MTU-sized packet plus what the kernel's
/// timer granularity lets accumulate; tc-tbf(8)).
pub fn default_burst(rate_bps: u64) -> u64 {
    (rate_bps / 8 / 100).max(16 * 1024)
}
