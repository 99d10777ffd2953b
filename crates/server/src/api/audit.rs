//! The audit trail: paged and filtered reading, and chain verification.

use super::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, OrgAccess};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use labledger_domain::{FieldError, Timestamp};
use labledger_store::{AuditFilter, StoredEvent, Verification};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this actor (a user id).
    pub actor: Option<String>,
    /// An exact action (`member.add`), or a prefix ending in `.` (`member.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// From this instant (RFC 3339 UTC, or a date), inclusive.
    pub from: Option<String>,
    /// Up to this instant (RFC 3339 UTC, or a date), exclusive.
    pub to: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn short_text(field: &str, v: Option<String>) -> Result<Option<String>, FieldError> {
    match v {
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > 200 => {
            Err(FieldError::new(field, "must be at most 200 characters"))
        }
        other => Ok(other),
    }
}

fn instant(field: &str, v: Option<String>) -> Result<Option<Timestamp>, FieldError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Timestamp::parse_rfc3339(&s).map(Some).ok_or_else(|| {
            FieldError::new(
                field,
                "must be an RFC 3339 UTC time such as 2026-01-31T12:00:00Z, or a date",
            )
        }),
    }
}

impl AuditQuery {
    /// Validates the query into a store filter and a page size.
    pub fn into_filter(self) -> Result<(AuditFilter, u32), ApiError> {
        let bad =
            |e: FieldError| ApiError::BadRequest("A query parameter is invalid.".into(), vec![e]);
        let (limit, before_seq) = crate::extract::page_params(self.limit, self.cursor)?;
        let filter = AuditFilter {
            actor_id: short_text("actor", self.actor).map_err(bad)?,
            action: short_text("action", self.action).map_err(bad)?,
            target_type: short_text("target_type", self.target_type).map_err(bad)?,
            target_id: short_text("target_id", self.target_id).map_err(bad)?,
            from: instant("from", self.from).map_err(bad)?,
            to: instant("to", self.to).map_err(bad)?,
            before_seq,
        };
        Ok((filter, limit))
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// Microseconds since the Unix epoch, as hashed.
    pub at_micros: i64,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    /// `{"field": {"before": …, "after": …}}`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    /// SHA-256 chain hash, hex.
    pub hash: String,
}

impl From<StoredEvent> for AuditEventView {
    fn from(s: StoredEvent) -> Self {
        let e = s.event;
        Self {
            seq: e.seq,
            at: e.at.to_rfc3339(),
            at_micros: e.at.micros(),
            actor_type: e.actor_kind.as_str().to_owned(),
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            changes: e.changes,
            request_id: e.request_id,
            source_ip: e.source_ip,
            hash: hex::encode(s.hash),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPageView {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Page through the audit trail, newest first, with filters.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/audit", tag = "audit",
    params(("org_id" = String, Path, description = "Organization id"), AuditQuery),
    responses(
        (status = 200, body = AuditPageView),
        (status = 400, description = "A query parameter is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors
    ),
    security(("session" = ["audit:read"]))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPageView>> {
    scope.require(labledger_domain::Permission::AUDIT_READ)?;
    let (filter, limit) = query.into_filter()?;
    let page = state.store().org(&scope).audit_page(filter, limit).await?;
    Ok(Json(AuditPageView {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyView {
    /// True when every event's hash recomputes and the trail ends at the chain head.
    pub ok: bool,
    /// Events verified (the head's sequence number when intact).
    pub verified_events: i64,
    /// The chain head's hash (hex) when intact.
    pub head_hash: Option<String>,
    /// The first sequence number that is wrong, when broken.
    pub broken_at_seq: Option<i64>,
    pub detail: String,
}

impl From<Verification> for VerifyView {
    fn from(v: Verification) -> Self {
        match v {
            Verification::Intact { events, head_hash } => VerifyView {
                ok: true,
                verified_events: events,
                head_hash: Some(hex::encode(head_hash)),
                broken_at_seq: None,
                detail: format!("intact: {events} events, chain head matches"),
            },
            Verification::Broken(b) => VerifyView {
                ok: false,
                verified_events: b.seq() - 1,
                head_hash: None,
                broken_at_seq: Some(b.seq()),
                detail: b.to_string(),
            },
        }
    }
}

/// Recompute the whole chain and check it against the chain head.
#[utoipa::path(
    get, path = "/api/v1/orgs/{org_id}/audit/verify", tag = "audit",
    params(("org_id" = String, Path, description = "Organization id")),
    responses((status = 200, description = "The verdict; `ok` false names the first broken sequence number", body = VerifyView), CommonErrors),
    security(("session" = ["audit:read"]))
)]
pub async fn verify_audit(
    State(state): State<AppState>,
    OrgAccess(scope): OrgAccess,
) -> ApiResult<Json<VerifyView>> {
    let verdict = state.store().org(&scope).verify_audit().await?;
    if let Verification::Broken(b) = &verdict {
        crate::security::security_event(
            crate::security::SecurityEvent::AuditChainBroken,
            &format!("org={} {b}", scope.org_id()),
        );
    }
    Ok(Json(verdict.into()))
}
