//! What reaches the handlers: cross-site requests to a keyless service, keyless
//! listeners beyond loopback, bad keys, what a 403 tells, repeated parameters.

use std::time::SystemTime;

use base64::Engine as _;
use batchyard_batch::auth::SharedKeyCredential;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::services::{API, KINDS, Options, Service, pool_body, start};

const ACCOUNT: &str = "attacked";

fn key() -> String {
    base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef0123456789abcdef")
}

fn keyed() -> Options {
    Options {
        account: Some((ACCOUNT.into(), key())),
        ..Options::default()
    }
}

async fn pool_count(service: &Service) -> usize {
    let (status, body) = service.get("/pools").await;
    assert_eq!(status, 200, "{body}");
    body["value"].as_array().map_or(0, Vec::len)
}

/// A web page's requests to a keyless service: a text/plain body (a "simple"
/// request a page may send without asking), a JSON body with the page's Origin, a
/// rebound host name. All refused with 403, nothing created; the same request from
/// a local client is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_to_a_keyless_service_are_refused() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        let body = pool_body("csrf").to_string();
        let attempts = [
            (
                "text/plain body",
                service
                    .http
                    .post(service.at("/pools"))
                    .header("content-type", "text/plain")
                    .body(body.clone()),
            ),
            (
                "no content type",
                service.http.post(service.at("/pools")).body(body.clone()),
            ),
            (
                "form body",
                service
                    .http
                    .post(service.at("/pools"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.clone()),
            ),
            (
                "Origin header",
                service
                    .http
                    .post(service.at("/pools"))
                    .header("content-type", "application/json")
                    .header("origin", "https://evil.example")
                    .body(body.clone()),
            ),
            (
                "Origin on a GET",
                service
                    .http
                    .get(service.at("/pools"))
                    .header("origin", "null"),
            ),
            (
                "rebound Host",
                service
                    .http
                    .post(service.at("/pools"))
                    .header("content-type", "application/json")
                    .header("host", "evil.example")
                    .body(body.clone()),
            ),
        ];
        for (what, request) in attempts {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("AuthenticationFailed")),
                "{kind:?}, {what}: {answer}"
            );
        }
        assert_eq!(
            pool_count(&service).await,
            0,
            "{kind:?}: nothing was created"
        );
        let (status, answer) = service.post("/pools", pool_body("local")).await;
        assert_eq!(
            status, 201,
            "{kind:?}: a local JSON client is served: {answer}"
        );
        service.stop().await;
    }
}

/// A keyless listener beyond loopback is refused at start unless the loudly named
/// flag is given; a key that is not base64 is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_or_unusable_starts_are_refused() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.db");
        let network = Options {
            bind: Some("0.0.0.0".parse().unwrap()),
            ..Options::default()
        };
        let failure = start(kind, &state, &network).await.err();
        let text = failure.map(|f| f.text()).unwrap_or_default();
        assert!(
            text.contains("--insecure-no-auth-on-network"),
            "{kind:?}: a keyless network bind is refused: {text:?}"
        );
        let bad_key = Options {
            account: Some((ACCOUNT.into(), "not base64 at all!".into())),
            ..Options::default()
        };
        let text = start(kind, &state, &bad_key)
            .await
            .err()
            .map(|f| f.text())
            .unwrap_or_default();
        assert!(
            text.contains("base64"),
            "{kind:?}: a bad key is refused: {text:?}"
        );
        // With a key, the network bind is allowed.
        let keyed_network = Options {
            bind: Some("0.0.0.0".parse().unwrap()),
            ..keyed()
        };
        start(kind, &state, &keyed_network)
            .await
            .unwrap()
            .stop()
            .await;
    }
}

async fn signed_get(
    service: &Service,
    credential: &SharedKeyCredential,
    path_and_query: &str,
) -> (u16, Value) {
    let url = reqwest::Url::parse(&format!("{}{path_and_query}", service.url)).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        "ocp-date",
        HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now())).unwrap(),
    );
    let auth = credential.authorization("GET", url.path(), url.query(), &headers);
    headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let response = service.http.get(url).headers(headers).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A wrong account name and a wrong key get the same 403: the answer does not
/// confirm a guessed account name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_does_not_tell_a_wrong_account_from_a_wrong_key() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &keyed())
            .await
            .unwrap();
        let wrong_account = SharedKeyCredential::new("guessed", &key()).unwrap();
        let wrong_key = SharedKeyCredential::new(
            ACCOUNT,
            &base64::engine::general_purpose::STANDARD.encode(b"another key"),
        )
        .unwrap();
        let path = format!("/pools?{API}");
        let (s1, a1) = signed_get(&service, &wrong_account, &path).await;
        let (s2, a2) = signed_get(&service, &wrong_key, &path).await;
        assert_eq!((s1, s2), (403, 403));
        assert_eq!(a1["code"], "AuthenticationFailed");
        assert_eq!(a1["values"], a2["values"], "{kind:?}: same detail for both");
        assert!(!a1.to_string().contains("account"), "{kind:?}: {a1}");
        let right = SharedKeyCredential::new(ACCOUNT, &key()).unwrap();
        assert_eq!(signed_get(&service, &right, &path).await.0, 200);
        service.stop().await;
    }
}

/// A query parameter given twice (the Python SDK's way of signing signs only the
/// first) is refused with 400, signed or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_query_parameters_are_refused() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &keyed())
            .await
            .unwrap();
        let credential = SharedKeyCredential::new(ACCOUNT, &key()).unwrap();
        for query in [
            format!("{API}&maxresults=1&maxresults=1000"),
            format!("{API}&$filter=state%20eq%20%27active%27&$filter=state%20eq%20%27deleting%27"),
            format!("{API}&{API}"),
            format!("{API}&Timeout=5&timeout=30"),
        ] {
            let (status, answer) =
                signed_get(&service, &credential, &format!("/pools?{query}")).await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (400, Some("InvalidQueryParameterValue")),
                "{kind:?}: {query}: {answer}"
            );
        }
        service.stop().await;
        let keyless = start(kind, &dir.path().join("other.db"), &Options::default())
            .await
            .unwrap();
        let (status, _) = keyless.get("/pools?maxresults=1&maxresults=2").await;
        assert_eq!(status, 400, "{kind:?}: keyless too");
        keyless.stop().await;
    }
}
