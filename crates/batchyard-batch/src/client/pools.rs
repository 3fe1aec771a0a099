//! Pool operations.

use futures::stream::BoxStream;
use reqwest::Method;

use super::{BatchClient, CreateOutcome, ListOptions};
use crate::error::ClientError;
use crate::models::*;

impl BatchClient {
    /// `POST /pools`. A pool that already exists is `AlreadyExists`, not an error.
    pub async fn create_pool(
        &self,
        pool: &BatchPoolCreateOptions,
    ) -> Result<CreateOutcome, ClientError> {
        let call = self.call_with_body(Method::POST, self.url(&["pools"], &[])?, pool)?;
        self.create(call, "PoolExists").await
    }

    /// `GET /pools/{id}`. A missing pool is a `Batch` error with status 404
    /// (see [`ClientError::is_not_found`]).
    pub async fn get_pool(&self, pool_id: &str) -> Result<BatchPool, ClientError> {
        self.json(self.call(Method::GET, self.url(&["pools", pool_id], &[])?))
            .await
    }

    /// `HEAD /pools/{id}`: whether the pool exists.
    pub async fn pool_exists(&self, pool_id: &str) -> Result<bool, ClientError> {
        match self
            .empty(self.call(Method::HEAD, self.url(&["pools", pool_id], &[])?))
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /pools`, all pages.
    pub fn list_pools(
        &self,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchPool, ClientError>> {
        self.list(self.url(&["pools"], &options.query()))
    }

    /// `PATCH /pools/{id}`: changes only the properties set in `update`.
    /// With `if_match`, fails with 412 `ConditionNotMet` if the pool changed since read.
    pub async fn patch_pool(
        &self,
        pool_id: &str,
        update: &BatchPoolUpdateOptions,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        let call =
            self.call_with_body(Method::PATCH, self.url(&["pools", pool_id], &[])?, update)?;
        self.empty(call.if_match(if_match)).await
    }

    /// `POST /pools/{id}/updateproperties`: replaces the start task, certificate and
    /// application package references, metadata and communication mode as a whole.
    pub async fn replace_pool_properties(
        &self,
        pool_id: &str,
        replace: &BatchPoolReplaceOptions,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "updateproperties"], &[])?;
        self.empty(self.call_with_body(Method::POST, url, replace)?)
            .await
    }

    /// `POST /pools/{id}/resize`. Fails with 409 while the pool is resizing or autoscaled.
    pub async fn resize_pool(
        &self,
        pool_id: &str,
        resize: &BatchPoolResizeOptions,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "resize"], &[])?;
        self.empty(
            self.call_with_body(Method::POST, url, resize)?
                .if_match(if_match),
        )
        .await
    }

    /// `POST /pools/{id}/stopresize`.
    pub async fn stop_pool_resize(&self, pool_id: &str) -> Result<(), ClientError> {
        self.empty(self.call(
            Method::POST,
            self.url(&["pools", pool_id, "stopresize"], &[])?,
        ))
        .await
    }

    /// `POST /pools/{id}/enableautoscale` (at most once per 30 s per pool, says the service).
    pub async fn enable_pool_autoscale(
        &self,
        pool_id: &str,
        options: &BatchPoolEnableAutoScaleOptions,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "enableautoscale"], &[])?;
        self.empty(self.call_with_body(Method::POST, url, options)?)
            .await
    }

    /// `POST /pools/{id}/disableautoscale`.
    pub async fn disable_pool_autoscale(&self, pool_id: &str) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "disableautoscale"], &[])?;
        self.empty(self.call(Method::POST, url)).await
    }

    /// `POST /pools/{id}/evaluateautoscale`: what a formula would do, without applying it.
    pub async fn evaluate_pool_autoscale(
        &self,
        pool_id: &str,
        formula: &str,
    ) -> Result<AutoScaleRun, ClientError> {
        let url = self.url(&["pools", pool_id, "evaluateautoscale"], &[])?;
        let body = BatchPoolEvaluateAutoScaleOptions {
            auto_scale_formula: formula.to_owned(),
        };
        self.json(self.call_with_body(Method::POST, url, &body)?)
            .await
    }

    /// `POST /pools/{id}/removenodes` (at most 100 nodes per call).
    pub async fn remove_nodes(
        &self,
        pool_id: &str,
        options: &BatchNodeRemoveOptions,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "removenodes"], &[])?;
        self.empty(self.call_with_body(Method::POST, url, options)?)
            .await
    }

    /// `DELETE /pools/{id}`. The pool goes to state `deleting`; its running tasks are
    /// requeued. Deleting a pool that is already gone is a 404 error.
    pub async fn delete_pool(
        &self,
        pool_id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        let call = self.call(Method::DELETE, self.url(&["pools", pool_id], &[])?);
        self.empty(call.if_match(if_match)).await
    }
}
