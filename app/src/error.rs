//! The one error type of every Faultline operation, shared by server and browser.
//!
//! It travels as `{"error": code, "message": text}` (plus `field` / `retry_after` when they
//! apply); the server maps the code to an HTTP status in one place (`status`).

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// What went wrong, in terms a client can act on. Internal details are logged, never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(into = "ErrorBody", try_from = "ErrorBody")]
pub enum AppError {
    /// The object does not exist, or belongs to another tenant (never told apart).
    #[error("{0}")]
    NotFound(String),
    /// No valid session or API key.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but the role or key scope does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A field failed validation.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The request conflicts with existing data (a duplicate slug, e-mail, …).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests; try again after `retry_after` seconds.
    #[error("{message}")]
    RateLimited { retry_after: u64, message: String },
    /// The request body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The server could not be reached or is not ready.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed on the server; the details are in the server log.
    #[error("internal error")]
    Internal,
}

impl AppError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The "not found" answer for an object of the given kind.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// The machine-readable code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid { .. } => "invalid",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unavailable(_) => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::Invalid { .. } => 400,
            Self::Conflict(_) => 409,
            Self::RateLimited { .. } => 429,
            Self::PayloadTooLarge(_) => 413,
            Self::Unavailable(_) => 503,
            Self::Internal => 500,
        }
    }

    /// The field this error is about, when it is a validation error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Human-readable text, without the field name for validation errors.
    pub fn message(&self) -> String {
        match self {
            Self::Invalid { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// The wire shape of [`AppError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl From<AppError> for ErrorBody {
    fn from(e: AppError) -> Self {
        let retry_after = match &e {
            AppError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        ErrorBody {
            error: e.code().to_owned(),
            message: e.message(),
            field: e.field().map(str::to_owned),
            retry_after,
        }
    }
}

impl TryFrom<ErrorBody> for AppError {
    type Error = String;

    fn try_from(b: ErrorBody) -> Result<Self, String> {
        Ok(match b.error.as_str() {
            "not_found" => Self::NotFound(b.message),
            "unauthorized" => Self::Unauthorized(b.message),
            "forbidden" => Self::Forbidden(b.message),
            "invalid" => Self::Invalid {
                field: b.field.unwrap_or_default(),
                reason: b.message,
            },
            "conflict" => Self::Conflict(b.message),
            "rate_limited" => Self::RateLimited {
                retry_after: b.retry_after.unwrap_or(1),
                message: b.message,
            },
            "payload_too_large" => Self::PayloadTooLarge(b.message),
            "unavailable" => Self::Unavailable(b.message),
            "internal" => Self::Internal,
            other => return Err(format!("unknown error code {other}")),
        })
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(reason) => AppError::invalid("body", reason),
            ServerFnErrorErr::MissingArg(arg) => AppError::invalid(arg, "is required"),
            ServerFnErrorErr::Request(_) => {
                AppError::Unavailable("the server could not be reached; try again".into())
            }
            // On the server this is a request body that does not decode; in the browser, an
            // answer from the server that does not.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(reason) => AppError::invalid("body", reason),
            #[cfg(not(feature = "ssr"))]
            ServerFnErrorErr::Deserialization(_) => AppError::Unavailable(
                "the server sent an unexpected answer; reload the page".into(),
            ),
            _ => AppError::Internal,
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            if let sqlx::Error::Database(db) = &e {
                if db.is_unique_violation() {
                    return AppError::Conflict(match db.constraint() {
                        Some("tenants_slug_key") => "a tenant with this slug already exists".into(),
                        Some("users_email_key") => "a user with this e-mail already exists".into(),
                        Some("playbooks_name_key") => {
                            "a playbook with this name already exists".into()
                        }
                        _ => "this already exists".into(),
                    });
                }
                if db.is_check_violation() || db.is_foreign_key_violation() {
                    tracing::warn!(error = %e, "constraint rejected a write");
                    return AppError::invalid(
                        db.constraint().unwrap_or("input"),
                        "is not an allowed value",
                    );
                }
            }
            tracing::error!(error = ?e, "database error");
            AppError::Internal
        }
    }

    impl From<anyhow::Error> for AppError {
        fn from(e: anyhow::Error) -> Self {
            tracing::error!(error = ?e, "internal error");
            AppError::Internal
        }
    }

    impl From<tower_sessions::session::Error> for AppError {
        fn from(e: tower_sessions::session::Error) -> Self {
            tracing::error!(error = ?e, "session store error");
            AppError::Internal
        }
    }

    impl axum::response::IntoResponse for AppError {
        fn into_response(self) -> axum::response::Response {
            let status = http::StatusCode::from_u16(self.status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let retry_after = match &self {
                AppError::RateLimited { retry_after, .. } => Some(*retry_after),
                _ => None,
            };
            let mut res = (status, axum::Json(self)).into_response();
            if let Some(secs) = retry_after {
                res.headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_wire_shape() {
        let cases = [
            AppError::not_found("tenant"),
            AppError::invalid("email", "must contain @"),
            AppError::RateLimited {
                retry_after: 30,
                message: "slow down".into(),
            },
            AppError::Internal,
        ];
        for e in cases {
            let json = serde_json::to_string(&e).unwrap();
            let back: AppError = serde_json::from_str(&json).unwrap();
            assert_eq!(back, e, "{json}");
        }
    }

    #[test]
    fn wire_shape_has_error_and_message() {
        let v = serde_json::to_value(AppError::invalid("severity", "must be one of …")).unwrap();
        assert_eq!(v["error"], "invalid");
        assert_eq!(v["message"], "must be one of …");
        assert_eq!(v["field"], "severity");
        assert_eq!(AppError::invalid("a", "b").status(), 400);
        assert_eq!(AppError::not_found("x").status(), 404);
    }
}
