//! Extractors whose rejections use the hub's error body instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{Error, Result};

/// `axum::Json` with errors as `{"error":{…}}`: 400 for bad JSON or types, 413 past 1 MiB.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct ApiQuery<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Error::payload_too_large("request body exceeds 1 MiB"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Error::bad_request("expected Content-Type: application/json")
            }
            _ => Error::bad_request(format!("invalid JSON body: {}", r.body_text())),
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::bad_request(format!("invalid query: {}", r.body_text()))
    }
}

impl From<PathRejection> for Error {
    fn from(r: PathRejection) -> Self {
        Error::bad_request(format!("invalid path: {}", r.body_text()))
    }
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1..100, default 50.
    pub limit: Option<i64>,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListParams {
    pub fn limit(&self) -> Result<u64> {
        match self.limit {
            None => Ok(50),
            Some(l @ 1..=100) => Ok(l as u64),
            Some(_) => Err(Error::bad_request("limit must be 1 to 100")),
        }
    }

    /// The decoded sort key the previous page ended on.
    pub fn cursor(&self) -> Result<Option<String>> {
        self.cursor
            .as_deref()
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| Error::bad_request("invalid cursor"))
            })
            .transpose()
    }
}

pub fn encode_cursor(key: Option<String>) -> Option<String> {
    key.map(|k| URL_SAFE_NO_PAD.encode(k))
}

/// A JSON body that may also be absent (empty), standing for `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: serde::de::DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Error> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| Error::payload_too_large("request body exceeds 1 MiB"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }
}
