//! Custom sample fields, search filters and the CSV export over the API: definitions,
//! validation per type (named errors, nothing written), import with custom columns, date range,
//! location and custom filters, and the audited, formula-safe CSV download.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn fields_of(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn define(owner: &common::Session, org: &str, body: Value) -> reqwest::Response {
    owner
        .post(&format!("/api/v1/orgs/{org}/sample-fields"), body)
        .await
}

async fn define_all(owner: &common::Session, org: &str) {
    for body in [
        json!({"key": "temp", "label": "Storage temp", "type": "number", "unit": "°C", "min": -80, "max": 8, "required": true}),
        json!({"key": "visit", "label": "Visit date", "type": "date"}),
        json!({"key": "arm", "label": "Arm", "type": "choice", "options": ["left", "right"]}),
        json!({"key": "note", "label": "Note", "type": "text"}),
    ] {
        let res = define(owner, org, body).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
    }
}

async fn codes(owner: &common::Session, org: &str, query: &str) -> Vec<String> {
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/samples?{query}"))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{query}: {}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn definitions_are_validated_unique_audited_and_listed() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let before = common::audit_len(&owner, org).await;
    let res = define(
        &owner,
        org,
        json!({"key": "Bad Key", "label": "", "type": "number", "options": ["a"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.unwrap();
    assert_eq!(fields_of(&v), vec!["key", "label", "options"]);
    let res = define(
        &owner,
        org,
        json!({"key": "arm", "label": "Arm", "type": "choice"}),
    )
    .await;
    assert_eq!(fields_of(&res.json().await.unwrap()), vec!["options"]);
    assert_eq!(common::audit_len(&owner, org).await, before);

    define_all(&owner, org).await;
    let res = define(
        &owner,
        org,
        json!({"key": "temp", "label": "Again", "type": "text"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(common::audit_len(&owner, org).await, before + 4);
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=sample_field.create"
        ))
        .await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 4);

    // Any member who reads samples sees the definitions; only org settings writers define.
    let viewer = owner
        .add_member(&server, org, "viewer@lab.example", &["Viewer"])
        .await;
    let list = viewer
        .get_json(&format!("/api/v1/orgs/{org}/sample-fields"))
        .await;
    let keys: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["temp", "visit", "arm", "note"]);
    assert_eq!(list["items"][0]["unit"], "°C");
    assert_eq!(list["items"][0]["required"], true);
    assert_eq!(list["items"][2]["options"], json!(["left", "right"]));
    let tech = owner
        .add_member(&server, org, "tech@lab.example", &["Technician"])
        .await;
    let res = define(
        &tech,
        org,
        json!({"key": "x", "label": "X", "type": "text"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn values_are_checked_per_type_named_and_nothing_is_written() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    define_all(&owner, org).await;
    let base = format!("/api/v1/orgs/{org}/samples");
    let before = common::audit_len(&owner, org).await;
    for (custom, field) in [
        (json!({"temp": 9}), "custom.temp"),
        (json!({"temp": "cold"}), "custom.temp"),
        (json!({"temp": 4, "visit": "2026-02-30"}), "custom.visit"),
        (json!({"temp": 4, "arm": "middle"}), "custom.arm"),
        (json!({"temp": 4, "note": 12}), "custom.note"),
        (json!({"temp": 4, "colour": "red"}), "custom.colour"),
        (json!({"visit": "2026-01-01"}), "custom.temp"),
    ] {
        let res = owner
            .post(&base, json!({"sample_type": "blood", "custom": custom}))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{custom}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(fields_of(&v), vec![field], "{custom}");
    }
    // Required is enforced even without a `custom` object.
    let res = owner.post(&base, json!({"sample_type": "blood"})).await;
    assert_eq!(fields_of(&res.json().await.unwrap()), vec!["custom.temp"]);
    assert_eq!(common::audit_len(&owner, org).await, before);
    assert!(codes(&owner, org, "").await.is_empty());

    let res = owner
        .post(
            &base,
            json!({"sample_type": "blood", "custom": {"temp": "-20", "visit": "2026-02-28", "arm": "left", "note": " ok "}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let s: Value = res.json().await.unwrap();
    assert_eq!(
        s["custom"],
        json!({"arm": "left", "note": "ok", "temp": -20.0, "visit": "2026-02-28"})
    );
    let again = owner
        .get_json(&format!("{base}/{}", s["id"].as_str().unwrap()))
        .await;
    assert_eq!(again["custom"], s["custom"]);
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=sample.create&target_id={}",
            s["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        trail["items"][0]["changes"]
            .to_string()
            .contains("2026-02-28"),
        "{trail}"
    );
}

#[tokio::test]
async fn import_takes_custom_columns_and_names_the_bad_row() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    define_all(&owner, org).await;
    let path = format!("/api/v1/orgs/{org}/samples/import");
    let before = common::audit_len(&owner, org).await;
    let bad = "sample_type,custom.temp,arm\nblood,4,left\nblood,20,right\nserum,,left\n";
    let res = owner.post(&path, Value::String(bad.into())).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        fields_of(&v),
        vec!["rows[2].custom.temp", "rows[3].custom.temp"]
    );
    assert_eq!(common::audit_len(&owner, org).await, before);
    let res = owner
        .post(
            &path,
            Value::String("sample_type,temp,colour\nblood,1,red\n".into()),
        )
        .await;
    assert_eq!(fields_of(&res.json().await.unwrap()), vec!["header[2]"]);

    let good = "sample_type,custom.temp,arm\nblood,4,left\nblood,-5,right\n";
    let res = owner.post(&path, Value::String(good.into())).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(common::audit_len(&owner, org).await, before + 2);
    let right = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples?custom.arm=right"))
        .await;
    assert_eq!(
        right["items"][0]["custom"],
        json!({"arm": "right", "temp": -5.0})
    );
}

#[tokio::test]
async fn filters_by_dates_location_and_custom_values_with_paging() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    define_all(&owner, org).await;
    let base = format!("/api/v1/orgs/{org}/samples");
    let mut ids = Vec::new();
    for (collected, temp, arm) in [
        ("2026-01-10T08:00:00Z", json!(4), "left"),
        ("2026-01-20T23:59:00Z", json!(-20), "right"),
        ("2026-02-05T00:00:00Z", json!("4.0"), "right"),
    ] {
        let res = owner
            .post(
                &base,
                json!({"sample_type": "blood", "collected_at": collected, "custom": {"temp": temp, "arm": arm}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        codes(
            &owner,
            org,
            "collected_from=2026-01-15&collected_to=2026-01-20"
        )
        .await,
        vec!["S-000002"]
    );
    assert_eq!(
        codes(&owner, org, "collected_to=2026-01-31T00:00:00Z").await,
        vec!["S-000002", "S-000001"]
    );
    assert_eq!(
        codes(&owner, org, "received_from=2026-01-01").await,
        Vec::<String>::new()
    );
    assert_eq!(
        codes(&owner, org, "registered_from=2020-01-01").await.len(),
        3
    );
    assert_eq!(
        codes(&owner, org, "registered_to=2020-01-01").await.len(),
        0
    );
    // Equal numbers match whatever their spelling.
    assert_eq!(
        codes(&owner, org, "custom.temp=4.0").await,
        vec!["S-000003", "S-000001"]
    );
    assert_eq!(
        codes(&owner, org, "custom.temp=4&custom.arm=right").await,
        vec!["S-000003"]
    );
    // Keyset paging keeps the filters.
    let page: Value = owner
        .get_json(&format!("{base}?custom.arm=right&limit=1"))
        .await;
    assert_eq!(page["items"][0]["code"], "S-000003");
    let cursor = page["next_cursor"].as_str().unwrap();
    assert_eq!(
        codes(
            &owner,
            org,
            &format!("custom.arm=right&limit=1&cursor={cursor}")
        )
        .await,
        vec!["S-000002"]
    );
    // Bad parameters: 400 naming them.
    for (query, field) in [
        ("collected_from=yesterday", "collected_from"),
        ("registered_to=2026-13-01", "registered_to"),
        ("location_id=nope", "location_id"),
        ("custom.colour=red", "custom.colour"),
        ("custom.temp=warm", "custom.temp"),
        ("custom.arm=middle", "custom.arm"),
    ] {
        let res = owner.get(&format!("{base}?{query}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(fields_of(&v), vec![field], "{query}");
    }
    // Location: a box, and anything above it.
    let loc = |body: Value| common::fixtures::location(&owner, org, body);
    let site = loc(json!({"kind": "site", "name": "Site"})).await;
    let room = loc(json!({"kind": "room", "name": "Room", "parent_id": site})).await;
    let freezer = loc(json!({"kind": "freezer", "name": "F1", "parent_id": room})).await;
    let bx =
        loc(json!({"kind": "box", "name": "B1", "parent_id": freezer, "rows": 8, "columns": 12}))
            .await;
    let other = common::fixtures::storage_box(&owner, org).await;
    for (id, b, pos) in [(&ids[0], &bx, "A1"), (&ids[2], &other, "B2")] {
        let res = owner
            .send(
                Method::PUT,
                &format!("{base}/{id}/placement"),
                Some(json!({"location_id": b, "position": pos})),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
    }
    assert_eq!(
        codes(&owner, org, &format!("location_id={bx}")).await,
        vec!["S-000001"]
    );
    assert_eq!(
        codes(&owner, org, &format!("location_id={freezer}")).await,
        vec!["S-000001"]
    );
    assert_eq!(
        codes(&owner, org, &format!("location_id={site}")).await,
        vec!["S-000001"]
    );
    assert!(codes(
        &owner,
        org,
        &format!("location_id={}", uuid::Uuid::now_v7())
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn csv_export_is_filtered_audited_and_formula_safe() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    define_all(&owner, org).await;
    let base = format!("/api/v1/orgs/{org}/samples");
    for (source, note, arm) in [
        ("=HYPERLINK(\"http://evil\")", "+1", "left"),
        ("@SUM(A1)", "plain, with comma", "right"),
        ("P-3", "-2", "left"),
    ] {
        let res = owner
            .post(
                &base,
                json!({"sample_type": "blood", "source_ref": source, "custom": {"temp": 4, "note": note, "arm": arm}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let before = common::audit_len(&owner, org).await;
    let res = owner
        .get(&format!("{base}/export.csv?custom.arm=left"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "code");
    assert!(header.ends_with(&[
        "custom.temp".to_owned(),
        "custom.visit".to_owned(),
        "custom.arm".to_owned(),
        "custom.note".to_owned()
    ]));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("code")], "S-000003");
    assert_eq!(&rows[0][col("custom.note")], "'-2");
    assert_eq!(&rows[1][col("source_ref")], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(&rows[1][col("custom.note")], "'+1");
    assert_eq!(&rows[1][col("custom.temp")], "4");
    assert!(!text.contains("\n=") && !text.contains(",="));

    // The export is an audit event naming the filter and the count.
    assert_eq!(common::audit_len(&owner, org).await, before + 1);
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=sample.export"))
        .await;
    let changes = trail["items"][0]["changes"].to_string();
    assert!(
        changes.contains("custom.arm") && changes.contains("left"),
        "{changes}"
    );
    assert!(changes.contains("\"rows\""), "{changes}");
    assert!(trail["items"][0].to_string().contains('2'));

    // A bad filter: 400, no event. Without exports:create: 403.
    let res = owner
        .get(&format!("{base}/export.csv?collected_to=soon"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(common::audit_len(&owner, org).await, before + 1);
    let viewer = owner
        .add_member(&server, org, "viewer@lab.example", &["Viewer"])
        .await;
    let res = viewer.get(&format!("{base}/export.csv")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
