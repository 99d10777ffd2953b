//! The files page in a real browser (headless Chromium): upload with the progress bar through
//! the embedded script under the strict CSP, the list, and a download link that works.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::browser::browser;
use sha2::{Digest, Sha256};
use std::time::Duration;

#[tokio::test]
async fn a_technician_uploads_with_progress_and_a_viewer_only_reads() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();

    // A 3 MiB file on disk for the file input.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plate reader run 7.bin");
    let content: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &content).unwrap();

    b.login(&base, "tech@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("nav a[href$='/files']").await;
    b.wait_path(&format!("/orgs/{org}/files")).await;
    b.assert_script_ran().await;
    assert!(b.text("main").await.contains("No files yet."));
    b.find("#upload-input")
        .await
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#upload-file button[type=submit]").await;
    // The page reloads with the file listed.
    let started = std::time::Instant::now();
    loop {
        if b.count("#files-table").await > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the upload did not finish: {}",
            b.text("main").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let table = b.text("#files-table").await;
    assert!(table.contains("plate reader run 7.bin"), "{table}");
    assert!(table.contains("3.0 MiB") && table.contains("v1"), "{table}");
    b.assert_no_csp_violations().await;

    // What the browser uploaded is what the API returns, byte for byte.
    let page = owner.get_json(&format!("/api/v1/orgs/{org}/files")).await;
    let f = &page["items"][0];
    assert_eq!(f["sha256"], hex::encode(Sha256::digest(&content)));
    let href = b
        .find("#files-table a[download]")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let res = owner.get(&href).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), content.as_slice());

    // A Viewer sees the list but no upload form.
    b.click("form.logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, "viewer@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.goto(&format!("{base}/orgs/{org}/files")).await;
    b.find("#files-table").await;
    assert_eq!(b.count("#upload-file").await, 0);
}
