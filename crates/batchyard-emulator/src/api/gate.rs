//! What every request goes through before its handler: request ids, Shared Key,
//! `api-version`, injected faults and the body size limit.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, REQUEST_ID};
use super::shared_key::{self, AuthFailure};
use super::{API_VERSIONS, MAX_BODY_BYTES, Shared, faults};

/// Answer for paths the service does not have.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "The specified resource does not exist.",
    )
}

fn api_version(uri: &axum::http::Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned())
}

/// A query parameter given twice is refused: Shared Key signs one value per name
/// (the Python SDK signs the first) while a handler reads one too, and the two must
/// never be different values.
fn single_valued_query(uri: &axum::http::Uri) -> Result<(), ApiError> {
    let mut seen: Vec<String> = Vec::new();
    for (name, _) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return Err(ApiError::invalid_query(
                &name,
                "the query parameter is given more than once",
            ));
        }
        seen.push(name);
    }
    Ok(())
}

fn check(state: &Shared, request: &Request) -> Result<(), ApiError> {
    single_valued_query(request.uri())?;
    if state.account.is_none()
        && let Some(refused) =
            super::keyless::refusal(request.method(), request.headers(), state.open_network)
    {
        return Err(refused);
    }
    if let Some(account) = &state.account {
        shared_key::verify(
            request.method(),
            request.uri(),
            request.headers(),
            &account.name,
            &account.key,
            std::time::SystemTime::now(),
        )
        .map_err(|failure| {
            // One answer for a wrong account, a missing header and a wrong
            // signature, as the service gives: telling them apart would confirm a
            // guessed account name.
            let detail = match failure {
                AuthFailure::StaleDate => "The request date is more than 15 minutes away from the server time; check the client clock.",
                _ => "The MAC signature found in the HTTP request is not the same as any computed signature.",
            };
            ApiError::new(
                StatusCode::FORBIDDEN,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
            )
            .with("AuthenticationErrorDetail", detail)
        })?;
    }

    match api_version(request.uri()) {
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with("QueryParameterName", "api-version")),
        Some(v) if !API_VERSIONS.contains(&v.as_str()) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedRequestVersion",
            "The specified api-version is not supported.",
        )
        .with("QueryParameterName", "api-version")
        .with("QueryParameterValue", v)),
        Some(_) => Ok(()),
    }
}

async fn admit(state: Shared, request: Request, next: Next) -> Response {
    if let Err(err) = check(&state, &request) {
        return err.into_response();
    }
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = state.faults.next_request() {
        return faults::respond(fault);
    }
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        )
        .with("MaxLimit", MAX_BODY_BYTES.to_string())
        .into_response()
    };
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The middleware.
pub async fn gate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let echo = request
        .headers()
        .get("return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let base = state.base_url.clone();
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            super::odata::BASE_URL.scope(base, admit(state, request, next)),
        )
        .await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", v);
    }
    if let (true, Some(id)) = (echo, client_id)
        && let Ok(v) = HeaderValue::from_str(&id)
    {
        headers.insert("client-request-id", v);
    }
    response
}
