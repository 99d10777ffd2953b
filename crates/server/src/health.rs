//! Liveness, readiness and Prometheus metrics.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The name of the scheduled backup job (its lease and last run).
pub const BACKUP_JOB: &str = "backup";

/// Ready when the database answers with exactly this binary's schema, the object store
/// answers, and (when backups are scheduled) the last one succeeded within two periods;
/// otherwise 503 with each reason.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let mut reasons = Vec::new();
    let (database, migrations) = match state.store().ready().await {
        Ok(true) => ("ok", "current"),
        Ok(false) => {
            reasons.push("the database schema is not this binary's (migrations not current)");
            ("ok", "not_current")
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            reasons.push("the database does not answer");
            ("unreachable", "unknown")
        }
    };
    let object_store = match state.config().vault.reachable().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: object store unreachable");
            reasons.push("the object store does not answer");
            "unreachable"
        }
    };
    let backups = match backup_health(&state).await {
        BackupHealth::NotScheduled => "not_scheduled",
        BackupHealth::Ok => "ok",
        BackupHealth::Pending => "pending",
        BackupHealth::Failed => {
            reasons.push("the last scheduled backup failed");
            "failed"
        }
        BackupHealth::Overdue => {
            reasons.push("no successful backup within two backup periods");
            "overdue"
        }
    };
    let ready = reasons.is_empty();
    let status = if ready {
        "ready"
    } else if database == "ok" {
        "degraded"
    } else {
        "not_ready"
    };
    let body = Json(json!({
        "status": status,
        "database": database,
        "migrations": migrations,
        "object_store": object_store,
        "backups": backups,
        "reasons": reasons,
    }));
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

enum BackupHealth {
    NotScheduled,
    /// Scheduled, none finished yet, within the first period of this process.
    Pending,
    Ok,
    Failed,
    Overdue,
}

async fn backup_health(state: &AppState) -> BackupHealth {
    let Some(every) = state.config().backup_every else {
        return BackupHealth::NotScheduled;
    };
    let period = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
    let now = labledger_domain::time::Timestamp::now();
    match state.store().job_record(BACKUP_JOB).await {
        Ok(Some(record)) if record.last_run_failed() => BackupHealth::Failed,
        Ok(Some(record)) => match record.last_run_at {
            Some(at) if at.plus_secs(period.saturating_mul(2)) >= now => BackupHealth::Ok,
            Some(_) => BackupHealth::Overdue,
            None if state.started_at().plus_secs(period) >= now => BackupHealth::Pending,
            None => BackupHealth::Overdue,
        },
        Ok(None) if state.started_at().plus_secs(period) >= now => BackupHealth::Pending,
        _ => BackupHealth::Overdue,
    }
}

/// Prometheus exposition; gauges read from the database (pool use, jobs, backups) are set
/// at each scrape.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (open, idle) = state.store().pool_use();
    metrics::gauge!("labledger_db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("labledger_db_pool_connections", "state" => "in_use")
        .set(f64::from(open).max(idle as f64) - idle as f64);
    let now = labledger_domain::time::Timestamp::now().micros();
    for record in state.store().job_records().await.unwrap_or_default() {
        let Some(at) = record.last_run_at else {
            continue;
        };
        let ok = !record.last_run_failed();
        let job = record.job;
        metrics::gauge!("labledger_job_last_run_timestamp_seconds", "job" => job.clone())
            .set(at.micros() as f64 / 1e6);
        if job == BACKUP_JOB && ok {
            metrics::gauge!("labledger_backup_age_seconds").set((now - at.micros()) as f64 / 1e6);
        }
        metrics::gauge!("labledger_job_last_run_ok", "job" => job).set(if ok { 1.0 } else { 0.0 });
    }
    // The last restore drill (`backup verify` against this instance).
    if let Ok(Some(drill)) = state.store().latest_backup_drill().await {
        metrics::gauge!("labledger_backup_drill_last_timestamp_seconds")
            .set(drill.at.micros() as f64 / 1e6);
        metrics::gauge!("labledger_backup_drill_last_passed").set(if drill.passed {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("labledger_backup_drill_last_archive_bytes").set(drill.archive_size as f64);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
}
