//! `.eln` exports other ELNs understand: every sample a `Dataset` with its identifier, dates,
//! author (`Person`), keywords, custom fields (`PropertyValue` with `value` and `unitText`),
//! aliquots (`hasPart`/`isPartOf`), custody `Comment`s and its files; and the ELN Consortium's
//! own five checks (their `checks.py` + `schema.json`, pinned validator versions, offline) pass
//! on a project export and a whole-org export, which `export verify` still accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::eln::{self, node};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn verify(server: &common::TestServer, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.eln");
    std::fs::write(&path, bytes).unwrap();
    let out = server
        .cli()
        .args(["export", "verify"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ids(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x["@id"].as_str().unwrap().to_owned())
            .collect(),
        Value::Object(_) => vec![v["@id"].as_str().unwrap().to_owned()],
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn a_project_export_describes_every_sample_and_passes_the_consortium_checks() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let f = eln::fixture(&owner, &org, "Exchange study").await;
    let bytes = eln::export_project(&owner, &org, &f.project).await;
    verify(&server, &bytes);
    eln::assert_consortium_checks_pass("project", &bytes);

    let (_, entries) = eln::unzip(&bytes);
    let graph = eln::graph_of(&entries);
    let descriptor = node(&graph, "ro-crate-metadata.json");
    assert!(descriptor["version"].is_string());
    let parent_dir = format!("./samples/{}/", f.parent.1);
    let child_dir = format!("./samples/{}/", f.child.1);
    let root = node(&graph, "./");
    let root_parts = ids(&root["hasPart"]);
    assert!(root_parts.contains(&parent_dir) && root_parts.contains(&child_dir));

    let parent = node(&graph, &parent_dir);
    assert_eq!(parent["@type"], "Dataset");
    assert_eq!(parent["name"], f.parent.1.as_str());
    assert_eq!(parent["identifier"], f.parent.0.as_str());
    assert!(parent["dateCreated"].is_string() && parent["dateModified"].is_string());
    assert!(parent["keywords"].as_str().unwrap().contains("serum"));
    assert_eq!(parent["creativeWorkStatus"], "registered");
    let author = node(&graph, parent["author"]["@id"].as_str().unwrap());
    assert_eq!(author["@type"], "Person");
    assert!(author["name"]
        .as_str()
        .unwrap()
        .contains("owner@lab.example"));
    // Custom fields and the quantity, with their units.
    let props: Vec<&Value> = ids(&parent["variableMeasured"])
        .iter()
        .map(|id| node(&graph, id))
        .collect();
    let prop = |key: &str| {
        *props
            .iter()
            .find(|p| p["propertyID"] == key)
            .unwrap_or_else(|| panic!("no property {key}: {props:?}"))
    };
    assert_eq!(prop("mass")["@type"], "PropertyValue");
    assert_eq!(prop("mass")["value"], json!(12.5));
    assert_eq!(prop("mass")["unitText"], "mg");
    assert_eq!(prop("origin")["value"], "ward 3");
    assert_eq!(prop("quantity")["unitText"], "ml");
    // Lineage both ways.
    assert!(ids(&parent["hasPart"]).contains(&child_dir));
    let child = node(&graph, &child_dir);
    assert_eq!(child["isPartOf"]["@id"], parent_dir.as_str());
    // Custody events as comments with an author and a time.
    let comments = ids(&parent["comment"]);
    assert!(!comments.is_empty());
    let c = node(&graph, &comments[0]);
    assert_eq!(c["@type"], "Comment");
    assert!(c["text"].as_str().unwrap().starts_with("registered"));
    assert!(c["dateCreated"].is_string() && c["author"]["@id"].is_string());
    // The file, linked from its sample, with its hash, size, type and date.
    let file_id = format!("./files/{}/plate-reader.csv", f.file_id);
    assert!(ids(&parent["hasPart"]).contains(&file_id));
    let file = node(&graph, &file_id);
    assert_eq!(file["@type"], "File");
    assert_eq!(file["sha256"], hex::encode(Sha256::digest(&f.file_bytes)));
    assert_eq!(file["contentSize"], f.file_bytes.len().to_string());
    assert_eq!(file["encodingFormat"], "text/csv");
    assert!(file["dateCreated"].is_string());
    assert!(file["version"].is_string(), "the schema wants a string");
    assert_eq!(entries[&file_id[2..]], f.file_bytes);
}

#[tokio::test]
async fn a_whole_org_export_passes_the_consortium_checks() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    eln::fixture(&owner, &org, "Org wide").await;
    let res = owner
        .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = owner
        .add_member(&server, &org, "second.admin@lab.example", &["Admin"])
        .await;
    let res = admin
        .post(
            &format!("/api/v1/orgs/{org}/export-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/export-requests/{id}/download"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    verify(&server, &bytes);
    eln::assert_consortium_checks_pass("org", &bytes);
    let (_, entries) = eln::unzip(&bytes);
    let graph = eln::graph_of(&entries);
    let samples = graph
        .iter()
        .filter(|n| n["additionalType"] == "Sample")
        .count();
    assert_eq!(samples, 2, "one Dataset per sample");
}
