//! Bad input on every write route, generated from the OpenAPI document's request schemas:
//! unknown fields, wrong types, missing fields, overlong strings, invalid emails, broken JSON,
//! the wrong media type and bodies over the limit. Each answers 400/413/415/422 problem+json
//! naming the field, and nothing is written (the org's audit chain does not grow).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{operations, prepare};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

fn schema_of(doc: &Value, op: &common::fixtures::Operation) -> Value {
    let body = &doc["paths"][&op.template][op.method.to_lowercase()]["requestBody"]["content"]
        ["application/json"]["schema"];
    let name = body["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
    doc["components"]["schemas"][name].clone()
}

fn type_of(prop: &Value) -> String {
    match &prop["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .find(|t| *t != "null")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned(),
        // A nested object: a reference, or a nullable reference.
        _ if prop.get("$ref").is_some() || prop.get("oneOf").is_some() => "object".into(),
        _ => panic!("untyped property {prop}"),
    }
}

/// A value of the wrong JSON type for a property.
fn wrong_type(prop: &Value) -> Value {
    match type_of(prop).as_str() {
        "string" => json!(12345),
        "array" => json!("not a list"),
        "integer" | "number" => json!("not a number"),
        "boolean" => json!("not a bool"),
        "object" => json!("not an object"),
        _ => json!([1, 2]),
    }
}

#[tokio::test]
async fn every_write_route_rejects_bad_input_by_field_and_writes_nothing() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops: Vec<_> = operations(&server)
        .await
        .into_iter()
        .filter(|o| o.has_body)
        .collect();
    assert!(ops.len() >= 5, "{ops:?}");
    let long = "x".repeat(5000);

    // Login replaces a client's session cookie, so it gets a client of its own.
    let anonymous = common::Session {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        base: server.base.clone(),
        csrf: String::new(),
        user_id: String::new(),
        me: Value::Null,
    };
    for op in &ops {
        // Login replaces the client's session cookie; every other route is called as the owner.
        let caller = if op.template == "/api/v1/auth/login" {
            &anonymous
        } else {
            &owner
        };
        let call = prepare(&owner, &org, op).await;
        let valid = call.body.clone().unwrap();
        let schema = schema_of(&doc, op);
        let props = schema["properties"].as_object().unwrap();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let label = format!("{} {}", op.method, op.template);

        // (body, expected status, field the problem must name)
        let mut cases: Vec<(Value, StatusCode, String)> = Vec::new();
        let with = |f: &dyn Fn(&mut Map<String, Value>)| {
            let mut b = valid.as_object().unwrap().clone();
            f(&mut b);
            Value::Object(b)
        };
        cases.push((
            with(&|b| {
                b.insert("zz_unknown".into(), json!(1));
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "zz_unknown".into(),
        ));
        for (name, prop) in props {
            let p = prop.clone();
            cases.push((
                with(&|b| {
                    b.insert(name.clone(), wrong_type(&p));
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                name.clone(),
            ));
            match type_of(prop).as_str() {
                "string" => {
                    // Overlong: past the declared maxLength where one is, else 5,000.
                    let l = match prop["maxLength"].as_u64() {
                        Some(max) => "x".repeat(max as usize + 1),
                        None => long.clone(),
                    };
                    cases.push((
                        with(&|b| {
                            b.insert(name.clone(), json!(l));
                        }),
                        StatusCode::UNPROCESSABLE_ENTITY,
                        name.clone(),
                    ));
                }
                "array" => {
                    let l = long.clone();
                    cases.push((
                        with(&|b| {
                            b.insert(name.clone(), json!([l]));
                        }),
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{name}[0]"),
                    ));
                }
                _ => {}
            }
            if name == "email" {
                cases.push((
                    with(&|b| {
                        b.insert("email".into(), json!("not-an-email"));
                    }),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "email".into(),
                ));
            }
        }
        for name in &required {
            cases.push((
                with(&|b| {
                    b.remove(*name);
                }),
                StatusCode::UNPROCESSABLE_ENTITY,
                name.to_string(),
            ));
        }

        let before = common::audit_len(&owner, &org).await;
        for (body, status, field) in cases {
            let res = caller
                .send(method.clone(), &call.path, Some(body.clone()))
                .await;
            assert_eq!(res.status(), status, "{label} with {body}");
            assert_eq!(
                res.headers()["content-type"],
                "application/problem+json",
                "{label}"
            );
            let p: Value = res.json().await.unwrap();
            let named = p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field.as_str());
            assert!(
                named,
                "{label} with {body}: the problem must name `{field}`: {p}"
            );
        }

        // Broken JSON, wrong media type, too large.
        let raw = |bytes: Vec<u8>, ctype: &'static str| {
            caller
                .client
                .request(method.clone(), server.url(&call.path))
                .header("x-csrf-token", &caller.csrf)
                .header("content-type", ctype)
                // The server may close the connection after refusing an oversized body; never
                // hand that connection back to the pool for the next request.
                .header("connection", "close")
                .body(bytes)
                .send()
        };
        let res = raw(b"{,".to_vec(), "application/json").await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{label}");
        let res = raw(valid.to_string().into_bytes(), "text/plain")
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{label}");
        // Just over the 1 MiB limit. The server may answer 413 and close before the whole body is
        // read; a client still writing then sees a reset instead of the answer, so retry that.
        let huge = json!({"name": "x".repeat(1024 * 1024 + 64 * 1024)})
            .to_string()
            .into_bytes();
        let mut attempt = 0;
        let res = loop {
            attempt += 1;
            match raw(huge.clone(), "application/json").await {
                Ok(res) => break res,
                Err(e) if attempt < 5 => {
                    eprintln!("{label}: retrying the oversized body after: {e}")
                }
                Err(e) => panic!("{label}: no answer to an oversized body: {e}"),
            }
        };
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{label}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");

        assert_eq!(
            common::audit_len(&owner, &org).await,
            before,
            "{label}: bad input changed the trail"
        );
        // And the valid body still works afterwards.
        let res = caller
            .send(method.clone(), &call.path, Some(valid.clone()))
            .await;
        if common::fixtures::needs_authenticator(&op.method, &op.template) {
            let s = res.status();
            assert!(
                ![400, 413, 415, 422].contains(&s.as_u16()),
                "{label}: valid body refused as input: {}",
                res.text().await.unwrap()
            );
            continue;
        }
        assert!(
            res.status().is_success(),
            "{label}: valid body refused: {}",
            res.text().await.unwrap()
        );
    }
}

#[tokio::test]
async fn names_are_trimmed_and_control_characters_refused() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": " Ada@Lab.Example ", "name": "  Ada  ", "roles": []}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["member"]["email"], "ada@lab.example");
    assert_eq!(v["member"]["name"], "Ada");
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "bad\u{0007}name", "permissions": []}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/roles"),
            json!({"name": "r", "permissions": ["samples:fly"]}),
        )
        .await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "permissions[0]");
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "b@lab.example", "name": "B", "roles": ["Nope"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "roles[0]");
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/members"),
            json!({"email": "c@lab.example", "name": "C", "password": "short"}),
        )
        .await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "password");
}
