//! Data in and results out, over Azure Blob Storage.
//!
//! - [`upload`]: local inputs, content-addressed (the blob name is the SHA-256 of the
//!   content), planned by one listing and sent in parallel; a second apply of unchanged
//!   files sends nothing.
//! - [`download`]: what tasks uploaded under `outputs/JOB/TASK/`, fetched into a folder
//!   per task, skipping what is already there.
//! - [`store`]: the container, through Microsoft's `azure_storage_blob` crate;
//!   [`sas`]: the container SAS tokens the nodes (and the SDK, with an account key) use.

pub mod buffers;
pub mod chain;
pub mod download;
pub mod sas;
pub mod store;
pub mod upload;

pub use store::{BlobEntry, BlobStore, Credential, FileStamp, Limits, StoreError};
pub use upload::{Progress, Upload, UploadPlan};
