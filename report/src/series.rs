//! `series.csv`, the per-bucket series of a run next to its `run.json`, for
//! spreadsheets and scripts: a header row, then one row per bucket with the
//! clients' figures and each backend's responses and new connections.
//!
//! Columns, in this order: `t_s` (the bucket's start), `sent`, `ok`,
//! `errors` (every kind), `p50_ms`, `p99_ms`, `max_ms`, then
//! `responses_<backend>` for every backend and `new_conns_<backend>` for
//! every backend, backends sorted by name. Numbers are plain (no thousands
//! separators, no exponents); a cell is empty where there is no value: a
//! backend that did not exist during the bucket, a non-finite latency.
//! Fields are quoted as RFC 4180 says (when they hold a comma, a quote or a
//! line break, quotes doubled); lines end with `\n`.
use std::{collections::BTreeSet, fmt::Write as _};

use crate::record::{BackendBucket, Bucket, RunRecord};

/// The client columns, before the per-backend ones.
pub const CLIENT_COLUMNS: [&str; 7] = ["t_s", "sent", "ok", "errors", "p50_ms", "p99_ms", "max_ms"];

/// The whole `series.csv` text of a record.
#[must_use]
pub fn series_csv(record: &RunRecord) -> String {
    let names: Vec<String> = record
        .backend_names()
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = String::new();
    let header = CLIENT_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .chain(names.iter().map(|n| format!("responses_{n}")))
        .chain(names.iter().map(|n| format!("new_conns_{n}")));
    push_row(&mut out, header);
    for b in &record.buckets {
        let c = &b.client;
        let client = [
            number(b.t_s),
            c.sent.to_string(),
            c.ok.to_string(),
            c.error_count().to_string(),
            number(c.p50_ms),
            number(c.p99_ms),
            number(c.max_ms),
        ];
        let responses = names
            .iter()
            .map(|n| backend_cell(record, b, n, |v| v.responses));
        let conns = names
            .iter()
            .map(|n| backend_cell(record, b, n, |v| v.new_conns));
        push_row(&mut out, client.into_iter().chain(responses).chain(conns));
    }
    out
}

/// A backend's figure in a bucket: its value; 0 when it existed but the
/// bucket has no entry (all-zero entries may be left out); empty when it
/// did not exist then (or is known only from the buckets and is absent).
fn backend_cell(
    record: &RunRecord,
    bucket: &Bucket,
    name: &str,
    figure: impl Fn(&BackendBucket) -> u64,
) -> String {
    match bucket.backends.get(name) {
        Some(v) => figure(v).to_string(),
        None if record
            .backend(name)
            .is_some_and(|info| info.alive_in([bucket.t_s, bucket.t_s + record.bucket_s])) =>
        {
            "0".to_owned()
        }
        None => String::new(),
    }
}

/// A float as its shortest round-trip decimal (`0.5`, `12`), empty when
/// it is not finite.
fn number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// Appends one row, each field quoted where RFC 4180 needs it.
fn push_row(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\r', '\n']) {
            let _ = write!(out, "\"{}\"", f.replace('"', "\"\""));
        } else {
            out.push_str(&f);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        record::BackendInfo,
        sample::{empty_record, incident_a},
    };

    /// Splits a CSV text as RFC 4180 reads it (quoted fields, doubled
    /// quotes), to check the writer without trusting it.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(ch) = chars.next() {
            match (quoted, ch) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(field.is_empty() && row.is_empty(), "text ends mid-row");
        rows
    }

    #[test]
    fn header_and_rows_round_trip_from_a_sample_record() {
        let rec = incident_a(false);
        let rows = parse(&series_csv(&rec));
        let mut names: Vec<String> = rec.backend_names();
        names.sort();
        let mut header: Vec<String> = CLIENT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        header.extend(names.iter().map(|n| format!("responses_{n}")));
        header.extend(names.iter().map(|n| format!("new_conns_{n}")));
        assert_eq!(rows[0], header);
        assert_eq!(
            rows.len(),
            rec.buckets.len() + 1,
            "a header and a row per bucket"
        );
        assert!(rows.iter().all(|r| r.len() == header.len()), "ragged rows");

        let col = |name: &str| header.iter().position(|h| h == name).expect(name);
        for (row, b) in rows[1..].iter().zip(&rec.buckets) {
            let float = |name: &str| row[col(name)].parse::<f64>().expect(name);
            let int = |name: &str| row[col(name)].parse::<u64>().expect(name);
            assert_eq!(float("t_s"), b.t_s);
            assert_eq!(int("sent"), b.client.sent);
            assert_eq!(int("ok"), b.client.ok);
            assert_eq!(int("errors"), b.client.error_count());
            assert_eq!(float("p50_ms"), b.client.p50_ms);
            assert_eq!(float("p99_ms"), b.client.p99_ms);
            assert_eq!(float("max_ms"), b.client.max_ms);
            for (name, v) in &b.backends {
                assert_eq!(int(&format!("responses_{name}")), v.responses);
                assert_eq!(int(&format!("new_conns_{name}")), v.new_conns);
            }
        }
        // Plain numbers only: no separators, no exponents.
        for cell in rows[1..].iter().flatten() {
            assert!(
                cell.is_empty() || cell.bytes().all(|c| c.is_ascii_digit() || c == b'.'),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn missing_values_are_empty_and_odd_names_are_quoted() {
        let mut rec = empty_record();
        rec.bucket_s = 1.0;
        let backend = |name: &str, created_s: f64, removed_s: Option<f64>| BackendInfo {
            name: name.into(),
            addr: "198.18.0.2:8080".into(),
            deployment: "web".into(),
            node: 0,
            created_s,
            removed_s,
            added_by_last_scale_up: false,
            killed: false,
            replacement: false,
            revision: 1,
            sigterm_s: None,
            conns_after_sigterm: 0,
        };
        rec.backends = vec![backend("b,\"x\"", 0.0, None), backend("a", 0.0, Some(1.0))];
        rec.buckets = (0..3)
            .map(|i| {
                let mut b = Bucket {
                    t_s: f64::from(i),
                    ..Bucket::default()
                };
                b.client.sent = 10;
                b.client.p99_ms = if i == 2 { f64::NAN } else { 1.5 };
                b
            })
            .collect();
        rec.buckets[0].backends.insert(
            "a".into(),
            BackendBucket {
                responses: 7,
                new_conns: 1,
                ct_entries: 0,
            },
        );
        let text = series_csv(&rec);
        assert!(
            text.starts_with(
                "t_s,sent,ok,errors,p50_ms,p99_ms,max_ms,responses_a,\"responses_b,\"\"x\"\"\",new_conns_a,"
            ),
            "{text}"
        );
        let rows = parse(&text);
        assert_eq!(rows[0][8], "responses_b,\"x\"");
        // a: 7 in bucket 0, gone after 1 s; b: alive all along, no entry (0).
        assert_eq!(rows[1][7..], ["7", "0", "1", "0"]);
        assert_eq!(rows[2][7..], ["", "0", "", "0"]);
        assert_eq!(rows[3][5], "", "non-finite p99");
        assert_eq!(rows[1][..7], ["0", "10", "0", "0", "0", "1.5", "0"]);
    }
}
