//! List calls as async streams that follow `odata.nextLink`.

use std::collections::HashSet;

use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::BatchClient;
use crate::error::ClientError;

/// OData options of a list call. All optional; unset means the service default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `$filter`, an OData filter such as `state eq 'active'`.
    pub filter: Option<String>,
    /// `$select`, a comma-separated list of properties to return.
    pub select: Option<String>,
    /// `$expand`, e.g. `stats` (only where the operation supports it).
    pub expand: Option<String>,
    /// `maxresults`, items per page, 1 to 1000 (service default 1000).
    pub max_results: Option<u32>,
}

impl ListOptions {
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if let Some(filter) = &self.filter {
            query.push(("$filter", filter.clone()));
        }
        if let Some(select) = &self.select {
            query.push(("$select", select.clone()));
        }
        if let Some(expand) = &self.expand {
            query.push(("$expand", expand.clone()));
        }
        if let Some(max) = self.max_results {
            query.push(("maxresults", max.to_string()));
        }
        query
    }
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "odata.nextLink", default)]
    next_link: Option<String>,
}

impl BatchClient {
    /// Streams every item of a list, page by page: the next page is fetched only when
    /// the stream is polled past the current one, so memory holds one page at a time.
    /// Each page request is retried like any call; an error ends the stream.
    pub(crate) fn list<T>(
        &self,
        first: Result<Url, ClientError>,
    ) -> BoxStream<'static, Result<T, ClientError>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let first = match first {
            Ok(url) => url,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let client = self.clone();
        let max_pages = self.options().max_list_pages;
        // The state is the next page's URL, or the error found while resolving it, which
        // is reported only after the items of the page that carried the link; with it,
        // every page URL fetched so far, so a link back to one of them ends the list
        // instead of looping.
        let seen = HashSet::from([first.as_str().to_owned()]);
        stream::try_unfold(
            (Some(Ok(first)), seen),
            move |(next, mut seen): (Option<Result<Url, ClientError>>, HashSet<String>)| {
                let client = client.clone();
                async move {
                    let Some(url) = next else {
                        return Ok::<_, ClientError>(None);
                    };
                    let url = url?;
                    let page: Page<T> = client.json(client.call(Method::GET, url)).await?;
                    let pages = seen.len() as u64;
                    let next = page.next_link.map(|link| {
                        let url = client.next_page_url(&link)?;
                        if seen.contains(url.as_str()) {
                            return Err(ClientError::Paging {
                                message: format!(
                                    "odata.nextLink {link:?} leads back to a page already \
                                     read; the service is paging in a cycle"
                                ),
                                pages,
                            });
                        }
                        if pages >= max_pages {
                            return Err(ClientError::Paging {
                                message: format!(
                                    "the service sent another odata.nextLink after the \
                                     limit of {max_pages} pages (ClientOptions::max_list_pages)"
                                ),
                                pages,
                            });
                        }
                        seen.insert(url.as_str().to_owned());
                        Ok(url)
                    });
                    Ok(Some((page.value, (next, seen))))
                }
            },
        )
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// Resolves an `odata.nextLink` (absolute or relative). It must stay on the endpoint's
    /// origin, so credentials never go to another host; `api-version` is added if the
    /// service left it out.
    fn next_page_url(&self, link: &str) -> Result<Url, ClientError> {
        let url = self
            .endpoint()
            .join(link)
            .map_err(|e| ClientError::InvalidUrl(format!("odata.nextLink {link:?}: {e}")))?;
        if url.origin() != self.endpoint().origin() {
            return Err(ClientError::InvalidUrl(format!(
                "odata.nextLink {link:?} leaves the endpoint {}",
                self.endpoint()
            )));
        }
        let mut url = url;
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            let api = self.options().api_version.clone();
            url.query_pairs_mut().append_pair("api-version", &api);
        }
        Ok(url)
    }
}
