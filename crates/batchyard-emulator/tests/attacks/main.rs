//! The attacks of the security review, each tried against an embedded and a served
//! emulator and shown refused. See docs/reliability.md, "Security".
#![allow(clippy::unwrap_used, dead_code)] // Test helpers panic on purpose: a failure is the test failing.

mod client;
mod connections;
mod files;
mod filter;
mod gate;
mod resources;
mod services;
mod state;
