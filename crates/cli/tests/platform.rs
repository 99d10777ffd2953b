//! The instance: first start, migrations, health, metrics, the OpenAPI document, security
//! headers, operator commands while the server runs, and concurrent writers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn first_start_prints_a_generated_owner_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_database().await;
    let start = || {
        let mut cmd = Command::new(common::bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env_remove("LABLEDGER_ADMIN_PASSWORD")
            .env("LABLEDGER_ADMIN_EMAIL", "first@lab.example")
            .env_remove("LABLEDGER_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(url) = &db {
            cmd.env("LABLEDGER_DATABASE_URL", url);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        loop {
            let line = lines.next().unwrap().unwrap();
            let done = line.starts_with("LabLedger listening on");
            seen.push(line);
            if done {
                break;
            }
        }
        (child, seen)
    };
    let (mut child, lines) = start();
    let password = lines
        .iter()
        .find_map(|l| l.strip_prefix("Owner password (shown this once): "))
        .unwrap_or_else(|| panic!("no generated password in {lines:?}"))
        .to_owned();
    assert!(password.len() >= 20);
    let base = lines
        .last()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_owned();
    let res = Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "first@lab.example", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
    // The second start finds its data and creates nothing, prints no password.
    let (mut child, lines) = start();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("password") && !l.starts_with("First start")),
        "{lines:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused() {
    let server = common::spawn().await;
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let mut db = server.raw_db().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (29991231000000, 'from the future', CURRENT_TIMESTAMP, TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(&mut db)
    .await
    .unwrap();
    // The running server notices it is no longer ready ...
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // ... and a new start refuses to run on it.
    let mut cmd = server.cli();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(server.data_dir_arg());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer than this binary"), "{err}");
}

#[tokio::test]
async fn plain_http_is_served_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("LABLEDGER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    owner
        .get(&format!("/api/v1/orgs/{}/members", server.org_id))
        .await;
    let health: Value = reqwest::get(server.url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = reqwest::get(server.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "database": "ok", "migrations": "current",
               "object_store": "ok", "backups": "not_scheduled", "reasons": []})
    );
    let res = reqwest::get(server.url("/metrics")).await.unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"labledger_http_requests_total{method="GET",route="/api/v1/orgs/{org_id}/members",status="200"} 1"#), "{text}");
    assert!(
        text.contains("labledger_http_request_duration_seconds_bucket{"),
        "latency is a histogram"
    );
    assert!(text.contains(r#"labledger_logins_total{outcome="success"}"#));
    owner
        .post(
            &format!("/api/v1/orgs/{}/roles", server.org_id),
            json!({"name": "R", "permissions": []}),
        )
        .await;
    let text = server.metrics().await;
    assert!(
        text.contains("labledger_audit_events_appended_total 1"),
        "{text}"
    );
    assert!(
        text.contains("labledger_audit_append_duration_seconds_bucket{"),
        "audit append latency is a histogram"
    );
    assert!(text.contains(r#"labledger_db_pool_connections{state="idle"}"#));
    // Errors are counted by problem type.
    owner.get("/api/v1/orgs/not-an-org/members").await;
    let text = server.metrics().await;
    assert!(
        text.contains(r#"labledger_errors_total{type="not-found"}"#),
        "{text}"
    );
    // Every sample line is `name{labels} value`, and counters end in _total.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(name.starts_with("labledger_"), "{line}");
    }
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE") && l.ends_with(" counter"))
    {
        assert!(
            line.split_whitespace().nth(2).unwrap().ends_with("_total"),
            "{line}"
        );
    }
    if let Ok(promtool) = which("promtool") {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn which(tool: &str) -> Result<String, ()> {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map_err(|_| ())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(())
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_its_errors() {
    let server = common::spawn().await;
    let res = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path}: no success response"
            );
            assert!(
                responses.keys().any(|k| k.starts_with('4')),
                "{method} {path}: no error response"
            );
            if path.starts_with("/api/v1/orgs/") {
                assert!(
                    responses.contains_key("404") && responses.contains_key("403"),
                    "{method} {path}"
                );
                assert!(
                    op["security"].is_array(),
                    "{method} {path}: no security requirement"
                );
            }
        }
    }
    // The contract routes are there.
    for p in [
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/orgs/{org_id}/members",
        "/api/v1/orgs/{org_id}/audit",
        "/api/v1/orgs/{org_id}/audit/verify",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }
    // An outside validator, when installed (scripts/test.sh installs it).
    if let Ok(validator) = which("openapi-spec-validator") {
        let file = server.data_dir.path().join("openapi.json");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(validator).arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else if std::env::var("CI").is_ok() {
        panic!("openapi-spec-validator is not installed");
    }
}

/// The statuses the document lists for `method` `template`.
fn documented(doc: &Value, method: &str, template: &str) -> Vec<String> {
    doc["paths"][template][method.to_lowercase()]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_route_answers_only_statuses_its_documentation_lists() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops = common::fixtures::org_scoped(&common::fixtures::operations(&server).await);
    for op in &ops {
        let listed = documented(&doc, &op.method, &op.template);
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
        // An unknown query parameter (refused, or ignored, as documented) ...
        let call = common::fixtures::prepare(&owner, &org, op).await;
        let sep = if call.path.contains('?') { '&' } else { '?' };
        let odd = format!("{}{sep}no_such_parameter=1", call.path);
        let res = owner.send(method.clone(), &odd, call.body.clone()).await;
        let status = res.status().as_str().to_owned();
        assert!(
            listed.contains(&status),
            "{} {} with an unknown query parameter answered {status}, not documented ({listed:?}): {}",
            op.method,
            op.template,
            res.text().await.unwrap()
        );
        // ... the call itself, and the same call again (a record closed, deleted or decided).
        for attempt in ["first", "repeated"] {
            let res = owner
                .send(method.clone(), &call.path, call.body.clone())
                .await;
            let status = res.status().as_str().to_owned();
            assert!(
                listed.contains(&status),
                "{} {} ({attempt} call) answered {status}, not documented ({listed:?}): {}",
                op.method,
                op.template,
                res.text().await.unwrap()
            );
        }
    }

    // A closed batch refuses changes with 409, and says so in the document.
    let (batch, sample) = common::fixtures::batch(&owner, &org).await;
    let close = format!("/api/v1/orgs/{org}/batches/{batch}/close");
    assert_eq!(owner.post(&close, json!({})).await.status(), StatusCode::OK);
    for (method, template, path) in [
        (
            reqwest::Method::POST,
            "/api/v1/orgs/{org_id}/batches/{batch_id}/close",
            close.clone(),
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/orgs/{org_id}/batches/{batch_id}/samples/{sample_id}",
            format!("/api/v1/orgs/{org}/batches/{batch}/samples/{sample}"),
        ),
    ] {
        let res = owner.send(method.clone(), &path, None).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{method} {template}");
        assert!(
            documented(&doc, method.as_str(), template).contains(&"409".to_owned()),
            "{method} {template}: 409 not documented"
        );
    }
}

#[tokio::test]
async fn binary_bodies_are_declared_binary() {
    let server = common::spawn().await;
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut binary_answers = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let bodies = op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(t, c)| ("request", t, c));
            let answers = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .flat_map(|(_, r)| r["content"].as_object().into_iter().flatten())
                .map(|(t, c)| ("answer", t, c));
            for (side, media_type, content) in bodies.chain(answers) {
                if media_type == "application/json" || media_type.ends_with("+json") {
                    continue;
                }
                let schema = &content["schema"];
                assert_eq!(
                    schema["type"], "string",
                    "{method} {path} {side} {media_type}"
                );
                assert_eq!(
                    schema["contentMediaType"],
                    media_type.as_str(),
                    "{method} {path} {side} {media_type}"
                );
                if !media_type.starts_with("text/") {
                    assert_eq!(
                        schema["format"], "binary",
                        "{method} {path} {side} {media_type}: not declared binary"
                    );
                }
                if side == "answer" && !media_type.starts_with("text/") {
                    binary_answers += 1;
                    // Generators read application/octet-stream as bytes: it is offered too.
                    assert!(
                        op["responses"]
                            .as_object()
                            .unwrap()
                            .values()
                            .any(|r| r["content"].get("application/octet-stream").is_some()),
                        "{method} {path}: no application/octet-stream alternative"
                    );
                }
            }
        }
    }
    // .eln (2), PDF (3), PNG, SVG, ZPL, file content (200 and 206), plus their alternatives.
    assert!(binary_answers >= 10, "{binary_answers}");
    // The CSV import takes raw bytes too.
    let import =
        &doc["paths"]["/api/v1/orgs/{org_id}/samples/import"]["post"]["requestBody"]["content"];
    assert_eq!(
        import["application/octet-stream"]["schema"]["format"],
        "binary"
    );

    // Asking for application/octet-stream gets the same bytes labelled so.
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let sample = common::fixtures::sample(&owner, &org).await;
    let path = format!("/api/v1/orgs/{org}/samples/{sample}/label.png");
    let png = owner.get(&path).await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let png = png.bytes().await.unwrap();
    let octets = owner
        .client
        .get(server.url(&path))
        .header("accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(octets.headers()["content-type"], "application/octet-stream");
    assert_eq!(octets.bytes().await.unwrap(), png);
    // A CSV import sent as raw bytes registers the rows.
    let res = owner
        .client
        .post(server.url(&format!("/api/v1/orgs/{org}/samples/import")))
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "application/octet-stream")
        .body("sample_type\nblood\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let server = common::spawn().await;
    let client = Client::new();
    for path in [
        "/api/v1/me",
        "/healthz",
        "/login",
        "/api/v1/nowhere",
        "/nowhere",
    ] {
        let res = client.get(server.url(path)).send().await.unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    let res = client
        .get(server.url("/api/v1/nowhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn operators_manage_orgs_while_the_server_runs() {
    let server = common::spawn().await;
    let org = server.create_org(
        "Second Lab",
        "second@lab.example",
        "second lab owner password",
    );
    let second = server
        .login("second@lab.example", "second lab owner password")
        .await;
    assert_eq!(second.me["memberships"][0]["org_id"], org.as_str());
    let members = second
        .get_json(&format!("/api/v1/orgs/{org}/members"))
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);

    let list = server
        .cli()
        .args(["admin", "org", "list", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    assert!(
        listing.contains("Second Lab") && listing.contains("My Lab"),
        "{listing}"
    );
    assert!(
        !listing.contains("second@lab.example"),
        "operators see no member data: {listing}"
    );

    let out = server
        .cli()
        .args(["admin", "org", "disable", "--org", &org, "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let members = format!("/api/v1/orgs/{org}/members");
    let res = common::within_the_recall_bound(
        || second.get(&members),
        |r| r.status() == StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["type"], "/problems/org-disabled");
    let out = server
        .cli()
        .args(["admin", "org", "enable", "--org", &org, "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(out.status.success());
    let res =
        common::within_the_recall_bound(|| second.get(&members), |r| r.status() == StatusCode::OK)
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Both operator actions are in the org's chain, by the operator.
    let trail = second
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=org."))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["org.enable", "org.disable", "org.create"]);
    assert_eq!(trail["items"][0]["actor_type"], "operator");

    // Bad operator input is a readable error, not a crash.
    let out = server
        .cli()
        .args([
            "admin",
            "org",
            "create",
            "--name",
            "X",
            "--owner-email",
            "not-an-email",
            "--data-dir",
        ])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid email"));
    let out = server
        .cli()
        .args(["audit", "verify", "--org", "nope", "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn concurrent_writers_keep_one_gapless_chain() {
    let server = common::spawn().await;
    let owner = std::sync::Arc::new(server.owner().await);
    let org = server.org_id.clone();
    let before = common::audit_len(&owner, &org).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let owner = owner.clone();
        let org = org.clone();
        tasks.push(tokio::spawn(async move {
            owner
                .post(
                    &format!("/api/v1/orgs/{org}/roles"),
                    json!({"name": format!("Role {i}"), "permissions": []}),
                )
                .await
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    // Two writers racing for one name: exactly one wins, and the loser leaves no trace.
    let roles = format!("/api/v1/orgs/{org}/roles");
    let a = owner.post(&roles, json!({"name": "Twin", "permissions": []}));
    let b = owner.post(&roles, json!({"name": "Twin", "permissions": []}));
    let (a, b) = tokio::join!(a, b);
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(common::audit_len(&owner, &org).await, before + 61);
}
