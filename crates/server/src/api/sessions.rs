//! "Where am I logged in": a user's own sessions, listed and revoked.

use super::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::AuthUser;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use labledger_store::SessionInfo;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: String,
    /// RFC 3339, UTC.
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    source_ip: Option<String>,
    user_agent: Option<String>,
    /// The session this request came with.
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    items: Vec<SessionView>,
}

fn view(s: SessionInfo, current: &str) -> SessionView {
    SessionView {
        current: s.id == current,
        id: s.id,
        created_at: s.created_at.to_rfc3339(),
        last_seen_at: s.last_seen_at.to_rfc3339(),
        expires_at: s.expires_at.to_rfc3339(),
        source_ip: s.source_ip,
        user_agent: s.user_agent,
    }
}

/// The caller's live sessions (device, address, last use).
#[utoipa::path(
    get, path = "/api/v1/me/sessions", tag = "auth",
    responses((status = 200, body = SessionList), CommonErrors),
    security(("session" = []))
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<SessionList>> {
    let sessions = state.store().sessions_of(user.user_id).await?;
    Ok(Json(SessionList {
        items: sessions
            .into_iter()
            .map(|s| view(s, &user.session_id))
            .collect(),
    }))
}

/// End one of the caller's sessions.
#[utoipa::path(
    delete, path = "/api/v1/me/sessions/{session_id}", tag = "auth",
    params(("session_id" = String, Path, description = "Session id from the list")),
    responses((status = 204, description = "Ended"), CommonErrors),
    security(("session" = []))
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(session_id): Path<String>,
) -> ApiResult<StatusCode> {
    if session_id.len() > 64
        || !state
            .store()
            .revoke_session(user.user_id, session_id)
            .await?
    {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// How many sessions ended.
    revoked: u64,
}

/// End every session of the caller but this one ("log out everywhere else").
#[utoipa::path(
    delete, path = "/api/v1/me/sessions", tag = "auth",
    responses((status = 200, body = Revoked), CommonErrors),
    security(("session" = []))
)]
pub async fn revoke_other_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Revoked>> {
    let revoked = state
        .store()
        .revoke_other_sessions(user.user_id, user.token_hash.clone())
        .await?;
    Ok(Json(Revoked { revoked }))
}
