//! One module per command.

pub mod apply;
pub mod completions;
pub mod destroy;
pub mod emulator;
pub mod import;
pub mod init;
pub mod local;
pub mod logs;
pub mod outputs;
pub mod plan;
pub mod render;
pub mod report;
pub mod retry;
pub mod run;
pub mod schema;
pub mod simulate;
pub mod status;
pub mod validate;
