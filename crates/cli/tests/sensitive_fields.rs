//! Custom sample fields marked sensitive, black-box: their values are stored encrypted (the
//! raw database — the SQLite file or every PostgreSQL column — never holds a marker value),
//! readers of samples see them decrypted (API, CSV, project export), they cannot be searched,
//! an org key rotation keeps them readable, deleting the org shreds them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const MARKER: &str = "Qzx-Donor-Marker-4471";

fn run(server: &TestServer, args: &[&str]) -> String {
    let out = server
        .cli()
        .args(args)
        .arg("--data-dir")
        .arg(server.data_dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the raw database holds `needle` anywhere: the SQLite file (and its WAL), or every
/// text and bytea column of every PostgreSQL table.
async fn raw_db_contains(server: &TestServer, needle: &str) -> bool {
    if !common::is_postgres() {
        let mut found = false;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = format!("{}{suffix}", server.sqlite_path().display());
            if let Ok(bytes) = std::fs::read(&path) {
                found |= bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            }
        }
        return found;
    }
    let mut db = server.raw_db().await;
    let cols: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND data_type IN ('text', 'bytea', 'character varying', 'jsonb', 'json')",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(cols.iter().any(|(t, c, _)| t == "samples" && c == "custom"));
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    for (table, column, kind) in cols {
        let sql = if kind == "bytea" {
            format!("SELECT COUNT(*) FROM \"{table}\" WHERE position(decode('{hex}', 'hex') in \"{column}\") > 0")
        } else {
            format!("SELECT COUNT(*) FROM \"{table}\" WHERE CAST(\"{column}\" AS TEXT) LIKE '%{needle}%'")
        };
        let n: i64 = sqlx::query_scalar(&sql).fetch_one(&mut db).await.unwrap();
        if n > 0 {
            return true;
        }
    }
    false
}

async fn field_key(db: &mut sqlx::AnyConnection, org: &str) -> Option<Vec<u8>> {
    sqlx::query_scalar("SELECT wrapped_key FROM org_field_keys WHERE org_id = $1")
        .bind(org)
        .fetch_optional(db)
        .await
        .unwrap()
}

async fn custom_of(db: &mut sqlx::AnyConnection, id: &str) -> String {
    sqlx::query_scalar("SELECT custom FROM samples WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn define(owner: &Session, org: &str, body: Value) {
    let res = owner
        .post(&format!("/api/v1/orgs/{org}/sample-fields"), body)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
}

#[tokio::test]
async fn sensitive_field_values_are_encrypted_readable_unsearchable_rotated_and_shredded() {
    let server = common::spawn().await;
    let org = server.create_org(
        "Clinic",
        "boss@clinic.example",
        "clinic owner long password",
    );
    let owner = server
        .login("boss@clinic.example", "clinic owner long password")
        .await;
    define(
        &owner,
        &org,
        json!({"key": "donor_name", "label": "Donor", "type": "text", "sensitive": true}),
    )
    .await;
    define(
        &owner,
        &org,
        json!({"key": "donor_age", "label": "Age", "type": "number", "sensitive": true}),
    )
    .await;
    define(
        &owner,
        &org,
        json!({"key": "site", "label": "Site", "type": "text"}),
    )
    .await;
    let fields = owner
        .get_json(&format!("/api/v1/orgs/{org}/sample-fields"))
        .await;
    let flags: Vec<(String, bool)> = fields["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap().to_owned(),
                f["sensitive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            ("donor_name".to_owned(), true),
            ("donor_age".to_owned(), true),
            ("site".to_owned(), false)
        ]
    );

    // Registered over the API and by CSV import.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood", "quantity": 10, "unit": "mL",
                   "custom": {"donor_name": MARKER, "donor_age": 42, "site": "north"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["custom"]["donor_name"], MARKER, "{created}");
    assert_eq!(created["custom"]["donor_age"], 42.0);
    let id = created["id"].as_str().unwrap().to_owned();
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/samples/import", owner.base))
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "text/csv")
        .body(format!(
            "sample_type,custom.donor_name,site\nserum,{MARKER}-csv,south\n"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // An aliquot carries its parent's sealed value.
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/{id}/aliquots"),
            json!({"kind": "aliquot", "count": 1}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let children: Value = res.json().await.unwrap();
    assert_eq!(children["items"][0]["custom"]["donor_name"], MARKER);
    let child = children["items"][0]["id"].as_str().unwrap().to_owned();

    // The raw database never holds the values; the non-sensitive one is there in clear.
    assert!(
        !raw_db_contains(&server, MARKER).await,
        "the marker is stored in clear"
    );
    assert!(
        raw_db_contains(&server, "north").await,
        "the search is able to find"
    );

    // A member who may read samples sees them decrypted.
    let viewer = owner
        .add_member(&server, &org, "viewer@clinic.example", &["Viewer"])
        .await;
    let one = viewer
        .get_json(&format!("/api/v1/orgs/{org}/samples/{id}"))
        .await;
    assert_eq!(one["custom"]["donor_name"], MARKER, "{one}");
    assert_eq!(one["custom"]["site"], "north");
    let child_view = viewer
        .get_json(&format!("/api/v1/orgs/{org}/samples/{child}"))
        .await;
    assert_eq!(child_view["custom"]["donor_name"], MARKER);
    let list = viewer
        .get_json(&format!("/api/v1/orgs/{org}/samples"))
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["custom"]["donor_name"].as_str())
        .collect();
    assert!(
        names.contains(&MARKER) && names.contains(&format!("{MARKER}-csv").as_str()),
        "{list}"
    );
    let csv = owner
        .get(&format!("/api/v1/orgs/{org}/samples/export.csv"))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.lines().next().unwrap().contains("custom.donor_name"),
        "{csv}"
    );
    assert!(csv.contains(MARKER) && csv.contains("42"), "{csv}");

    // A project export carries the decrypted value (records/samples.json).
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": "Cohort"}),
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
            json!({"sample_type": "urine", "project_id": project,
                   "custom": {"donor_name": format!("{MARKER}-export")}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = owner
        .client
        .post(format!(
            "{}/api/v1/orgs/{org}/projects/{project}/export",
            owner.base
        ))
        .header("x-csrf-token", &owner.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let zip_bytes = res.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let name = zip
        .file_names()
        .find(|n| n.ends_with("records/samples.json"))
        .unwrap()
        .to_owned();
    let mut json_text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(&name).unwrap(), &mut json_text).unwrap();
    assert!(
        json_text.contains(&format!("{MARKER}-export")),
        "{json_text}"
    );
    assert!(!json_text.contains("\"sealed\""), "{json_text}");

    // So does a whole-org export (requested, approved by a second admin, downloaded).
    let res = owner
        .post(&format!("/api/v1/orgs/{org}/export"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let request = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = owner
        .add_member(&server, &org, "second.admin@lab.example", &["Admin"])
        .await;
    let res = admin
        .post(
            &format!("/api/v1/orgs/{org}/export-requests/{request}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/export-requests/{request}/download"),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let zip_bytes = res.bytes().await.unwrap().to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let name = zip
        .file_names()
        .find(|n| n.ends_with("records/samples.json"))
        .unwrap()
        .to_owned();
    let mut json_text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name(&name).unwrap(), &mut json_text).unwrap();
    assert!(json_text.contains(MARKER), "{json_text}");
    assert!(!json_text.contains("\"sealed\""), "{json_text}");

    // The web UI: definitions show the flag, the form offers it, the filter omits the field.
    let page = owner.get(&format!("/orgs/{org}/samples")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(r#"name="sensitive""#),
        "the definition form offers the flag"
    );
    assert!(page.contains("yes (encrypted, not searchable)"));
    let filter_inputs = page.matches(r#"name="custom.donor_name""#).count();
    let plain_inputs = page.matches(r#"name="custom.site""#).count();
    assert_eq!(
        filter_inputs + 1,
        plain_inputs,
        "no filter input for the sensitive field"
    );

    // A value-based search on a sensitive field is refused, naming the field.
    for path in [
        format!("/api/v1/orgs/{org}/samples?custom.donor_name={MARKER}"),
        format!("/api/v1/orgs/{org}/samples/export.csv?custom.donor_age=42"),
    ] {
        let res = owner.get(&path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let p: Value = res.json().await.unwrap();
        let field = p["errors"][0]["field"].as_str().unwrap();
        assert!(
            field == "custom.donor_name" || field == "custom.donor_age",
            "{p}"
        );
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("cannot be searched")
                || p.to_string().contains("cannot be searched"),
            "{p}"
        );
    }
    // The plain field still searches (the sample and its aliquot).
    let found = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples?custom.site=north"))
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");

    // An org key rotation re-wraps the field key: still readable, values untouched.
    let mut db = server.raw_db().await;
    let before = field_key(&mut db, &org).await.unwrap();
    let stored = custom_of(&mut db, &id).await;
    run(&server, &["keys", "rotate", "--org", &org]);
    let after = field_key(&mut db, &org).await.unwrap();
    assert_ne!(
        after, before,
        "the field key is re-wrapped by the new org key"
    );
    assert_eq!(
        custom_of(&mut db, &id).await,
        stored,
        "values are not rewritten"
    );
    let one = viewer
        .get_json(&format!("/api/v1/orgs/{org}/samples/{id}"))
        .await;
    assert_eq!(one["custom"]["donor_name"], MARKER);

    // Deleting the org destroys the field key: the sealed values stay, nothing opens them.
    run(
        &server,
        &[
            "admin",
            "org",
            "delete",
            "--id",
            &org,
            "--confirm",
            "Clinic",
        ],
    );
    assert_eq!(
        field_key(&mut db, &org).await,
        None,
        "the field key is destroyed"
    );
    assert_eq!(
        custom_of(&mut db, &id).await,
        stored,
        "the ciphertext remains"
    );
    run(&server, &["admin", "org", "enable", "--org", &org]);
    let res = owner.get(&format!("/api/v1/orgs/{org}/samples/{id}")).await;
    assert!(!res.status().is_success(), "{}", res.status());
    assert!(!res.text().await.unwrap().contains(MARKER));
    assert!(!raw_db_contains(&server, MARKER).await);
}
