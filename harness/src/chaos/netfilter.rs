//! One iptables rule a fault adds in one of the run's namespaces, owned:
//! dropping the [`Rule`] deletes it (by its exact spec, which carries the
//! run's prefix and the fault's name in a comment). A rule whose netns is
//! already gone (its pod deleted) went with it. iptables-nft, as the
//! kube-proxy engines use (`engines/kubeproxy/tools.rs` says why).
use anyhow::Context as _;
use svclab_datapath::NetnsRef;

use crate::engines::kubeproxy::tools;

/// `iptables-nft`: the rules land in the netns's nf_tables `ip` tables.
pub const IPTABLES: &str = "iptables-nft";

/// A rule in `table` of `netns`, deleted on drop.
pub struct Rule {
    netns: NetnsRef,
    table: &'static str,
    spec: Vec<String>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -t {} {}",
            self.netns.name(),
            self.table,
            self.spec.join(" ")
        )
    }
}

impl Rule {
    /// Appends `chain spec… -m comment --comment <comment>` to `table`.
    pub fn append(
        netns: &NetnsRef,
        table: &'static str,
        chain: &str,
        spec: &[String],
        comment: &str,
    ) -> anyhow::Result<Self> {
        let mut full = vec![chain.to_owned()];
        full.extend(spec.iter().cloned());
        // The comment match goes before the target (a target ends the
        // rule's matches).
        let at = full.iter().position(|a| a == "-j").unwrap_or(full.len());
        full.splice(
            at..at,
            ["-m", "comment", "--comment", comment].map(str::to_owned),
        );
        // Cloned first: nothing may fail between adding the rule and owning it.
        let owner = netns.try_clone()?;
        let mut args = vec!["-t".to_owned(), table.to_owned(), "-A".to_owned()];
        args.extend(full.iter().cloned());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        tools::run_in(netns, IPTABLES, &argv, None)
            .with_context(|| format!("adding a fault rule in netns {}", netns.name()))?;
        Ok(Self {
            netns: owner,
            table,
            spec: full,
        })
    }
}

impl Drop for Rule {
    fn drop(&mut self) {
        let mut args = vec!["-t", self.table, "-D"];
        args.extend(self.spec.iter().map(String::as_str));
        if let Err(e) = tools::run_in(&self.netns, IPTABLES, &args, None) {
            // The pod (and its netns) may be gone already: nothing to undo.
            tracing::debug!("removing fault rule {self:?}: {e:#}");
        }
    }
}
