//! The exports page in a real browser (headless Chromium): an owner exports a project over the
//! approval threshold and asks for a whole-org export; a second admin sees them waiting on the
//! dashboard and approves one, rejects the other; the owner then downloads the approved export
//! from the page, and it verifies offline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::Engine as _;
use common::browser::browser;
use serde_json::{json, Value};

#[tokio::test]
async fn exports_wait_for_a_second_admin_in_the_browser() {
    let server = common::spawn_with_mail(&["--export-approval-bytes", "1KiB"]).await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    owner
        .add_member(&server, &org, "second.admin@lab.example", &["Admin"])
        .await;
    owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects"),
            json!({"name": "Big imaging study"}),
        )
        .await;
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .client
        .post(format!("{}/api/v1/orgs/{org}/files", owner.base))
        .query(&[("name", "stack.tif")])
        .header("x-csrf-token", &owner.csrf)
        .header("content-type", "application/octet-stream")
        .body(vec![42u8; 8192])
        .send()
        .await
        .unwrap();
    let file = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/projects/{project}/files"),
            json!({"file_id": file}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let Some(b) = browser().await else { return };
    let base = server.base.clone();

    // The owner: the project export becomes a request; so does the whole org.
    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("nav a[href$='/exports']").await;
    b.wait_path(&format!("/orgs/{org}/exports")).await;
    assert!(b
        .text("#projects-table")
        .await
        .contains("Big imaging study"));
    b.click(&format!("tr[data-project='{project}'] button[type=submit]"))
        .await;
    b.wait_text("main", "waits for another Owner or Admin")
        .await;
    b.click("#export-org button[type=submit]").await;
    b.wait_text("main", "Whole-organization export requested")
        .await;
    let table = b.text("#export-requests").await;
    assert!(
        table.contains("Whole organization") && table.contains("Project Big imaging study"),
        "{table}"
    );
    assert_eq!(b.count("tr[data-state='pending']").await, 2);
    // Nobody approves their own.
    assert_eq!(
        b.count("#export-requests form[action$='/approve']").await,
        0
    );
    assert_eq!(
        b.count("#export-requests form[action$='/download']").await,
        0
    );
    b.assert_no_csp_violations().await;
    let list = owner
        .get_json(&format!("/api/v1/orgs/{org}/export-requests"))
        .await;
    let id_of = |kind: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (project_req, org_req) = (id_of("project"), id_of("org"));

    // The second admin: two requests waiting on the dashboard; approve one, reject the other.
    b.click("form.logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, "second.admin@lab.example", common::MEMBER_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    assert!(b
        .text("#exports-waiting")
        .await
        .contains("2 waiting for your approval"));
    b.click("#exports-waiting").await;
    b.wait_path(&format!("/orgs/{org}/exports")).await;
    b.click(&format!(
        "tr[data-export-request='{project_req}'] form[action$='/approve'] button"
    ))
    .await;
    b.wait_text("main", "Export request approved.").await;
    b.click(&format!(
        "tr[data-export-request='{org_req}'] form[action$='/reject'] button"
    ))
    .await;
    b.wait_text("main", "Export request rejected.").await;
    assert_eq!(
        b.count(&format!(
            "tr[data-export-request='{project_req}'][data-state='approved']"
        ))
        .await,
        1
    );
    assert_eq!(
        b.count(&format!(
            "tr[data-export-request='{org_req}'][data-state='rejected']"
        ))
        .await,
        1
    );
    // Not theirs to download.
    assert_eq!(
        b.count("#export-requests form[action$='/download']").await,
        0
    );

    // The owner downloads the approved export from the page; it verifies offline.
    b.click("form.logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.goto(&format!("{base}/orgs/{org}/exports")).await;
    let form = format!("tr[data-export-request='{project_req}'] form[action$='/download']");
    b.find(&form).await;
    assert_eq!(
        b.count("#export-requests form[action$='/download']").await,
        1
    );
    // The form's POST, made by the page itself (a download is not something WebDriver sees).
    let got = b
        .client
        .execute_async(
            r#"const [sel, done] = arguments;
               const f = document.querySelector(sel);
               fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f)),
                                credentials: 'same-origin'})
                 .then(r => r.arrayBuffer().then(buf => {
                   const u = new Uint8Array(buf); let s = '';
                   for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
                   done({status: r.status, type: r.headers.get('content-type'),
                         disposition: r.headers.get('content-disposition'), b64: btoa(s)});
                 }));"#,
            vec![json!(form)],
        )
        .await
        .unwrap();
    assert_eq!(got["status"], 200, "{got}");
    assert_eq!(got["type"], "application/vnd.eln+zip");
    assert!(got["disposition"].as_str().unwrap().contains(".eln"));
    let zip_bytes = base64::engine::general_purpose::STANDARD
        .decode(got["b64"].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("download.eln");
    std::fs::write(&path, &zip_bytes).unwrap();
    let out = server
        .cli()
        .args(["export", "verify"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let events = owner
        .get_json(&format!("/api/v1/orgs/{org}/audit?action=export.download"))
        .await;
    assert!(events.to_string().contains(&project_req), "{events}");
    b.assert_no_csp_violations().await;

    // A Viewer reads the list, but has no export or decision buttons.
    b.click("form.logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, "viewer@lab.example", common::MEMBER_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.goto(&format!("{base}/orgs/{org}/exports")).await;
    b.find("#export-requests").await;
    assert_eq!(b.count("#export-projects").await, 0);
    assert_eq!(b.count("#export-org").await, 0);
    assert_eq!(b.count("#export-requests form").await, 0);
}
