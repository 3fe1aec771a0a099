//! Task operations (bulk adding lives in [`crate::bulk`]).

use futures::stream::BoxStream;
use reqwest::Method;

use super::{BatchClient, CreateOutcome, ListOptions};
use crate::error::ClientError;
use crate::models::*;

impl BatchClient {
    /// `POST /jobs/{job}/tasks`. A task that already exists is `AlreadyExists`.
    pub async fn create_task(
        &self,
        job_id: &str,
        task: &BatchTaskCreateOptions,
    ) -> Result<CreateOutcome, ClientError> {
        let call = self.call_with_body(
            Method::POST,
            self.url(&["jobs", job_id, "tasks"], &[])?,
            task,
        )?;
        self.create(call, "TaskExists").await
    }

    /// `POST /jobs/{job}/addtaskcollection` with up to 100 tasks, as one call. The answer
    /// has one status per task, in no particular order. Prefer
    /// [`BatchClient::add_tasks`], which chunks, retries per task and splits.
    pub async fn create_task_collection(
        &self,
        job_id: &str,
        tasks: &BatchTaskGroup,
    ) -> Result<BatchCreateTaskCollectionResult, ClientError> {
        let url = self.url(&["jobs", job_id, "addtaskcollection"], &[])?;
        self.json(self.call_with_body(Method::POST, url, tasks)?)
            .await
    }

    /// The same with a body already serialized (used by the bulk adder, which measures it).
    pub(crate) async fn create_task_collection_raw(
        &self,
        job_id: &str,
        body: bytes::Bytes,
    ) -> Result<(BatchCreateTaskCollectionResult, u32), ClientError> {
        let url = self.url(&["jobs", job_id, "addtaskcollection"], &[])?;
        let mut call = self.call(Method::POST, url);
        call.body = Some(body);
        let reply = self.execute(call).await?;
        let attempts = reply.attempts;
        Ok((reply.decode()?, attempts))
    }

    /// `GET /jobs/{job}/tasks`, all pages.
    pub fn list_tasks(
        &self,
        job_id: &str,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchTask, ClientError>> {
        self.list(self.url(&["jobs", job_id, "tasks"], &options.query()))
    }

    /// `GET /jobs/{job}/tasks/{task}`.
    pub async fn get_task(&self, job_id: &str, task_id: &str) -> Result<BatchTask, ClientError> {
        self.json(self.call(
            Method::GET,
            self.url(&["jobs", job_id, "tasks", task_id], &[])?,
        ))
        .await
    }

    /// `DELETE /jobs/{job}/tasks/{task}`.
    pub async fn delete_task(&self, job_id: &str, task_id: &str) -> Result<(), ClientError> {
        self.empty(self.call(
            Method::DELETE,
            self.url(&["jobs", job_id, "tasks", task_id], &[])?,
        ))
        .await
    }

    /// `POST /jobs/{job}/tasks/{task}/terminate`.
    pub async fn terminate_task(&self, job_id: &str, task_id: &str) -> Result<(), ClientError> {
        let url = self.url(&["jobs", job_id, "tasks", task_id, "terminate"], &[])?;
        self.empty(self.call(Method::POST, url)).await
    }

    /// `POST /jobs/{job}/tasks/{task}/reactivate`: a failed task runs again (its retry count
    /// reset). Batch refuses it for a task that succeeded or is not completed, and in a job
    /// that has completed.
    pub async fn reactivate_task(&self, job_id: &str, task_id: &str) -> Result<(), ClientError> {
        let url = self.url(&["jobs", job_id, "tasks", task_id, "reactivate"], &[])?;
        self.empty(self.call(Method::POST, url)).await
    }

    /// `GET /jobs/{job}/tasks/{task}/subtasksinfo`: the subtasks of a multi-instance task.
    pub async fn list_subtasks(
        &self,
        job_id: &str,
        task_id: &str,
    ) -> Result<Vec<BatchSubtask>, ClientError> {
        let url = self.url(&["jobs", job_id, "tasks", task_id, "subtasksinfo"], &[])?;
        let result: BatchTaskListSubtasksResult = self.json(self.call(Method::GET, url)).await?;
        Ok(result.value.unwrap_or_default())
    }
}
