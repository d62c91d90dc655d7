//! The figures that show the mechanism behind a verdict (the report's
//! "Mechanism" table): the share of requests that succeeded, CT reopens
//! per request, and the accounting between what clients saw, what a client
//! proxy's access log saw and what the datapath counted per backend. A
//! pure function of the run record and the clients' totals, which the
//! record itself does not keep per request.
use std::collections::BTreeMap;

use crate::record::RunRecord;

/// What the clients counted over the run that the record does not hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTotals {
    /// Requests scheduled (every outcome).
    pub sent: u64,
    pub ok: u64,
    /// Connections the clients completed, per backend name.
    pub conns_by_backend: BTreeMap<String, u64>,
    /// Reused source ports after the last scale action that kept the
    /// backend they had before it, of those reused: (kept, total).
    pub kept_after_scale: Option<(u64, u64)>,
}

/// The datapath's new connections to the backend named `name`.
fn dp_conns(record: &RunRecord, name: &str) -> u64 {
    record
        .datapath
        .backends
        .get(name)
        .map_or(0, |b| b.connections)
}

/// The largest relative difference between a per-backend count and
/// `other`'s count for the same backend, over backends with at least 100.
fn worst_diff<'a>(
    counts: impl Iterator<Item = (&'a str, u64)>,
    other: impl Fn(&str) -> u64,
) -> f64 {
    counts
        .filter(|(_, n)| *n >= 100)
        .map(|(name, n)| (other(name) as f64 - n as f64).abs() / n as f64)
        .fold(0.0, f64::max)
}

/// What a mechanism figure means, in one line (the report's Mechanism
/// table shows it next to the value).
#[must_use]
pub fn explain(key: &str) -> &'static str {
    match key {
        "ok_fraction" => "requests that got a 2xx response, of all sent",
        "ct_reopen_per_request" => {
            "SYNs that reopened a closing CT entry and kept its backend, per request sent"
        }
        "datapath_conns_per_client_conn" => {
            "new connections the datapath counted per connection the clients completed (1 = they agree)"
        }
        "accounting_max_backend_diff" => {
            "largest per-backend gap between the clients' connections and the datapath's (0 = exact)"
        }
        "access_log_vs_datapath_max_backend_diff" => {
            "largest per-backend gap between the proxy's access log and the datapath's connections"
        }
        "client_responses_vs_access_log_max_backend_diff" => {
            "largest per-backend gap between the clients' responses and the proxy's access log"
        }
        "datapath_conns_per_access_log_request" => {
            "new connections the datapath counted per request in the proxy's access log"
        }
        "reused_ports_kept_backend_after_scale_up" => {
            "reused source ports after the last scale-up that still reached their old backend (1 = pinned)"
        }
        _ => "",
    }
}

/// Figures that show the mechanism behind the verdict.
#[must_use]
pub fn mechanism(record: &RunRecord, clients: &ClientTotals) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let sent = clients.sent as f64;
    if sent > 0.0 {
        m.insert("ok_fraction".into(), clients.ok as f64 / sent);
        if let Some(r) = record.datapath.reasons.get("ct-reopen") {
            m.insert("ct_reopen_per_request".into(), *r as f64 / sent);
        }
    }
    // Accounting: connections the clients completed per backend against
    // the SYNs the datapath sent there.
    let client_total: u64 = clients.conns_by_backend.values().sum();
    let dp_total: u64 = record
        .datapath
        .backends
        .values()
        .map(|b| b.connections)
        .sum();
    if client_total > 0 {
        m.insert(
            "datapath_conns_per_client_conn".into(),
            dp_total as f64 / client_total as f64,
        );
        let worst = worst_diff(
            clients
                .conns_by_backend
                .iter()
                .map(|(k, n)| (k.as_str(), *n)),
            |name| dp_conns(record, name),
        );
        m.insert("accounting_max_backend_diff".into(), worst);
    }
    // A client proxy's access log (requests per backend by X-Pod) against
    // the datapath's new connections per backend: the same figure seen
    // from both ends when nginx opens a connection per request.
    let mut log_by: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &record.access_logs {
        for (b, n) in &a.by_backend {
            *log_by.entry(b.as_str()).or_default() += n;
        }
    }
    if !log_by.is_empty() {
        let worst = worst_diff(log_by.iter().map(|(k, n)| (*k, *n)), |name| {
            dp_conns(record, name)
        });
        m.insert("access_log_vs_datapath_max_backend_diff".into(), worst);
        // And svclab's own client, whose responses name the backend that
        // nginx passed through (X-Pod), against both.
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for b in &record.buckets {
            for (name, x) in &b.backends {
                *seen.entry(name.as_str()).or_default() += x.responses;
            }
        }
        let worst = worst_diff(log_by.iter().map(|(k, n)| (*k, *n)), |name| {
            seen.get(name).copied().unwrap_or(0)
        });
        m.insert(
            "client_responses_vs_access_log_max_backend_diff".into(),
            worst,
        );
        let logged: u64 = log_by.values().sum();
        if logged > 0 {
            m.insert(
                "datapath_conns_per_access_log_request".into(),
                dp_total as f64 / logged as f64,
            );
        }
    }
    // Reused source ports after the last scale action: did they keep the
    // backend they had before it?
    if let Some((kept, total)) = clients.kept_after_scale
        && total > 0
    {
        m.insert(
            "reused_ports_kept_backend_after_scale_up".into(),
            kept as f64 / total as f64,
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::incident_a;

    #[test]
    fn every_figure_is_explained() {
        let mut rec = incident_a(false);
        rec.datapath.reasons.insert("ct-reopen".into(), 3);
        let clients = ClientTotals {
            sent: 10,
            ok: 9,
            conns_by_backend: [("web-0".to_owned(), 200)].into_iter().collect(),
            kept_after_scale: Some((1, 2)),
        };
        for k in mechanism(&rec, &clients).keys() {
            assert!(!explain(k).is_empty(), "{k} has no explanation");
        }
    }

    #[test]
    fn accounting_compares_clients_with_the_datapath_per_backend() {
        let mut rec = incident_a(false);
        rec.access_logs.clear();
        let names: Vec<String> = rec.datapath.backends.keys().cloned().collect();
        let mut clients = ClientTotals {
            sent: 1000,
            ok: 990,
            ..ClientTotals::default()
        };
        for n in &names {
            let dp = rec.datapath.backends[n].connections;
            clients.conns_by_backend.insert(n.clone(), dp);
        }
        let m = mechanism(&rec, &clients);
        assert_eq!(m["ok_fraction"], 0.99);
        assert_eq!(m["datapath_conns_per_client_conn"], 1.0);
        assert_eq!(m["accounting_max_backend_diff"], 0.0);
        assert!(!m.contains_key("reused_ports_kept_backend_after_scale_up"));
        // One backend seen 10% more often by the clients than the datapath.
        let big = names
            .iter()
            .max_by_key(|n| rec.datapath.backends[*n].connections)
            .expect("a backend")
            .clone();
        let dp = rec.datapath.backends[&big].connections;
        assert!(dp >= 100, "{dp}");
        clients.conns_by_backend.insert(big, dp * 11 / 10);
        clients.kept_after_scale = Some((95, 100));
        let m = mechanism(&rec, &clients);
        let worst = m["accounting_max_backend_diff"];
        assert!(
            (worst - (dp as f64 - (dp * 11 / 10) as f64).abs() / (dp * 11 / 10) as f64).abs()
                < 1e-12
        );
        assert_eq!(m["reused_ports_kept_backend_after_scale_up"], 0.95);
    }

    #[test]
    fn nothing_sent_gives_no_rates() {
        let rec = incident_a(false);
        let m = mechanism(&rec, &ClientTotals::default());
        assert!(!m.contains_key("ok_fraction"));
        assert!(!m.contains_key("datapath_conns_per_client_conn"));
    }
}
