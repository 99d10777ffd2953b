//! Evidence files on a sample page in a real browser (headless Chromium, strict CSP): the file
//! chosen in the "Evidence files" section is uploaded by the embedded script with a progress
//! bar, attached to the sample in the same request, listed on the sample page, and the file's
//! page names the sample it is attached to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::browser::browser;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_file_uploaded_on_a_sample_page_is_attached_to_the_sample() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "plasma"}),
        )
        .await;
    let sample: Value = res.json().await.unwrap();
    let sample_id = sample["id"].as_str().unwrap().to_owned();
    let code = sample["code"].as_str().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plate reader 3.csv");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();

    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    let page = format!("/orgs/{org}/samples/{sample_id}");
    b.goto(&format!("{base}{page}")).await;
    b.wait_path(&page).await;
    b.assert_script_ran().await;
    assert_eq!(b.text("#evidence-empty").await, "No files attached.");
    assert_eq!(b.count("#evidence-progress").await, 1);
    b.find("#evidence-input")
        .await
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#evidence-upload button[type=submit]").await;
    // The page reloads with the file listed in the sample's section.
    b.wait_text("#evidence-table", "plate reader 3.csv").await;
    assert_eq!(b.path().await, page);

    // Over the API: attached to the sample, the bytes intact.
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples/{sample_id}/files"))
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(
        items[0]["file"]["sha256"],
        hex::encode(Sha256::digest(&bytes))
    );
    let file_id = items[0]["file"]["id"].as_str().unwrap().to_owned();

    // The file's page names the sample, linked.
    b.click("#evidence-table a.file-link").await;
    b.wait_path(&format!("/orgs/{org}/files/{file_id}")).await;
    assert!(
        b.text("#file-attachments").await.contains(&code),
        "{}",
        b.text("#file-attachments").await
    );
    b.click("#file-attachments a.attachment-link").await;
    b.wait_path(&page).await;
    b.assert_no_csp_violations().await;
}
