//! The one place where errors become HTTP statuses. Clients get a short JSON message; internal
//! details are logged with the request's span, never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use vms_program::ProgramError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Denied by the policy; carries the rule for the audit log (not shown to the client).
    #[error("forbidden")]
    Forbidden { rule: &'static str },
    #[error("not found")]
    NotFound,
    /// Not found, with a message that helps the client (e.g. nothing recorded in a range).
    #[error("{0}")]
    NotFoundMsg(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    TooLarge,
    /// A per-account budget is spent (e.g. ONVIF probes); the client may retry later.
    #[error("{0}")]
    TooManyRequests(String),
    /// The body's media type is not the one the route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed but cannot be served as asked (e.g. an offer without a codec we send).
    #[error("{0}")]
    Unprocessable(String),
    /// Temporarily unable (capacity, camera not running); the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Over a size or count limit; says which (413).
    #[error("{0}")]
    LimitExceeded(String),
    /// Shared space is full (507).
    #[error("{0}")]
    InsufficientStorage(String),
    /// A submission link that opens nothing (403, one message whatever was wrong).
    #[error("{0}")]
    Refused(String),
    #[error("internal error")]
    Internal(String),
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// The one mapping from a program outcome's kind to HTTP.
impl From<ProgramError> for ApiError {
    fn from(e: ProgramError) -> Self {
        match e {
            ProgramError::Invalid(m) => ApiError::BadRequest(m),
            ProgramError::Forbidden { rule } => ApiError::Forbidden { rule },
            ProgramError::NotFound => ApiError::NotFound,
            ProgramError::NotFoundMsg(m) => ApiError::NotFoundMsg(m),
            ProgramError::Conflict(m) => ApiError::Conflict(m),
            ProgramError::TooManyRequests(m) => ApiError::TooManyRequests(m),
            ProgramError::TooLarge(m) => ApiError::LimitExceeded(m),
            ProgramError::InsufficientStorage(m) => ApiError::InsufficientStorage(m),
            ProgramError::Refused(m) => ApiError::Refused(m),
            ProgramError::Storage(e) => e.into(),
            ProgramError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<vms_storage::Error> for ApiError {
    fn from(e: vms_storage::Error) -> Self {
        match e {
            vms_storage::Error::Invalid(m) => ApiError::BadRequest(m),
            vms_storage::Error::NotFound(_) => ApiError::NotFound,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NotFoundMsg(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Refused(_) => StatusCode::FORBIDDEN,
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut resp = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"vms\""),
            );
        }
        resp
    }
}

/// `Json<T>` whose rejections (malformed JSON, unknown fields, wrong content type, too large)
/// become clear 4xx [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(r))
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::TooLarge)
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// `Path<T>` with a 400 for ids that do not parse (e.g. `../etc/passwd`).
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// `Query<T>` with a 400 and a clear message for bad query strings.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}
