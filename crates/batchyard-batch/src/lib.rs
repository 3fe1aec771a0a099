//! Azure Batch data-plane REST for batchyard: the one way batchyard talks to a Batch
//! endpoint, Azure or the local emulator.
//!
//! - [`models`]: typed serde models named after the official spec's definitions.
//! - [`spec`]: [`validate_against_spec`], checking any JSON against a spec definition.
//! - [`auth`]: the [`auth::Authenticator`] trait; Shared Key, Microsoft Entra ID, none.
//! - [`BatchClient`]: operations, retries ([`RetryPolicy`]), paging ([`ListOptions`]).
//! - [`bulk`]: adding any number of tasks ([`BatchClient::add_tasks`]).
//! - [`rules`]: what Batch lets change on a pool or job, write-only fields, server defaults.
//!
//! What is retried, what is idempotent and what the caller decides is documented on
//! [`RetryPolicy`], [`BatchClient`] and [`bulk::BulkAddOptions`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use batchyard_batch::auth::SharedKeyCredential;
//! use batchyard_batch::bulk::BulkAddOptions;
//! use batchyard_batch::models::{BatchTaskCreateOptions, BatchPool};
//! use batchyard_batch::{BatchClient, ClientOptions, ListOptions};
//! use futures::TryStreamExt as _;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SharedKeyCredential::new("myaccount", "bXlrZXk=")?;
//! let client = BatchClient::new(
//!     "https://myaccount.westeurope.batch.azure.com",
//!     Arc::new(key),
//!     ClientOptions::default(),
//! )?;
//! let active = ListOptions { filter: Some("state eq 'active'".into()), ..Default::default() };
//! let pools: Vec<BatchPool> = client.list_pools(&active).try_collect().await?;
//! let tasks = futures::stream::iter((0..1000).map(|i| BatchTaskCreateOptions {
//!     id: format!("task-{i}"),
//!     command_line: format!("/bin/sh -c 'echo {i}'"),
//!     ..Default::default()
//! }));
//! let report = client.add_tasks("job-1", tasks, &BulkAddOptions::default()).await;
//! println!("{} pools; {report}", pools.len());
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod bulk;
mod client;
mod error;
pub mod models;
#[cfg(feature = "test-support")]
pub mod recordings;
mod retry;
pub mod rules;
pub mod spec;

pub use client::{
    BatchClient, ClientOptions, CreateOutcome, FileProperties, JSON_CONTENT_TYPE, ListOptions,
};
pub use error::{BatchError, ClientError};
pub use retry::RetryPolicy;
pub use spec::{SpecError, SpecErrorKind, validate_against_spec};
