//! svclab cluster topology (see the crate description).
