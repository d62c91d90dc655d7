//! Library target of the eBPF crate: empty. It exists so the user-space crate
//! can name this package as a build-dependency (cargo then rebuilds it when
//! the kernel side changes); the programs live in the `svclab-datapath` binary.
#![no_std]
