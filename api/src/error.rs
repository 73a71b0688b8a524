//! Errors as Loki returns them: a status code and a plain-text body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::backend::BackendError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Unavailable(m) => {
                tracing::warn!(error = %m, "backend unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("service unavailable: {m}"))
            }
            BackendError::Internal(m) => {
                tracing::error!(error = %m, "backend failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error, see the server logs")
            }
        }
    }
}

impl From<balsa_push::PushError> for ApiError {
    fn from(e: balsa_push::PushError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.body())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.message;
        if !body.ends_with('\n') {
            body.push('\n');
        }
        (self.status, [("content-type", "text/plain; charset=utf-8")], body).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
