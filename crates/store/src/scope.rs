//! Who is acting, in which org, with which permissions. Only the store makes an [`OrgScope`], after
//! checking membership, so holding one proves the actor belongs to the org.

use crate::error::{Result, StoreError};
use labledger_domain::audit::ActorKind;
use labledger_domain::{OrgId, Permission, PermissionSet, UserId};

/// Where a request came from, recorded in every audit event it causes.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

/// The acting identity.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorKind,
    /// User id, token id, or operator name; none for the system itself.
    pub id: Option<String>,
}

impl Actor {
    pub fn user(id: UserId) -> Self {
        Self {
            kind: ActorKind::User,
            id: Some(id.to_string()),
        }
    }
    pub fn operator(name: &str) -> Self {
        Self {
            kind: ActorKind::Operator,
            id: Some(name.to_owned()),
        }
    }
    pub fn token(id: labledger_domain::ApiTokenId) -> Self {
        Self {
            kind: ActorKind::Token,
            id: Some(id.to_string()),
        }
    }
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            id: None,
        }
    }
}

/// Proof that an actor may act in one org, with the permissions they hold there.
#[derive(Clone, Debug)]
pub struct OrgScope {
    org_id: OrgId,
    org_name: String,
    user_id: UserId,
    actor: Actor,
    permissions: PermissionSet,
    is_owner: bool,
    /// Sees only the records of the projects they belong to.
    project_limited: bool,
    meta: RequestMeta,
}

impl OrgScope {
    pub(crate) fn new(
        org_id: OrgId,
        org_name: String,
        user_id: UserId,
        permissions: PermissionSet,
        is_owner: bool,
        meta: RequestMeta,
    ) -> Self {
        Self {
            org_id,
            org_name,
            user_id,
            actor: Actor::user(user_id),
            permissions,
            is_owner,
            project_limited: false,
            meta,
        }
    }

    /// Limits the scope to the records of the member's projects.
    pub(crate) fn with_project_limit(mut self, limited: bool) -> Self {
        self.project_limited = limited;
        self
    }

    /// Whether the caller sees only the records of the projects they belong to.
    pub fn is_project_limited(&self) -> bool {
        self.project_limited
    }

    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    pub fn org_name(&self) -> &str {
        &self.org_name
    }
    pub fn user_id(&self) -> UserId {
        self.user_id
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }
    pub fn permissions(&self) -> PermissionSet {
        self.permissions
    }
    pub fn is_owner(&self) -> bool {
        self.is_owner
    }
    /// Whether the caller is an API token (acting for `user_id`, its creator).
    pub fn is_token(&self) -> bool {
        self.actor.kind == ActorKind::Token
    }

    /// The scope of an API token: its creator's, narrowed to the token's permissions, acting as
    /// the token. A token never acts as an Owner.
    pub(crate) fn narrowed_to_token(
        mut self,
        token: labledger_domain::ApiTokenId,
        permissions: PermissionSet,
    ) -> Self {
        self.permissions = self.permissions.intersection(permissions);
        self.is_owner = false;
        self.actor = Actor::token(token);
        self
    }

    /// Refuses API tokens: some actions need a person (creating tokens, asking for or granting
    /// privileged access).
    pub fn require_user(&self) -> Result<()> {
        if self.is_token() {
            Err(StoreError::NotAllowed(
                "API tokens cannot do this; log in as a user".into(),
            ))
        } else {
            Ok(())
        }
    }
    pub fn can(&self, perm: Permission) -> bool {
        self.permissions.contains(perm)
    }

    /// The one permission check every org operation makes before touching data.
    pub fn require(&self, perm: Permission) -> Result<()> {
        if self.can(perm) {
            Ok(())
        } else {
            Err(StoreError::Forbidden(perm))
        }
    }
}
