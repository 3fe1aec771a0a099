//! The service's error answers: status code plus a `BatchError` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::store::StoreError;

tokio::task_local! {
    /// The request id of the request being answered, quoted in error messages as the
    /// service does.
    pub static REQUEST_ID: String;
}

/// An error answer: HTTP status, Batch error code, message and detail values.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Batch error code (`PoolNotFound`, `InvalidPropertyValue`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Detail key/value pairs (`PropertyName`, `Reason`, ...).
    pub values: Vec<(String, String)>,
    /// Extra response headers (`Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with no detail values.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            values: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a detail value.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.values.push((key.to_string(), value.into()));
        self
    }

    /// 404 with the resource's own code.
    pub fn not_found(code: &'static str, what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code,
            format!("The specified {what} does not exist."),
        )
    }

    /// 400 InvalidPropertyValue for one property.
    pub fn invalid_property(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidPropertyValue",
            "The value provided for one of the properties in the request body is invalid.",
        )
        .with("PropertyName", name)
        .with("Reason", reason)
    }

    /// 400 MissingRequiredProperty.
    pub fn missing_property(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredProperty",
            "A required property was not specified in the request body.",
        )
        .with("PropertyName", name)
    }

    /// 400 InvalidRequestBody (body is not the JSON the operation expects).
    pub fn invalid_body(reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "The specified Request Body is not syntactically valid.",
        )
        .with("Reason", reason)
    }

    /// 400 InvalidQueryParameterValue.
    pub fn invalid_query(name: &str, reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
        )
        .with("QueryParameterName", name)
        .with("Reason", reason)
    }

    /// 409 with a state-conflict code.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 412 ConditionNotMet.
    pub fn condition_not_met() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    /// The `BatchError` JSON body.
    pub fn body(&self) -> Value {
        let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let values: Vec<Value> = self
            .values
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let mut body = json!({
            "odata.metadata": "https://localhost/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element",
            "code": self.code,
            "message": {
                "lang": "en-US",
                "value": format!("{}\nRequestId:{}\nTime:{}", self.message, request_id, crate::clock::now()),
            },
        });
        if !values.is_empty() {
            body["values"] = Value::Array(values);
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "state database failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json;odata=minimalmetadata"),
        );
        for (name, value) in &self.headers {
            if let Ok(value) = axum::http::HeaderValue::from_str(value) {
                response.headers_mut().insert(*name, value);
            }
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
