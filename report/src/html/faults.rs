//! The report's network-fault table: per fault what was set and on what,
//! what the independent probe measured across the hop (round-trip loss
//! against what the setting implies, RTT), what the fault's own machinery
//! counted, and what the clients saw inside it against outside every
//! fault (errors per second, p99) with the time to recover after it.
use std::fmt::Write as _;

use crate::{derive::faults::effect, fmt::escape, record::RunRecord};

pub(super) fn summary(out: &mut String, rec: &RunRecord) {
    if rec.faults.is_empty() {
        return;
    }
    out.push_str(
        "<h3 id=\"faults\">Network faults</h3>\n<p class=\"note\">Shaded bands on the charts. \
         Measured by an ICMP echo every 100 ms across the faulted hop (round trip: loss set \
         on both directions compounds).</p>\n<table>\n<tr><th>fault</th><th>on</th><th>set</th>\
         <th>window</th><th>probe</th><th>loss measured / implied</th><th>RTT p50 / p99</th>\
         <th>fault counted</th><th>errors/s in / out</th><th>p99 in / out</th><th>recovered after</th></tr>\n",
    );
    for f in &rec.faults {
        let implied = f
            .expected_loss_pct
            .map_or("–".to_owned(), |e| format!("{e:.1}%"));
        let (loss, rtt) = if f.probe_sent > 0 {
            (
                format!(
                    "{:.1}% of {} / {implied}",
                    f.measured_loss_pct, f.probe_sent
                ),
                format!("{:.2} / {:.2} ms", f.rtt_p50_ms, f.rtt_p99_ms),
            )
        } else {
            ("–".to_owned(), "–".to_owned())
        };
        let mut counted = match f.kind.as_str() {
            "loss" | "blackhole" => format!("{} of {} packets dropped", f.dropped, f.matched),
            "delay" => format!(
                "{} packets held, releases late by {} µs at p99",
                f.delayed, f.delay_late_p99_us
            ),
            "reset" => format!("{} connections reset", f.resets),
            _ => "–".to_owned(),
        };
        for p in &f.problems {
            counted += &format!("; <b>{}</b>", escape(p));
        }
        let e = effect(rec, f);
        let (errs, p99, rec_after) = match &e {
            Some(e) => (
                format!(
                    "{:.1} / {}",
                    e.errors_per_s_in,
                    e.errors_per_s_out
                        .map_or("–".to_owned(), |o| format!("{o:.1}"))
                ),
                format!(
                    "{:.1} / {} ms",
                    e.p99_in_ms,
                    e.p99_out_ms.map_or("–".to_owned(), |o| format!("{o:.1}"))
                ),
                match e.recovered_after_s {
                    Some(s) => format!("{s:.1} s"),
                    // A fault in force to the end leaves nothing to recover in.
                    None if f.end_s + rec.bucket_s >= rec.elapsed_s => "–".to_owned(),
                    None => "not by the end".to_owned(),
                },
            ),
            None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{} ({})</td><td>{} {}</td><td>{:.1}–{:.1} s</td><td>{}</td>\
             <td>{loss}</td><td>{rtt}</td><td>{counted}</td><td>{errs}</td><td>{p99}</td><td>{rec_after}</td></tr>",
            escape(&f.name),
            escape(&f.target),
            escape(&f.direction),
            escape(&f.kind),
            escape(&f.set),
            f.start_s,
            f.end_s,
            escape(&f.probe),
        );
    }
    out.push_str("</table>\n");
}
