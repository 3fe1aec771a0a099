//! Arbitrary requests into the emulator's Shared Key canonicalizer and verifier:
//! method, path and query, and headers taken from the input. Building the string to
//! sign and verifying must never panic, and a request signed with the documented
//! string to sign must verify.
#![no_main]

#[path = "../../crates/batchyard-emulator/src/api/shared_key.rs"]
#[allow(dead_code, clippy::all)]
mod shared_key;

use base64::Engine as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Line 1: method; line 2: path and query; then `name: value` header lines.
    let mut lines = text.lines();
    let (Some(method), Some(target)) = (lines.next(), lines.next()) else {
        return;
    };
    let Ok(method) = http::Method::from_bytes(method.trim().as_bytes()) else {
        return;
    };
    let Ok(uri) = target.trim().parse::<http::Uri>() else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.trim().as_bytes()),
            http::HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let key = base64::engine::general_purpose::STANDARD.encode(b"fuzz-key-0123456789");
    let now = std::time::SystemTime::now();
    headers.insert(
        "ocp-date",
        http::HeaderValue::from_str(&httpdate::fmt_http_date(now)).expect("a date is a header"),
    );
    headers.remove("authorization");
    let to_sign = shared_key::string_to_sign(&method, &uri, &headers, "fuzzacct");
    let signature = shared_key::sign(&key, &to_sign).expect("the key is base64");
    if let Ok(value) = http::HeaderValue::from_str(&format!("SharedKey fuzzacct:{signature}")) {
        headers.insert("authorization", value);
        assert_eq!(
            shared_key::verify(&method, &uri, &headers, "fuzzacct", &key, now),
            Ok(()),
            "a correctly signed request did not verify: {to_sign:?}"
        );
    }
});
