use serde::{Deserialize, Serialize};

use super::PasswordPolicy;

/// A tenant's settings, stored as JSON on the tenant row. Every field has a
/// default, so rows written before a field existed read back sensibly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSettings {
    /// Lifetime of access tokens, in seconds.
    pub access_token_ttl_seconds: u32,
    /// Absolute lifetime of a session and its refresh tokens, in seconds.
    pub refresh_token_ttl_seconds: u32,
    /// `aud` of access tokens; the tenant slug when unset.
    pub audience: Option<String>,
    /// Whether `POST /auth/register` is open. Always off in `system`.
    pub signup_enabled: bool,
    pub password_policy: PasswordPolicy,
    /// Whether registration mails a verification link, and whether login
    /// waits for it.
    pub email_verification: EmailVerification,
    /// Lifetime of a password-reset token, in seconds.
    pub reset_token_ttl_seconds: u32,
    /// Lifetime of an email-verification token, in seconds.
    pub verification_token_ttl_seconds: u32,
}

/// The tenant's `emailVerification` setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailVerification {
    /// No verification mail at registration; login never asks for it.
    Off,
    /// Registration mails a link; login works before it is followed.
    #[default]
    Optional,
    /// Registration mails a link; login answers `email_not_verified` until
    /// it is followed.
    Required,
}

impl EmailVerification {
    /// Whether registration sends a verification mail.
    pub fn mails_on_registration(self) -> bool {
        self != Self::Off
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 15 * 60,
            refresh_token_ttl_seconds: 7 * 24 * 60 * 60,
            audience: None,
            signup_enabled: true,
            password_policy: PasswordPolicy::default(),
            email_verification: EmailVerification::default(),
            // Short, because the link sits in a mailbox: OWASP's Forgot
            // Password cheat sheet.
            reset_token_ttl_seconds: 30 * 60,
            verification_token_ttl_seconds: 24 * 60 * 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EmailVerification, TenantSettings};

    #[test]
    fn settings_written_before_a_field_existed_read_back_with_defaults() {
        let settings: TenantSettings = serde_json::from_str(
            r#"{"accessTokenTtlSeconds": 60, "passwordPolicy": {"minLength": 10}}"#,
        )
        .unwrap();
        assert_eq!(settings.access_token_ttl_seconds, 60);
        assert_eq!(settings.password_policy.min_length, 10);
        assert_eq!(settings.password_policy.max_length, 128);
        assert!(!settings.password_policy.require_digit);
        assert_eq!(settings.email_verification, EmailVerification::Optional);
        assert_eq!(settings.reset_token_ttl_seconds, 1800);
    }

    #[test]
    fn email_verification_is_lower_case_in_json() {
        let json = serde_json::to_value(TenantSettings {
            email_verification: EmailVerification::Required,
            ..TenantSettings::default()
        })
        .unwrap();
        assert_eq!(json["emailVerification"], "required");
    }
}
