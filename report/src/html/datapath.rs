//! The report's datapath section: every effective datapath value of the run
//! (the Cilium profile's, the suite's overrides, the release's fixed rules)
//! and where each came from.
use std::fmt::Write as _;

use crate::{fmt::escape, record::RunRecord};

pub(super) fn settings(out: &mut String, rec: &RunRecord) {
    if rec.suite.datapath.is_empty() {
        return;
    }
    out.push_str(
        "<h2 id=\"datapath\">Datapath</h2>\n<p>Effective values: <em>profile</em> = the Cilium \
         release's, <em>suite</em> = set in the suite file, <em>default</em> = svclab's default. \
         The README's datapath table gives the Cilium source line of each rule.</p>\n<table>\n<tr><th>setting</th><th>value</th><th>from</th></tr>\n",
    );
    for s in &rec.suite.datapath {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            escape(&s.value),
            escape(&s.from)
        );
    }
    out.push_str("</table>\n");
}
