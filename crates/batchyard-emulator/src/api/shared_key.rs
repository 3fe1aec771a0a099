//! Verification of Shared Key signatures, as the Batch service checks them.
//!
//! StringToSign = VERB, the eleven standard headers, the canonicalized `ocp-*` headers,
//! and `/account/path` followed by every query parameter sorted by lower-cased name.
//! With `ocp-date` present, the `Date` line is empty.

// The `http` types (what axum re-exports), so the fuzz targets can build this file
// without the rest of the service.
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::Sha256;

/// Longest accepted distance between the request date and the server clock.
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No `Authorization` header, or not of the `SharedKey` scheme.
    #[error("the request is missing a SharedKey Authorization header")]
    MissingHeader,
    /// The header names another account.
    #[error("the request is signed for another account")]
    WrongAccount,
    /// Neither `ocp-date` nor `Date` is present or parseable.
    #[error("the request has no valid ocp-date or Date header")]
    MissingDate,
    /// The date is more than 15 minutes from the server time.
    #[error("the request date is more than 15 minutes from the server time")]
    StaleDate,
    /// The signature does not match.
    #[error("the MAC signature in the request does not match the computed one")]
    BadSignature,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The string a client signs for this request (the signing side: the unit tests and
/// the fuzz target sign with it; the service only verifies).
#[cfg_attr(not(test), allow(dead_code))]
pub fn string_to_sign(method: &Method, uri: &Uri, headers: &HeaderMap, account: &str) -> String {
    string_to_sign_with(method, uri, headers, account, Variant::Documented)
}

/// Client flavours of the string to sign. Microsoft's page and Microsoft's SDKs differ
/// in details, and the service accepts what its SDKs send, so the emulator accepts
/// every flavour and checks the signature against each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// As documented: every query value (multi-values sorted, comma-joined), headers
    /// verbatim.
    Documented,
    /// As documented, but `Content-Length: 0` signed as an empty line.
    DocumentedEmptyLength,
    /// As the Python SDK (azure-batch 15.x) signs: first value of each query
    /// parameter, empty values and empty `ocp-*` headers left out, `Content-Length`
    /// signed as `0` when absent on a method with a body.
    PythonSdk,
}

fn string_to_sign_with(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
    variant: Variant,
) -> String {
    let mut out = String::new();
    out.push_str(method.as_str());
    out.push('\n');
    let mut content_length = header(headers, "content-length");
    match variant {
        Variant::DocumentedEmptyLength if content_length == "0" => content_length = "",
        Variant::PythonSdk
            if content_length.is_empty() && method != Method::GET && method != Method::HEAD =>
        {
            content_length = "0";
        }
        _ => {}
    }
    let date = if headers.contains_key("ocp-date") {
        ""
    } else {
        header(headers, "date")
    };
    for value in [
        header(headers, "content-encoding"),
        header(headers, "content-language"),
        content_length,
        header(headers, "content-md5"),
        header(headers, "content-type"),
        date,
        header(headers, "if-modified-since"),
        header(headers, "if-match"),
        header(headers, "if-none-match"),
        header(headers, "if-unmodified-since"),
        header(headers, "range"),
    ] {
        out.push_str(value);
        out.push('\n');
    }
    let mut ocp: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("ocp-"))
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            let value = match variant {
                Variant::PythonSdk => value.to_string(),
                _ => value.split_whitespace().collect::<Vec<_>>().join(" "),
            };
            Some((name.as_str().to_string(), value))
        })
        .filter(|(_, value)| variant != Variant::PythonSdk || !value.is_empty())
        .collect();
    ocp.sort();
    for (name, value) in ocp {
        out.push_str(&format!("{name}:{value}\n"));
    }
    out.push('/');
    out.push_str(account);
    out.push_str(uri.path());
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let (name, value) = (name.to_ascii_lowercase(), value.into_owned());
        if variant == Variant::PythonSdk && value.is_empty() {
            continue;
        }
        match params.iter_mut().find(|(n, _)| *n == name) {
            Some(_) if variant == Variant::PythonSdk => {}
            Some((_, values)) => values.push(value),
            None => params.push((name, vec![value])),
        }
    }
    params.sort();
    for (name, mut values) in params {
        values.sort();
        out.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    out
}

/// Signs `text` with a base64 key; `None` when the key is not valid base64.
pub fn sign(key_base64: &str, text: &str) -> Option<String> {
    let key = STANDARD.decode(key_base64).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(text.as_bytes());
    Some(STANDARD.encode(mac.finalize().into_bytes()))
}

/// Checks a request's signature and date.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    account: &str,
    key: &str,
    now: std::time::SystemTime,
) -> Result<(), AuthFailure> {
    let auth = header(headers, "authorization");
    let Some(credential) = auth.strip_prefix("SharedKey ") else {
        return Err(AuthFailure::MissingHeader);
    };
    let Some((name, signature)) = credential.trim().split_once(':') else {
        return Err(AuthFailure::MissingHeader);
    };
    if name != account {
        return Err(AuthFailure::WrongAccount);
    }
    let date_text = match header(headers, "ocp-date") {
        "" => header(headers, "date"),
        d => d,
    };
    let date = httpdate::parse_http_date(date_text).map_err(|_| AuthFailure::MissingDate)?;
    let skew = now
        .duration_since(date)
        .or_else(|_| date.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(AuthFailure::StaleDate);
    }
    let matches = |variant: Variant| {
        signature_matches(
            key,
            &string_to_sign_with(method, uri, headers, account, variant),
            signature,
        )
    };
    if [
        Variant::Documented,
        Variant::DocumentedEmptyLength,
        Variant::PythonSdk,
    ]
    .into_iter()
    .any(matches)
    {
        Ok(())
    } else {
        Err(AuthFailure::BadSignature)
    }
}

/// Whether `signature` is `text` signed with the base64 key; `false` for a key that is not
/// valid base64.
pub fn signature_matches(key_base64: &str, text: &str, signature: &str) -> bool {
    sign(key_base64, text).is_some_and(|expected| constant_time_eq(&expected, signature))
}

/// Compares in constant time so a signature cannot be probed byte by byte.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_matches_the_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert("ocp-date", "Tue, 29 Jul 2014 21:49:13 GMT".parse().unwrap());
        let uri: Uri = "/jobs?api-version=2014-01-01.1.0&timeout=20"
            .parse()
            .unwrap();
        let s = string_to_sign(&Method::GET, &uri, &headers, "myaccount");
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:Tue, 29 Jul 2014 21:49:13 GMT\n/myaccount/jobs\napi-version:2014-01-01.1.0\ntimeout:20"
        );
    }

    #[test]
    fn verify_accepts_good_and_rejects_bad() {
        let key = STANDARD.encode(b"secret-key-bytes");
        let now = std::time::SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert("ocp-date", httpdate::fmt_http_date(now).parse().unwrap());
        let uri: Uri = "/pools?api-version=2025-06-01.21.0".parse().unwrap();
        let sig = sign(&key, &string_to_sign(&Method::GET, &uri, &headers, "acct")).unwrap();
        headers.insert(
            "authorization",
            format!("SharedKey acct:{sig}").parse().unwrap(),
        );
        assert_eq!(
            verify(&Method::GET, &uri, &headers, "acct", &key, now),
            Ok(())
        );
        // Same signature on another path fails.
        let other: Uri = "/jobs?api-version=2025-06-01.21.0".parse().unwrap();
        assert_eq!(
            verify(&Method::GET, &other, &headers, "acct", &key, now),
            Err(AuthFailure::BadSignature)
        );
        // Twenty minutes later the date is stale.
        let later = now + std::time::Duration::from_secs(1200);
        assert_eq!(
            verify(&Method::GET, &uri, &headers, "acct", &key, later),
            Err(AuthFailure::StaleDate)
        );
        assert_eq!(
            verify(&Method::GET, &uri, &headers, "other", &key, now),
            Err(AuthFailure::WrongAccount)
        );
    }
}
