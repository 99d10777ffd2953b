//! Security events: refused and failed requests are logged (target `security`) and counted,
//! never written to an org's audit chain as if they had changed something. The store adds
//! `privileged_change` events (grants, roles, tokens, keys, exports) after their commit.

#[derive(Clone, Copy, Debug)]
pub enum SecurityEvent {
    LoginFailed,
    LoginSucceeded,
    PermissionDenied,
    /// A record or org the caller cannot see was asked for (answered 404).
    NotVisible,
    CsrfRejected,
    Unauthenticated,
    AuditChainBroken,
    /// A correct password without a valid second factor.
    MfaFailed,
    MfaEnabled,
    MfaDisabled,
    /// An org-scoped request of a member without MFA in an org requiring it.
    MfaEnrolmentRequired,
    StepUpRequired,
    StepUpSucceeded,
    /// A login (or password change or reset request) refused by the back-off.
    LoginThrottled,
    /// An account locked after repeated failures, or an attempt on a locked account.
    AccountLocked,
    /// A wrong current password on a password change.
    PasswordChangeFailed,
    /// A password was changed or reset (sessions ended).
    PasswordChanged,
    /// An invalid, used or expired invitation or reset token.
    TokenRejected,
    /// Stored evidence failed its integrity check on read (tampering or corruption).
    IntegrityFailure,
    /// The orphan sweep removed an object no record refers to (or a partial upload).
    OrphanObjectRemoved,
}

impl SecurityEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityEvent::LoginFailed => "login_failed",
            SecurityEvent::LoginSucceeded => "login_succeeded",
            SecurityEvent::PermissionDenied => "permission_denied",
            SecurityEvent::NotVisible => "not_visible",
            SecurityEvent::IntegrityFailure => "integrity_failure",
            SecurityEvent::CsrfRejected => "csrf_rejected",
            SecurityEvent::Unauthenticated => "unauthenticated",
            SecurityEvent::AuditChainBroken => "audit_chain_broken",
            SecurityEvent::MfaFailed => "mfa_failed",
            SecurityEvent::MfaEnabled => "mfa_enabled",
            SecurityEvent::MfaDisabled => "mfa_disabled",
            SecurityEvent::MfaEnrolmentRequired => "mfa_enrolment_required",
            SecurityEvent::StepUpRequired => "step_up_required",
            SecurityEvent::StepUpSucceeded => "step_up_succeeded",
            SecurityEvent::LoginThrottled => "login_throttled",
            SecurityEvent::AccountLocked => "account_locked",
            SecurityEvent::PasswordChangeFailed => "password_change_failed",
            SecurityEvent::PasswordChanged => "password_changed",
            SecurityEvent::TokenRejected => "token_rejected",
            SecurityEvent::OrphanObjectRemoved => "orphan_object_removed",
        }
    }
}

/// Logs a security event (target `security`): the security stream writes and counts it
/// (`crate::security_log`) with the request it belongs to.
pub fn security_event(kind: SecurityEvent, detail: &str) {
    match kind {
        SecurityEvent::LoginSucceeded
        | SecurityEvent::MfaEnabled
        | SecurityEvent::MfaDisabled
        | SecurityEvent::StepUpSucceeded
        | SecurityEvent::PasswordChanged => {
            tracing::info!(target: "security", event = kind.as_str(), detail)
        }
        _ => tracing::warn!(target: "security", event = kind.as_str(), detail),
    }
}
