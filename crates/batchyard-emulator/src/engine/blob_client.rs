//! The node's side of Blob Storage: listing a container, downloading a blob to a file
//! and uploading a file as a block blob, over HTTP with the SAS the task gave. Only
//! loopback hosts are contacted (the emulator's own blob endpoint, or a local web
//! server): an emulated node never reaches out to the network.

use std::path::Path;
use std::sync::OnceLock;

use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use url::Url;

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// The server answered with this status (and storage error code).
    Status(u16, String),
    /// The URL cannot be used (not loopback, not http).
    Refused(String),
    /// Connection or local file error.
    Failed(String),
}

impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transfer::Status(status, code) if code.is_empty() => write!(f, "HTTP {status}"),
            Transfer::Status(status, code) => write!(f, "HTTP {status} {code}"),
            Transfer::Refused(why) | Transfer::Failed(why) => f.write_str(why),
        }
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// A URL as it may appear in messages: without its query, which holds the SAS.
pub fn redacted(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_string()
}

/// Parses a URL the node may fetch: http(s) on a loopback host.
pub fn checked(url: &str) -> Result<Url, Transfer> {
    let parsed = Url::parse(url)
        .map_err(|e| Transfer::Refused(format!("{} is not a URL: {e}", redacted(url))))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !matches!(parsed.scheme(), "http" | "https") || !loopback {
        return Err(Transfer::Refused(format!(
            "the emulator's nodes only fetch from loopback http(s) URLs (its own blob endpoint or a local server), not {}",
            redacted(url)
        )));
    }
    Ok(parsed)
}

/// The URL of a blob in a container given as `http://host/account/container?sas`.
pub fn blob_url(container: &Url, blob: &str) -> Url {
    let mut url = container.clone();
    let encoded: Vec<String> = blob
        .split('/')
        .map(|s| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect();
    let path = format!(
        "{}/{}",
        container.path().trim_end_matches('/'),
        encoded.join("/")
    );
    url.set_path(&path);
    url
}

fn error_code(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Names of the blobs in a container whose names start with `prefix`, following
/// `NextMarker` through every page.
pub async fn list(container: &Url, prefix: &str) -> Result<Vec<String>, Transfer> {
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let mut url = container.clone();
        url.query_pairs_mut()
            .append_pair("restype", "container")
            .append_pair("comp", "list")
            .append_pair("prefix", prefix);
        if !marker.is_empty() {
            url.query_pairs_mut().append_pair("marker", &marker);
        }
        let response = client()
            .get(url)
            .header("x-ms-version", "2025-11-05")
            .send()
            .await
            .map_err(|e| Transfer::Failed(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(Transfer::Status(
                response.status().as_u16(),
                error_code(&response),
            ));
        }
        let text = response
            .text()
            .await
            .map_err(|e| Transfer::Failed(e.without_url().to_string()))?;
        for blob in text.split("<Blob>").skip(1) {
            if let Some(name) = between(blob, "<Name>", "</Name>") {
                names.push(unescape(name));
            }
        }
        marker = between(&text, "<NextMarker>", "</NextMarker>")
            .map(unescape)
            .unwrap_or_default();
        if marker.is_empty() {
            return Ok(names);
        }
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Downloads `url` to `dest` through a temporary file beside it, so the task never
/// sees a partial file.
pub async fn download(url: Url, dest: &Path) -> Result<(), Transfer> {
    let response = client()
        .get(url)
        .header("x-ms-version", "2025-11-05")
        .send()
        .await
        .map_err(|e| Transfer::Failed(e.without_url().to_string()))?;
    if !response.status().is_success() {
        return Err(Transfer::Status(
            response.status().as_u16(),
            error_code(&response),
        ));
    }
    let part = dest.with_file_name(format!(
        ".{}.download",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let local =
        |e: std::io::Error| Transfer::Failed(format!("cannot write {}: {e}", dest.display()));
    let mut file = tokio::fs::File::create(&part).await.map_err(local)?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(Transfer::Failed(e.without_url().to_string()));
            }
        };
        if let Err(e) = file.write_all(&chunk).await {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(local(e));
        }
    }
    file.flush().await.map_err(local)?;
    drop(file);
    tokio::fs::rename(&part, dest).await.map_err(local)
}

/// Uploads a file as a block blob with extra headers (`uploadHeaders`).
pub async fn upload(url: Url, file: &Path, headers: &[(String, String)]) -> Result<(), Transfer> {
    let data = tokio::fs::File::open(file)
        .await
        .map_err(|e| Transfer::Failed(format!("cannot read {}: {e}", file.display())))?;
    let length = data
        .metadata()
        .await
        .map_err(|e| Transfer::Failed(format!("cannot read {}: {e}", file.display())))?
        .len();
    let stream = futures::stream::unfold(data, |mut data| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 * 1024];
        match data.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), data))
            }
            Err(e) => Some((Err(e), data)),
        }
    });
    let mut request = client()
        .put(url)
        .header("x-ms-version", "2025-11-05")
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-length", length.to_string());
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .map_err(|e| Transfer::Failed(e.without_url().to_string()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(Transfer::Status(
            response.status().as_u16(),
            error_code(&response),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_is_fetched() {
        assert!(checked("http://127.0.0.1:1/a/b?sig=x").is_ok());
        assert!(checked("http://localhost/a").is_ok());
        assert!(checked("http://[::1]:8/a").is_ok());
        assert!(checked("https://acct.blob.core.windows.net/c/b?sig=secret").is_err());
        assert!(checked("file:///etc/passwd").is_err());
        let Err(e) = checked("https://example.com/x?sig=secret") else {
            panic!("accepted")
        };
        assert!(!e.to_string().contains("secret"));
    }

    #[test]
    fn blob_urls_keep_the_sas_and_encode_names() {
        let c = Url::parse("http://127.0.0.1:9/acct/box?sv=1&sig=a%2Bb").unwrap();
        assert_eq!(
            blob_url(&c, "dir/a b.txt").as_str(),
            "http://127.0.0.1:9/acct/box/dir/a%20b.txt?sv=1&sig=a%2Bb"
        );
    }
}
