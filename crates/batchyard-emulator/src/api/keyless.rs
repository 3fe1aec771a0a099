//! What a service without a key still refuses.
//!
//! With no key, nothing proves who sends a request, and the service runs commands as
//! the user who started it. A web page the user visits can send requests to
//! loopback: the browser adds an `Origin` header to every cross-site request it
//! lets a page send (and to every POST), can only send bodies of the "simple"
//! content types (text/plain, forms) or none without asking first, and a page that
//! rebinds its own host name to 127.0.0.1 still sends its own name as `Host`. So a
//! keyless service answers only requests without `Origin`, addressed to a loopback
//! host name, whose body (if any) is declared JSON, as every Batch client sends it.

use axum::http::{HeaderMap, Method, StatusCode, header};

use super::error::ApiError;

/// Why a keyless request was refused; `None` when it may go on.
pub fn refusal(method: &Method, headers: &HeaderMap, open_network: bool) -> Option<ApiError> {
    let reason = if headers.contains_key(header::ORIGIN) {
        "the request comes from a web page (it has an Origin header)"
    } else if !open_network && !host_is_loopback(headers) {
        "the request is addressed to a host name that is not loopback"
    } else if has_body(method, headers) && !declares_json(headers) {
        "the request body is not declared as JSON (Content-Type: application/json)"
    } else {
        return None;
    };
    Some(
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
        )
        .with(
            "AuthenticationErrorDetail",
            format!(
                "This service has no key, so {reason} is refused. Start it with an account name and key and sign requests with Shared Key."
            ),
        ),
    )
}

/// `localhost`, `*.localhost` is not: only names that cannot be pointed elsewhere.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        // HTTP/1.0 and HTTP/2 without :authority: no name to rebind.
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim() != "0");
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    (matches!(*method, Method::POST | Method::PUT | Method::PATCH) && declared.unwrap_or(chunked))
        || chunked
}

fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]:80",
            "LOCALHOST:1",
            "127.3.2.1",
        ] {
            assert!(host_is_loopback(&headers(&[("host", host)])), "{host}");
        }
        for host in [
            "evil.example",
            "evil.localhost",
            "10.0.0.1:80",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!host_is_loopback(&headers(&[("host", host)])), "{host}");
        }
    }

    #[test]
    fn bodies_must_be_declared_json() {
        let post = Method::POST;
        let ok = headers(&[
            ("content-length", "2"),
            ("content-type", "application/json; odata=minimalmetadata"),
        ]);
        assert!(refusal(&post, &ok, false).is_none());
        let plain = headers(&[("content-length", "2"), ("content-type", "text/plain")]);
        assert!(refusal(&post, &plain, false).is_some());
        let none = headers(&[("content-length", "2")]);
        assert!(refusal(&post, &none, false).is_some());
        let empty = headers(&[("content-length", "0")]);
        assert!(refusal(&post, &empty, false).is_none());
    }
}
