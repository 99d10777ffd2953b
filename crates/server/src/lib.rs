//! LabLedger's HTTP server: the JSON API (`api`), the server-rendered web UI (`ui`), health and
//! metrics endpoints, and the middleware around all of them.
//!
//! Handlers are thin: extractors resolve the caller and their org scope once; the store enforces
//! permissions and writes the audit events.

pub mod api;
pub mod client_addr;
pub mod eln_import;
pub mod error;
pub mod extract;
pub mod health;
pub mod jobs;
pub mod labels;
pub mod mail;
pub mod middleware;
pub mod reports;
pub mod security;
pub mod security_log;
pub mod sensitive;
pub mod state;
pub mod sweep;
pub mod ui;

pub use state::{AppState, ServerConfig};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use labledger_auth::PasswordHasherPool;
use labledger_store::Store;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The process-wide metrics recorder (installed once, shared by every app built in-process).
pub fn metrics_handle() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
                .inspect(|_| describe_metrics())
        })
        .clone()
}

/// HELP texts, so the exposition passes `promtool check metrics`.
fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "labledger_http_requests_total",
        "HTTP requests by method, route template and status."
    );
    describe_histogram!(
        "labledger_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template."
    );
    describe_counter!(
        "labledger_audit_events_appended_total",
        "Audit events appended to org hash chains."
    );
    describe_counter!("labledger_logins_total", "Password logins by outcome.");
    describe_counter!(
        "labledger_security_events_total",
        "Security events (refused, failed or suspicious requests) by kind."
    );
    describe_histogram!(
        "labledger_store_group_commit_jobs",
        "Write jobs acknowledged by one SQLite commit."
    );
    describe_histogram!(
        "labledger_audit_append_duration_seconds",
        Unit::Seconds,
        "Audited org writes, from queueing to durable commit with their audit events."
    );
    describe_counter!(
        "labledger_errors_total",
        "Error responses by problem type (the slug of /problems/…)."
    );
    describe_counter!(
        "labledger_job_runs_total",
        "Scheduled job runs on this node by job and outcome."
    );
    metrics::describe_gauge!(
        "labledger_db_pool_connections",
        "Read pool connections by state (idle, in_use)."
    );
    metrics::describe_gauge!(
        "labledger_job_last_run_timestamp_seconds",
        "When a scheduled job last finished on any node (Unix time)."
    );
    metrics::describe_gauge!(
        "labledger_job_last_run_ok",
        "Whether a scheduled job's last run on any node succeeded (1) or failed (0)."
    );
    metrics::describe_gauge!(
        "labledger_backup_drill_last_timestamp_seconds",
        "When the last restore drill (`backup verify`) of this instance ran (Unix time)."
    );
    metrics::describe_gauge!(
        "labledger_backup_drill_last_passed",
        "Whether the last restore drill passed (1) or failed (0)."
    );
    metrics::describe_gauge!(
        "labledger_backup_drill_last_archive_bytes",
        "Size of the archive the last restore drill checked."
    );
    metrics::describe_gauge!(
        "labledger_backup_age_seconds",
        "Seconds since the last successful backup of the instance (scheduled or `backup create`)."
    );
}

/// Builds the whole application: API, UI, health, metrics and middleware, over a store.
pub fn build_app(store: Store, config: ServerConfig) -> Result<(Router, AppState), String> {
    let hasher = PasswordHasherPool::new(config.hash_permits).map_err(|e| e.to_string())?;
    let state = AppState::new(store, hasher, config.clone(), metrics_handle()?);
    let (api, openapi) = api::router();
    let openapi_json = std::sync::Arc::new(openapi.to_pretty_json().map_err(|e| e.to_string())?);
    let app = Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_owned(),
                    )
                }
            }),
        )
        .merge(health::router())
        .merge(ui::router())
        .fallback(fallback)
        .route_layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_addr::resolve_client,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.https,
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state.clone());
    Ok((app, state))
}

async fn fallback(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::NotFound.into_response()
    } else {
        ui::not_found_page().into_response()
    }
}
