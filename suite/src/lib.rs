//! svclab suite files: model, parsing and validation.
mod duration;
pub mod model;
