//! Which packets of a hop a fault matches, in the two languages that
//! enforce it: the fault program's config (prefixes, a port, a spared
//! address) and iptables arguments for the delay line and the reset rule.
use std::net::Ipv4Addr;

use svclab_datapath::{FaultConfig, FaultPrefix};

/// One service's traffic on a hop: TCP to the backend's `port`
/// ([`PortSide::Dst`], requests) or from it ([`PortSide::Src`], replies),
/// except what `spare` sends (requests) or receives (replies): the node's
/// own address, so that the kubelet's probes pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortFilter {
    pub port: u16,
    pub side: PortSide,
    pub spare: Ipv4Addr,
}

/// Which port of a packet a [`PortFilter`] matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortSide {
    Dst,
    Src,
}

impl PortFilter {
    /// The fault program's port and exclusion fields.
    pub(super) fn apply(self, cfg: &mut FaultConfig) {
        cfg.port = self.port.to_be();
        // Requests: destination port, spare by source; replies: source
        // port, spare by destination (the kernel contract's 1 and 2).
        let side = match self.side {
            PortSide::Dst => 1,
            PortSide::Src => 2,
        };
        cfg.port_side = side;
        cfg.exclude_side = side;
        cfg.exclude = prefix((self.spare, 32));
    }

    /// The same match as iptables arguments.
    pub(super) fn args(self) -> Vec<String> {
        let (port, addr) = match self.side {
            PortSide::Dst => ("--dport", "-s"),
            PortSide::Src => ("--sport", "-d"),
        };
        [
            "-p",
            "tcp",
            port,
            &self.port.to_string(),
            "!",
            addr,
            &format!("{}/32", self.spare),
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

pub(super) fn prefix((addr, len): (Ipv4Addr, u8)) -> FaultPrefix {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    FaultPrefix {
        addr: u32::from(addr).to_be(),
        mask: mask.to_be(),
    }
}

/// `-s a/n,b/m` for an iptables rule, when the hop filters sources.
pub(super) fn src_args(src: &[(Ipv4Addr, u8)]) -> Vec<String> {
    if src.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = src.iter().map(|(a, n)| format!("{a}/{n}")).collect();
    vec!["-s".to_owned(), list.join(",")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_destination_port_and_spare_the_source_replies_the_reverse() {
        let spare = Ipv4Addr::new(198, 18, 0, 1);
        let req = PortFilter {
            port: 8080,
            side: PortSide::Dst,
            spare,
        };
        assert_eq!(
            req.args().join(" "),
            "-p tcp --dport 8080 ! -s 198.18.0.1/32"
        );
        let mut cfg = FaultConfig::default();
        req.apply(&mut cfg);
        assert_eq!(
            (cfg.port, cfg.port_side, cfg.exclude_side),
            (8080u16.to_be(), 1, 1)
        );
        assert_eq!(cfg.exclude, prefix((spare, 32)));
        let rep = PortFilter {
            side: PortSide::Src,
            ..req
        };
        assert_eq!(
            rep.args().join(" "),
            "-p tcp --sport 8080 ! -d 198.18.0.1/32"
        );
        let mut cfg = FaultConfig::default();
        rep.apply(&mut cfg);
        assert_eq!((cfg.port_side, cfg.exclude_side), (2, 2));
    }
}
