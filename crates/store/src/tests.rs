//! Store invariants that no HTTP test can reach: a write without an audit event is refused and
//! rolled back (whichever method ran it, member's or operator's door), and in a group commit a
//! failing job rolls back alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::tx::write_scoped;
use crate::*;
use labledger_domain::audit::Changes;
use labledger_domain::validate::{Email, OrgName, PersonName};
use labledger_domain::{OrgId, PermissionSet, UserId};

async fn store_with_org() -> (tempfile::TempDir, Store, OrgScope) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &sqlite_url_for_data_dir(dir.path()),
        StoreOptions {
            head_seal: Some(HeadSealKey::from_master(&[9; 32])),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let owner = NewOwner {
        email: Email::parse("e", "o@lab.example").unwrap(),
        name: PersonName::parse("n", "O").unwrap(),
        password_hash: "x".into(),
    };
    let (org, user, _) = store
        .create_org(OrgName::parse("n", "Lab").unwrap(), owner, Actor::system())
        .await
        .unwrap();
    let scope = store
        .resolve_scope(user, org, RequestMeta::default())
        .await
        .unwrap()
        .unwrap();
    (dir, store, scope)
}

async fn role_count(store: &Store, org: OrgId) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM roles WHERE org_id = $1")
        .bind(org.to_string())
        .fetch_one(store.reader())
        .await
        .unwrap()
}

fn insert_role(tx_org: &str, name: &str) -> String {
    format!(
        "INSERT INTO roles (org_id, id, name, description, permissions, builtin, created_at) VALUES ('{tx_org}', '{}', '{name}', '', '', 0, 0)",
        labledger_domain::RoleId::new()
    )
}

#[tokio::test]
async fn a_write_that_records_no_audit_event_is_refused_and_rolled_back() {
    let (_dir, store, scope) = store_with_org().await;
    let before = role_count(&store, scope.org_id()).await;
    let result = write_scoped(
        &store,
        &scope,
        Box::new(|tx| {
            Box::pin(async move {
                let sql = insert_role(tx.org(), "Sneaky");
                tx.execute(sqlx::query(&sql)).await?;
                Ok(())
            })
        }),
    )
    .await;
    assert!(matches!(result, Err(StoreError::Unaudited)), "{result:?}");
    assert_eq!(role_count(&store, scope.org_id()).await, before);
}

#[tokio::test]
async fn an_insert_returning_run_through_a_fetch_counts_as_a_write() {
    let (_dir, store, scope) = store_with_org().await;
    let before = role_count(&store, scope.org_id()).await;
    for many in [false, true] {
        let result = write_scoped(
            &store,
            &scope,
            Box::new(move |tx| {
                Box::pin(async move {
                    let sql = format!("{} RETURNING id", insert_role(tx.org(), "Sneaky"));
                    if many {
                        tx.fetch_all(sqlx::query(&sql)).await?;
                    } else {
                        tx.fetch_optional(sqlx::query(&sql)).await?;
                    }
                    Ok(())
                })
            }),
        )
        .await;
        assert!(matches!(result, Err(StoreError::Unaudited)), "{result:?}");
    }
    assert_eq!(role_count(&store, scope.org_id()).await, before);
    // A plain SELECT through the same door is a read: no event needed.
    let n = write_scoped(
        &store,
        &scope,
        Box::new(|tx| {
            Box::pin(async move {
                let q = sqlx::query("SELECT COUNT(*) AS n FROM roles WHERE org_id = $1")
                    .bind(tx.org().to_owned());
                Ok(tx.fetch_all(q).await?.len())
            })
        }),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn an_operator_write_that_records_no_audit_event_is_refused_and_rolled_back() {
    let (_dir, store, scope) = store_with_org().await;
    let before = role_count(&store, scope.org_id()).await;
    let result = store
        .operator_write(
            scope.org_id(),
            Actor::operator("test"),
            Box::new(|tx| {
                Box::pin(async move {
                    let sql = format!("{} RETURNING id", insert_role(&tx.org_text(), "Sneaky"));
                    tx.fetch_optional(sqlx::query(&sql)).await?;
                    Ok(())
                })
            }),
        )
        .await;
    assert!(matches!(result, Err(StoreError::Unaudited)), "{result:?}");
    assert_eq!(role_count(&store, scope.org_id()).await, before);
}

#[tokio::test]
async fn a_head_moved_with_plain_sql_is_named_and_no_longer_extended() {
    let (dir, store, scope) = store_with_org().await;
    let mut raw =
        <sqlx::AnyConnection as sqlx::Connection>::connect(&sqlite_url_for_data_dir(dir.path()))
            .await
            .unwrap();
    sqlx::query("UPDATE audit_heads SET seq = seq + 1 WHERE org_id = $1")
        .bind(scope.org_id().to_string())
        .execute(&mut raw)
        .await
        .unwrap();
    let verdict = store.org(&scope).verify_audit().await.unwrap();
    assert!(matches!(verdict, Verification::Broken(_)), "{verdict:?}");
    // LabLedger refuses to seal whatever now sits at the head.
    let result = store
        .set_org_disabled(scope.org_id(), true, Actor::operator("test"))
        .await;
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone_inside_a_group_commit() {
    let (_dir, store, scope) = store_with_org().await;
    let before = role_count(&store, scope.org_id()).await;
    let job = |name: &'static str, fail: bool| {
        let store = store.clone();
        let scope = scope.clone();
        tokio::spawn(async move {
            write_scoped(
                &store,
                &scope,
                Box::new(move |tx| {
                    Box::pin(async move {
                        let sql = insert_role(tx.org(), name);
                        tx.execute(sqlx::query(&sql)).await?;
                        tx.record(
                            "role.create",
                            "role",
                            None,
                            Changes::new().created("name", name),
                        );
                        if fail {
                            return Err(StoreError::Refused("planned failure".into()));
                        }
                        Ok(())
                    })
                }),
            )
            .await
        })
    };
    // Queue many at once so they share commits.
    let handles: Vec<_> = (0..40)
        .map(|i| job(Box::leak(format!("r{i}").into_boxed_str()), i % 3 == 0))
        .collect();
    let mut ok = 0;
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.unwrap();
        assert_eq!(r.is_ok(), i % 3 != 0, "job {i}: {r:?}");
        ok += usize::from(r.is_ok());
    }
    assert_eq!(role_count(&store, scope.org_id()).await, before + ok as i64);
    match store.org(&scope).verify_audit().await.unwrap() {
        Verification::Intact { events, .. } => assert_eq!(events, 2 + ok as i64),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_scope_without_the_permission_cannot_read_or_write() {
    let (_dir, store, scope) = store_with_org().await;
    let weak = OrgScope::new(
        scope.org_id(),
        "Lab".into(),
        UserId::new(),
        PermissionSet::EMPTY,
        false,
        RequestMeta::default(),
    );
    let org = store.org(&weak);
    assert!(matches!(org.members().await, Err(StoreError::Forbidden(_))));
    assert!(matches!(
        org.verify_audit().await,
        Err(StoreError::Forbidden(_))
    ));
    assert!(matches!(
        org.audit_page(AuditFilter::default(), 10).await,
        Err(StoreError::Forbidden(_))
    ));
}
