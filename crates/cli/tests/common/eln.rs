//! `.eln` helpers shared by the export and import tests: a project worth exporting, unzipping,
//! and the ELN Consortium's own checks (`tests/data/eln/run_checks.py` over their unchanged
//! `checks.py` and `schema.json`, with the validator versions they pin), run offline.

use super::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The folder of the `.eln` test data (consortium examples, their checks, MIT licence).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eln")
}

/// The Python that has the consortium's pinned packages: `LABLEDGER_ELN_CHECKS_PYTHON`, or the
/// venv `scripts/test.sh` makes (`target/eln-checks`).
fn checks_python() -> PathBuf {
    if let Ok(p) = std::env::var("LABLEDGER_ELN_CHECKS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/eln-checks/bin/python");
    assert!(
        venv.exists(),
        "the consortium's checks need their Python packages: run scripts/test.sh once (it makes \
         target/eln-checks) or set LABLEDGER_ELN_CHECKS_PYTHON"
    );
    venv
}

/// Runs the consortium's five checks on `bytes` (written to a temporary `.eln`); panics with
/// their log unless every one passes.
pub fn assert_consortium_checks_pass(what: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{what}.eln"));
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(checks_python())
        .arg(data_dir().join("run_checks.py"))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: the consortium's checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("PASS ").count(), 5, "{stdout}");
}

/// Every entry of a zip by its path below the root folder, and the root folder's name.
pub fn unzip(bytes: &[u8]) -> (String, BTreeMap<String, Vec<u8>>) {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
    let root = names[0].split('/').next().unwrap().to_owned();
    let mut out = BTreeMap::new();
    for n in &names {
        if n.ends_with('/') {
            continue;
        }
        let mut buf = Vec::new();
        zip.by_name(n).unwrap().read_to_end(&mut buf).unwrap();
        let rel = n.strip_prefix(&format!("{root}/")).unwrap_or(n);
        out.insert(rel.to_owned(), buf);
    }
    (root, out)
}

/// The crate's `@graph`.
pub fn graph_of(entries: &BTreeMap<String, Vec<u8>>) -> Vec<Value> {
    let v: Value = serde_json::from_slice(&entries["ro-crate-metadata.json"]).unwrap();
    v["@graph"].as_array().unwrap().clone()
}

pub fn node<'a>(graph: &'a [Value], id: &str) -> &'a Value {
    graph
        .iter()
        .find(|n| n["@id"] == id)
        .unwrap_or_else(|| panic!("no node {id}"))
}

/// A project with two custom fields (a number in mg, a text), a parent sample (10 ml), an
/// aliquot of it and a file attached to the parent and filed under the project.
pub struct Fixture {
    pub project: String,
    pub parent: (String, String),
    pub child: (String, String),
    pub file_id: String,
    pub file_bytes: Vec<u8>,
}

pub const FILE_BYTES: &[u8] = b"ELN-FIXTURE plate reader output \x00\x01\x02 0123456789";

pub async fn fixture(owner: &Session, org: &str, project_name: &str) -> Fixture {
    for body in [
        json!({"key": "mass", "label": "Mass", "type": "number", "unit": "mg"}),
        json!({"key": "origin", "label": "Origin", "type": "text"}),
    ] {
        let res = owner
            .post(&format!("/api/v1/orgs/{org}/sample-fields"), body)
            .await;
        assert!(
            res.status() == StatusCode::CREATED || res.status() == StatusCode::CONFLICT,
            "{}",
            res.text().await.unwrap()
        );
    }
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": project_name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum", "project_id": project, "quantity": 10, "unit": "ml",
                   "custom": {"mass": 12.5, "origin": "ward 3"}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    let parent = (
        v["id"].as_str().unwrap().to_owned(),
        v["code"].as_str().unwrap().to_owned(),
    );
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/{}/aliquots", parent.0),
            json!({"count": 1, "quantity": 2}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let v: Value = res.json().await.unwrap();
    let c = v
        .as_array()
        .cloned()
        .or_else(|| v["items"].as_array().cloned())
        .or_else(|| v["children"].as_array().cloned())
        .unwrap_or_else(|| panic!("aliquots answer: {v}"));
    let child = (
        c[0]["id"].as_str().unwrap().to_owned(),
        c[0]["code"].as_str().unwrap().to_owned(),
    );
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files", owner.base))
        .query(&[
            ("name", "plate-reader.csv"),
            ("sample_id", parent.0.as_str()),
            ("project_id", project.as_str()),
        ])
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "text/csv")
        .body(FILE_BYTES.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let file_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        project,
        parent,
        child,
        file_id,
        file_bytes: FILE_BYTES.to_vec(),
    }
}

/// `POST …/projects/{project}/export`: the `.eln` bytes.
pub async fn export_project(s: &Session, org: &str, project: &str) -> Vec<u8> {
    let res = s
        .client
        .post(format!(
            "{}/api/v1/orgs/{org}/projects/{project}/export",
            s.base
        ))
        .header("x-csrf-token", &s.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "export");
    res.bytes().await.unwrap().to_vec()
}

/// The smallest `.eln` an import accepts: the descriptor and a root Dataset named `name`.
pub fn minimal_eln(name: &str) -> Vec<u8> {
    use std::io::Write;
    let meta = serde_json::to_vec(&json!({
        "@context": "https://w3id.org/ro/crate/1.1/context",
        "@graph": [
            {"@id": "ro-crate-metadata.json", "@type": "CreativeWork", "about": {"@id": "./"}},
            {"@id": "./", "@type": "Dataset", "name": name},
        ]
    }))
    .unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "crate/ro-crate-metadata.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(&meta).unwrap();
    w.finish().unwrap().into_inner()
}
