//! The suite file's JSON Schema (draft 2020-12), for editors: `svclab
//! schema` prints it and `suites/svclab.schema.json` ships it.
//!
//! Derived from the model with schemars, so field docs, defaults, enum
//! values and `deny_unknown_fields` follow the types. This file holds what
//! the derive cannot say: [`Dur`]'s schema (its serde impl is hand-written;
//! `TimelineEntry`'s is beside it in timeline.rs), the string patterns and the rules across
//! fields that JSON Schema can state. The validator stays the authority;
//! the schema mirrors it where JSON Schema can (not durations' bounds,
//! references between sections or anything relative to another value).
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::{duration::Dur, expected::REGRESSION_FIGURES};

/// `validate/text.rs` `is_suite_name`, or empty (the file stem is used).
pub(super) const SUITE_NAME_PATTERN: &str = "^([A-Za-z0-9_][A-Za-z0-9._-]{0,63})?$";
/// `validate/text.rs` `is_label` (its length bound is a `length` attribute).
pub(super) const LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// 198.19.0.1..=198.19.0.254, in the dotted form `Ipv4Addr` parses.
pub(super) const CLUSTER_IP_PATTERN: &str =
    r"^198\.19\.0\.([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])$";
/// `validate/text.rs` `is_http_path` (its length bound counts bytes, the
/// schema's `maxLength` characters).
pub(super) const HTTP_PATH_PATTERN: &str = r"^/[^\s\u0000-\u001f\u007f-\u009f]*$";
/// `validate/text.rs` `is_token`.
pub(super) const HEADER_NAME_PATTERN: &str = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";
/// `validate/text.rs` `is_header_value`.
pub(super) const HEADER_VALUE_PATTERN: &str = r"^[^\r\n\u0000]*$";
/// What `Dur`'s `FromStr` reads: digits, an optional fraction, a unit,
/// surrounding whitespace trimmed.
const DURATION_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?(ms|s|m|h)\s*$";

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit (ms, s, m or h), a whole number of milliseconds, at most 30 days, e.g. `250ms`, `30s`, `1.5m`, `6h`.",
            "examples": ["250ms", "30s", "1.5m", "6h"],
        })
    }
}

/// `regression`: a relative threshold in (0, 100] per key figure.
pub(super) fn regression(_: &mut SchemaGenerator) -> Schema {
    let figures: Map<String, Value> = REGRESSION_FIGURES
        .iter()
        .map(|f| {
            let threshold = json!({
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 100,
                "default": 0.2,
            });
            ((*f).to_owned(), threshold)
        })
        .collect();
    json_schema!({
        "type": "object",
        "properties": figures,
        "additionalProperties": false,
    })
}

/// A probe has exactly one handler, and a handler written with no value
/// (`tcp:`) is none.
pub(super) fn one_handler(schema: &mut Schema) {
    let one_of: Vec<Value> = ["tcp", "http", "exec"]
        .iter()
        .map(|h| json!({ "required": [h], "properties": { *h: { "type": "object" } } }))
        .collect();
    schema.insert("oneOf".to_owned(), Value::Array(one_of));
}

/// An expectation has at least one of `min` and `max`.
pub(super) fn min_or_max(schema: &mut Schema) {
    let any_of: Vec<Value> = ["min", "max"]
        .iter()
        .map(|b| json!({ "required": [b], "properties": { *b: { "type": "number" } } }))
        .collect();
    schema.insert("anyOf".to_owned(), Value::Array(any_of));
}

/// A `busy-workers` target is a ratio in (0, 1].
pub(super) fn hpa_target(schema: &mut Schema) {
    schema.insert(
        "if".to_owned(),
        json!({ "properties": { "kind": { "const": "busy-workers" } }, "required": ["kind"] }),
    );
    schema.insert(
        "then".to_owned(),
        json!({ "properties": { "target": { "maximum": 1 } } }),
    );
}

#[cfg(test)]
mod tests {
    use crate::schema::schema;

    #[test]
    fn the_schema_is_draft_2020_12() {
        let s = schema();
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{s:#}"
        );
    }

    #[test]
    fn a_timeline_entry_offers_at_and_every_action() {
        let s = schema();
        let entry = &s["$defs"]["TimelineEntry"];
        let mut keys: Vec<&str> = entry["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "at",
                "clear_fault",
                "delete_pod",
                "fault",
                "flush_ct",
                "kill",
                "restart_client",
                "rollout",
                "scale",
                "spike"
            ]
        );
        assert_eq!(entry["oneOf"].as_array().map(Vec::len), Some(9));
    }
}
