//! Storage, chain of custody and labels over the API: the location tree and its nesting rules,
//! placing / moving / removing samples (one sample per position, also under concurrency), the
//! custody timeline and its reports, and label formats.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fixtures::{location, storage_box, victim_member};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn new_sample(owner: &common::Session, org: &str) -> (String, String) {
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "serum"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["code"].as_str().unwrap().to_owned(),
    )
}

async fn place(
    owner: &common::Session,
    org: &str,
    sample: &str,
    bx: &str,
    pos: &str,
) -> reqwest::Response {
    owner
        .send(
            Method::PUT,
            &format!("/api/v1/orgs/{org}/samples/{sample}/placement"),
            Some(json!({"location_id": bx, "position": pos})),
        )
        .await
}

async fn audit_actions(owner: &common::Session, org: &str, target: &str) -> Vec<String> {
    let v = owner
        .get_json(&format!(
            "/api/v1/orgs/{org}/audit?target_id={target}&limit=100"
        ))
        .await;
    let mut actions: Vec<String> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    actions
}

#[tokio::test]
async fn the_location_tree_follows_its_nesting_rules() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let base = format!("/api/v1/orgs/{org}/locations");
    let site = location(
        &owner,
        &org,
        json!({"kind": "site", "name": "North campus"}),
    )
    .await;
    let room = location(
        &owner,
        &org,
        json!({"kind": "room", "name": "B-104", "parent_id": site}),
    )
    .await;

    // A box straight in a room, a room at the top, a rack in a site: refused, naming the rule.
    for (body, needle) in [
        (
            json!({"kind": "box", "name": "Box", "parent_id": room, "rows": 9, "columns": 9}),
            "a box cannot be inside a room",
        ),
        (
            json!({"kind": "room", "name": "Loose"}),
            "a room must be inside a site",
        ),
        (
            json!({"kind": "rack", "name": "R", "parent_id": site}),
            "a rack cannot be inside a site",
        ),
    ] {
        let res = owner.post(&base, body.clone()).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{body}");
        let p: Value = res.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(needle), "{p}");
    }
    let freezer = location(
        &owner,
        &org,
        json!({"kind": "freezer", "name": "-80 #1", "parent_id": room}),
    )
    .await;
    // A box needs a grid; only a box has one; grids are bounded.
    for (body, field) in [
        (
            json!({"kind": "box", "name": "No grid", "parent_id": freezer}),
            "rows",
        ),
        (
            json!({"kind": "rack", "name": "Gridded", "parent_id": freezer, "rows": 2, "columns": 2}),
            "rows",
        ),
        (
            json!({"kind": "box", "name": "Huge", "parent_id": freezer, "rows": 27, "columns": 2}),
            "rows",
        ),
        (
            json!({"kind": "box", "name": "Wide", "parent_id": freezer, "rows": 2, "columns": 40}),
            "columns",
        ),
        (json!({"kind": "shelf", "name": "S"}), "kind"),
        (
            json!({"kind": "room", "name": "X", "parent_id": uuid::Uuid::now_v7().to_string()}),
            "parent_id",
        ),
    ] {
        let res = owner.post(&base, body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let p: Value = res.json().await.unwrap();
        assert!(
            p["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {p}"
        );
    }
    let rack = location(
        &owner,
        &org,
        json!({"kind": "rack", "name": "Rack A", "parent_id": freezer}),
    )
    .await;
    let bx = location(
        &owner,
        &org,
        json!({"kind": "box", "name": "Box 7", "parent_id": rack, "rows": 8, "columns": 12}),
    )
    .await;
    // A box directly in a freezer is fine too; a sibling name is unique.
    location(
        &owner,
        &org,
        json!({"kind": "box", "name": "Loose box", "parent_id": freezer, "rows": 1, "columns": 1}),
    )
    .await;
    let res = owner
        .post(
            &base,
            json!({"kind": "rack", "name": "Rack A", "parent_id": freezer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let list = owner.get_json(&base).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 6);
    let detail = owner.get_json(&format!("{base}/{bx}")).await;
    assert_eq!(detail["location"]["kind"], "box");
    assert_eq!(detail["location"]["rows"], 8);
    let path: Vec<&str> = detail["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(path, ["North campus", "B-104", "-80 #1", "Rack A"]);
    let fr = owner.get_json(&format!("{base}/{freezer}")).await;
    assert_eq!(fr["children"].as_array().unwrap().len(), 2);
    assert_eq!(audit_actions(&owner, &org, &bx).await, ["location.create"]);
}

#[tokio::test]
async fn place_move_and_remove_keep_one_sample_per_position() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let bx = storage_box(&owner, &org).await;
    let (a, a_code) = new_sample(&owner, &org).await;
    let (b, _) = new_sample(&owner, &org).await;

    let res = place(&owner, &org, &a, &bx, "a1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["placement"]["position"], "A1");
    assert!(
        p["placement"]["path"]
            .as_str()
            .unwrap()
            .ends_with("Freezer 1 › Box 1"),
        "{p}"
    );

    // The taken position: 409 naming the occupant; nothing changes.
    let before = common::audit_len(&owner, &org).await;
    let res = place(&owner, &org, &b, &bx, "A1").await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/conflict");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("taken by {a_code}")),
        "{problem}"
    );
    // Outside the grid, a bad position, not a box.
    for (pos, loc, field) in [
        ("I1", bx.as_str(), "position"),
        ("A13", bx.as_str(), "position"),
        ("11", bx.as_str(), "position"),
    ] {
        let res = place(&owner, &org, &b, loc, pos).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{pos}");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/locations/{bx}"))
        .await;
    let site = detail["path"][0]["id"].as_str().unwrap().to_owned();
    let res = place(&owner, &org, &b, &site, "A1").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        common::audit_len(&owner, &org).await,
        before,
        "refusals wrote nothing"
    );

    // Move A to B2, then B can take A1; a sample sits in one position only.
    let res = place(&owner, &org, &a, &bx, "B2").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        place(&owner, &org, &b, &bx, "A1").await.status(),
        StatusCode::OK
    );
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/locations/{bx}"))
        .await;
    let occ: Vec<(String, String)> = detail["occupants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["position"].as_str().unwrap().to_owned(),
                o["sample_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        occ,
        [("A1".to_owned(), b.clone()), ("B2".to_owned(), a.clone())]
    );
    assert_eq!(detail["location"]["occupied"], 2);

    // Remove A; removing again is refused; its placement reads empty.
    let path = format!("/api/v1/orgs/{org}/samples/{a}/placement");
    let res = owner.delete(&format!("{path}?reason=thawed")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(owner.delete(&path).await.status(), StatusCode::CONFLICT);
    assert_eq!(owner.get_json(&path).await["placement"], Value::Null);
    assert_eq!(
        audit_actions(&owner, &org, &a).await,
        [
            "sample.create",
            "sample.move",
            "sample.place",
            "sample.remove"
        ]
    );

    // Disposing of a stored sample frees its position.
    let t = format!("/api/v1/orgs/{org}/samples/{b}/transitions");
    assert_eq!(
        owner
            .post(&t, json!({"to": "disposed", "reason": "broken tube"}))
            .await
            .status(),
        StatusCode::OK
    );
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/locations/{bx}"))
        .await;
    assert_eq!(detail["occupants"].as_array().unwrap().len(), 0);
    let res = place(&owner, &org, &b, &bx, "C3").await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "a disposed sample is stored nowhere"
    );
}

#[tokio::test]
async fn concurrent_placements_into_one_position_admit_exactly_one() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let bx = storage_box(&owner, &org).await;
    let mut samples = Vec::new();
    for _ in 0..12 {
        samples.push(new_sample(&owner, &org).await.0);
    }
    let owner = std::sync::Arc::new(owner);
    let tasks: Vec<_> = samples
        .iter()
        .map(|s| {
            let (owner, org, bx, s) = (owner.clone(), org.clone(), bx.clone(), s.clone());
            tokio::spawn(async move { place(&owner, &org, &s, &bx, "D4").await.status() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 1);
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/locations/{bx}"))
        .await;
    assert_eq!(detail["occupants"].as_array().unwrap().len(), 1);
    // And one sample placed concurrently into many positions ends up in exactly one.
    let s = samples[1].clone();
    let tasks: Vec<_> = ["E1", "E2", "E3", "E4", "E5", "E6"]
        .into_iter()
        .map(|p| {
            let (owner, org, bx, s) = (owner.clone(), org.clone(), bx.clone(), s.clone());
            tokio::spawn(async move { place(&owner, &org, &s, &bx, p).await.status() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_success());
    }
    let detail = owner
        .get_json(&format!("/api/v1/orgs/{org}/locations/{bx}"))
        .await;
    let n = detail["occupants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["sample_id"] == s.as_str())
        .count();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn the_custody_timeline_records_who_from_to_when_and_why() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let bx = storage_box(&owner, &org).await;
    let (id, code) = new_sample(&owner, &org).await;
    let s = format!("/api/v1/orgs/{org}/samples/{id}");
    let res = owner
        .post(
            &format!("{s}/transitions"),
            json!({"to": "received", "reason": "courier delivery"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        place(&owner, &org, &id, &bx, "A1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        place(&owner, &org, &id, &bx, "H12").await.status(),
        StatusCode::OK
    );
    let member = victim_member(&owner, &org).await;
    let res = owner
        .post(
            &format!("{s}/handovers"),
            json!({"to_member": member, "reason": "=cmd|' /C calc'!A0"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    // Handing over to the holder again, to a stranger, or without a reason is refused.
    assert_eq!(
        owner
            .post(
                &format!("{s}/handovers"),
                json!({"to_member": member, "reason": "again"})
            )
            .await
            .status(),
        StatusCode::CONFLICT
    );
    let stranger = uuid::Uuid::now_v7().to_string();
    let res = owner
        .post(
            &format!("{s}/handovers"),
            json!({"to_member": stranger, "reason": "x"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .post(
            &format!("{s}/handovers"),
            json!({"to_member": member, "reason": "  "}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .post(&format!("{s}/transitions"), json!({"to": "stored"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let t = owner.get_json(&format!("{s}/custody")).await;
    let items = t["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "status",
            "placed",
            "moved",
            "handover",
            "status"
        ]
    );
    let seqs: Vec<i64> = items.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let ats: Vec<&str> = items.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
    assert!(items[0]["actor"]
        .as_str()
        .unwrap()
        .contains(common::ADMIN_EMAIL));
    assert_eq!(items[0]["custodian_id"], owner.user_id.as_str());
    assert_eq!(
        (items[1]["from"].as_str(), items[1]["to"].as_str()),
        (Some("registered"), Some("received"))
    );
    assert_eq!(items[1]["reason"], "courier delivery");
    assert!(items[3]["from"].as_str().unwrap().ends_with("Box 1 / A1"));
    assert!(items[3]["to"].as_str().unwrap().ends_with("Box 1 / H12"));
    assert!(items[4]["from"]
        .as_str()
        .unwrap()
        .contains(common::ADMIN_EMAIL));
    assert!(items[4]["to"].as_str().unwrap().contains("Victim"));
    assert_eq!(items[4]["custodian_id"], member.as_str());
    assert_eq!(
        items[5]["custodian_id"],
        member.as_str(),
        "the holder carries forward"
    );
    assert!(audit_actions(&owner, &org, &id)
        .await
        .contains(&"sample.handover".to_owned()));

    // The report: CSV with one row per event (formula-looking cells defused), and printable HTML.
    let (other, other_code) = new_sample(&owner, &org).await;
    let res = owner
        .get(&format!(
            "/api/v1/orgs/{org}/custody/report?samples={id},{other}&format=csv"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("sample_code,sample_id,seq,at,kind,actor,from,to,custodian_id,reason")
    );
    assert_eq!(lines.len(), 1 + 6 + 1, "{csv}");
    assert!(lines[1].starts_with(&format!("{code},{id},1,")));
    assert!(lines[7].starts_with(&format!("{other_code},{other},1,")));
    assert!(csv.contains("'=cmd|"), "{csv}");
    assert!(!csv.contains(",=cmd"), "{csv}");
    let res = owner
        .get(&format!(
            "/api/v1/orgs/{org}/custody/report?samples={id}&format=html"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&code)
            && html.contains("Chain of custody")
            && html.contains("courier delivery")
    );
    for bad in [
        "samples=",
        "samples=nope",
        &format!("samples={id}&format=pdfx"),
    ] {
        let res = owner
            .get(&format!("/api/v1/orgs/{org}/custody/report?{bad}"))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Another org's sample in the list: 404, as if it did not exist.
    let org_b = server.create_org(
        "Other lab",
        "b-owner@lab.example",
        "b owners long passphrase",
    );
    let owner_b = server
        .login("b-owner@lab.example", "b owners long passphrase")
        .await;
    let (foreign, _) = new_sample(&owner_b, &org_b).await;
    let res = owner
        .get(&format!(
            "/api/v1/orgs/{org}/custody/report?samples={id},{foreign}"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn labels_come_as_svg_png_zpl_and_a_pdf_sheet() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let (a, a_code) = new_sample(&owner, &org).await;
    let (b, b_code) = new_sample(&owner, &org).await;
    let s = format!("/api/v1/orgs/{org}/samples/{a}");
    for kind in ["qr", "code128"] {
        let res = owner.get(&format!("{s}/label.png?kind={kind}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], "image/png");
        let bytes = res.bytes().await.unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{kind}");
        let res = owner.get(&format!("{s}/label.svg?kind={kind}")).await;
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        let svg = res.text().await.unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>")
        );
        // Well-formed enough: every element opened is closed or self-closed.
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    }
    let svg = owner
        .get(&format!("{s}/label.svg?kind=code128"))
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains(&format!(">{a_code}</text>")));
    assert_eq!(
        owner
            .get(&format!("{s}/label.svg?kind=ean13"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let zpl = owner
        .get(&format!("{s}/label.zpl"))
        .await
        .text()
        .await
        .unwrap();
    assert!(zpl.starts_with("^XA"), "{zpl}");
    assert!(zpl.trim_end().ends_with("^XZ"), "{zpl}");
    assert!(zpl.contains(&format!("^FD{a_code}^FS")));

    let res = owner
        .get(&format!("/api/v1/orgs/{org}/labels.pdf?samples={a},{b}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.pdf");
    std::fs::write(&file, &pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "pdftotext: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(&a_code) && text.contains(&b_code), "{text}");
        }
        Err(e) => {
            eprintln!("pdftotext not available ({e}); scripts/test.sh installs poppler-utils")
        }
    }
}

#[tokio::test]
async fn aliquots_link_both_ways_and_lower_the_parent_quantity() {
    let server = common::spawn().await;
    let owner = server.owner().await;
    let org = server.org_id.clone();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples"),
            json!({"sample_type": "blood", "quantity": 10.0, "unit": "mL", "source_ref": "SUBJ-1"}),
        )
        .await;
    let parent: Value = res.json().await.unwrap();
    let pid = parent["id"].as_str().unwrap().to_owned();
    let s = format!("/api/v1/orgs/{org}/samples/{pid}");

    let res = owner
        .post(
            &format!("{s}/aliquots"),
            json!({"count": 3, "quantity": 2.5}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let kids: Value = res.json().await.unwrap();
    let kids = kids["items"].as_array().unwrap().clone();
    assert_eq!(kids.len(), 3);
    let codes: Vec<&str> = kids.iter().map(|k| k["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["S-000002", "S-000003", "S-000004"]);
    assert_eq!(kids[0]["sample_type"], "blood");
    assert_eq!(kids[0]["quantity"], 2.5);
    assert_eq!(kids[0]["unit"], "mL");
    assert_eq!(kids[0]["source_ref"], "SUBJ-1");
    assert_eq!(owner.get_json(&s).await["quantity"], 2.5);

    // More than is left: refused, nothing written. A derivative names its type.
    let before = common::audit_len(&owner, &org).await;
    let res = owner
        .post(
            &format!("{s}/aliquots"),
            json!({"count": 2, "quantity": 1.5}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let p: Value = res.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("more than the 2.5"),
        "{p}"
    );
    let res = owner
        .post(&format!("{s}/aliquots"), json!({"kind": "derivative"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for body in [
        json!({"count": 0}),
        json!({"count": 101}),
        json!({"quantity": -1.0}),
        json!({"kind": "clone"}),
    ] {
        let res = owner.post(&format!("{s}/aliquots"), body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(common::audit_len(&owner, &org).await, before);

    // A derivative of an aliquot: lineage both ways, three generations.
    let kid = kids[0]["id"].as_str().unwrap().to_owned();
    let res = owner
        .post(
            &format!("/api/v1/orgs/{org}/samples/{kid}/aliquots"),
            json!({"kind": "derivative", "sample_type": "DNA", "quantity": 0.5}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let grandkid: Value = res.json().await.unwrap();
    let gid = grandkid["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(grandkid["items"][0]["sample_type"], "dna");
    let l = owner
        .get_json(&format!("/api/v1/orgs/{org}/samples/{gid}/lineage"))
        .await;
    let up: Vec<&str> = l["ancestors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(up, ["S-000002", "S-000001"]);
    assert_eq!(l["ancestors"][0]["kind"], "derivative");
    let l = owner.get_json(&format!("{s}/lineage")).await;
    assert_eq!(l["children"].as_array().unwrap().len(), 3);
    assert_eq!(l["children"][0]["quantity_taken"], "2.5");
    assert_eq!(l["ancestors"].as_array().unwrap().len(), 0);
    assert_eq!(
        owner
            .get_json(&format!("/api/v1/orgs/{org}/samples/{kid}"))
            .await["quantity"],
        2.0
    );
    assert!(audit_actions(&owner, &org, &pid)
        .await
        .contains(&"sample.derive".to_owned()));
    // A disposed parent gives nothing.
    owner
        .post(&format!("{s}/transitions"), json!({"to": "disposed"}))
        .await;
    let res = owner.post(&format!("{s}/aliquots"), json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}
