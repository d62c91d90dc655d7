//! The `matrix` section and engine labels: which dataplanes `svclab
//! compare` runs a suite under (`ebpf:cilium-1.11`, `kube-proxy-iptables`,
//! ...); `crate::engines` turns a suite into its run under one of them.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::datapath::{EngineSpec, ProfileSpec};

/// Engines `svclab compare` runs this suite under, one after another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Engine labels: `ebpf` (the suite's own profile), `ebpf:<profile>`
    /// (e.g. `ebpf:cilium-1.11`), `kube-proxy-iptables`, `kube-proxy-nftables`,
    /// `socket-lb`.
    pub engines: Vec<String>,
}

/// One engine of a comparison: the engine and, for eBPF, a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineChoice {
    pub engine: EngineSpec,
    pub profile: Option<ProfileSpec>,
}

impl EngineChoice {
    /// Parses a label; `None` when it names no engine.
    pub fn parse(label: &str) -> Option<Self> {
        let (engine, profile) = match label.split_once(':') {
            Some((e, p)) => (e, Some(p)),
            None => (label, None),
        };
        let engine = EngineSpec::parse(engine)?;
        let profile = match profile {
            None => None,
            Some(p) if engine == EngineSpec::Ebpf => Some(
                serde_json::from_value::<ProfileSpec>(serde_json::Value::String(p.to_owned()))
                    .ok()?,
            ),
            Some(_) => return None,
        };
        Some(Self { engine, profile })
    }

    /// The label as written (`ebpf:cilium-1.11`, `kube-proxy-iptables`).
    pub fn label(self) -> String {
        match self.profile {
            Some(p) => format!("{}:{}", self.engine.name(), profile_name(p)),
            None => self.engine.name().to_owned(),
        }
    }

    /// Whether an expectation limited to `labels` applies under this
    /// engine (`ebpf` covers every eBPF profile).
    pub fn matches(self, labels: &[String]) -> bool {
        labels.is_empty()
            || labels.iter().any(|l| {
                *l == self.label()
                    || (*l == self.engine.name())
                    || EngineChoice::parse(l).is_some_and(|c| {
                        c.engine == self.engine && c.profile.is_some() && c.profile == self.profile
                    })
            })
    }
}

fn profile_name(p: ProfileSpec) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_print_back() {
        for l in ["ebpf", "ebpf:cilium-1.11", "kube-proxy-iptables"] {
            assert_eq!(
                EngineChoice::parse(l).map(EngineChoice::label).as_deref(),
                Some(l)
            );
        }
        assert!(EngineChoice::parse("kube-proxy-iptables:cilium-1.11").is_none());
        assert!(EngineChoice::parse("ebpf:cilium-9").is_none());
        assert!(EngineChoice::parse("ipvs").is_none());
    }

    #[test]
    fn an_expectation_for_ebpf_covers_every_profile() {
        let c = EngineChoice::parse("ebpf:cilium-1.11").unwrap();
        assert!(c.matches(&["ebpf".into()]));
        assert!(c.matches(&["ebpf:cilium-1.11".into()]));
        assert!(!c.matches(&["ebpf:cilium-1.16".into()]));
        assert!(!c.matches(&["kube-proxy-iptables".into()]));
        assert!(c.matches(&[]));
    }
}
