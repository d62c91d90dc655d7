//! The suite file's JSON Schema (draft 2020-12), generated from the model
//! (`model/json_schema.rs` holds what the derive cannot say).
use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::model::Suite;

/// The suite file's JSON Schema (draft 2020-12).
#[must_use]
pub fn schema() -> Value {
    SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<Suite>()
        .to_value()
}
