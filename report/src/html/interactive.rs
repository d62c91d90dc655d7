//! The page's interactive charts: the `svclab-series` JSON block (the
//! numbers of `chart::series`, taken from the same views the SVG charts
//! draw) and `interactive.js`, our own small canvas renderer (no library,
//! nothing fetched), both inline. The script upgrades each
//! `<figure id="chart-<id>">` with data, wherever it is on the page: it
//! hides the figure's plotters SVG and draws the chart with hover values,
//! a crosshair on every chart, drag-to-zoom on the shared time axis and
//! legend toggles. Without JavaScript the SVGs are all there is, as before.
use crate::{chart::Frame, record::RunRecord};

/// The interaction layer, inlined into the page.
pub(super) const SCRIPT: &str = include_str!("interactive.js");

/// The data block and the script, for the end of the charts. Empty for a
/// run without buckets (no charts to upgrade).
pub(super) fn scripts(rec: &RunRecord) -> String {
    let page = Frame::new(rec).page_series();
    if page.charts.is_empty() {
        return String::new();
    }
    let json = serde_json::to_string(&page).unwrap_or_else(|_| "{}".into());
    format!(
        "<script type=\"application/json\" id=\"svclab-series\">{}</script>\n\
         <script id=\"svclab-interactive\">\n{SCRIPT}</script>\n",
        script_safe(&json)
    )
}

/// JSON that cannot end its `<script>` element early or open a comment:
/// `<`, `>` and `&` only occur inside JSON strings, where their `\u`
/// escapes read back the same.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_block_is_script_safe_and_reads_back() {
        let mut rec = crate::sample::incident_a(false);
        rec.events[1].detail = "scale </script><b>&amp;".into();
        let html = scripts(&rec);
        let start = html.find('>').map_or(0, |i| i + 1);
        let end = html.find("</script>").unwrap_or(html.len());
        let json = &html[start..end];
        assert!(!json.contains('<') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        assert_eq!(
            back["markers"][0]["label"].as_str().map(str::to_owned),
            rec.events
                .iter()
                .find(|e| e.timeline)
                .map(|e| e.detail.clone())
        );
        assert!(html.contains("<script id=\"svclab-interactive\">"));
        assert!(!html.contains("src="), "nothing fetched");
    }

    #[test]
    fn script_is_small_and_fetches_nothing() {
        assert!(SCRIPT.len() < 15 * 1024, "{} bytes", SCRIPT.len());
        for word in ["http:", "https:", "fetch(", "XMLHttpRequest", "import("] {
            assert!(!SCRIPT.contains(word), "{word} in the script");
        }
    }

    #[test]
    fn no_buckets_no_script() {
        assert_eq!(scripts(&crate::sample::empty_record()), "");
    }
}
