//! The one way a pool or job document is changed through the API: in one transaction, after
//! the ETag preconditions, refused while the resource is being deleted, with its
//! last-modified time and ETag renewed, and the scheduler woken afterwards.

use axum::http::HeaderMap;
use serde_json::Value;

use super::Shared;
use super::error::{ApiError, ApiResult};
use super::odata;
use crate::clock;
use crate::engine::docs_util::{text, touch};
use crate::store::docs::{self, Table};

/// Applies `change` to the document `id` of `table`. `not_found` and `being_deleted` are the
/// service's errors for that kind of resource.
pub(super) fn change_doc(
    state: &Shared,
    table: Table,
    id: &str,
    headers: &HeaderMap,
    not_found: fn() -> ApiError,
    being_deleted: fn() -> ApiError,
    change: impl FnOnce(&mut Value) -> ApiResult<()>,
) -> ApiResult<Value> {
    let doc = state.store.write(|tx| -> ApiResult<Value> {
        let mut doc = docs::get(tx, table, "", id)?.ok_or_else(not_found)?.value;
        odata::preconditions(headers, &doc, true)?;
        if text(&doc, "state") == "deleting" {
            return Err(being_deleted());
        }
        change(&mut doc)?;
        touch(&mut doc, &clock::now());
        docs::put(tx, table, "", id, &doc).map_err(ApiError::from)?;
        Ok(doc)
    })?;
    state.engine.wake();
    Ok(doc)
}
