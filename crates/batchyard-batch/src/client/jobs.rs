//! Job operations.

use futures::stream::BoxStream;
use reqwest::Method;

use super::{BatchClient, CreateOutcome, ListOptions};
use crate::error::ClientError;
use crate::models::*;

impl BatchClient {
    /// `POST /jobs`. A job that already exists is `AlreadyExists`, not an error.
    pub async fn create_job(
        &self,
        job: &BatchJobCreateOptions,
    ) -> Result<CreateOutcome, ClientError> {
        let call = self.call_with_body(Method::POST, self.url(&["jobs"], &[])?, job)?;
        self.create(call, "JobExists").await
    }

    /// `GET /jobs/{id}`.
    pub async fn get_job(&self, job_id: &str) -> Result<BatchJob, ClientError> {
        self.json(self.call(Method::GET, self.url(&["jobs", job_id], &[])?))
            .await
    }

    /// `GET /jobs`, all pages.
    pub fn list_jobs(
        &self,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchJob, ClientError>> {
        self.list(self.url(&["jobs"], &options.query()))
    }

    /// `PATCH /jobs/{id}`: changes only the properties set in `update`.
    pub async fn patch_job(
        &self,
        job_id: &str,
        update: &BatchJobUpdateOptions,
        if_match: Option<&str>,
    ) -> Result<(), ClientError> {
        let call = self.call_with_body(Method::PATCH, self.url(&["jobs", job_id], &[])?, update)?;
        self.empty(call.if_match(if_match)).await
    }

    /// `POST /jobs/{id}/terminate`. A retry of a terminate that already took effect
    /// answers 409 (`JobCompleted` or `JobBeingTerminated`); the caller decides whether
    /// that is success.
    pub async fn terminate_job(
        &self,
        job_id: &str,
        reason: Option<&str>,
        force: bool,
    ) -> Result<(), ClientError> {
        let query = if force {
            vec![("force", "true".to_owned())]
        } else {
            Vec::new()
        };
        let url = self.url(&["jobs", job_id, "terminate"], &query)?;
        let body = BatchJobTerminateOptions {
            termination_reason: reason.map(str::to_owned),
        };
        self.empty(self.call_with_body(Method::POST, url, &body)?)
            .await
    }

    /// `DELETE /jobs/{id}`.
    pub async fn delete_job(&self, job_id: &str, force: bool) -> Result<(), ClientError> {
        let query = if force {
            vec![("force", "true".to_owned())]
        } else {
            Vec::new()
        };
        self.empty(self.call(Method::DELETE, self.url(&["jobs", job_id], &query)?))
            .await
    }

    /// `GET /jobs/{id}/taskcounts`.
    pub async fn get_job_task_counts(
        &self,
        job_id: &str,
    ) -> Result<BatchTaskCountsResult, ClientError> {
        self.json(self.call(Method::GET, self.url(&["jobs", job_id, "taskcounts"], &[])?))
            .await
    }
}
