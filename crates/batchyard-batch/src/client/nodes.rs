//! Compute node operations.

use futures::stream::BoxStream;
use reqwest::Method;

use super::{BatchClient, ListOptions};
use crate::error::ClientError;
use crate::models::*;

impl BatchClient {
    /// `GET /pools/{pool}/nodes`, all pages.
    pub fn list_nodes(
        &self,
        pool_id: &str,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchNode, ClientError>> {
        self.list(self.url(&["pools", pool_id, "nodes"], &options.query()))
    }

    /// `GET /pools/{pool}/nodes/{node}`.
    pub async fn get_node(&self, pool_id: &str, node_id: &str) -> Result<BatchNode, ClientError> {
        self.json(self.call(
            Method::GET,
            self.url(&["pools", pool_id, "nodes", node_id], &[])?,
        ))
        .await
    }

    /// `POST /pools/{pool}/nodes/{node}/reboot`.
    pub async fn reboot_node(
        &self,
        pool_id: &str,
        node_id: &str,
        options: &BatchNodeRebootOptions,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "nodes", node_id, "reboot"], &[])?;
        self.empty(self.call_with_body(Method::POST, url, options)?)
            .await
    }

    /// `POST /pools/{pool}/nodes/{node}/reimage`.
    pub async fn reimage_node(
        &self,
        pool_id: &str,
        node_id: &str,
        options: &BatchNodeReimageOptions,
    ) -> Result<(), ClientError> {
        let url = self.url(&["pools", pool_id, "nodes", node_id, "reimage"], &[])?;
        self.empty(self.call_with_body(Method::POST, url, options)?)
            .await
    }
}
