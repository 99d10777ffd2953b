//! UI extractors: the logged-in user ([`UiUser`]: otherwise a redirect to the login form), the
//! org of the path with the user's scope there ([`UiOrg`]: otherwise an HTML 404/403 page), and
//! POST forms checked for the session's CSRF token and a same-origin source ([`CsrfForm`]).

use super::error::UiError;
use super::layout::{Chrome, CurrentOrg, Nav};
use crate::error::ApiError;
use crate::extract::{authenticate, resolve_org, AuthUser};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use labledger_domain::Permission;
use labledger_store::{Membership, OrgScope};
use std::str::FromStr;

/// The logged-in user of a UI page.
#[derive(Clone, Debug)]
pub struct UiUser(pub AuthUser);

impl FromRequestParts<AppState> for UiUser {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<UiUser>() {
            return Ok(user.clone());
        }
        match authenticate(parts, state).await? {
            Some(user) => {
                let user = UiUser(user);
                parts.extensions.insert(user.clone());
                Ok(user)
            }
            None => Err(UiError::Login),
        }
    }
}

/// The logged-in user, their scope in the org of the path, and their orgs (for the switcher).
pub struct UiOrg {
    pub user: AuthUser,
    pub scope: OrgScope,
    pub memberships: Vec<Membership>,
}

impl FromRequestParts<AppState> for UiOrg {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let UiUser(user) = UiUser::from_request_parts(parts, state).await?;
        let memberships = state
            .store()
            .memberships(user.user_id)
            .await
            .map_err(ApiError::from)?;
        match resolve_org(parts, state, &user).await {
            Ok(scope) => Ok(UiOrg {
                user,
                scope,
                memberships,
            }),
            Err(e) => {
                let chrome = Chrome::new(&user, &memberships, None, Nav::None);
                Err(UiError::from(e).with_chrome(&chrome))
            }
        }
    }
}

impl UiOrg {
    pub fn chrome(&self, active: Nav) -> Chrome {
        Chrome::new(
            &self.user,
            &self.memberships,
            Some(CurrentOrg::of(&self.scope)),
            active,
        )
    }

    /// `/orgs/{org_id}`.
    pub fn base(&self) -> String {
        format!("/orgs/{}", self.scope.org_id())
    }

    pub fn csrf(&self) -> &str {
        &self.user.csrf_token
    }

    /// A 403 page (in the navigation) unless the scope holds the permission.
    pub fn require(&self, perm: Permission, section: Nav) -> Result<(), UiError> {
        if self.scope.can(perm) {
            return Ok(());
        }
        crate::security::security_event(
            crate::security::SecurityEvent::PermissionDenied,
            &format!("UI page needs `{perm}` in org {}", self.scope.org_id()),
        );
        Err(UiError::forbidden(
            self.chrome(section),
            format!(
                "Your roles in {} do not include the permission {perm}, which this page needs.",
                self.scope.org_name()
            ),
        ))
    }

    /// A 404 page in the navigation.
    pub fn not_found(&self) -> UiError {
        UiError::NotFound.with_chrome(&self.chrome(Nav::None))
    }

    /// An error in this org's navigation.
    pub fn error(&self, e: impl Into<UiError>, section: Nav) -> UiError {
        e.into().with_chrome(&self.chrome(section))
    }
}

/// The id of the record the path names (its last parameter other than `{org_id}`); `None` when
/// it does not parse, to be answered like a record that does not exist.
pub struct UiRecord<T>(pub Option<T>);

impl<T: FromStr + Send> FromRequestParts<AppState> for UiRecord<T> {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(UiRecord(crate::extract::record_param(parts, state).await))
    }
}

/// The fields of a submitted form, in order; a name may repeat (checkboxes).
#[derive(Clone, Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(bytes: &[u8]) -> Self {
        FormData(form_urlencoded::parse(bytes).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field's value, or the empty string.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// Every field, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Refuses a form post a browser says comes from another site (see [`crate::extract::same_origin`]).
pub fn check_same_origin(parts: &Parts) -> Result<(), UiError> {
    if crate::extract::same_origin(parts) {
        Ok(())
    } else {
        Err(UiError::csrf())
    }
}

/// Reads an `application/x-www-form-urlencoded` body.
pub async fn read_form(req: Request, state: &AppState) -> Result<FormData, UiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_form = content_type
        .parse::<mime::Mime>()
        .is_ok_and(|m| m.type_() == mime::APPLICATION && m.subtype() == mime::WWW_FORM_URLENCODED);
    if !is_form {
        return Err(ApiError::UnsupportedMediaType(
            "Send the form as application/x-www-form-urlencoded.".into(),
        )
        .into());
    }
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            UiError::from(ApiError::PayloadTooLarge)
        } else {
            UiError::from(ApiError::BadRequest(
                "The form could not be read.".into(),
                Vec::new(),
            ))
        }
    })?;
    Ok(FormData::parse(&bytes))
}

/// A POSTed form of a logged-in user, from this site, carrying the session's CSRF token in the
/// hidden field `csrf`. Anything else is refused with a 403 page before the handler runs.
pub struct CsrfForm(pub FormData);

impl FromRequest<AppState> for CsrfForm {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        check_same_origin(&parts)?;
        let UiUser(user) = UiUser::from_request_parts(&mut parts, state).await?;
        let form = read_form(Request::from_parts(parts, body), state).await?;
        let sent = form.get("csrf").unwrap_or_default();
        if !labledger_auth::secrets_equal(sent, &user.csrf_token) {
            return Err(UiError::csrf());
        }
        Ok(CsrfForm(form))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut b = HttpRequest::builder().method("POST").uri("/logout");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_origin_rules() {
        assert!(check_same_origin(&parts(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(check_same_origin(&parts(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ]))
        .is_ok());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example"),
            ("origin", "https://lab.example")
        ]))
        .is_ok());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example"),
            ("origin", "https://evil.example")
        ]))
        .is_err());
        assert!(check_same_origin(&parts(&[("host", "lab.example"), ("origin", "null")])).is_err());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example:8443"),
            ("origin", "https://lab.example")
        ]))
        .is_err());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example"),
            ("sec-fetch-site", "cross-site")
        ]))
        .is_err());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example"),
            ("sec-fetch-site", "same-origin")
        ]))
        .is_ok());
        assert!(check_same_origin(&parts(&[
            ("host", "lab.example"),
            ("sec-fetch-site", "same-site")
        ]))
        .is_err());
        // `Origin: null` (no-referrer policy) only with a same-origin fetch.
        let null_same = [
            ("host", "lab.example"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(check_same_origin(&parts(&null_same)).is_ok());
        let null_cross = [
            ("host", "lab.example"),
            ("origin", "null"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(check_same_origin(&parts(&null_cross)).is_err());
        let foreign = [
            ("host", "lab.example"),
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(check_same_origin(&parts(&foreign)).is_err());
    }

    #[test]
    fn repeated_fields() {
        let f = FormData::parse(b"roles=A&roles=B+C&csrf=x%26y&empty=");
        assert_eq!(f.all("roles"), vec!["A".to_owned(), "B C".to_owned()]);
        assert_eq!(f.get("csrf"), Some("x&y"));
        assert_eq!(f.text("missing"), "");
        assert_eq!(f.get("empty"), Some(""));
    }
}
