//! A small pool of namespace worker threads. setns(2) and unshare(2) move
//! only the calling thread, and a netlink socket binds to the namespace of
//! the thread that opens it, so all namespace work runs here, never on the
//! caller's thread. Each worker owns a current-thread tokio runtime (which
//! rtnetlink needs) and one rtnetlink connection per node namespace,
//! opened on first use and reused for every later pod on that node. After
//! every job the worker moves back to the namespace it started in, so it
//! never keeps a deleted namespace alive; a worker that cannot move back
//! ends its thread instead.
use std::{collections::HashMap, os::fd::OwnedFd, sync::mpsc, thread::JoinHandle};

use crate::{
    error::TopologyError,
    netns,
    nl::{self, Nl},
};

/// State a job runs with; lives on its worker thread.
pub(crate) struct Worker {
    pub(crate) rt: tokio::runtime::Runtime,
    home: OwnedFd,
    nodes: HashMap<u8, Nl>,
    broken: bool,
}

impl Worker {
    fn new() -> Result<Self, TopologyError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(|e| TopologyError::sys("start tokio runtime", "(worker)", e))?;
        Ok(Self {
            rt,
            home: netns::current()?,
            nodes: HashMap::new(),
            broken: false,
        })
    }

    /// Moves the thread back to the namespace it started in. If that
    /// fails the worker ends after the current job.
    pub(crate) fn go_home(&mut self) -> Result<(), TopologyError> {
        let r = netns::enter(&self.home, "(worker home)");
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    /// Keeps `conn` (opened while inside node `node`'s namespace) as this
    /// worker's connection to that node.
    pub(crate) fn adopt_node(&mut self, node: u8, conn: nl::NlConnection, handle: Nl) {
        self.rt.spawn(conn);
        self.nodes.insert(node, handle);
    }

    /// This worker's connection to node `node` (namespace `name`), opened
    /// on first use. The thread is back home when this returns.
    pub(crate) fn node(&mut self, node: u8, name: &str) -> Result<Nl, TopologyError> {
        if let Some(nl) = self.nodes.get(&node) {
            return Ok(nl.clone());
        }
        let fd = netns::open(&netns::netns_path(name), name)?;
        netns::enter(&fd, name)?;
        let opened = {
            let _ctx = self.rt.enter();
            nl::connect(name)
        };
        self.go_home()?;
        let (conn, handle) = opened?;
        self.adopt_node(node, conn, handle.clone());
        Ok(handle)
    }
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

struct Slot {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// The worker threads of one topology.
pub(crate) struct Pool {
    slots: Vec<Slot>,
}

impl Pool {
    pub(crate) fn new(n: usize) -> Result<Self, TopologyError> {
        let mut pool = Pool { slots: Vec::new() };
        for i in 0..n.max(1) {
            let (tx, rx) = mpsc::channel::<Job>();
            let (ready_tx, ready_rx) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("svl-topo-{i}"))
                .spawn(move || {
                    let mut w = match Worker::new() {
                        Ok(w) => {
                            let _ = ready_tx.send(Ok(()));
                            w
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    while let Ok(job) = rx.recv() {
                        job(&mut w);
                        if w.broken {
                            log::error!("topology worker {i} could not return home; ending it");
                            break;
                        }
                    }
                })
                .map_err(|e| TopologyError::sys("spawn worker thread", "(worker)", e))?;
            pool.slots.push(Slot {
                tx: Some(tx),
                thread: Some(thread),
            });
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(TopologyError::Worker { op: "start worker" }),
            }
        }
        Ok(pool)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Queues `f` on worker `i` (modulo the pool size); the receiver yields
    /// its result, or disconnects if the worker died.
    pub(crate) fn submit<R: Send + 'static>(
        &self,
        i: usize,
        op: &'static str,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<mpsc::Receiver<R>, TopologyError> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |w| {
            let _ = tx.send(f(w));
        });
        let slot = self
            .slots
            .get(i % self.slots.len().max(1))
            .ok_or(TopologyError::Worker { op })?;
        slot.tx
            .as_ref()
            .ok_or(TopologyError::Worker { op })?
            .send(job)
            .map_err(|_| TopologyError::Worker { op })?;
        Ok(rx)
    }

    /// Runs `f` on worker `i` and waits for its result.
    pub(crate) fn run<R: Send + 'static>(
        &self,
        i: usize,
        op: &'static str,
        f: impl FnOnce(&mut Worker) -> R + Send + 'static,
    ) -> Result<R, TopologyError> {
        self.submit(i, op, f)?
            .recv()
            .map_err(|_| TopologyError::Worker { op })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queues ends the threads; their runtimes drop every
        // node connection (whose sockets would otherwise pin the node
        // namespaces).
        for s in &mut self.slots {
            s.tx.take();
        }
        for s in &mut self.slots {
            if let Some(t) = s.thread.take()
                && t.join().is_err()
            {
                log::error!("a topology worker thread panicked");
            }
        }
    }
}
