//! One module per command.

pub mod completions;
pub mod init;
pub mod schema;
pub mod validate;
