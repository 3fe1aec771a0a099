//! Azure Batch data-plane REST for batchyard: the one way batchyard talks to a Batch
//! endpoint, Azure or the local emulator.
//!
//! - [`models`]: typed serde models named after the official spec's definitions.
//! - [`spec`]: [`validate_against_spec`], checking any JSON against a spec definition.
//! - [`auth`]: the [`auth::Authenticator`] trait; Shared Key, Microsoft Entra ID, none.
//! - [`BatchClient`]: operations, retries ([`RetryPolicy`]), paging ([`ListOptions`]).
//! - [`bulk`]: adding any number of tasks ([`BatchClient::add_tasks`]).
//!
//! What is retried, what is idempotent and what the caller decides is documented on
//! [`RetryPolicy`], [`BatchClient`] and [`bulk::BulkAddOptions`].

pub mod auth;
pub mod bulk;
mod client;
mod error;
pub mod models;
mod retry;
pub mod spec;

pub use client::{
    BatchClient, ClientOptions, CreateOutcome, FileProperties, JSON_CONTENT_TYPE, ListOptions,
};
pub use error::{BatchError, ClientError};
pub use retry::RetryPolicy;
pub use spec::{SpecError, SpecErrorKind, validate_against_spec};
