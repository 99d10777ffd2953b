//! Importing `.eln` archives, black-box: the ELN Consortium's example files from eLabFTW,
//! SampleDB, Kadi4Mat and PASTA (tests/data/eln, MIT licence) import as a new project whose
//! re-export gives every file back byte for byte and passes the consortium's checks; a dry run
//! lists every entity; each hostile archive is refused with its own 4xx and changes nothing (row
//! and object counts); LabLedger → .eln → LabLedger (another org) keeps samples, fields,
//! units, lineage and bytes; a 64 MiB archive is accepted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::eln;
use common::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use zip::write::SimpleFileOptions;

async fn import(s: &Session, org: &str, bytes: Vec<u8>, dry_run: bool) -> reqwest::Response {
    let mut url = format!("{}/api/v1/orgs/{org}/imports/eln", s.base);
    if dry_run {
        url.push_str("?dry_run=true");
    }
    s.client
        .post(url)
        .header("x-csrf-token", &s.csrf)
        .header("content-type", "application/vnd.eln+zip")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

fn example(name: &str) -> Vec<u8> {
    std::fs::read(eln::data_dir().join(name)).unwrap()
}

/// The SHA-256 of every local file the crate's graph describes, from the archive's bytes.
fn source_files(bytes: &[u8]) -> BTreeSet<String> {
    let (_, entries) = eln::unzip(bytes);
    let graph = eln::graph_of(&entries);
    graph
        .iter()
        .filter(|n| {
            n["@type"] == "File"
                || n["@type"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("File")))
        })
        .filter_map(|n| {
            let id = n["@id"].as_str()?;
            if id.contains("://") || id.starts_with('#') {
                return None;
            }
            let path: String = id
                .trim_start_matches("./")
                .split('/')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            let path = path.replace("%20", " ");
            let data = entries
                .iter()
                .find(|(k, _)| {
                    k.split('/')
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join("/")
                        == path
                })?
                .1;
            Some(hex::encode(Sha256::digest(data)))
        })
        .collect()
}

/// Rows of the org's tables and objects in the vault: what a refused import must not change.
async fn counts(server: &common::TestServer, org: &str) -> BTreeMap<String, i64> {
    use sqlx::Row;
    let mut db = server.raw_db().await;
    let mut out = BTreeMap::new();
    for table in [
        "samples",
        "files",
        "file_objects",
        "projects",
        "sample_fields",
        "sample_lineage",
        "file_attachments",
        "project_files",
        "audit_events",
    ] {
        let n: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE org_id = $1"
        ))
        .bind(org)
        .fetch_one(&mut db)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        out.insert(table.to_owned(), n);
    }
    let objects = walk(&server.data_dir_arg().join("objects"));
    out.insert("vault objects".into(), objects as i64);
    out
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn consortium_examples_import_and_come_back_byte_equal() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    for (name, min_samples) in [
        ("elabftw.eln", 1),
        ("sampledb.eln", 2),
        ("kadi4mat-records.eln", 1),
        ("pasta.eln", 1),
    ] {
        let bytes = example(name);
        let before = counts(&server, &org).await;
        let res = import(&owner, &org, bytes.clone(), true).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{name}: {}",
            res.text().await.unwrap()
        );
        let dry: Value = res.json().await.unwrap();
        let entities = dry["entities"].as_array().unwrap();
        assert!(
            entities.iter().all(|e| e["id"].is_string()
                && e["type"].is_string()
                && e["becomes"].is_string()
                && (e["becomes"] != "skipped" || e["reason"].is_string())),
            "{name}: {dry}"
        );
        let sample_count = entities.iter().filter(|e| e["becomes"] == "sample").count();
        assert!(sample_count >= min_samples, "{name}: {dry}");
        assert_eq!(
            counts(&server, &org).await,
            before,
            "{name}: a dry run writes nothing"
        );

        let res = import(&owner, &org, bytes.clone(), false).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{name}: {}",
            res.text().await.unwrap()
        );
        let done: Value = res.json().await.unwrap();
        assert_eq!(done["samples"], sample_count, "{name}");
        let project = done["project_id"].as_str().unwrap().to_owned();
        // One import.eln event naming the source's SHA-256.
        let events = owner
            .get_json(&format!("/api/v1/orgs/{org}/audit?action=import.eln"))
            .await;
        let source_sha = hex::encode(Sha256::digest(&bytes));
        assert!(events.to_string().contains(&source_sha), "{name}: {events}");
        // Samples keep their provenance as data, not as a LabLedger user's act.
        let samples = owner
            .get_json(&format!("/api/v1/orgs/{org}/samples?project_id={project}"))
            .await;
        let items = samples["items"].as_array().unwrap();
        assert_eq!(items.len(), sample_count, "{name}");
        assert!(items
            .iter()
            .all(|s| s["notes"].as_str().unwrap().starts_with("Imported from ")));
        // The re-export gives every file back byte for byte and passes the consortium's checks.
        let again = eln::export_project(&owner, &org, &project).await;
        let (_, entries) = eln::unzip(&again);
        let exported: BTreeSet<String> = entries
            .values()
            .map(|d| hex::encode(Sha256::digest(d)))
            .collect();
        let wanted = source_files(&bytes);
        assert!(!wanted.is_empty(), "{name}");
        for sha in &wanted {
            assert!(
                exported.contains(sha),
                "{name}: file {sha} missing from the re-export"
            );
        }
        let (_, source_entries) = eln::unzip(&bytes);
        let metadata = &source_entries["ro-crate-metadata.json"];
        assert!(
            entries.values().any(|d| d == metadata),
            "{name}: the original ro-crate-metadata.json is kept as a file"
        );
        eln::assert_consortium_checks_pass(&format!("reexport-{name}"), &again);
    }
}

#[tokio::test]
async fn a_labledger_export_round_trips_into_another_org() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let f = eln::fixture(&owner, &org, "Round trip").await;
    let bytes = eln::export_project(&owner, &org, &f.project).await;
    let (other, other_owner) = server.other_org().await;
    let res = import(&other_owner, &other, bytes, false).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let done: Value = res.json().await.unwrap();
    let project = done["project_id"].as_str().unwrap();
    assert_eq!(done["samples"], 2);
    // Fields with their types and units.
    let fields = other_owner
        .get_json(&format!("/api/v1/orgs/{other}/sample-fields"))
        .await;
    let field = |key: &str| {
        fields
            .as_array()
            .or_else(|| fields["items"].as_array())
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no field {key}: {fields}"))
    };
    assert_eq!(field("mass")["type"], "number");
    assert_eq!(field("mass")["unit"], "mg");
    assert_eq!(field("origin")["type"], "text");
    // Samples with their values, quantities, types and identifiers.
    let samples = other_owner
        .get_json(&format!(
            "/api/v1/orgs/{other}/samples?project_id={project}"
        ))
        .await;
    let items = samples["items"].as_array().unwrap();
    let by_source = |id: &str| {
        items
            .iter()
            .find(|s| s["source_ref"] == id)
            .unwrap_or_else(|| panic!("no sample from {id}: {samples}"))
            .clone()
    };
    let parent = by_source(&f.parent.0);
    assert_eq!(parent["sample_type"], "serum");
    assert_eq!(parent["custom"]["mass"], json!(12.5));
    assert_eq!(parent["custom"]["origin"], "ward 3");
    assert_eq!(parent["unit"], "ml");
    let child = by_source(&f.child.0);
    // Lineage.
    let lineage = other_owner
        .get_json(&format!(
            "/api/v1/orgs/{other}/samples/{}/lineage",
            child["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(lineage["ancestors"][0]["id"], parent["id"]);
    // The file's bytes, attached to its sample.
    let again = eln::export_project(&other_owner, &other, project).await;
    let (_, entries) = eln::unzip(&again);
    assert!(entries.values().any(|d| *d == f.file_bytes));
    let graph = eln::graph_of(&entries);
    let parent_node = graph
        .iter()
        .find(|n| n["identifier"] == parent["id"])
        .unwrap();
    let parts = parent_node["hasPart"].to_string();
    assert!(parts.contains("plate-reader.csv"), "{parent_node}");
}

/// A zip of `(name, bytes)` entries, stored.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(
            *name,
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn metadata_naming(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut graph = vec![
        json!({"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"},
               "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "version": "1.0"}),
        json!({"@id": "./", "@type": "Dataset", "name": "Hostile",
               "hasPart": files.iter().map(|(p, _)| json!({"@id": format!("./{p}")})).collect::<Vec<_>>()}),
    ];
    for (p, data) in files {
        graph.push(json!({"@id": format!("./{p}"), "@type": "File", "name": p,
                          "sha256": hex::encode(Sha256::digest(data))}));
    }
    serde_json::to_vec(
        &json!({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph}),
    )
    .unwrap()
}

/// Sends `bytes`; expects `status` with a problem+json naming `needle`, and no change at all.
async fn refused(bytes: Vec<u8>, status: StatusCode, needle: &str) {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let before = counts(&server, &org).await;
    for dry_run in [true, false] {
        let res = import(&owner, &org, bytes.clone(), dry_run).await;
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body = res.text().await.unwrap();
        assert!(body.contains(needle), "expected {needle:?} in {body}");
    }
    assert_eq!(counts(&server, &org).await, before, "nothing changed");
}

#[tokio::test]
async fn an_entry_climbing_out_of_the_root_is_refused() {
    let meta = metadata_naming(&[]);
    let bytes = zip_of(&[
        ("crate/ro-crate-metadata.json", &meta),
        ("crate/../evil.txt", b"x"),
    ]);
    refused(bytes, StatusCode::BAD_REQUEST, "outside the root folder").await;
}

#[tokio::test]
async fn an_absolute_entry_is_refused() {
    let meta = metadata_naming(&[]);
    let bytes = zip_of(&[("crate/ro-crate-metadata.json", &meta), ("/etc/evil", b"x")]);
    refused(bytes, StatusCode::BAD_REQUEST, "outside the root folder").await;
}

#[tokio::test]
async fn a_symlink_entry_is_refused() {
    let meta = metadata_naming(&[]);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("crate/ro-crate-metadata.json", SimpleFileOptions::default())
        .unwrap();
    w.write_all(&meta).unwrap();
    w.add_symlink("crate/link", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let bytes = w.finish().unwrap().into_inner();
    refused(bytes, StatusCode::BAD_REQUEST, "symbolic link").await;
}

#[tokio::test]
async fn a_zip_bomb_is_refused() {
    let zeros = vec![0u8; 16 << 20];
    let meta = metadata_naming(&[("zeros.bin", &zeros)]);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("crate/ro-crate-metadata.json", SimpleFileOptions::default())
        .unwrap();
    w.write_all(&meta).unwrap();
    w.start_file(
        "crate/zeros.bin",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    w.write_all(&zeros).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    assert!(bytes.len() < 1 << 20, "it compresses well");
    refused(bytes, StatusCode::PAYLOAD_TOO_LARGE, "zip bomb").await;
}

#[tokio::test]
async fn a_huge_entry_count_is_refused() {
    let meta = metadata_naming(&[]);
    let names: Vec<String> = (0..10_001).map(|i| format!("crate/f{i}")).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("crate/ro-crate-metadata.json", &meta)];
    entries.extend(names.iter().map(|n| (n.as_str(), b"".as_slice())));
    refused(
        zip_of(&entries),
        StatusCode::PAYLOAD_TOO_LARGE,
        "at most 10000",
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_a_zip_is_refused() {
    refused(
        b"PK\x03\x04 surely not".to_vec(),
        StatusCode::BAD_REQUEST,
        "not a zip",
    )
    .await;
}

#[tokio::test]
async fn an_archive_without_metadata_is_refused() {
    let bytes = zip_of(&[("crate/data.csv", b"a,b\n")]);
    refused(
        bytes,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no ro-crate-metadata.json",
    )
    .await;
}

#[tokio::test]
async fn invalid_json_ld_is_refused() {
    let bytes = zip_of(&[("crate/ro-crate-metadata.json", b"{\"@graph\": \"nope\"}")]);
    refused(bytes, StatusCode::UNPROCESSABLE_ENTITY, "no @graph").await;
    let bytes = zip_of(&[("crate/ro-crate-metadata.json", b"{not json")]);
    refused(bytes, StatusCode::UNPROCESSABLE_ENTITY, "not valid JSON").await;
}

#[tokio::test]
async fn a_sha256_that_does_not_match_refuses_the_whole_import() {
    let good: &[u8] = b"good bytes";
    let meta = metadata_naming(&[("a.txt", good), ("b.txt", good)]);
    let bytes = zip_of(&[
        ("crate/ro-crate-metadata.json", &meta),
        ("crate/a.txt", good),
        ("crate/b.txt", b"tampered bytes"),
    ]);
    refused(
        bytes,
        StatusCode::UNPROCESSABLE_ENTITY,
        "does not match its sha256",
    )
    .await;
}

#[tokio::test]
async fn a_file_the_graph_does_not_name_is_refused() {
    let meta = metadata_naming(&[]);
    let bytes = zip_of(&[
        ("crate/ro-crate-metadata.json", &meta),
        ("crate/smuggled.bin", b"x"),
    ]);
    refused(bytes, StatusCode::UNPROCESSABLE_ENTITY, "does not describe").await;
}

#[tokio::test]
async fn an_unnamed_entry_is_refused() {
    let meta = metadata_naming(&[]);
    let bytes = zip_of(&[("crate/ro-crate-metadata.json", &meta), ("", b"x")]);
    refused(bytes, StatusCode::BAD_REQUEST, "has no name").await;
}

#[tokio::test]
async fn importing_needs_samples_and_files_write() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let viewer = owner
        .add_member(&server, &org, "viewer.eln@lab.example", &["Viewer"])
        .await;
    let res = import(&viewer, &org, example("kadi4mat-records.eln"), true).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_64_mib_archive_is_accepted() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    // Incompressible bytes (a cheap generator), stored: the archive is just over 64 MiB.
    let mut data = vec![0u8; 64 << 20];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    let meta = metadata_naming(&[("big.bin", &data)]);
    let bytes = zip_of(&[
        ("crate/ro-crate-metadata.json", &meta),
        ("crate/big.bin", &data),
    ]);
    assert!(bytes.len() > 64 << 20);
    let res = import(&owner, &org, bytes, false).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["files"], 2);
}

#[tokio::test]
async fn the_cli_imports_through_the_same_service() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let file = eln::data_dir().join("kadi4mat-records.eln");
    let run = |extra: &[&str]| {
        server
            .cli()
            .args(["import", "eln"])
            .arg(&file)
            .args(["--org", &org, "--as", common::ADMIN_EMAIL, "--data-dir"])
            .arg(server.data_dir_arg())
            .args(extra)
            .output()
            .unwrap()
    };
    let before = counts(&server, &org).await;
    let out = run(&["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("→ sample"), "{stdout}");
    assert_eq!(counts(&server, &org).await, before);
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Imported 1 samples"), "{stdout}");
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=import.eln"))
        .await;
    assert!(events.to_string().contains(&owner.user_id), "{events}");
    // A hostile file: a readable message and exit 1, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.eln");
    std::fs::write(&bad, b"not a zip at all").unwrap();
    let after = counts(&server, &org).await;
    let out = server
        .cli()
        .args(["import", "eln"])
        .arg(&bad)
        .args(["--org", &org, "--as", common::ADMIN_EMAIL, "--data-dir"])
        .arg(server.data_dir_arg())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a zip"));
    assert_eq!(counts(&server, &org).await, after);
}
