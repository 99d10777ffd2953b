//! Storage in the web UI, through a real headless Chromium: add a location, register a sample,
//! place it in a box, move it, see the box's occupancy and the custody timeline, open its
//! printable label, and scan its code into the search.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::browser::browser;
use common::fixtures::storage_box;
use serde_json::json;

#[tokio::test]
async fn a_technician_stores_moves_and_labels_a_sample() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let bx = storage_box(&owner, &org).await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    b.login(&base, "tech@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;

    // The location tree, and a new site added through its form.
    b.click("nav a[href$='/storage']").await;
    b.wait_path(&format!("/orgs/{org}/storage")).await;
    assert!(b.text("#location-tree").await.contains("Box 1"));
    b.fill("#add-location #name", "West wing").await;
    b.click("#add-location button[type=submit]").await;
    b.find(".flash[role=status]").await;
    assert!(b.text("main h1").await.contains("West wing"));

    // Register a sample, place it in A1 of the box, then move it to B2.
    b.goto(&format!("{base}/orgs/{org}/samples")).await;
    b.fill("#sample_type", "plasma").await;
    b.click("#register-sample button[type=submit]").await;
    b.find("dl.facts").await;
    let sample_path = b.path().await;
    assert!(b.text("#placement").await.contains("In no box"));
    b.find("#location_id")
        .await
        .select_by_value(&bx)
        .await
        .unwrap();
    b.fill("#position", "A1").await;
    b.fill("#place-reason", "first storage").await;
    b.click("#place-sample button[type=submit]").await;
    // The page still shows "Sample registered." until the placement's answer arrives.
    b.wait_text(".flash[role=status]", "stored in the box")
        .await;
    assert!(b.text("#placement").await.contains("A1"));
    // A bad position is refused on the page, naming it.
    b.fill("#position", "Z99").await;
    b.click("#place-sample button[type=submit]").await;
    assert!(b.text("[role=alert]").await.contains("position"));
    b.goto(&format!("{base}{sample_path}")).await;
    b.fill("#position", "b2").await;
    b.click("#place-sample button[type=submit]").await;
    b.find(".flash[role=status]").await;
    assert!(b.text("#placement").await.contains("B2"));

    // The box shows it in B2, and A1 free.
    b.click("#placement a").await;
    b.wait_path(&format!("/orgs/{org}/storage/{bx}")).await;
    assert!(b
        .text("#box-grid td[data-position=B2]")
        .await
        .contains("S-000001"));
    assert_eq!(b.text("#box-grid td[data-position=A1]").await, "");
    assert_eq!(b.count("#box-grid td.occupied").await, 1);

    // The custody timeline on the sample page: registered, placed, moved — in order.
    b.click("#box-grid td[data-position=B2] a").await;
    b.wait_path(&sample_path).await;
    let rows = b
        .client
        .find_all(fantoccini::Locator::Css("#custody-timeline tbody tr"))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    for r in rows {
        kinds.push(r.attr("data-kind").await.unwrap().unwrap());
    }
    assert_eq!(kinds, ["registered", "placed", "moved"]);
    let timeline = b.text("#custody-timeline").await;
    assert!(
        timeline.contains("first storage") && timeline.contains("tech@lab.example"),
        "{timeline}"
    );

    // The printable label: the code, and both symbols load as images.
    b.click("#print-label").await;
    b.wait_path(&format!("{sample_path}/label")).await;
    assert!(b.text("#label").await.contains("S-000001"));
    let loaded = b
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#label img')).map(i => i.complete && i.naturalWidth > 0);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(loaded, json!([true, true]));
    b.assert_no_csp_violations().await;

    // Scanning the code into the search opens the sample.
    b.goto(&format!("{base}/orgs/{org}/samples")).await;
    b.fill("#scan-code", "s-000001").await;
    b.click("#scan button[type=submit]").await;
    b.wait_path(&sample_path).await;

    // Two aliquots: listed under the parent, and each names its parent.
    b.fill("#derive-count", "2").await;
    b.click("#derive button[type=submit]").await;
    // The sample page has an upload status line too: wait for this click's notice.
    b.wait_text(".flash[role=status]", "Child samples registered.")
        .await;
    assert_eq!(b.count("#children tbody tr").await, 2);
    b.click("#children tbody tr a").await;
    assert!(b.text("#ancestors").await.contains("S-000001"));
}
