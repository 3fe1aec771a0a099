//! The Blob service's error answers: a status, an `x-ms-error-code` header and an XML
//! `<Error>` body, as in "Status and error codes" of the Storage REST reference
//! (<https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes>).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::xml;

/// One error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError {
    /// HTTP status.
    pub status: StatusCode,
    /// Storage error code (`BlobNotFound`, `AuthenticationFailed`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `AuthenticationErrorDetail`, for authentication failures.
    pub auth_detail: Option<String>,
}

impl BlobError {
    /// An error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            auth_detail: None,
        }
    }

    /// 403 AuthenticationFailed with the reason, as the service words it.
    pub fn auth_failed(detail: impl Into<String>) -> Self {
        Self {
            auth_detail: Some(detail.into()),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "AuthenticationFailed",
                "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
            )
        }
    }

    /// 403 AuthorizationPermissionMismatch: a valid SAS without the needed permission.
    pub fn permission_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    }

    /// 403 AuthorizationResourceTypeMismatch: a SAS used outside the resource it names.
    pub fn resource_mismatch() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationResourceTypeMismatch",
            "This request is not authorized to perform this operation using this resource type.",
        )
    }

    /// 404 ContainerNotFound.
    pub fn container_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ContainerNotFound",
            "The specified container does not exist.",
        )
    }

    /// 404 BlobNotFound.
    pub fn blob_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        )
    }

    /// 400 for a malformed request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 412 ConditionNotMet.
    pub fn condition_not_met() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "ConditionNotMet",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    }

    /// 500 InternalError, for a failure of the emulator's own disk or index.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!(error = %what, "blob store failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        )
    }
}

impl From<rusqlite::Error> for BlobError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for BlobError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4();
        let time = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut body = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>");
        xml::element(&mut body, "Code", self.code);
        xml::element(
            &mut body,
            "Message",
            &format!("{}\nRequestId:{request_id}\nTime:{time}", self.message),
        );
        if let Some(detail) = &self.auth_detail {
            xml::element(&mut body, "AuthenticationErrorDetail", detail);
        }
        body.push_str("</Error>");
        (
            self.status,
            [
                ("x-ms-error-code", self.code.to_string()),
                ("x-ms-request-id", request_id.to_string()),
                ("content-type", "application/xml".to_string()),
            ],
            body,
        )
            .into_response()
    }
}
