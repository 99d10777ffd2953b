//! The server-rendered web UI.

use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
}

pub fn not_found_page() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Html("<!doctype html><title>Not found</title><h1>Not found</h1>"))
}
