//! Samples over the API: registration with gapless codes, the lifecycle, paging, bulk CSV import
//! (all or nothing, naming every bad row and field), and their audit events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::{json, Value};

fn csv_rows(n: usize, bad_row: Option<usize>) -> String {
    let mut csv = String::from("sample_type,source_ref,collected_at,quantity,unit\n");
    for i in 1..=n {
        if Some(i) == bad_row {
            csv.push_str(&format!("blood,SUBJ-{i},not-a-date,1.0,mL\n"));
        } else {
            csv.push_str(&format!(
                "blood,SUBJ-{i},2026-11-0{}T08:00:00Z,1.0,mL\n",
                i % 9 + 1
            ));
        }
    }
    csv
}

async fn import(owner: &common::Session, org: &str, csv: String) -> reqwest::Response {
    owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/import"),
            Value::String(csv),
        )
        .await
}

#[tokio::test]
async fn register_read_and_move_a_sample_through_its_lifecycle() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let base = format!("/api/v1/orgs/{org}/samples");
    let res = owner.post(&base, json!({"sample_type": "blood"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["code"], "S-000001");
    assert_eq!(s["status"], "registered");
    let id = s["id"].as_str().unwrap().to_owned();
    let second: Value = owner
        .post(
            &base,
            json!({"sample_type": "Serum", "quantity": 4.0, "unit": "mL"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["code"], "S-000002");
    assert_eq!(second["sample_type"], "serum");

    let got = owner.get_json(&format!("{base}/{id}")).await;
    assert_eq!(got, s);

    let before = common::audit_len(&owner, org).await;
    // An illegal move: 409, nothing changes, nothing is audited.
    let res = owner
        .post(&format!("{base}/{id}/transitions"), json!({"to": "stored"}))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("registered to stored"));
    assert_eq!(
        owner.get_json(&format!("{base}/{id}")).await["status"],
        "registered"
    );
    assert_eq!(common::audit_len(&owner, org).await, before);
    let res = owner
        .post(&format!("{base}/{id}/transitions"), json!({"to": "lost"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    for to in ["received", "in_process", "stored", "consumed"] {
        let res = owner
            .post(
                &format!("{base}/{id}/transitions"),
                json!({"to": to, "reason": "routine"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{to}");
        assert_eq!(res.json::<Value>().await.unwrap()["status"], to);
    }
    let final_state = owner
        .post(
            &format!("{base}/{id}/transitions"),
            json!({"to": "disposed"}),
        )
        .await;
    assert_eq!(final_state.status(), StatusCode::CONFLICT);
    let trail = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=sample.&target_id={id}"
        ))
        .await;
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["sample.transition"; 4]
            .into_iter()
            .chain(["sample.create"])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        trail["items"][3]["changes"]["status"],
        json!({"before": "registered", "after": "received"})
    );
}

#[tokio::test]
async fn samples_page_by_cursor_and_filter() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    assert_eq!(
        import(&owner, org, csv_rows(23, None)).await.status(),
        StatusCode::CREATED
    );
    let base = format!("/api/v1/orgs/{org}/samples");
    let mut codes = Vec::new();
    let mut url = format!("{base}?limit=10");
    loop {
        let page = owner.get_json(&url).await;
        codes.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["code"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{base}?limit=10&cursor={c}"),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=23).rev().map(|n| format!("S-{n:06}")).collect();
    assert_eq!(codes, expected);
    let first = owner.get_json(&format!("{base}?limit=1")).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .post(
            &format!("{base}/{first}/transitions"),
            json!({"to": "received"}),
        )
        .await;
    let received = owner.get_json(&format!("{base}?status=received")).await;
    assert_eq!(received["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        owner.get_json(&format!("{base}?sample_type=serum")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // A code prefix (as typed, any case) with the status: S-000010 … S-000019, minus the one
    // received above (S-000023 is not under the prefix), newest first and paged.
    let prefixed = owner
        .get_json(&format!(
            "{base}?code_prefix=s-00001&status=registered&limit=6"
        ))
        .await;
    let codes: Vec<&str> = prefixed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["S-000019", "S-000018", "S-000017", "S-000016", "S-000015", "S-000014"]
    );
    let cursor = prefixed["next_cursor"].as_str().unwrap();
    let rest = owner
        .get_json(&format!(
            "{base}?code_prefix=S-00001&status=registered&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 4, "{rest}");
    for (prefix, found) in [("S-00002", 4), ("S-0002", 0), ("S-000023", 1)] {
        let page = owner
            .get_json(&format!("{base}?code_prefix={prefix}"))
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), found, "{prefix}");
    }
    for bad in [
        "limit=0",
        "cursor=x",
        "status=lost",
        "sample_type=%3Cscript%3E",
        "colour=red",
        "code_prefix=S%20000",
        "code_prefix=%C3%96",
    ] {
        assert_eq!(
            owner.get(&format!("{base}?{bad}")).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_ten_thousand_row_import_is_all_or_nothing() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = &server.org_id;
    let before = common::audit_len(&owner, org).await;

    let res = import(&owner, org, csv_rows(10_000, Some(7_777))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["errors"][0]["field"], "rows[7777].collected_at");
    assert_eq!(
        common::audit_len(&owner, org).await,
        before,
        "nothing written"
    );
    assert!(
        owner.get_json(&format!("/api/v1/orgs/{org}/samples")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let res = import(&owner, org, csv_rows(10_000, None)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.json::<Value>().await.unwrap()["imported"], 10_000);
    assert_eq!(common::audit_len(&owner, org).await, before + 10_000);
    let page = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples?limit=1"))
        .await;
    assert_eq!(page["items"][0]["code"], "S-010000");
    let events = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?action=sample.import&limit=2"
        ))
        .await;
    assert_eq!(events["items"][0]["changes"]["code"]["after"], "S-010000");

    // Too many rows, bad columns, the wrong media type.
    let res = import(&owner, org, csv_rows(10_001, None)).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = import(&owner, org, "colour\nred\n".into()).await;
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "header[0]");
    let res = owner
        .client
        .post(server.url(&format!("/api/v1/orgs/{org}/samples/import")))
        .header("x-csrf-token", &owner.csrf)
        .json(&json!({"sample_type": "blood"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Codes stay gapless after the refused imports.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "urine"}),
        )
        .await;
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "S-010001");
}

#[tokio::test]
async fn quantities_survive_samples_registered_without_one() {
    // Regression: on PostgreSQL a first NULL quantity once typed the cached statement wrongly.
    let server = common::spawn().await;
    let owner = server.owner().await;
    let base = format!("/api/v1/orgs/{}/samples", server.org_id);
    for i in 0..12 {
        let body = if i % 2 == 0 {
            json!({"sample_type": "blood"})
        } else {
            json!({"sample_type": "blood", "quantity": 1.25, "unit": "mL"})
        };
        let res = owner.post(&base, body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "sample {i}");
        let s: Value = res.json().await.unwrap();
        if i % 2 == 1 {
            assert_eq!(s["quantity"], 1.25);
        } else {
            assert!(s["quantity"].is_null());
        }
    }
}
