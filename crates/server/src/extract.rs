//! Extractors: who is calling (session cookie), in which org (resolved once, from the path),
//! and the parsed, validated input. Handlers receive these and never re-parse ids themselves.

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::security::{security_event, SecurityEvent};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use axum_extra::extract::CookieJar;
use labledger_domain::{FieldError, OrgId, Timestamp, UserId};
use labledger_store::{OrgScope, RequestMeta, TokenResolution};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::str::FromStr;

pub const SESSION_COOKIE: &str = "labledger_session";
/// The session cookie over HTTPS: a browser keeps it only if `Secure`, `Path=/` and host-only.
pub const SESSION_COOKIE_HTTPS: &str = "__Host-labledger_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A logged-in person, from a live session.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub csrf_token: String,
    pub token_hash: Vec<u8>,
    /// The session's public id.
    pub session_id: String,
    /// The user has an active TOTP authenticator.
    pub mfa_active: bool,
    /// When the password was last entered for this session (login or step-up).
    pub reauth_at: Timestamp,
    /// That entry came with a verified second factor.
    pub reauth_mfa: bool,
}

impl AuthUser {
    /// The one step-up check of sensitive actions: the password was entered for this session
    /// within the configured window (5 minutes) — together with a second factor when the user
    /// has MFA now (a password-only entry from before the enrolment does not count) —, else 403
    /// `/problems/step-up-required`.
    pub fn require_fresh(&self, state: &AppState) -> Result<(), ApiError> {
        let recent =
            Timestamp::now() < self.reauth_at.plus_secs(state.config().step_up_window_secs);
        if recent && (self.reauth_mfa || !self.mfa_active) {
            return Ok(());
        }
        security_event(
            SecurityEvent::StepUpRequired,
            &format!("user={}", self.user_id),
        );
        Err(ApiError::StepUpRequired)
    }
}

/// A caller whose password was entered within the step-up window (see
/// [`AuthUser::require_fresh`]); as an extractor, for handlers of sensitive actions.
pub struct FreshAuth(pub AuthUser);

impl FromRequestParts<AppState> for FreshAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_fresh(state)?;
        Ok(FreshAuth(user))
    }
}

pub fn request_meta(parts: &Parts) -> RequestMeta {
    // The client address as resolved behind trusted proxies; the socket peer otherwise.
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .map(|c| c.0)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        });
    RequestMeta {
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
        source_ip: client.map(|ip| ip.to_string()),
    }
}

/// What a session whose password must change may still reach.
const PASSWORD_CHANGE_PATHS: &[&str] = &[
    "/api/v1/me",
    "/api/v1/me/password",
    "/api/v1/auth/logout",
    "/security/password",
    "/logout",
];

/// The session behind the request's cookie, if it is live. Refreshes its idle clock about
/// once a minute.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<AuthUser>, ApiError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(cookie) = jar.get(state.config().session_cookie()) else {
        return Ok(None);
    };
    let token_hash = labledger_auth::token_hash(cookie.value());
    let config = state.config();
    let Some(found) = state
        .store()
        .session(&token_hash, config.session_idle_secs)
        .await?
    else {
        return Ok(None);
    };
    tracing::Span::current().record(
        "actor",
        tracing::field::display(format_args!("user:{}", found.session.user_id)),
    );
    if Timestamp::now() >= found.session.last_seen_at.plus_secs(60) {
        state.store().touch_session(token_hash.clone()).await?;
    }
    // A password reset by an operator opens nothing but the way to choose a new one.
    if found.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&parts.uri.path()) {
        security_event(
            SecurityEvent::PermissionDenied,
            &format!("password change required: user={}", found.session.user_id),
        );
        return Err(ApiError::PasswordChangeRequired);
    }
    Ok(Some(AuthUser {
        user_id: found.session.user_id,
        email: found.email,
        name: found.name,
        csrf_token: found.session.csrf_token,
        token_hash,
        session_id: found.session.id,
        mfa_active: found.mfa_active,
        reauth_at: found.session.reauth_at,
        reauth_mfa: found.session.reauth_mfa,
    }))
}

/// Whether a browser says the request comes from this site: a `Sec-Fetch-Site` of
/// `same-origin` or `none` (typed by the user) or absent, and an `Origin` that is this host or
/// absent. Clients that send neither (scripts) rely on the CSRF token alone.
///
/// Under the server's `Referrer-Policy: no-referrer` browsers send `Origin: null` with form
/// POSTs of our own pages, so `null` is accepted only where `Sec-Fetch-Site` vouches that the
/// request is same-origin (a foreign page, or a sandboxed frame, is `cross-site` there).
pub fn same_origin(parts: &Parts) -> bool {
    let headers = &parts.headers;
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or_default();
    if origin == "null" {
        return site == Some("same-origin");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()));
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if !o.is_empty() && o.eq_ignore_ascii_case(&h))
}

pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        if let Some(token) = bearer_token(parts)? {
            // Only a valid token learns that the route is not for tokens: 403; any other 401.
            if !token_is_live(state, &token).await? {
                return Err(reject_token("invalid, expired or revoked API token"));
            }
            security_event(SecurityEvent::PermissionDenied, parts.uri.path());
            return Err(ApiError::Forbidden(
                "API tokens cannot use this route; it needs a logged-in user.".into(),
            ));
        }
        let Some(user) = authenticate(parts, state).await? else {
            security_event(SecurityEvent::Unauthenticated, parts.uri.path());
            return Err(ApiError::Unauthorized);
        };
        if is_unsafe(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !labledger_auth::secrets_equal(sent, &user.csrf_token) || !same_origin(parts) {
                return Err(ApiError::Csrf);
            }
        }
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// The `Authorization: Bearer …` credential of the request, if it sends an `Authorization`
/// header at all. A header that is not one bearer token (another scheme, no token, several
/// words, not text) is an invalid credential: 401, never a fall-back to the session cookie.
pub fn bearer_token(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace));
    match token {
        Some(t) => Ok(Some(t.to_owned())),
        None => Err(reject_token("malformed Authorization header")),
    }
}

/// A 401 for a bearer credential that is not valid, as a security event.
fn reject_token(why: &str) -> ApiError {
    security_event(SecurityEvent::Unauthenticated, why);
    ApiError::InvalidToken
}

/// Whether a bearer token is one of ours and alive (known, unexpired, unrevoked, its creator
/// an active member of its active org), whatever org it is for.
async fn token_is_live(state: &AppState, token: &str) -> Result<bool, ApiError> {
    if !token.starts_with(labledger_auth::API_TOKEN_PREFIX) {
        return Ok(false);
    }
    let hash = labledger_auth::token_hash(token);
    Ok(state.store().api_token_is_live(&hash).await?)
}

async fn path_org(parts: &mut Parts, state: &AppState) -> Result<Option<OrgId>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::NotFound)?;
    let raw = params
        .iter()
        .find(|(k, _)| *k == "org_id")
        .map(|(_, v)| v.to_owned());
    Ok(raw.as_deref().and_then(|s| s.parse().ok()))
}

/// A node with a region serves only orgs of that region and unpinned ones; others answer 421
/// naming their region (to members only: outsiders got their 404 before). While an org's
/// files move to another region's store it can be read, but nothing else is accepted (409).
async fn require_region(state: &AppState, org: OrgId, method: &Method) -> Result<(), ApiError> {
    // A node of no region reads without asking (one query less on every read).
    if state.config().region.is_none() && !is_unsafe(method) {
        return Ok(());
    }
    let Some(region) = state.store().org_region(org).await? else {
        return Ok(());
    };
    if let Some(node) = &state.config().region {
        if !region.region.is_empty() && &region.region != node {
            return Err(ApiError::WrongRegion(region.region));
        }
    }
    if region.phase == labledger_store::MovePhase::Copying && is_unsafe(method) {
        return Err(ApiError::RegionMoving(region.move_to));
    }
    Ok(())
}

/// The org a request names, for the security stream (also when it is refused).
fn note_org(org: Option<OrgId>) {
    if let Some(org) = org {
        tracing::Span::current().record("org", tracing::field::display(org));
    }
}

/// The scope of an API token in the org of the path: no cookie and no CSRF token (a bearer
/// credential is not sent by browsers on their own). Unknown, expired, revoked or dead tokens
/// answer 401; a token of another org answers the same 404 as an org that does not exist.
async fn resolve_token_org(
    parts: &mut Parts,
    state: &AppState,
    token: &str,
) -> Result<OrgScope, ApiError> {
    if !token.starts_with(labledger_auth::API_TOKEN_PREFIX) {
        return Err(reject_token("malformed bearer token"));
    }
    let hash = labledger_auth::token_hash(token);
    let org = path_org(parts, state).await?;
    note_org(org);
    let resolution = match org {
        Some(org) => {
            state
                .store()
                .resolve_token_scope(&hash, org, request_meta(parts))
                .await?
        }
        None => TokenResolution::OtherOrg,
    };
    match resolution {
        TokenResolution::Scope(scope) => {
            require_region(state, scope.org_id(), &parts.method).await?;
            if let Some(token) = &scope.actor().id {
                tracing::Span::current().record(
                    "actor",
                    tracing::field::display(format_args!("token:{token}")),
                );
            }
            Ok(scope)
        }
        TokenResolution::Invalid => Err(reject_token(
            "invalid, expired or revoked API token, or its creator or org is no longer active",
        )),
        // The org requires MFA and the token's creator has none: the same answer a session
        // of theirs gets.
        TokenResolution::MfaEnrolmentRequired { creator } => {
            security_event(
                SecurityEvent::MfaEnrolmentRequired,
                &format!(
                    "token of user={creator} org={}",
                    org.map(|o| o.to_string()).unwrap_or_default()
                ),
            );
            Err(ApiError::MfaEnrolmentRequired)
        }
        TokenResolution::OtherOrg => {
            security_event(SecurityEvent::NotVisible, parts.uri.path());
            Err(ApiError::NotFound)
        }
    }
}

/// The org named by the path's `{org_id}`, resolved to the caller's scope there. A malformed
/// id, an unknown org and an org the caller is not a member of all answer the same 404.
pub async fn resolve_org(
    parts: &mut Parts,
    state: &AppState,
    user: &AuthUser,
) -> Result<OrgScope, ApiError> {
    let org = path_org(parts, state).await?;
    note_org(org);
    let scope = match org {
        Some(org) => {
            state
                .store()
                .resolve_scope(user.user_id, org, request_meta(parts))
                .await?
        }
        None => None,
    };
    let scope = scope.ok_or_else(|| {
        security_event(SecurityEvent::NotVisible, parts.uri.path());
        ApiError::NotFound
    })?;
    require_region(state, scope.org_id(), &parts.method).await?;
    // An org requiring MFA admits members without it nowhere but their own MFA pages.
    if !user.mfa_active && state.store().org_requires_mfa(scope.org_id()).await? {
        security_event(
            SecurityEvent::MfaEnrolmentRequired,
            &format!("user={} org={}", user.user_id, scope.org_id()),
        );
        return Err(ApiError::MfaEnrolmentRequired);
    }
    Ok(scope)
}

/// The caller's scope in the org of the path.
pub struct OrgAccess(pub OrgScope);

impl FromRequestParts<AppState> for OrgAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer_token(parts)? {
            return resolve_token_org(parts, state, &token).await.map(OrgAccess);
        }
        let user = AuthUser::from_request_parts(parts, state).await?;
        resolve_org(parts, state, &user).await.map(OrgAccess)
    }
}

/// The id of the record a path names (its last parameter other than `{org_id}`). One that does
/// not parse is answered like one that does not exist.
pub struct RecordId<T>(pub T);

impl<T: FromStr + Send> FromRequestParts<AppState> for RecordId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        record_param(parts, state)
            .await
            .map(RecordId)
            .ok_or(ApiError::NotFound)
    }
}

/// The path's last parameter other than `{org_id}`, parsed; `None` when absent or malformed.
pub async fn record_param<T: FromStr>(parts: &mut Parts, state: &AppState) -> Option<T> {
    let params = RawPathParams::from_request_parts(parts, state).await.ok()?;
    let raw = params
        .iter()
        .filter(|(k, _)| *k != "org_id")
        .last()
        .map(|(_, v)| v.to_owned());
    raw.and_then(|s| s.parse().ok())
}

/// Validated paging parameters: a page size (default 50, at most 500) and the keyset cursor
/// (the last sequence number of the previous page), each a 400 naming the parameter when bad.
pub fn page_params(
    limit: Option<u32>,
    cursor: Option<String>,
) -> Result<(u32, Option<i64>), ApiError> {
    let bad = |field: &str, message: &str| {
        ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new(field, message)],
        )
    };
    let limit = match limit {
        None => 50,
        Some(n) if (1..=500).contains(&n) => n,
        Some(_) => return Err(bad("limit", "must be between 1 and 500")),
    };
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("cursor", "is not a cursor this API gave out"))?,
        ),
    };
    Ok((limit, cursor))
}

/// A JSON body, parsed strictly: the wrong content type is 415, broken JSON 400, and a missing,
/// unknown or mistyped field 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime: Option<mime::Mime> = content_type.parse().ok();
        let is_json = mime.is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Send the body as application/json.".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("The request body could not be read.".into(), Vec::new())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = named_field(&message)
                    .map(|f| join_path(&path, &f))
                    .unwrap_or(path);
                ApiError::Invalid(vec![FieldError::new(field, message)])
            }
            _ => ApiError::BadRequest(
                format!("The body is not valid JSON: {message}."),
                Vec::new(),
            ),
        }
    })?;
    Ok(value)
}

/// serde names a missing field only in its message ("missing field `x`"); the path then points
/// at the enclosing object. (For an unknown field the path already ends with it.)
fn named_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

fn join_path(path: &str, field: &str) -> String {
    if path == "." || path.is_empty() || path == "?" {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Query parameters, parsed strictly; a bad one is a 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Parses a query string strictly, as `ApiQuery` does (400 naming the parameter).
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = named_field(&message)
            .map(|f| join_path(&path, &f))
            .unwrap_or(path);
        ApiError::BadRequest(
            "A query parameter is invalid.".into(),
            vec![FieldError::new(field, message)],
        )
    })
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// Where the request came from: for audit events, security events and session records.
pub struct ClientInfo {
    pub meta: RequestMeta,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect());
        Ok(ClientInfo {
            meta: request_meta(parts),
            user_agent,
        })
    }
}
