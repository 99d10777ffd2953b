//! TOTP MFA with a real outside authenticator (pyotp), recovery codes, org enforcement of MFA
//! and step-up re-authentication, as a client sees them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{Session, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code pyotp (an independent RFC 6238 implementation) computes for `secret` at `at`
/// (seconds since the epoch; `None` = now).
fn pyotp(secret: &str, at: Option<u64>) -> String {
    let script = match at {
        None => "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())".to_owned(),
        Some(t) => format!("import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).at({t}))"),
    };
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret])
        .output()
        .expect("python3 with pyotp (pip install pyotp; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 6, "{code}");
    code
}

/// A moment well inside a 30-second step, so codes of the steps before, at and after it stay
/// acceptable (±1 step) for the next ~25 seconds.
fn settled_now() -> u64 {
    let now = unix_now();
    if now % 30 > 24 {
        std::thread::sleep(std::time::Duration::from_secs(31 - now % 30));
    }
    unix_now()
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn login_raw(server: &TestServer, body: Value) -> reqwest::Response {
    Client::new()
        .post(server.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn problem_type(res: reqwest::Response) -> String {
    let p: Value = res.json().await.unwrap();
    p["type"].as_str().unwrap_or_default().to_owned()
}

/// Logs in with a body of our own (e.g. with a code), as a cookie-keeping session.
async fn login_with(server: &TestServer, body: Value) -> Session {
    let client = Client::builder().cookie_store(true).build().unwrap();
    let res = client
        .post(server.url("/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login with {body}");
    let me: Value = res.json().await.unwrap();
    Session {
        client,
        base: server.base.clone(),
        csrf: me["csrf_token"].as_str().unwrap().to_owned(),
        user_id: me["id"].as_str().unwrap().to_owned(),
        me,
    }
}

/// Enrols and confirms TOTP for the session's user; returns the base32 secret and the recovery
/// codes. The confirmation uses the code of the step before `t`.
async fn enrol(session: &Session, email: &str, t: u64) -> (String, Vec<String>) {
    let res = session.post("/api/v1/me/mfa/totp", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let e: Value = res.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("otpauth://totp/LabLedger:{email}?secret={secret}")),
        "{e}"
    );
    assert!(e["otpauth_uri"]
        .as_str()
        .unwrap()
        .contains("&issuer=LabLedger"));
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"), "{e}");
    let res = session
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": pyotp(&secret, Some(t - 30))}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

#[tokio::test]
async fn totp_with_pyotp_replay_recovery_codes_and_disable() {
    // Second-factor failures count against login throttling; this test makes many on purpose.
    let server = common::spawn_with_mail(&["--login-free-failures", "50"]).await;
    let owner = server.owner().await;
    let status = owner.get_json("/api/v1/me/mfa").await;
    assert_eq!(status["totp_active"], false);
    // Without LABLEDGER_MASTER_KEY(_FILE), serve made DATA_DIR/master.key: 32 bytes, owner-only.
    let key_file = server.data_dir.path().join("master.key");
    let meta = std::fs::metadata(&key_file).expect("master.key created on first start");
    assert_eq!(meta.len(), 32);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    // A second enrolment replaces the pending one; the first secret is never activated.
    let first: Value = owner
        .post("/api/v1/me/mfa/totp", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let res = owner.post("/api/v1/me/mfa/totp", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await.unwrap();
    let secret = second["secret"].as_str().unwrap().to_owned();
    assert_ne!(first["secret"], second["secret"]);
    let t = settled_now();
    let res = owner
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": pyotp(first["secret"].as_str().unwrap(), None)}),
        )
        .await;
    // (A code of the replaced secret matches by chance once in a million.)
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "code", "{p}");
    // Pending only: login needs no code yet.
    login_with(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await;

    let res = owner
        .post(
            "/api/v1/me/mfa/totp/confirm",
            json!({"code": pyotp(&secret, Some(t - 30))}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    // Active: a new enrolment is refused until MFA is disabled.
    let res = owner.post("/api/v1/me/mfa/totp", json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // At rest: the secret is encrypted, the recovery codes hashed.
    let mut db = server.raw_db().await;
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM user_totp")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(sealed.len() >= 12 + 20 + 16, "nonce, ciphertext and tag");
    let text = String::from_utf8_lossy(&sealed).to_string();
    assert!(!text.contains(&secret));
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT code_hash FROM user_recovery_codes")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    for c in &codes {
        assert!(!stored.iter().any(|h| h == c.as_bytes()));
    }

    // No code, a wrong code: 401 mfa-required and no session.
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(problem_type(res).await.ends_with("mfa-required"));
    let now_code = pyotp(&secret, None);
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": wrong(&now_code)}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("set-cookie").is_none());
    assert!(problem_type(res).await.ends_with("mfa-required"));
    // A wrong password with a good code is just a wrong password.
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": "not the password at all", "totp_code": now_code}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(res).await, "/problems/invalid-credentials");

    // pyotp's current code logs in; the same code again is a replay.
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": now_code}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_some());
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": now_code}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "replayed code");
    assert!(res.headers().get("set-cookie").is_none());
    assert!(problem_type(res).await.ends_with("mfa-required"));
    // The confirmation's step is spent too.
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, Some(t - 30))}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A recovery code works once (in any case, without its dash).
    let rc = codes[3].to_uppercase().replace('-', "");
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "recovery_code": rc}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_raw(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "recovery_code": codes[3]}),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a used recovery code"
    );
    assert!(problem_type(res).await.ends_with("mfa-required"));
    let status = owner.get_json("/api/v1/me/mfa").await;
    assert_eq!(status["totp_active"], true);
    assert_eq!(status["recovery_codes_left"], 9);

    // Disabling needs the password and a current code.
    let next = pyotp(&secret, Some(t + 30));
    let res = owner
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me/mfa/totp",
            Some(json!({"password": "not the password at all", "code": next})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = owner
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me/mfa/totp",
            Some(json!({"password": ADMIN_PASSWORD, "code": wrong(&next)})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(problem_type(res).await.ends_with("mfa-required"));
    let res = owner
        .send(
            reqwest::Method::DELETE,
            "/api/v1/me/mfa/totp",
            Some(json!({"password": ADMIN_PASSWORD, "code": next})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(owner.get_json("/api/v1/me/mfa").await["totp_active"], false);
    login_with(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await;
}

#[tokio::test]
async fn an_org_requiring_mfa_admits_members_without_it_only_to_their_own_pages() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let member = owner
        .add_member(&server, &org, "ada@lab.example", &["Scientist"])
        .await;
    let settings = server.org_path(&org, "/settings");
    assert_eq!(
        owner.get_json(&settings).await,
        json!({"require_mfa": false, "region": "", "region_move_to": null, "region_move_phase": null})
    );
    // Nobody locks themselves out: the owner needs MFA before requiring it.
    let res = owner.patch(&settings, json!({"require_mfa": true})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let t = settled_now();
    let (secret, _) = enrol(&owner, ADMIN_EMAIL, t).await;
    let owner = login_with(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, None)}),
    )
    .await;
    let before = common::audit_len(&owner, &org).await;
    let res = owner.patch(&settings, json!({"require_mfa": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"require_mfa": true, "region": "", "region_move_to": null, "region_move_phase": null})
    );
    assert_eq!(common::audit_len(&owner, &org).await, before + 1);
    let events = owner
        .get_json(&server.org_path(&org, "/audit?action=org.settings_change"))
        .await;
    let e = &events["items"][0];
    assert_eq!(e["action"], "org.settings_change");
    assert_eq!(e["changes"]["require_mfa"]["before"], false, "{e}");
    assert_eq!(e["changes"]["require_mfa"]["after"], true, "{e}");

    // The member without MFA: every org route answers 403 mfa-enrolment-required...
    for path in ["", "/members", "/roles", "/audit"] {
        let res = member.get(&server.org_path(&org, path)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            problem_type(res).await,
            "/problems/mfa-enrolment-required",
            "{path}"
        );
    }
    // ... but their own pages work, and enrolling lets them in.
    member.get_json("/api/v1/me").await;
    member.get_json("/api/v1/me/mfa").await;
    enrol(&member, "ada@lab.example", t).await;
    member.get_json(&server.org_path(&org, "")).await;
    member.get_json(&server.org_path(&org, "/members")).await;
    // Someone outside the org still gets the same 404 as before.
    let outsider_org = server.create_org("Other Lab", "eve@lab.example", "eves own long password");
    let eve = server
        .login("eve@lab.example", "eves own long password")
        .await;
    assert_eq!(
        eve.get(&server.org_path(&org, "")).await.status(),
        StatusCode::NOT_FOUND
    );
    eve.get_json(&server.org_path(&outsider_org, "")).await;
}

/// Moves the user's sessions' last password entry `minutes` into the past.
async fn age_reauth(server: &TestServer, user_id: &str, minutes: i64) {
    let mut db = server.raw_db().await;
    let micros = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
        - minutes * 60_000_000;
    sqlx::query("UPDATE sessions SET reauth_at = $1 WHERE user_id = $2")
        .bind(micros)
        .bind(user_id)
        .execute(&mut db)
        .await
        .unwrap();
}

#[tokio::test]
async fn sensitive_actions_need_a_recent_step_up_which_rotates_the_session() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let victim = common::fixtures::victim_member(&owner, &org).await;
    let role_body = || json!({"name": format!("r-{}", uuid::Uuid::now_v7().simple()), "permissions": ["samples:read"]});
    let res = owner
        .post(&server.org_path(&org, "/roles"), role_body())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "fresh after login");
    let role_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    age_reauth(&server, &owner.user_id, 6).await;
    let stale = [
        (
            reqwest::Method::POST,
            server.org_path(&org, "/roles"),
            Some(role_body()),
        ),
        (
            reqwest::Method::PATCH,
            server.org_path(&org, &format!("/roles/{role_id}")),
            Some(json!({"description": "x"})),
        ),
        (
            reqwest::Method::DELETE,
            server.org_path(&org, &format!("/roles/{role_id}")),
            None,
        ),
        (
            reqwest::Method::PATCH,
            server.org_path(&org, &format!("/members/{victim}")),
            Some(json!({"roles": ["Technician"]})),
        ),
        (
            reqwest::Method::PATCH,
            server.org_path(&org, "/settings"),
            Some(json!({"require_mfa": false})),
        ),
    ];
    let before = common::audit_len(&owner, &org).await;
    for (method, path, body) in &stale {
        let res = owner.send(method.clone(), path, body.clone()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            problem_type(res).await,
            "/problems/step-up-required",
            "{method} {path}"
        );
    }
    assert_eq!(
        common::audit_len(&owner, &org).await,
        before,
        "nothing written"
    );
    // Reading needs no step-up.
    owner.get_json(&server.org_path(&org, "/roles")).await;

    // Step-up: a wrong password is refused; the right one rotates the session token.
    let res = owner
        .post(
            "/api/v1/auth/step-up",
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let old_cookie = {
        let res = Client::new()
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let c = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        let csrf = res.json::<Value>().await.unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        (c.split(';').next().unwrap().to_owned(), csrf)
    };
    age_reauth(&server, &owner.user_id, 6).await;
    let res = Client::new()
        .post(server.url("/api/v1/auth/step-up"))
        .header("cookie", &old_cookie.0)
        .header("x-csrf-token", &old_cookie.1)
        .json(&json!({"password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_cookie, old_cookie.0, "a new session token");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["csrf_token"],
        old_cookie.1.as_str(),
        "the CSRF token stays"
    );
    let with = |cookie: &str| {
        Client::new()
            .post(server.url(&server.org_path(&org, "/roles")))
            .header("cookie", cookie.to_owned())
            .header("x-csrf-token", &old_cookie.1)
            .json(&role_body())
            .send()
    };
    assert_eq!(
        with(&old_cookie.0).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the old token is dead"
    );
    assert_eq!(
        with(&new_cookie).await.unwrap().status(),
        StatusCode::CREATED
    );

    // The first session steps up too (through its cookie jar) and may act again.
    let res = owner
        .post("/api/v1/auth/step-up", json!({"password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for (method, path, body) in stale {
        let res = owner.send(method.clone(), &path, body).await;
        assert!(
            res.status().is_success(),
            "{method} {path}: {}",
            res.status()
        );
    }

    // With MFA on, step-up needs a code as well.
    let t = settled_now();
    let (secret, _) = enrol(&owner, ADMIN_EMAIL, t).await;
    let res = owner
        .post("/api/v1/auth/step-up", json!({"password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(problem_type(res).await.ends_with("mfa-required"));
    let res = owner
        .post(
            "/api/v1/auth/step-up",
            json!({"password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, None)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A request with only the bearer token.
async fn with_token(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn api_tokens_of_members_without_mfa_obey_the_orgs_mfa_rule() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let member = owner
        .add_member(&server, &org, "ada@lab.example", &["Scientist"])
        .await;
    let res = member
        .post(
            &server.org_path(&org, "/api-tokens"),
            json!({"name": "plate reader", "permissions": ["samples:read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let samples = server.org_path(&org, "/samples");
    assert_eq!(
        with_token(&server, &token, &samples).await.status(),
        StatusCode::OK
    );

    let t = settled_now();
    let (secret, _) = enrol(&owner, ADMIN_EMAIL, t).await;
    let owner = login_with(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, None)}),
    )
    .await;
    let settings = server.org_path(&org, "/settings");
    let require = |on: bool| owner.patch(&settings, json!({"require_mfa": on}));

    // The org requires MFA: the token of a member without it answers what their session does.
    assert_eq!(require(true).await.status(), StatusCode::OK);
    for path in [samples.clone(), server.org_path(&org, "")] {
        let res = with_token(&server, &token, &path).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(problem_type(res).await, "/problems/mfa-enrolment-required");
        let res = member.get(&path).await;
        assert_eq!(problem_type(res).await, "/problems/mfa-enrolment-required");
    }
    // The rule dropped: the token works again; back on: refused again.
    assert_eq!(require(false).await.status(), StatusCode::OK);
    assert_eq!(
        with_token(&server, &token, &samples).await.status(),
        StatusCode::OK
    );
    assert_eq!(require(true).await.status(), StatusCode::OK);
    assert_eq!(
        with_token(&server, &token, &samples).await.status(),
        StatusCode::FORBIDDEN
    );
    // The member enrols: their token works under the rule.
    enrol(&member, "ada@lab.example", t).await;
    assert_eq!(
        with_token(&server, &token, &samples).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_only_login_is_no_step_up_once_the_member_has_mfa() {
    let server = common::spawn().await;
    let org = server.org_id.clone();
    let owner = server.owner().await;
    let roles = server.org_path(&org, "/roles");
    let role_body = || json!({"name": format!("r-{}", uuid::Uuid::now_v7().simple()), "permissions": ["samples:read"]});
    // Logged in with the password a moment ago: fresh.
    assert_eq!(
        owner.post(&roles, role_body()).await.status(),
        StatusCode::CREATED
    );

    // Enrolling MFA (which proves the code, not the password) leaves that login behind: the
    // next sensitive action needs a step-up with password and code.
    let t = settled_now();
    let (secret, _) = enrol(&owner, ADMIN_EMAIL, t).await;
    let before = common::audit_len(&owner, &org).await;
    let res = owner.post(&roles, role_body()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(problem_type(res).await, "/problems/step-up-required");
    assert_eq!(
        common::audit_len(&owner, &org).await,
        before,
        "nothing written"
    );

    let res = owner
        .post("/api/v1/auth/step-up", json!({"password": ADMIN_PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem_type(res).await, "/problems/mfa-required");
    let res = owner
        .post(
            "/api/v1/auth/step-up",
            json!({"password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, None)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        owner.post(&roles, role_body()).await.status(),
        StatusCode::CREATED
    );

    // A login with the code is fresh at once.
    let again = login_with(
        &server,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "totp_code": pyotp(&secret, Some(t + 30))}),
    )
    .await;
    assert_eq!(
        again.post(&roles, role_body()).await.status(),
        StatusCode::CREATED
    );
}
