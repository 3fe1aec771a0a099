//! Errors of the client: what the service said ([`BatchError`]) and everything else
//! ([`ClientError`]).

use std::time::Duration;

use crate::auth::AuthError;
use crate::models::BatchErrorDetail;

/// The service answered with an error status. Built from the `BatchError` body
/// (`code`, `message.value`, `values`) and the response headers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "Batch answered {status}{}: {}{} (request-id {}, client-request-id {client_request_id})",
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
    message.as_deref().unwrap_or("no message"),
    if values.is_empty() { String::new() } else {
        format!(" [{}]", values.iter().map(|v| format!("{}={}",
            v.key.as_deref().unwrap_or(""), v.value.as_deref().unwrap_or(""))).collect::<Vec<_>>().join(", "))
    },
    request_id.as_deref().unwrap_or("none"),
)]
pub struct BatchError {
    /// HTTP status code.
    pub status: u16,
    /// Batch error code, e.g. `PoolExists`, `ServerBusy`.
    pub code: Option<String>,
    /// The message text (without the language tag).
    pub message: Option<String>,
    /// Extra key/value details the service attached.
    pub values: Vec<BatchErrorDetail>,
    /// The service's `request-id` header, for support cases.
    pub request_id: Option<String>,
    /// The `client-request-id` this client sent (the same on every attempt of a call).
    pub client_request_id: String,
    /// How many attempts the call took, 1 when it was not retried.
    pub attempts: u32,
}

impl BatchError {
    /// Whether the error has this Batch error code (case-insensitive, like the service).
    pub fn has_code(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }
}

/// Everything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service answered with an error status (after retries, for retryable ones).
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The connection failed or dropped on every attempt.
    #[error(
        "could not reach the Batch endpoint after {attempts} attempt(s): {message} \
         (client-request-id {client_request_id}); check the URL and the network"
    )]
    Transport {
        /// The last transport error.
        message: String,
        /// Attempts made.
        attempts: u32,
        /// The `client-request-id` sent.
        client_request_id: String,
    },
    /// No complete answer arrived within the per-request timeout, on every attempt.
    #[error(
        "the Batch endpoint did not answer within {timeout:?} on any of {attempts} attempt(s) \
         (client-request-id {client_request_id})"
    )]
    Timeout {
        /// The per-request timeout in force.
        timeout: Duration,
        /// Attempts made.
        attempts: u32,
        /// The `client-request-id` sent.
        client_request_id: String,
    },
    /// The request could not be authorized.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A success response did not have the documented shape.
    #[error(
        "unexpected response body from Batch: {message} (client-request-id {client_request_id})"
    )]
    Decode {
        /// What did not parse.
        message: String,
        /// The `client-request-id` sent.
        client_request_id: String,
    },
    /// The answer's body was longer than [`crate::ClientOptions::max_response_bytes`].
    #[error(
        "the Batch endpoint answered {status} with a body of {received} bytes or more, over \
         the limit of {limit} bytes (client-request-id {client_request_id}); for a large \
         task file, read it by range"
    )]
    ResponseTooLarge {
        /// The answer's HTTP status.
        status: u16,
        /// The limit in force.
        limit: u64,
        /// The announced length, or the bytes read when the limit was passed.
        received: u64,
        /// The `client-request-id` sent.
        client_request_id: String,
    },
    /// A list did not end: its `odata.nextLink` came back to a page already read, or it
    /// went on past [`crate::ClientOptions::max_list_pages`].
    #[error("the list was stopped after {pages} page(s): {message}")]
    Paging {
        /// What went wrong.
        message: String,
        /// Pages read before stopping.
        pages: u64,
    },
    /// The endpoint URL, a path or a next link is not usable.
    #[error("invalid Batch URL: {0}")]
    InvalidUrl(String),
    /// A request body could not be serialized.
    #[error("could not serialize the request body: {0}")]
    Serialize(String),
}

impl ClientError {
    /// The service's error, when the service answered.
    pub fn batch_error(&self) -> Option<&BatchError> {
        match self {
            ClientError::Batch(e) => Some(e),
            _ => None,
        }
    }

    /// True for a 404 from the service (pool, job, task, node or file not found).
    pub fn is_not_found(&self) -> bool {
        self.batch_error().is_some_and(|e| e.status == 404)
    }
}
