//! Handlers run on the blocking pool, not on the async workers.
//!
//! A handler reads and writes the store synchronously (SQLite, behind one lock that
//! the engine also takes). Run on an async worker, a long transaction would stall
//! every connection that worker serves; on the blocking pool it stalls only its own
//! request, while the workers keep accepting, reading bodies and streaming answers.
//! The gate runs before this layer, on the workers: the body is already read when a
//! handler starts, so nothing here waits on the network.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::error::{ApiError, REQUEST_ID};
use super::odata::BASE_URL;

/// The middleware: runs the rest of the request on the blocking pool, with the
/// gate's request id and base URL carried over (task-locals do not cross threads).
pub async fn offload(request: Request, next: Next) -> Response {
    let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
    let base = BASE_URL.try_with(Clone::clone).unwrap_or_default();
    let runtime = tokio::runtime::Handle::current();
    let work = move || {
        runtime.block_on(REQUEST_ID.scope(request_id, BASE_URL.scope(base, next.run(request))))
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
        .into_response(),
    }
}
