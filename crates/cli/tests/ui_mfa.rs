//! MFA in the web UI, driven through a real headless Chromium (the harness of ui_browser.rs):
//! enrol by reading the secret from the page, log in with a pyotp code, and the enforcement page.
//!
//! Chromium and chromedriver come from Debian (`apt-get install chromium chromium-driver`);
//! `$CHROMIUM` and `$CHROMEDRIVER` override their paths. Without them the browser tests fail,
//! unless `LABLEDGER_SKIP_BROWSER=1` says to skip them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::browser::browser;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code pyotp (an independent RFC 6238 implementation) computes for `secret` at `at`.
fn pyotp(secret: &str, at: Option<u64>) -> String {
    let script = match at {
        None => "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())".to_owned(),
        Some(t) => format!("import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at({t}))"),
    };
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret])
        .output()
        .expect("python3 with pyotp (pip install pyotp)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A moment well inside a 30-second step (codes of the steps around it stay valid ~25 s).
fn settled_now() -> u64 {
    let now = unix_now();
    if now % 30 > 22 {
        std::thread::sleep(Duration::from_secs(31 - now % 30));
    }
    unix_now()
}

#[tokio::test]
async fn enrol_from_the_page_log_in_with_pyotp_and_meet_the_enforcement_page() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let member_password = "members own long password";
    owner
        .add_member(&server, &org, "ada@lab.example", &["Scientist"])
        .await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();

    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("#nav-security").await;
    b.wait_path("/security").await;
    assert!(b.text("#mfa-state").await.contains("off"));
    b.assert_script_ran().await;
    b.click("#mfa-enrol").await;
    let secret = b.text("#totp-secret").await.trim().to_owned();
    assert_eq!(secret.len(), 32, "{secret}");
    let qr = b.find("#totp-qr").await.attr("src").await.unwrap().unwrap();
    assert!(qr.starts_with("data:image/svg+xml;base64,"), "{qr}");
    // The QR image loaded (the CSP allows data: images).
    let width = b
        .client
        .execute(
            "return document.getElementById('totp-qr').naturalWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(width.as_u64().unwrap() > 0, "the QR code did not render");

    let t = settled_now();
    b.fill("#totp-code", &pyotp(&secret, Some(t - 30))).await;
    b.click("#mfa-confirm").await;
    b.find("#recovery-codes").await;
    assert_eq!(b.count("#recovery-codes li").await, 10);
    assert!(b.text("#mfa-state").await.contains("on"));
    b.assert_no_csp_violations().await;

    // Log out; the password alone no longer logs in; password + pyotp's code does.
    b.click(".logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    let error = b.text(".flash-error").await;
    assert!(error.contains("authenticator"), "{error}");
    assert_eq!(b.path().await, "/login");
    b.fill("#login-email", common::ADMIN_EMAIL).await;
    b.fill("#login-password", common::ADMIN_PASSWORD).await;
    b.fill("#login-totp", &pyotp(&secret, None)).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_path(&format!("/orgs/{org}")).await;

    // The org now requires MFA (set over the API with the next step's code).
    let owner = {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let res = client
            .post(server.url("/api/v1/auth/login"))
            .json(
                &json!({"email": common::ADMIN_EMAIL, "password": common::ADMIN_PASSWORD,
                "totp_code": pyotp(&secret, Some(t + 30))}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let me: Value = res.json().await.unwrap();
        common::Session {
            client,
            base: base.clone(),
            csrf: me["csrf_token"].as_str().unwrap().to_owned(),
            user_id: me["id"].as_str().unwrap().to_owned(),
            me,
        }
    };
    let res = owner
        .patch(
            &server.org_path(&org, "/settings"),
            json!({"require_mfa": true}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);

    // A member without MFA lands on the enrolment page, whatever org page they ask for.
    b.click(".logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    b.login(&base, "ada@lab.example", member_password).await;
    b.wait_path("/security").await;
    let notice = b.text("#mfa-required").await;
    assert!(notice.contains("requires"), "{notice}");
    b.goto(&format!("{base}/orgs/{org}/members")).await;
    b.wait_path("/security").await;
    b.find("#mfa-enrol").await;
    b.assert_no_csp_violations().await;
    let _ = b.client.clone().close().await;
}
