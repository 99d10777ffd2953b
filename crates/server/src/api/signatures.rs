//! Electronic signatures as the API shows them, and the one signing check every record type
//! uses: the signer re-enters their password (and a TOTP or recovery code when they have MFA) in
//! the request itself — the same check as step-up (`auth::verify_reauth`), throttled like a
//! login. API tokens never sign.

use super::auth::{self, SecondFactor};
use crate::error::ApiResult;
use crate::extract::{AuthUser, ClientInfo};
use crate::state::AppState;
use labledger_store::{CheckedSignature, Signature, Signer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The signer's credentials, entered at signing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The signer's password, entered now.
    pub password: String,
    /// The authenticator's current code; required when the signer uses MFA.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Instead of `totp_code`: an unused recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Re-authenticates the signer; a wrong password or code signs nothing. Counts failures against
/// the account and address like failed logins (so signing cannot be used to guess passwords).
pub async fn confirm_signer(
    state: &AppState,
    user: &AuthUser,
    client: &ClientInfo,
    password: String,
    totp_code: Option<String>,
    recovery_code: Option<String>,
) -> ApiResult<Signer> {
    let factor = SecondFactor::new(totp_code, recovery_code);
    auth::throttled_reauth(state, user, client, password, &factor).await?;
    Ok(Signer {
        user_id: user.user_id,
        name: user.name.clone(),
    })
}

#[derive(Serialize, ToSchema, Clone)]
pub struct SignatureView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    pub record_type: String,
    pub record_id: String,
    /// authored, reviewed, approved, verified or closed.
    pub meaning: String,
    #[schema(value_type = String, format = Uuid)]
    pub signer_id: String,
    /// The signer's full name at signing.
    pub signer_name: String,
    pub signed_at: String,
    /// SHA-256 (hex) of the record's RFC 8785 canonical content at signing.
    pub content_sha256: String,
    /// Whether the record's content is still what was signed.
    pub valid: bool,
    /// Why the signature is invalid (absent when valid).
    pub reason: Option<String>,
}

impl From<CheckedSignature> for SignatureView {
    fn from(c: CheckedSignature) -> Self {
        let mut v = SignatureView::from(c.signature);
        v.valid = c.validity.valid;
        v.reason = c.validity.reason;
        v
    }
}

/// A signature just made (valid by construction).
impl From<Signature> for SignatureView {
    fn from(s: Signature) -> Self {
        Self {
            id: s.id.to_string(),
            record_type: s.record_type,
            record_id: s.record_id,
            meaning: s.meaning.as_str().to_owned(),
            signer_id: s.signer_id.to_string(),
            signer_name: s.signer_name,
            signed_at: s.signed_at.to_rfc3339(),
            content_sha256: hex::encode(&s.content_hash),
            valid: true,
            reason: None,
        }
    }
}
