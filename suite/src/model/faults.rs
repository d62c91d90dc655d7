//! The `fault` timeline action: a named network fault on a target (a pod,
//! some of a deployment's pods, a node, the path between two nodes, a
//! service's traffic to one backend) in one
//! or both directions, of one kind (loss, delay, bandwidth, reset,
//! blackhole), for a duration or until a `clear_fault`. Loss models and
//! their parameters are netem's (`tc-netem(8)`), so a customer's `tc
//! qdisc ... netem` line translates one to one.
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Dur;

/// One network fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The fault's name, unique among the suite's faults (the report and
    /// `clear_fault` use it): 1..=32 letters, digits, '-' or '_'.
    pub name: String,
    /// What the fault applies to.
    pub target: FaultTarget,
    /// Which traffic: `to` the target, `from` it, or `both` (default). On a
    /// path `[a, b]`, `to` is a → b and `from` is b → a.
    #[serde(default)]
    pub direction: Direction,
    /// How long it lasts; default: until a `clear_fault` or the run's end.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Drop a share of packets (netem's `loss random` / `loss gemodel`).
    #[serde(default)]
    pub loss: Option<LossSpec>,
    /// Hold every packet for a time (netem's `delay TIME JITTER`), in a
    /// user-space queue (NFQUEUE): this kernel has no netem.
    #[serde(default)]
    pub delay: Option<DelaySpec>,
    /// Limit the rate (TBF).
    #[serde(default)]
    pub bandwidth: Option<BandwidthSpec>,
    /// Reset established connections and/or refuse a share of new ones
    /// with a TCP reset (pod targets only).
    #[serde(default)]
    pub reset: Option<ResetSpec>,
    /// Drop every packet: a partition on a node or path, a blackhole on a
    /// pod.
    #[serde(default)]
    pub blackhole: bool,
}

impl Fault {
    /// The kinds this fault sets, by key (validation wants exactly one).
    #[must_use]
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.loss.is_some() {
            k.push("loss");
        }
        if self.delay.is_some() {
            k.push("delay");
        }
        if self.bandwidth.is_some() {
            k.push("bandwidth");
        }
        if self.reset.is_some() {
            k.push("reset");
        }
        if self.blackhole {
            k.push("blackhole");
        }
        k
    }
}

/// Exactly one of `pod`, `deployment`, `node`, `path`; `service` with
/// `pod` narrows the fault to that service's traffic to the backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultTarget {
    /// One pod by the name the run gives it (`<deployment>-<n>`).
    #[serde(default)]
    pub pod: Option<String>,
    /// With `pod`: only this service's traffic to that backend — its
    /// clients' packets to the service's target port (`to`) and the
    /// backend's replies from it (`from`). The node's own traffic to the
    /// pod (the kubelet's probes) passes untouched, as in a service mesh's
    /// per-destination fault; target the pod for a fault on its link.
    #[serde(default)]
    pub service: Option<String>,
    /// A deployment's running pods when the fault starts (pods created
    /// later are not affected, as with Chaos Mesh's selectors).
    #[serde(default)]
    pub deployment: Option<String>,
    /// With `deployment`: only this many of its pods, oldest first
    /// (default: all).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub pods: Option<u32>,
    /// A node: everything it exchanges over the fabric (2+ nodes).
    #[serde(default)]
    #[schemars(range(max = 15))]
    pub node: Option<u8>,
    /// The path between two nodes `[a, b]` (2+ nodes).
    #[serde(default)]
    pub path: Option<[u8; 2]>,
}

/// Which traffic of the target a fault affects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic into the target (on a path `[a, b]`: a → b).
    To,
    /// Traffic out of the target (on a path `[a, b]`: b → a).
    From,
    #[default]
    Both,
}

impl Direction {
    #[must_use]
    pub fn to(self) -> bool {
        matches!(self, Self::To | Self::Both)
    }
    #[must_use]
    pub fn from(self) -> bool {
        matches!(self, Self::From | Self::Both)
    }
}

/// `percent` (with an optional `correlation`), or a `burst` model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossSpec {
    /// Loss probability in percent, 0..=100 (netem `loss random PERCENT`).
    #[serde(default)]
    pub percent: Option<f64>,
    /// netem's correlation in percent, 0..=100: each draw leans on the
    /// previous one (`loss random PERCENT CORRELATION`). As in netem this
    /// keeps the rate only at 50%: 5% with 25% loses ~0.2%
    /// ([`netem_correlated_loss`]; `validate` warns); use `burst` for bursts
    /// at a set rate.
    #[serde(default)]
    pub correlation: Option<f64>,
    /// The Gilbert–Elliott burst model (netem `loss gemodel p r 1-h 1-k`).
    #[serde(default)]
    pub burst: Option<BurstSpec>,
}

/// Gilbert–Elliott: a good and a bad state, in percent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BurstSpec {
    /// `p`: chance per packet of entering the bad state.
    pub enter: f64,
    /// `r`: chance per packet of leaving it; default `100 - enter`, as tc.
    #[serde(default)]
    pub leave: Option<f64>,
    /// `1-h`: loss in the bad state; default 100.
    #[serde(default)]
    pub loss_in_burst: Option<f64>,
    /// `1-k`: loss in the good state; default 0.
    #[serde(default)]
    pub loss_outside: Option<f64>,
}

impl BurstSpec {
    /// `r`, with tc's default.
    #[must_use]
    pub fn leave(&self) -> f64 {
        self.leave.unwrap_or(100.0 - self.enter)
    }
    /// `1-h`, with tc's default.
    #[must_use]
    pub fn loss_in_burst(&self) -> f64 {
        self.loss_in_burst.unwrap_or(100.0)
    }
    /// `1-k`, with tc's default.
    #[must_use]
    pub fn loss_outside(&self) -> f64 {
        self.loss_outside.unwrap_or(0.0)
    }
    /// The long-run loss rate in percent: the share of time in each state
    /// (bad: p / (p + r)) times its loss.
    #[must_use]
    pub fn mean_loss(&self) -> f64 {
        let (p, r) = (self.enter, self.leave());
        if p + r <= 0.0 {
            return self.loss_outside();
        }
        let bad = p / (p + r);
        bad * self.loss_in_burst() + (1.0 - bad) * self.loss_outside()
    }
}

/// Added delay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelaySpec {
    /// Added to every packet, 1ms..=10s.
    pub time: Dur,
    /// Spread around `time` (default 0).
    #[serde(default)]
    pub jitter: Option<Dur>,
    /// How the jitter is drawn (default uniform over ± jitter).
    #[serde(default)]
    pub distribution: JitterDistribution,
    /// Let packets overtake each other when jitter draws them so (netem
    /// does); default false: a packet never leaves before the one ahead,
    /// which raises the mean delay when jitter is large against the gap
    /// between packets.
    #[serde(default)]
    pub reorder: bool,
    /// Packets held at once, 1..=65536 (default 10000); beyond it the
    /// queue fails open (packets pass undelayed). `validate` refuses a
    /// bound the suite's rate would overrun.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Jitter distributions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JitterDistribution {
    #[default]
    Uniform,
    /// Normal with `jitter` as its standard deviation (netem `distribution
    /// normal`), cut at ± 4 sigma.
    Normal,
}

/// A rate limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BandwidthSpec {
    /// Like tc: `500kbit`, `10mbit`, `1gbit` (bits per second).
    pub rate: String,
    /// Bucket size like tc: `32kb`, `1mb` (bytes); default: 10 ms of
    /// `rate`, at least 16kb.
    #[serde(default)]
    pub burst: Option<String>,
}

/// Connection resets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetSpec {
    /// Reset every established TCP connection of the target (sock_diag
    /// destroy: the peer gets a RST) when the fault starts.
    #[serde(default)]
    pub established: bool,
    /// With `established`: again every this often while the fault lasts
    /// (a middlebox's idle timeout), 100ms or more.
    #[serde(default)]
    pub every: Option<Dur>,
    /// Refuse this share (percent) of new connections to the target with a
    /// TCP reset.
    #[serde(default)]
    pub new_percent: Option<f64>,
}

/// The loss rate netem's correlated random loss actually gives for
/// `percent` with `correlation` (both in percent), by running its
/// `get_crandom` (Linux v6.18 net/sched/sch_netem.c: `answer = (value ×
/// (2^32 − rho') + last × rho') >> 32`, loss when `loss >= answer`) over
/// 200,000 draws of a fixed generator. The averaged draw gathers around
/// the middle, so the rate is kept only at 50%: 5% with 25% correlation
/// loses about 0.2%. The fault program does the same, so this is what a
/// suite gets (and what the report sets the measured loss against).
#[must_use]
pub fn netem_correlated_loss(percent: f64, correlation: f64) -> f64 {
    let scale = |v: f64| ((v / 100.0).clamp(0.0, 1.0) * f64::from(u32::MAX)).round() as u64;
    let (loss, rho) = (scale(percent), scale(correlation));
    if rho == 0 {
        return percent;
    }
    let rho = rho + 1;
    // splitmix64: any fixed, well-mixed sequence does.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) >> 32
    };
    let mut last = 0u64;
    let (n, mut lost) = (200_000u32, 0u32);
    for _ in 0..n {
        let answer = (next() * ((1u64 << 32) - rho) + last * rho) >> 32;
        last = answer;
        if loss != 0 && loss >= answer {
            lost += 1;
        }
    }
    100.0 * f64::from(lost) / f64::from(n)
}

/// `10mbit` → bits per second. Units as tc's (`tc(8)` RATES): bit, kbit,
/// mbit, gbit (powers of 1000), bps/kbps/mbps bytes per second; a bare
/// number is bits per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s)?;
    let mult: f64 = match unit {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}`; expected bit, kbit, mbit, gbit (or bps, kbps, mbps: bytes)"
            ));
        }
    };
    let v = num * mult;
    if !(8000.0..=100e9).contains(&v) {
        return Err(format!("`{s}`: expected a rate from 8kbit to 100gbit"));
    }
    Ok(v as u64)
}

/// `32kb` → bytes. Units as tc's (`tc(8)` SIZES): b, kb, mb (powers of
/// 1024); a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (num, unit) = split_unit(s)?;
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "kb" | "k" => 1024.0,
        "mb" | "m" => 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}`; expected b, kb or mb"
            ));
        }
    };
    let v = num * mult;
    if !(1600.0..=(64.0 * 1024.0 * 1024.0)).contains(&v) {
        return Err(format!("`{s}`: expected a size from 1600b to 64mb"));
    }
    Ok(v as u64)
}

fn split_unit(s: &str) -> Result<(f64, &str), String> {
    let t = s.trim();
    let at = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let num: f64 = t[..at]
        .parse()
        .map_err(|_| format!("`{s}`: expected a number and a unit, like 10mbit or 32kb"))?;
    Ok((num, &t[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes_read_as_tc_writes_them() {
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("500kbit"), Ok(500_000));
        assert_eq!(parse_rate("1kbps"), Ok(8_000));
        assert!(parse_rate("10mb").is_err(), "a size unit is not a rate");
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("1bit").is_err(), "below 8kbit");
        assert_eq!(parse_size("32kb"), Ok(32 * 1024));
        assert_eq!(parse_size("2000"), Ok(2000));
        assert!(parse_size("1kbit").is_err());
    }

    #[test]
    fn netem_correlation_keeps_the_rate_only_at_half() {
        assert!((netem_correlated_loss(5.0, 0.0) - 5.0).abs() < 1e-9);
        let low = netem_correlated_loss(5.0, 25.0);
        assert!(low < 1.0, "5% with 25% correlation: {low}%");
        let half = netem_correlated_loss(50.0, 90.0);
        assert!((45.0..55.0).contains(&half), "{half}");
    }

    #[test]
    fn burst_defaults_and_mean_follow_tc() {
        let b = BurstSpec {
            enter: 1.0,
            leave: Some(9.0),
            loss_in_burst: None,
            loss_outside: None,
        };
        assert!((b.mean_loss() - 10.0).abs() < 1e-9);
        let d = BurstSpec {
            enter: 5.0,
            leave: None,
            loss_in_burst: None,
            loss_outside: None,
        };
        assert!((d.leave() - 95.0).abs() < 1e-9, "tc: r defaults to 1 - p");
    }
}
