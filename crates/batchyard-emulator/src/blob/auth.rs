//! Who may do what on the blob endpoint: Shared Key signatures and shared access
//! signatures (service and account SAS), checked as the Storage REST reference
//! documents them:
//! - Shared Key: <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>
//!   (Blob service, version 2009-09-19 and later; `Content-Length` of 0 signed as an
//!   empty line from 2015-02-21).
//! - Service SAS: <https://learn.microsoft.com/rest/api/storageservices/create-service-sas>
//!   (string-to-sign per `sv`; `ses` joins at 2020-12-06).
//! - Account SAS: <https://learn.microsoft.com/rest/api/storageservices/create-account-sas>

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, Method, Uri};

use super::error::BlobError;
use crate::api::shared_key::signature_matches;

/// Longest accepted distance between a Shared Key request's date and the server clock.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// What an authenticated request may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Shared Key: the account owner, everything.
    Owner,
    /// A shared access signature with these permission letters, over these resource
    /// types (`s`ervice, `c`ontainer, `o`bject; all three for a service SAS, whose
    /// scope is checked when it is verified).
    Sas {
        /// Permission letters (`racwdl`...).
        permissions: String,
        /// Resource types an account SAS covers.
        resource_types: String,
        /// A service SAS (`sr`), which can read and list a container but never create,
        /// change or delete one.
        service: bool,
    },
}

/// The resource level an operation acts on, for an account SAS's `srt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The account (list containers).
    Service,
    /// A container (create, delete, properties, list blobs).
    Container,
    /// A blob.
    Object,
}

impl Access {
    /// Requires permission `letter` at `level`.
    pub fn require(&self, level: Level, letter: char) -> Result<(), BlobError> {
        match self {
            Access::Owner => Ok(()),
            Access::Sas {
                permissions,
                resource_types,
                service,
            } => {
                if *service && level == Level::Container && !matches!(letter, 'r' | 'l') {
                    return Err(BlobError::resource_mismatch());
                }
                let needed = match level {
                    Level::Service => 's',
                    Level::Container => 'c',
                    Level::Object => 'o',
                };
                if !resource_types.contains(needed) {
                    return Err(BlobError::resource_mismatch());
                }
                if permissions.contains(letter) {
                    Ok(())
                } else {
                    Err(BlobError::permission_mismatch())
                }
            }
        }
    }

    /// For writing a blob: `Ok(true)` when any write is allowed (`w`), `Ok(false)` when
    /// only creating a blob that does not exist yet is (`c`).
    pub fn may_overwrite(&self) -> Result<bool, BlobError> {
        match self {
            Access::Owner => Ok(true),
            Access::Sas { permissions, .. } if permissions.contains('w') => {
                self.require(Level::Object, 'w').map(|()| true)
            }
            Access::Sas { permissions, .. } if permissions.contains('c') => {
                self.require(Level::Object, 'c').map(|()| false)
            }
            Access::Sas { .. } => Err(BlobError::permission_mismatch()),
        }
    }
}

/// The path a request addresses.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// Container name, if any.
    pub container: Option<&'a str>,
    /// Blob name, if any.
    pub blob: Option<&'a str>,
}

/// The parts of a request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// Method.
    pub method: &'a Method,
    /// Path and query as sent.
    pub uri: &'a Uri,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
}

/// The account and its key.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Account name.
    pub account: &'a str,
    /// Base64 key.
    pub key: &'a str,
}

/// Authenticates a request to `target` from `peer`.
pub fn authenticate(
    request: Signed<'_>,
    credentials: Credentials<'_>,
    target: Target<'_>,
    peer: Option<IpAddr>,
    now: SystemTime,
) -> Result<Access, BlobError> {
    let Signed { headers, query, .. } = request;
    let Credentials { account, key } = credentials;
    if let Some(sig) = param(query, "sig") {
        return verify_sas(query, sig, credentials, target, peer, now);
    }
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(auth) => verify_shared_key(request, account, key, auth, now),
        None => Err(BlobError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "NoAuthenticationInformation",
            "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
        )),
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Orders of the canonicalized `x-ms-*` headers: the documented lexicographic order,
/// and the culture-aware order some SDKs sort with, where `-` is ignored at first.
#[derive(Debug, Clone, Copy)]
enum HeaderOrder {
    Bytes,
    IgnoringHyphens,
}

/// The Shared Key string-to-sign of a Blob request.
pub fn shared_key_string(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
    account: &str,
) -> String {
    string_with(method, uri, headers, query, account, HeaderOrder::Bytes)
}

fn string_with(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    query: &[(String, String)],
    account: &str,
    order: HeaderOrder,
) -> String {
    let mut out = String::new();
    out.push_str(method.as_str());
    out.push('\n');
    let length = match header(headers, "content-length") {
        "0" => "",
        l => l,
    };
    for value in [
        header(headers, "content-encoding"),
        header(headers, "content-language"),
        length,
        header(headers, "content-md5"),
        header(headers, "content-type"),
        header(headers, "date"),
        header(headers, "if-modified-since"),
        header(headers, "if-match"),
        header(headers, "if-none-match"),
        header(headers, "if-unmodified-since"),
        header(headers, "range"),
    ] {
        out.push_str(value);
        out.push('\n');
    }
    let mut ms: Vec<(&str, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-ms-"))
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((
                name.as_str(),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
            ))
        })
        .collect();
    match order {
        HeaderOrder::Bytes => ms.sort_by(|a, b| a.0.cmp(b.0)),
        HeaderOrder::IgnoringHyphens => ms.sort_by(|a, b| {
            let strip = |s: &str| s.replace('-', "");
            strip(a.0).cmp(&strip(b.0)).then_with(|| b.0.cmp(a.0))
        }),
    }
    for (name, value) in ms {
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push('/');
    out.push_str(account);
    out.push_str(uri.path());
    let mut params: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in query {
        let name = name.to_ascii_lowercase();
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => params.push((name, vec![value])),
        }
    }
    params.sort();
    for (name, mut values) in params {
        values.sort_unstable();
        out.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    out
}

fn verify_shared_key(
    request: Signed<'_>,
    account: &str,
    key: &str,
    auth: &str,
    now: SystemTime,
) -> Result<Access, BlobError> {
    let Signed {
        method,
        uri,
        headers,
        query,
    } = request;
    let Some((name, signature)) = auth
        .strip_prefix("SharedKey ")
        .and_then(|c| c.trim().split_once(':'))
    else {
        return Err(BlobError::auth_failed(
            "The Authorization header is not of the form SharedKey account:signature.",
        ));
    };
    if name != account {
        return Err(BlobError::auth_failed(format!(
            "The account being accessed ({account}) does not match the account of the signature ({name})."
        )));
    }
    let date = match header(headers, "x-ms-date") {
        "" => header(headers, "date"),
        d => d,
    };
    let date = httpdate::parse_http_date(date).map_err(|_| {
        BlobError::auth_failed("The request has no valid x-ms-date or Date header.")
    })?;
    let skew = now
        .duration_since(date)
        .or_else(|_| date.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(BlobError::auth_failed(
            "Request date header too old or too far in the future.",
        ));
    }
    let matches = |order| {
        signature_matches(
            key,
            &string_with(method, uri, headers, query, account, order),
            signature,
        )
    };
    if matches(HeaderOrder::Bytes) || matches(HeaderOrder::IgnoringHyphens) {
        Ok(Access::Owner)
    } else {
        Err(BlobError::auth_failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature.",
        ))
    }
}

fn parse_time(text: &str) -> Option<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            // The service also accepts times without seconds and plain dates.
            let with_seconds = text.replace('Z', ":00Z");
            time::OffsetDateTime::parse(&with_seconds, &Rfc3339)
        })
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .ok()?;
    Some(SystemTime::from(parsed))
}

fn ip_allowed(range: &str, peer: Option<IpAddr>) -> bool {
    let Some(peer) = peer else { return false };
    let (low, high) = range.split_once('-').unwrap_or((range, range));
    match (low.parse::<IpAddr>(), high.parse::<IpAddr>()) {
        (Ok(low), Ok(high)) => low <= peer && peer <= high,
        _ => false,
    }
}

/// Checks the fields every SAS has: version, times, address, protocol.
fn check_common(
    query: &[(String, String)],
    peer: Option<IpAddr>,
    now: SystemTime,
) -> Result<(), BlobError> {
    if param(query, "sv").is_none() {
        return Err(BlobError::auth_failed("sv is mandatory."));
    }
    let expiry = param(query, "se")
        .ok_or_else(|| BlobError::auth_failed("se is mandatory. Cannot be empty"))?;
    let expiry = parse_time(expiry)
        .ok_or_else(|| BlobError::auth_failed("se is not a valid ISO 8601 time."))?;
    if now > expiry {
        return Err(BlobError::auth_failed(
            "Signed expiry time must be after the current time: the signature has expired.",
        ));
    }
    if let Some(start) = param(query, "st") {
        let start = parse_time(start)
            .ok_or_else(|| BlobError::auth_failed("st is not a valid ISO 8601 time."))?;
        if now < start {
            return Err(BlobError::auth_failed(
                "Signature not valid in the specified time frame: the start time is in the future.",
            ));
        }
    }
    if let Some(range) = param(query, "sip")
        && !ip_allowed(range, peer)
    {
        return Err(BlobError::new(
            axum::http::StatusCode::FORBIDDEN,
            "AuthorizationSourceIPMismatch",
            "This request is not authorized to perform this operation using this source IP.",
        ));
    }
    // The endpoint is plain HTTP; a signature limited to HTTPS cannot be used on it.
    if param(query, "spr").is_some_and(|p| !p.split(',').any(|p| p == "http")) {
        return Err(BlobError::new(
            axum::http::StatusCode::FORBIDDEN,
            "AuthorizationProtocolMismatch",
            "This request is not authorized to perform this operation using this protocol.",
        ));
    }
    Ok(())
}

fn verify_sas(
    query: &[(String, String)],
    sig: &str,
    credentials: Credentials<'_>,
    target: Target<'_>,
    peer: Option<IpAddr>,
    now: SystemTime,
) -> Result<Access, BlobError> {
    let Credentials { account, key } = credentials;
    check_common(query, peer, now)?;
    let p = |name: &str| param(query, name).unwrap_or("");
    let version = p("sv");
    // Versions are dates, so they compare as strings.
    let with_scope = version >= "2020-12-06";
    let string = if param(query, "ss").is_some() || param(query, "srt").is_some() {
        if !p("ss").contains('b') {
            return Err(BlobError::auth_failed(
                "The account SAS does not cover the Blob service (ss).",
            ));
        }
        let mut s = format!(
            "{account}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{version}\n",
            p("sp"),
            p("ss"),
            p("srt"),
            p("st"),
            p("se"),
            p("sip"),
            p("spr")
        );
        if with_scope {
            s.push_str(p("ses"));
            s.push('\n');
        }
        s
    } else {
        if param(query, "skoid").is_some() {
            return Err(BlobError::auth_failed(
                "User delegation SAS is not supported by the emulator: use a service or account SAS.",
            ));
        }
        if param(query, "si").is_some() {
            return Err(BlobError::auth_failed(
                "Stored access policies are not supported by the emulator: sign the permissions into the SAS.",
            ));
        }
        let Some(container) = target.container else {
            return Err(BlobError::resource_mismatch());
        };
        let resource = match (p("sr"), target.blob) {
            ("c", _) => format!("/blob/{account}/{container}"),
            ("b", Some(blob)) => format!("/blob/{account}/{container}/{blob}"),
            _ => return Err(BlobError::resource_mismatch()),
        };
        let mut fields = vec![
            p("sp"),
            p("st"),
            p("se"),
            &resource,
            p("si"),
            p("sip"),
            p("spr"),
            version,
        ];
        if version >= "2018-11-09" {
            fields.extend([p("sr"), p("snapshot")]);
        }
        if with_scope {
            fields.push(p("ses"));
        }
        fields.extend([p("rscc"), p("rscd"), p("rsce"), p("rscl"), p("rsct")]);
        fields.join("\n")
    };
    let valid = signature_matches(key, &string, sig);
    if !valid {
        return Err(BlobError::auth_failed(format!(
            "Signature did not match. String to sign used was {}",
            string.replace('\n', "\\n")
        )));
    }
    let service = param(query, "srt").is_none();
    Ok(Access::Sas {
        permissions: p("sp").to_string(),
        resource_types: param(query, "srt").unwrap_or("co").to_string(),
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_key_string_follows_the_documented_layout() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-date",
            "Fri, 26 Jun 2015 23:39:12 GMT".parse().unwrap(),
        );
        headers.insert("x-ms-version", "2015-02-21".parse().unwrap());
        headers.insert("content-length", "0".parse().unwrap());
        let uri: Uri = "/myaccount/mycontainer?restype=container&comp=metadata"
            .parse()
            .unwrap();
        let query = vec![
            ("restype".to_string(), "container".to_string()),
            ("comp".to_string(), "metadata".to_string()),
        ];
        assert_eq!(
            shared_key_string(&Method::PUT, &uri, &headers, &query, "myaccount"),
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container"
        );
    }

    #[test]
    fn sas_times_parse_in_the_accepted_forms() {
        assert!(parse_time("2030-01-02T03:04:05Z").is_some());
        assert!(parse_time("2030-01-02T03:04Z").is_some());
        assert!(parse_time("2030-01-02").is_some());
        assert!(parse_time("tomorrow").is_none());
    }

    #[test]
    fn sip_ranges_compare_addresses() {
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(ip_allowed("127.0.0.1", local));
        assert!(ip_allowed("127.0.0.0-127.0.0.9", local));
        assert!(!ip_allowed("10.0.0.1", local));
    }
}
