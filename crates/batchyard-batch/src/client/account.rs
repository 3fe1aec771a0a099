//! Account-wide listings.

use futures::stream::BoxStream;

use super::{BatchClient, ListOptions};
use crate::error::ClientError;
use crate::models::*;

impl BatchClient {
    /// `GET /supportedimages`, all pages.
    pub fn list_supported_images(
        &self,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchSupportedImage, ClientError>> {
        self.list(self.url(&["supportedimages"], &options.query()))
    }

    /// `GET /nodecounts`, all pages: node counts per state, per pool.
    pub fn list_pool_node_counts(
        &self,
        options: &ListOptions,
    ) -> BoxStream<'static, Result<BatchPoolNodeCounts, ClientError>> {
        self.list(self.url(&["nodecounts"], &options.query()))
    }
}
