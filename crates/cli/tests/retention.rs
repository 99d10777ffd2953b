//! Analysis outputs with provenance, retention per category, legal hold, and deletion into
//! tombstones, black-box through the real binary (both engines). Times are moved through the
//! database, never slept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

async fn upload(s: &Session, org: &str, query: &str, body: &[u8]) -> Value {
    let res = s
        .client
        .post(format!("{}/api/v1/orgs/{org}/files?{query}", s.base))
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "{query}");
    res.json().await.unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn actions(owner: &Session, org: &str, prefix: &str) -> Vec<String> {
    let trail = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action={prefix}"))
        .await;
    trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn provenance_is_navigable_both_ways_and_stays_in_the_org() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let raw = upload(&owner, &org, "name=run7.raw", b"raw instrument output").await;
    let raw_id = raw["id"].as_str().unwrap().to_owned();
    let out = upload(
        &owner,
        &org,
        "name=purity.csv&category=analysis",
        b"purity,99.1",
    )
    .await;
    assert_eq!(out["category"], "analysis");
    assert_eq!(raw["category"], "raw", "the default category");
    let out_id = out["id"].as_str().unwrap().to_owned();
    let sample = common::fixtures::sample(&owner, &org).await;

    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"output_file_id": out_id, "method": "HPLC purity", "software": "ChemStation",
                   "software_version": "B.04.03", "parameters": {"column": "C18", "flow": 1.0},
                   "inputs": [{"type": "file", "id": raw_id}, {"type": "sample", "id": sample}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let analysis: Value = res.json().await.unwrap();
    let aid = analysis["id"].as_str().unwrap();
    let got = owner
        .get_json(&format!("/api/v1/orgs/{org}/analyses/{aid}"))
        .await;
    assert_eq!(got["software_version"], "B.04.03");
    assert_eq!(got["parameters"]["column"], "C18");
    assert_eq!(got["inputs"].as_array().unwrap().len(), 2);

    // A structured result derived from the same raw file.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"result": {"peaks": [1.2, 3.4]}, "method": "peak picking",
                   "inputs": [{"type": "file", "id": raw_id}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // What was derived from the raw file? Both analyses.
    let p = owner
        .get_json(&format!("/api/v1/orgs/{org}/files/{raw_id}/provenance"))
        .await;
    assert_eq!(p["derived_from"].as_array().unwrap().len(), 0);
    let into = p["derived_into"].as_array().unwrap();
    assert_eq!(into.len(), 2);
    assert_eq!(into[0]["output_file_id"], out_id.as_str());
    assert_eq!(into[1]["result"]["peaks"][1], 3.4);
    // What inputs produced the result file?
    let p = owner
        .get_json(&format!("/api/v1/orgs/{org}/files/{out_id}/provenance"))
        .await;
    let from = p["derived_from"].as_array().unwrap();
    assert_eq!(from.len(), 1);
    let inputs: Vec<&str> = from[0]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(inputs.contains(&raw_id.as_str()) && inputs.contains(&sample.as_str()));
    let p = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples/{sample}/provenance"))
        .await;
    assert_eq!(p["derived_into"].as_array().unwrap().len(), 1);
    assert_eq!(actions(&owner, &org, "analysis.").await.len(), 2);

    // Another org's file as an input: 422 naming the field, nothing about it leaks.
    let org_b = server.create_org("Org B", "boss@b.example", "org b owner long password");
    let owner_b = server
        .login("boss@b.example", "org b owner long password")
        .await;
    let foreign = upload(&owner_b, &org_b, "name=b.raw", b"org b data").await;
    let foreign_id = foreign["id"].as_str().unwrap();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"result": {}, "method": "m", "inputs": [{"type": "file", "id": raw_id},
                   {"type": "file", "id": foreign_id}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "inputs[1].id");
    assert!(!problem.to_string().contains("org b"));
    let random = uuid::Uuid::now_v7().to_string();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"result": {}, "method": "m", "inputs": [{"type": "file", "id": random}]}),
        )
        .await;
    let unknown: Value = res.json().await.unwrap();
    assert_eq!(
        unknown["errors"][0]["message"],
        problem["errors"][0]["message"]
    );
    // B cannot read A's provenance or analyses.
    for path in [
        format!("/api/v1/orgs/{org}/files/{raw_id}/provenance"),
        format!("/api/v1/orgs/{org_b}/files/{raw_id}/provenance"),
        format!("/api/v1/orgs/{org_b}/analyses/{aid}"),
    ] {
        let s = owner_b.get(&path).await.status();
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            "{path}: {s}"
        );
    }
    // Bad input is named: both outputs, no inputs, a bad type.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/analyses"),
            json!({"result": {}, "output_file_id": out_id, "method": "m", "inputs": []}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["output_file_id", "inputs"]);
}

#[tokio::test]
async fn retention_and_legal_hold_refuse_deletion_then_a_tombstone_remains() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let res = server
        .owner()
        .await
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org}/retention"),
            Some(json!({"category": "raw", "days": 30})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let r: Value = res.json().await.unwrap();
    assert_eq!(r["retention_days"]["raw"], 30);
    assert_eq!(r["retention_days"]["report"], Value::Null);

    let content = b"evidence kept for thirty days".to_vec();
    let a = upload(&owner, &org, "name=a.raw", &content).await;
    let b = upload(&owner, &org, "name=b.raw", &content).await; // same content, deduplicated
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let objects = server.data_dir.path().join("objects").join(&org);
    assert_eq!(files_under(&objects).len(), 1);

    // Before retention ends: refused with a clear problem.
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{a_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let p: Value = res.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("retained until"),
        "{p}"
    );

    // Age both uploads past 30 days through the database.
    let mut raw = server.raw_db().await;
    sqlx::query("UPDATE files SET created_at = created_at - 31 * 86400000000")
        .execute(&mut raw)
        .await
        .unwrap();

    // A legal hold blocks deletion regardless.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/files/{a_id}/legal-hold"),
            json!({"reason": "Litigation 2030-17"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{a_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let p: Value = res.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("legal hold"), "{p}");
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{a_id}/legal-hold"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Deleting a: a tombstone; the shared content stays for b.
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{a_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["name"], "a.raw");
    assert_eq!(t["sha256"], a["sha256"]);
    assert_eq!(t["size"], a["size"]);
    assert_eq!(t["deleted_by"], owner.user_id.as_str());
    assert!(t["deleted_at"].is_string());
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/files/{a_id}/content"))
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert_eq!(files_under(&objects).len(), 1, "b still uses the content");
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/files/{b_id}/content"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().to_vec(), content);
    // Deleting again: 410.
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{a_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::GONE);

    // Deleting b, the last user of the content: the bytes are destroyed.
    let res = owner
        .delete(&format!("/api/v1/orgs/{org}/files/{b_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(files_under(&objects).len(), 0, "the object is destroyed");
    // Its content answers 410 like any tombstone's, not 404.
    let res = owner
        .get(&format!("/api/v1/orgs/{org}/files/{b_id}/content"))
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    // The listing keeps both tombstones.
    let list = owner.get_json(&format!("/api/v1/orgs/{org}/files")).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["deleted_at"].is_string()));
    assert_eq!(
        actions(&owner, &org, "file.delete").await,
        vec!["file.delete", "file.delete"]
    );
    assert_eq!(
        actions(&owner, &org, "file.").await[..5],
        [
            "file.delete",
            "file.download",
            "file.delete",
            "file.release",
            "file.hold"
        ]
    );
    // Uploading the same content again works (a new object).
    upload(&owner, &org, "name=a.raw", &content).await;
    assert_eq!(files_under(&objects).len(), 1);

    // Bad retention input is named.
    let res = owner
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/orgs/{org}/retention"),
            Some(json!({"category": "secret", "days": -1})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/files?name=x&category=bogus"),
            json!("x"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
