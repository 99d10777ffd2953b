//! The web UI, driven through a real headless Chromium (WebDriver via chromedriver) against the
//! real `labledger` binary; plus the UI's form protections checked over plain HTTP.
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
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn org_name(server: &common::TestServer, owner: &common::Session) -> String {
    let org = owner.get_json(&server.org_path(&server.org_id, "")).await;
    org["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn owner_manages_members_and_verifies_the_audit_trail() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let name = org_name(&server, &owner).await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    let org = server.org_id.clone();

    // Not logged in: every page leads to the login form.
    b.goto(&format!("{base}/orgs/{org}/members")).await;
    b.wait_path("/login").await;

    // A wrong password: the form again, with the email kept and a readable error.
    b.login(&base, common::ADMIN_EMAIL, "not the password at all")
        .await;
    assert!(b
        .text("[role=alert]")
        .await
        .contains("Wrong email or password."));
    assert_eq!(
        b.find("#login-email")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(common::ADMIN_EMAIL)
    );

    // Log in: `/` leads to the first org's dashboard.
    b.login(&base, common::ADMIN_EMAIL, common::ADMIN_PASSWORD)
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    assert_eq!(b.text("main h1").await, name);
    assert!(
        b.text("#org-switch").await.contains(&name),
        "the org switcher lists the org"
    );
    assert!(
        b.text("main").await.contains("Owner"),
        "the dashboard shows the caller's roles"
    );
    b.assert_script_ran().await;

    // Members: add a Scientist through the form, without a password (one is generated).
    b.click("nav a[href$='/members']").await;
    b.wait_path(&format!("/orgs/{org}/members")).await;
    assert!(b.text("#members-table").await.contains(common::ADMIN_EMAIL));
    b.fill("#add-email", "sam@lab.example").await;
    b.fill("#add-name", "Sam Scientist").await;
    b.click("#add-member input[name=roles][value=Scientist]")
        .await;
    b.click("#add-member button[type=submit]").await;
    let password = b.text("#initial-password").await;
    assert!(
        password.len() >= 20,
        "a generated initial password is shown once: {password:?}"
    );
    let row = b
        .text("#members-table tr[data-member='sam@lab.example']")
        .await;
    assert!(
        row.contains("Sam Scientist") && row.contains("Scientist"),
        "{row}"
    );
    // The new member can log in with the password shown.
    let sam = server.login("sam@lab.example", &password).await;
    assert_eq!(sam.me["email"], "sam@lab.example");

    // A duplicate is refused with the form kept (status checked over HTTP below).
    b.fill("#add-email", "sam@lab.example").await;
    b.fill("#add-name", "Sam Again").await;
    b.click("#add-member button[type=submit]").await;
    assert!(b.text("[role=alert]").await.contains("already a member"));
    assert_eq!(
        b.find("#add-name")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Sam Again")
    );

    // Change Sam's roles through the row's form: post/redirect/get with a flash message.
    b.click("tr[data-member='sam@lab.example'] summary").await;
    b.click("tr[data-member='sam@lab.example'] input[name=roles][value=Technician]")
        .await;
    b.click("tr[data-member='sam@lab.example'] form[action$='/roles'] button[type=submit]")
        .await;
    assert!(b
        .text(".flash[role=status]")
        .await
        .contains("Roles changed."));
    let row = b
        .text("#members-table tr[data-member='sam@lab.example']")
        .await;
    assert!(row.contains("Technician"), "{row}");

    b.goto(&format!("{base}/orgs/{org}/members")).await;
    let shot = b.client.screenshot().await.unwrap();
    std::fs::write("/tmp/ui-members.png", shot).unwrap();

    // Roles: create a custom role.
    b.click("nav a[href$='/roles']").await;
    b.fill("#new-role-name", "Sample clerk").await;
    b.fill("#new-role-description", "Registers samples").await;
    b.click("#create-role input[value='samples:read']").await;
    b.click("#create-role input[value='samples:write']").await;
    b.click("#create-role button[type=submit]").await;
    assert!(b
        .text(".flash[role=status]")
        .await
        .contains("Role created."));
    let roles = b.text("#roles-table").await;
    assert!(
        roles.contains("Sample clerk") && roles.contains("samples:write"),
        "{roles}"
    );

    // Edit it, then delete it (the script asks for confirmation first).
    b.click("#roles-table a[aria-label='Edit role Sample clerk']")
        .await;
    b.fill("#edit-role-name", "Sample registrar").await;
    b.click("input[value='samples:write']").await;
    b.click("form.form-grid button[type=submit]").await;
    assert!(b.text(".flash[role=status]").await.contains("Role saved."));
    let row = b
        .client
        .find(Locator::XPath("//tr[.//a[text()='Sample registrar']]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("samples:read") && !row.contains("samples:write"),
        "{row}"
    );
    b.click("#roles-table button[aria-label='Delete role Sample registrar']")
        .await;
    assert!(b
        .client
        .get_alert_text()
        .await
        .unwrap()
        .contains("Delete the role Sample registrar?"));
    b.client.accept_alert().await.unwrap();
    assert!(b
        .text(".flash[role=status]")
        .await
        .contains("Role deleted."));
    assert!(!b.text("#roles-table").await.contains("Sample registrar"));

    // The audit trail shows the member.add event; filters narrow it down.
    b.click("nav a[href$='/audit']").await;
    b.wait_path(&format!("/orgs/{org}/audit")).await;
    let added = b.text("#audit-table tr[data-action='member.add']").await;
    assert!(added.contains("member.add"), "{added}");
    b.fill("#f-action", "role.").await;
    b.click("form.filter-grid button[type=submit]").await;
    b.find("#audit-table").await;
    assert!(b.count("#audit-table tbody tr").await >= 1);
    assert_eq!(
        b.count("#audit-table tr[data-action='member.add']").await,
        0,
        "the filter applies"
    );
    assert!(b.path().await.ends_with("/audit"));

    // Verify the chain.
    b.click("form.verify-form button[type=submit]").await;
    let verdict = b.text("#verdict").await;
    assert!(verdict.to_lowercase().contains("intact"), "{verdict}");
    assert!(b.text("#verdict .hash").await.len() == 64);

    b.assert_script_ran().await;
    b.assert_no_csp_violations().await;
    // The check above does see violations: an inline script is refused and reported.
    let inject =
        "var s = document.createElement('script'); s.textContent = 'window.injected = 1'; \
        document.body.appendChild(s); return window.injected || null;";
    assert_eq!(
        b.client.execute(inject, vec![]).await.unwrap(),
        Value::Null,
        "the CSP blocks inline scripts"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let console = b.console().await;
    assert!(
        console.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("Content Security Policy"))),
        "the console reports CSP violations: {console:?}"
    );

    // Log out: the session ends on the server too.
    b.click("form.logout-form button[type=submit]").await;
    b.wait_path("/login").await;
    assert!(b.text(".flash[role=status]").await.contains("logged out"));
    b.goto(&format!("{base}/orgs/{org}/members")).await;
    b.wait_path("/login").await;

    b.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_viewer_gets_no_member_pages_and_no_write_forms() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let viewer = owner
        .add_member(&server, &org, "viewer@lab.example", &["Viewer"])
        .await;

    // Over HTTP: an HTML 403 page, not JSON.
    let res = viewer.get(&format!("/orgs/{org}/members")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("members:read"));
    for page in ["roles", "audit"] {
        assert_eq!(
            viewer.get(&format!("/orgs/{org}/{page}")).await.status(),
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }

    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    b.login(&base, "viewer@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    assert!(b.text("main").await.contains("Viewer"));
    assert_eq!(
        b.count("nav a[href$='/members']").await,
        0,
        "no Members link for a Viewer"
    );
    assert_eq!(
        b.count("nav a[href$='/audit']").await,
        0,
        "no Audit link for a Viewer"
    );

    b.goto(&format!("{base}/orgs/{org}/members")).await;
    assert_eq!(b.text("main h1").await, "Access denied");
    assert_eq!(b.count("#members-table").await, 0);

    // No write form anywhere: the only POST form on every page is the logout form.
    for path in [
        format!("/orgs/{org}"),
        format!("/orgs/{org}/members"),
        format!("/orgs/{org}/roles"),
        format!("/orgs/{org}/audit"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        let forms = b
            .client
            .find_all(Locator::Css("form[method=post]"))
            .await
            .unwrap();
        for f in forms {
            assert_eq!(
                f.attr("action").await.unwrap().as_deref(),
                Some("/logout"),
                "a write form on {path}"
            );
        }
    }
    b.assert_script_ran().await;
    b.assert_no_csp_violations().await;
    b.client.clone().close().await.unwrap();
}

/// The UI's protections, over plain HTTP (no browser needed).
#[tokio::test]
async fn ui_forms_are_protected_and_errors_are_html() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Assets: embedded, cached for an hour, under the CSP.
    for (path, kind) in [
        ("/assets/app.css", "text/css"),
        ("/assets/app.js", "text/javascript"),
    ] {
        let res = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "public, max-age=3600");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }

    // Pages: not logged in → 303 to the login form; the login page has no inline code.
    let res = http
        .get(server.url(&format!("/orgs/{org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let res = http.get(server.url("/login")).send().await.unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains(" onclick="));

    // Unknown pages and orgs: HTML 404s.
    let res = http.get(server.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let res = owner
        .get("/orgs/00000000-0000-7000-8000-000000000000/members")
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("<html"));

    // Login failure: 401 with the email kept.
    let page = http.get(server.url("/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let res = http
        .post(server.url("/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("email", "owner@lab.example"),
            ("password", "wrong password here"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Wrong email or password.") && html.contains("value=\"owner@lab.example\"")
    );
    // A login POST without its login token (login CSRF) is refused.
    let res = http
        .post(server.url("/login"))
        .form(&[
            ("email", common::ADMIN_EMAIL),
            ("password", common::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The right one logs in: 303 to `/` with the session cookie.
    let res = http
        .post(server.url("/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("email", common::ADMIN_EMAIL),
            ("password", common::ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/");
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("labledger_session="))
        .expect("session cookie");
    let get = |path: String| {
        http.get(server.url(&path))
            .header("cookie", &session)
            .send()
    };
    let post = |path: String, form: Vec<(&'static str, String)>| {
        http.post(server.url(&path))
            .header("cookie", &session)
            .form(&form)
            .send()
    };
    let members = format!("/orgs/{org}/members");
    let html = get(members.clone()).await.unwrap().text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();

    // Forms: the CSRF token is required, and a foreign Origin is refused.
    let add = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("email", "x@lab.example".into()),
            ("name", "X".into()),
        ]
    };
    let before = common::audit_len(&owner, &org).await;
    let res = post(members.clone(), add("")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("<html"));
    let res = post(members.clone(), add("wrong")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = http
        .post(server.url(&members))
        .header("cookie", &session)
        .header("origin", "https://evil.example")
        .form(&add(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        common::audit_len(&owner, &org).await,
        before,
        "nothing was written"
    );

    // Invalid input: 422 with the typed values kept, escaped (never the password).
    let form = vec![
        ("csrf", csrf.clone()),
        ("email", "not-an-email".into()),
        ("name", "Xavier <b>".into()),
        ("password", "short".into()),
    ];
    let res = post(members.clone(), form).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("value=\"not-an-email\"") && html.contains("Xavier &lt;b&gt;"),
        "typed values kept, escaped"
    );
    assert!(!html.contains("value=\"short\""));

    // A valid add with a password: 303 back to the list with a fixed flash message.
    let form = vec![
        ("csrf", csrf.clone()),
        ("email", "tess@lab.example".into()),
        ("name", "Tess".into()),
        ("roles", "Technician".into()),
        ("roles", "Viewer".into()),
        ("password", "a long enough password".into()),
    ];
    let res = post(members.clone(), form).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/orgs/{org}/members?ok=member-added")
    );
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    let tess = server
        .login("tess@lab.example", "a long enough password")
        .await;
    assert_eq!(
        tess.me["memberships"][0]["roles"],
        json!(["Technician", "Viewer"])
    );
    // A duplicate: 409, as a page.
    let form = vec![
        ("csrf", csrf.clone()),
        ("email", "tess@lab.example".into()),
        ("name", "Tess".into()),
    ];
    let res = post(members.clone(), form).await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("already a member"));
    // The flash only ever shows fixed messages.
    let html = get(format!("{members}?ok=%3Cscript%3Ealert(1)%3C/script%3E"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("alert(1)"));

    // The last Owner cannot be removed: a 409 page, nothing changed.
    let res = post(
        format!("{members}/{}/remove", owner.user_id),
        vec![("csrf", csrf.clone())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("last Owner"));

    // Audit filters: a bad date is a 400 form error, not JSON.
    let res = get(format!("/orgs/{org}/audit?from=yesterday"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("RFC 3339"));

    // The org switcher keeps the section.
    let res = get(format!("/switch?org={org}&to=audit")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/orgs/{org}/audit")
    );

    // Audit paging: 50 a page, an "Older" link with the cursor.
    for i in 0..50 {
        let body = json!({"name": format!("Role {i}"), "permissions": ["samples:read"]});
        let res = owner.post(&server.org_path(&org, "/roles"), body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let html = get(format!("/orgs/{org}/audit"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let older = html
        .split("rel=\"next\"")
        .next()
        .unwrap()
        .rsplit("href=\"")
        .next()
        .unwrap();
    let older = older.split('"').next().unwrap().replace("&amp;", "&");
    assert!(
        older.starts_with(&format!("/orgs/{org}/audit?cursor=")),
        "{older}"
    );
    let html = get(older).await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Newest") && html.contains("<td class=\"num\">1</td>"),
        "the oldest event is on page 2"
    );

    // A tampered chain: the verdict names the first broken sequence number.
    {
        use sqlx::Executor;
        let mut db = server.raw_db().await;
        if common::is_postgres() {
            db.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await
                .unwrap();
        } else {
            db.execute("DROP TRIGGER audit_events_no_update")
                .await
                .unwrap();
        }
        let sql =
            format!("UPDATE audit_events SET action = 'x' WHERE org_id = '{org}' AND seq = 2");
        db.execute(sql.as_str()).await.unwrap();
    }
    let res = post(
        format!("/orgs/{org}/audit/verify"),
        vec![("csrf", csrf.clone())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Chain broken at sequence 2"));

    // Logout needs the token too; then the session is gone on the server.
    let res = post("/logout".into(), vec![("csrf", "nope".into())])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post("/logout".into(), vec![("csrf", csrf.clone())])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?ok=logged-out");
    let res = get(members.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
}

#[tokio::test]
async fn a_technician_registers_moves_and_imports_samples() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    owner
        .add_member(&server, &server.org_id, "tech@lab.example", &["Technician"])
        .await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    let org = server.org_id.clone();
    b.login(&base, "tech@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;

    b.click("nav a[href$='/samples']").await;
    b.wait_path(&format!("/orgs/{org}/samples")).await;
    assert!(b.text("main").await.contains("No samples match."));
    // A bad type is refused in place, with the typed values kept.
    b.fill("#sample_type", "<blood>").await;
    b.fill("#source_ref", "SUBJ-7").await;
    b.click("#register-sample button[type=submit]").await;
    assert!(b.text("[role=alert]").await.contains("sample_type"));
    assert_eq!(
        b.find("#source_ref")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("SUBJ-7")
    );
    b.fill("#sample_type", "Blood").await;
    b.fill("#quantity", "2.5").await;
    b.fill("#unit", "mL").await;
    b.click("#register-sample button[type=submit]").await;
    b.find("dl.facts").await;
    assert!(b.text("main h1").await.contains("S-000001"));
    assert!(b
        .text(".flash[role=status]")
        .await
        .contains("Sample registered."));

    // Move it: registered → received; the page shows the new status and the next choices.
    b.click("form[action$='/transitions'] button[type=submit]")
        .await;
    b.wait_text(".flash[role=status]", "Sample moved.").await;
    assert!(b.text("dl.facts").await.contains("received"));
    let choices = b.text("#to").await;
    assert!(
        choices.contains("in_process")
            && choices.contains("stored")
            && !choices.contains("registered"),
        "{choices}"
    );

    // Import two more from pasted CSV.
    b.goto(&format!("{base}/orgs/{org}/samples")).await;
    b.fill(
        "#csv",
        "sample_type,source_ref\nserum,SUBJ-8\nurine,SUBJ-9\n",
    )
    .await;
    b.click("#import-samples button[type=submit]").await;
    b.find(".flash[role=status]").await;
    let table = b.text("table").await;
    assert!(
        table.contains("S-000003") && table.contains("urine") && table.contains("S-000002"),
        "{table}"
    );
    b.assert_no_csp_violations().await;
}

#[tokio::test]
async fn a_technician_batches_samples_and_closes_the_batch() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    for t in ["blood", "blood", "serum"] {
        let res = owner
            .post(
                &format!("/api/v1/orgs/{org}/samples"),
                serde_json::json!({ "sample_type": t }),
            )
            .await;
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    }
    owner
        .add_member(&server, &org, "tech@lab.example", &["Technician"])
        .await;
    let Some(b) = browser().await else { return };
    let base = server.base.clone();
    b.login(&base, "tech@lab.example", "members own long password")
        .await;
    b.wait_path(&format!("/orgs/{org}")).await;
    b.click("nav a[href$='/batches']").await;
    b.wait_path(&format!("/orgs/{org}/batches")).await;
    assert!(b.text("main").await.contains("No batches yet."));

    // An unknown code is named and nothing is created.
    b.fill("#name", "Extraction run").await;
    b.fill("#codes", "S-000001\nS-000042").await;
    b.click("#create-batch button[type=submit]").await;
    assert!(b.text("[role=alert]").await.contains("codes[1]"));
    // Codes plus every serum sample.
    b.fill("#name", "Extraction run").await;
    b.fill("#codes", "s-000001, S-000002").await;
    b.fill("#search_type", "serum").await;
    b.click("#create-batch button[type=submit]").await;
    b.find("#batch-samples").await;
    assert!(b.text("main h1").await.contains("B-000001"));
    let table = b.text("#batch-samples").await;
    assert!(
        table.contains("S-000001") && table.contains("S-000002") && table.contains("S-000003"),
        "{table}"
    );
    // Remove one, then close: the forms disappear and the status shows.
    b.click("#batch-samples tr:first-child form button[type=submit]")
        .await;
    b.wait_text("main h1", "B-000001").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.count("#batch-samples tr td a[href*='/samples/']").await != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sample was not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!b.text("#batch-samples").await.contains("S-000001"));
    b.click("#close-batch button[type=submit]").await;
    b.wait_text("#batch-status", "closed").await;
    assert_eq!(b.count("#add-samples").await, 0);
    b.assert_no_csp_violations().await;
}
