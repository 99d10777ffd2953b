//! The evidence vault's pages in a real browser (headless Chromium, strict CSP): upload, the
//! file's page, a legal hold that makes deletion refuse in words, registering an analysis from
//! the file (its output uploaded from the form by the embedded script), provenance walked
//! file → analysis → output and back, and a retention period set with a readable error first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::browser::{browser, Browser};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// Waits until the path starts with `prefix` and is not `except`; returns it.
async fn wait_path_prefix(b: &Browser, prefix: &str, except: &str) -> String {
    let started = Instant::now();
    loop {
        let p = b.path().await;
        if p.starts_with(prefix) && p != except {
            return p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still at {p}: {}",
            b.text("main").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn evidence_from_upload_to_hold_provenance_and_retention() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let Some(b) = browser().await else { return };
    let base = server.base.clone();

    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("chromatogram 7.cdf");
    let raw: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&raw_path, &raw).unwrap();
    let out_path = dir.path().join("peaks 7.csv");
    std::fs::write(&out_path, b"rt,area\n1.2,300\n").unwrap();

    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("nav a[href$='/files']").await;
    b.wait_path(&format!("/orgs/{org}/files")).await;
    b.find("#upload-input")
        .await
        .send_keys(raw_path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#upload-file button[type=submit]").await;
    b.wait_text("#files-table", "chromatogram 7.cdf").await;
    let listed = owner.get_json(&format!("/api/v1/orgs/{org}/files")).await;
    let raw_id = listed["items"][0]["id"].as_str().unwrap().to_owned();

    // The list links to the file's page: hash, category, download.
    b.click("#files-table a.file-link").await;
    let raw_page = format!("/orgs/{org}/files/{raw_id}");
    b.wait_path(&raw_page).await;
    assert_eq!(
        b.text("#file-sha256").await,
        hex::encode(Sha256::digest(&raw))
    );
    assert_eq!(b.text("#file-category").await, "raw");
    let href = b
        .find("#file-download")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let res = owner.get(&href).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), raw.as_slice());

    // A legal hold; deletion then refuses with the reason, after the confirmation.
    b.fill("#hold-reason", "Inspection 2026-11").await;
    b.click("#hold-place").await;
    b.wait_text(".flash[role=status]", "Legal hold placed")
        .await;
    assert_eq!(b.text("#file-hold").await, "Inspection 2026-11");
    b.click("#file-delete-button").await;
    assert!(b
        .client
        .get_alert_text()
        .await
        .unwrap()
        .contains("Delete this file?"));
    b.client.accept_alert().await.unwrap();
    let refusal = b
        .wait_text("[role=alert]", "is on legal hold (Inspection 2026-11)")
        .await;
    assert!(
        refusal.contains("release the hold before deleting it"),
        "{refusal}"
    );
    assert_eq!(b.count("#file-tombstone").await, 0);

    // Register an analysis from the file; its output is uploaded from the form.
    b.click("#file-new-analysis").await;
    let new_form = format!("/orgs/{org}/analyses/new");
    b.wait_path(&new_form).await;
    b.assert_script_ran().await;
    assert!(b
        .find(&format!("input[name=input_file][value='{raw_id}']"))
        .await
        .is_selected()
        .await
        .unwrap());
    b.fill("#method", "Peak picking").await;
    b.fill("#software", "OpenChrom").await;
    b.fill("#software_version", "1.5").await;
    b.fill("#parameters", "{\"threshold\": 0.2}").await;
    b.find("#analysis-output-upload")
        .await
        .send_keys(out_path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#analysis-form button[type=submit]").await;
    let analysis_page = wait_path_prefix(&b, &format!("/orgs/{org}/analyses/"), &new_form).await;
    b.wait_text(".flash[role=status]", "Analysis registered.")
        .await;
    assert!(b.text("#analysis-facts").await.contains("OpenChrom"));
    assert!(b
        .text("#analysis-parameters")
        .await
        .contains("\"threshold\": 0.2"));
    assert!(b
        .text("#analysis-inputs")
        .await
        .contains("chromatogram 7.cdf v1"));

    // file → analysis → output …
    b.click("#analysis-output a.output-link").await;
    let out_page = wait_path_prefix(&b, &format!("/orgs/{org}/files/"), &raw_page).await;
    assert_eq!(b.text("#file-category").await, "analysis");
    assert_eq!(
        b.text("#file-sha256").await,
        hex::encode(Sha256::digest(b"rt,area\n1.2,300\n"))
    );
    let from = b.text("#provenance-from").await;
    assert!(
        from.contains("Peak picking") && from.contains("chromatogram 7.cdf"),
        "{from}"
    );
    // … and back: output → its input → the analysis that used it.
    b.click("#provenance-from a.input-link").await;
    b.wait_path(&raw_page).await;
    let into = b.text("#provenance-into").await;
    assert!(
        into.contains("Peak picking") && into.contains("peaks 7.csv"),
        "{into}"
    );
    b.click("#provenance-into a.analysis-link").await;
    b.wait_path(&analysis_page).await;
    b.click("#analysis-inputs a.input-link").await;
    b.wait_path(&raw_page).await;
    b.click("#provenance-into a.output-link").await;
    b.wait_path(&out_page).await;

    // Retention: a readable error for bad input, then a period set.
    b.click("nav a[href$='/retention']").await;
    b.wait_path(&format!("/orgs/{org}/retention")).await;
    b.fill("#retention-days", "ten").await;
    b.click("#retention-form button[type=submit]").await;
    b.wait_text("[role=alert]", "days: must be a whole number of days")
        .await;
    b.fill("#retention-days", "3650").await;
    b.click("#retention-form button[type=submit]").await;
    b.wait_text(".flash[role=status]", "Retention period saved.")
        .await;
    assert!(b
        .text("#retention-table tr[data-category=raw]")
        .await
        .contains("3650 days"));
    let api = owner
        .get_json(&format!("/api/v1/orgs/{org}/retention"))
        .await;
    assert_eq!(api["retention_days"]["raw"], 3650);
    b.assert_no_csp_violations().await;
}
