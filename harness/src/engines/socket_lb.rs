//! What socket-LB needs beyond its programs: the run's cgroup v2 tree
//! (`svclab-cgroup`), one cgroup per node, whose connect4/sendmsg4/
//! recvmsg4/getpeername4 programs see every socket below it, and a cgroup
//! per client pod under its node's, which the client's load thread (and a
//! client nginx) joins. The cluster asks this for a client's placement; no
//! other engine has a tree, so the cluster holds an `Option` of it.
use std::path::PathBuf;

use anyhow::Context as _;
use svclab_cgroup::CgroupTree;

/// A client pod's cgroup (socket-LB), as its load thread joins it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCgroup {
    pub dir: PathBuf,
    /// The threaded domain the thread goes back to when it ends.
    pub home: PathBuf,
}

/// A node's cgroup under the run's tree.
fn node_cgroup(node: u8) -> String {
    format!("node{node}")
}

/// `node<n>/client-<name>` under the run's cgroup tree.
fn client_cgroup(node: u8, name: &str) -> String {
    format!("{}/client-{name}", node_cgroup(node))
}

/// The run's cgroup tree for socket-LB: nodes and their client pods.
#[derive(Debug)]
pub struct SocketLbCgroups {
    tree: CgroupTree,
}

impl SocketLbCgroups {
    /// Mounts and creates the run's tree (named with the run `prefix`).
    pub fn create(prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            tree: CgroupTree::create(prefix)
                .context("creating the run's cgroup v2 tree (socket-lb)")?,
        })
    }

    /// Adds node `node`'s cgroup and opens it for the programs' attach.
    pub fn add_node(&mut self, node: u8) -> anyhow::Result<std::fs::File> {
        self.tree.add(&node_cgroup(node))?;
        Ok(self.tree.open(&node_cgroup(node))?)
    }

    /// Adds client pod `name`'s cgroup under node `node`'s.
    pub fn add_client(&mut self, node: u8, name: &str) -> anyhow::Result<()> {
        self.tree
            .add(&client_cgroup(node, name))
            .with_context(|| format!("the cgroup of client pod {name}"))?;
        Ok(())
    }

    /// Client pod `name`'s (on `node`) cgroup and its thread's way back.
    pub fn client(&self, node: u8, name: &str) -> anyhow::Result<ClientCgroup> {
        Ok(ClientCgroup {
            dir: self.tree.path(&client_cgroup(node, name))?,
            home: self.tree.home().to_owned(),
        })
    }

    /// Removes client pod `name`'s cgroup (its threads have left it).
    pub fn remove_client(&mut self, node: u8, name: &str) -> anyhow::Result<()> {
        Ok(self.tree.remove(&client_cgroup(node, name))?)
    }

    /// Removes every cgroup and the mount.
    pub fn teardown(self) -> anyhow::Result<()> {
        Ok(self.tree.teardown()?)
    }
}
