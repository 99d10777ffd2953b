//! LabLedger behind Debian's nginx, configured by the example the README gives
//! (`deploy/nginx-labledger.conf`): TLS ends at nginx, throttling and sessions see the address
//! that connected to nginx, and a forged `X-Forwarded-For` changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx in the foreground with the example site, pointed at `upstream`, on `port`.
fn start_nginx(port: u16, upstream: &str, cert: &Path, key: &Path) -> Nginx {
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx-labledger.conf"),
    )
    .unwrap();
    let site = example
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
        .replace("server_name lab.example.org;", "server_name localhost;")
        .replace("/etc/ssl/certs/lab.example.org.pem", cert.to_str().unwrap())
        .replace(
            "/etc/ssl/private/lab.example.org.key",
            key.to_str().unwrap(),
        )
        .replace("http://127.0.0.1:8080", upstream);
    assert_ne!(site, example);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    std::fs::write(dir.path().join("site.conf"), site).unwrap();
    let main = format!(
        "daemon off; pid {d}/nginx.pid; error_log {d}/error.log; worker_processes 1;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
         include {d}/site.conf; }}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| Command::new(p).arg("-v").output().is_ok())
        .expect("nginx is installed (scripts/test.sh installs nginx-light)");
    let mut child = Command::new(nginx)
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx { child, _dir: dir };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

/// A browser at `source` (a loopback address of its own) going through the proxy.
fn client_from(source: &str, cert: &Path) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    // What an attacker would try: name someone else's address.
    headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap(),
        )
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .default_headers(headers)
        .cookie_store(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn behind_nginx_each_client_is_throttled_on_its_own_address() {
    let port = free_port();
    let server = common::spawn_on(
        tempfile::tempdir().unwrap(),
        common::fresh_database().await,
        &[
            "--behind-proxy",
            "127.0.0.1/32",
            "--public-url",
            &format!("https://localhost:{port}"),
            "--login-free-failures",
            "10",
            "--login-max-failures",
            "10",
        ],
    );
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = common::certs::self_signed(certs.path(), "localhost", "DNS:localhost");
    let _nginx = start_nginx(port, &server.base, &cert, &key);
    let base = format!("https://localhost:{port}");
    let login = |client: reqwest::Client, password: &'static str| {
        let url = format!("{base}/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({"email": common::ADMIN_EMAIL, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };

    let attacker = client_from("127.0.0.2", &cert);
    for _ in 0..10 {
        let res = login(attacker.clone(), "a wrong guess of the password").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked for the attacker's address, whatever it claims ...
    let res = login(attacker.clone(), common::ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // ... and not for the owner at another address behind the same proxy.
    let owner = client_from("127.0.0.3", &cert);
    let res = login(owner.clone(), common::ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-labledger_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    let sessions: serde_json::Value = owner
        .get(format!("{base}/api/v1/me/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["items"][0]["source_ip"], "127.0.0.3", "{sessions}");
    let hsts = owner.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(hsts.headers().contains_key("strict-transport-security"));
}
