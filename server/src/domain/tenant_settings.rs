use serde::{Deserialize, Serialize};

use super::{FieldError, PasswordPolicy};

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
    /// The algorithm of the tenant's next signing key.
    pub signing_algorithm: SigningAlgorithm,
    /// Browser origins allowed to call the tenant's API with credentials.
    pub cors_origins: Vec<String>,
    pub rate_limits: RateLimits,
    pub lockout: Lockout,
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

/// After `max_failures` consecutive failed logins for one email within
/// `window_seconds`, logins for it are refused for `duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Lockout {
    pub max_failures: u32,
    pub window_seconds: u32,
    pub duration_seconds: u32,
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_seconds: 15 * 60,
            duration_seconds: 15 * 60,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SigningAlgorithm {
    #[default]
    EdDSA,
    ES256,
    RS256,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

/// A token-bucket limit: at most `max` requests per `per_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    pub max: u32,
    pub per_seconds: u32,
}

impl Limit {
    const fn new(max: u32, per_seconds: u32) -> Self {
        Self { max, per_seconds }
    }
}

/// Per-tenant rate limits, each keyed as its name says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RateLimits {
    pub login_per_ip: Limit,
    pub login_per_email: Limit,
    pub register_per_ip: Limit,
    pub forgot_password_per_ip: Limit,
    pub forgot_password_per_email: Limit,
    pub refresh_per_session: Limit,
    /// Every request under `/t/{tenant}` from one IP.
    pub requests_per_ip: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login_per_ip: Limit::new(30, 60),
            login_per_email: Limit::new(10, 60),
            register_per_ip: Limit::new(10, 3600),
            forgot_password_per_ip: Limit::new(20, 3600),
            forgot_password_per_email: Limit::new(3, 3600),
            refresh_per_session: Limit::new(60, 60),
            requests_per_ip: Limit::new(600, 60),
        }
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
            signing_algorithm: SigningAlgorithm::default(),
            cors_origins: Vec::new(),
            rate_limits: RateLimits::default(),
            lockout: Lockout::default(),
            email_verification: EmailVerification::default(),
            // Short, because the link sits in a mailbox: OWASP's Forgot
            // Password cheat sheet.
            reset_token_ttl_seconds: 30 * 60,
            verification_token_ttl_seconds: 24 * 60 * 60,
        }
    }
}

const MAX_ACCESS_TTL: u32 = 24 * 3600;
const MAX_REFRESH_TTL: u32 = 365 * 24 * 3600;

impl TenantSettings {
    /// Checks every field; each bad one is its own entry, named by its path
    /// in the `settings` object.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if !(60..=MAX_ACCESS_TTL).contains(&self.access_token_ttl_seconds) {
            errors.push(FieldError::new(
                "settings.accessTokenTtlSeconds",
                format!("must be between 60 and {MAX_ACCESS_TTL} seconds"),
            ));
        }
        if !(300..=MAX_REFRESH_TTL).contains(&self.refresh_token_ttl_seconds)
            || self.refresh_token_ttl_seconds < self.access_token_ttl_seconds
        {
            errors.push(FieldError::new(
                "settings.refreshTokenTtlSeconds",
                format!(
                    "must be between 300 and {MAX_REFRESH_TTL} seconds and not below the access-token lifetime"
                ),
            ));
        }
        if let Some(audience) = &self.audience
            && (audience.trim().is_empty()
                || audience.len() > 200
                || audience.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "settings.audience",
                "must be 1-200 characters without control characters",
            ));
        }
        let policy = &self.password_policy;
        if !(8..=128).contains(&policy.min_length) {
            errors.push(FieldError::new(
                "settings.passwordPolicy.minLength",
                "must be between 8 and 128",
            ));
        }
        if !(policy.min_length..=1024).contains(&policy.max_length) {
            errors.push(FieldError::new(
                "settings.passwordPolicy.maxLength",
                "must be at least minLength and at most 1024",
            ));
        }
        if self.cors_origins.len() > 50 {
            errors.push(FieldError::new(
                "settings.corsOrigins",
                "at most 50 origins",
            ));
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| !is_origin(o)) {
            errors.push(FieldError::new(
                "settings.corsOrigins",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        let limits = &self.rate_limits;
        for (field, limit) in [
            ("settings.rateLimits.loginPerIp", limits.login_per_ip),
            ("settings.rateLimits.loginPerEmail", limits.login_per_email),
            ("settings.rateLimits.registerPerIp", limits.register_per_ip),
            (
                "settings.rateLimits.forgotPasswordPerIp",
                limits.forgot_password_per_ip,
            ),
            (
                "settings.rateLimits.forgotPasswordPerEmail",
                limits.forgot_password_per_email,
            ),
            (
                "settings.rateLimits.refreshPerSession",
                limits.refresh_per_session,
            ),
            ("settings.rateLimits.requestsPerIp", limits.requests_per_ip),
        ] {
            if limit.max == 0 || !(1..=86_400).contains(&limit.per_seconds) {
                errors.push(FieldError::new(
                    field,
                    "max must be at least 1 and perSeconds between 1 and 86400",
                ));
            }
        }
        if !(60..=24 * 3600).contains(&self.reset_token_ttl_seconds) {
            errors.push(FieldError::new(
                "settings.resetTokenTtlSeconds",
                "must be between 60 and 86400 seconds",
            ));
        }
        if !(60..=30 * 24 * 3600).contains(&self.verification_token_ttl_seconds) {
            errors.push(FieldError::new(
                "settings.verificationTokenTtlSeconds",
                "must be between 60 and 2592000 seconds",
            ));
        }
        let lockout = &self.lockout;
        for (field, value, max) in [
            ("settings.lockout.maxFailures", lockout.max_failures, 1000),
            (
                "settings.lockout.windowSeconds",
                lockout.window_seconds,
                86_400,
            ),
            (
                "settings.lockout.durationSeconds",
                lockout.duration_seconds,
                86_400,
            ),
        ] {
            if !(1..=max).contains(&value) {
                errors.push(FieldError::new(
                    field,
                    format!("must be between 1 and {max}"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `scheme://host[:port]` with nothing after it, as browsers send in `Origin`.
fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && rest == rest.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(TenantSettings::default().validate().is_ok());
    }

    #[test]
    fn each_bad_field_is_reported() {
        let settings = TenantSettings {
            access_token_ttl_seconds: 1,
            refresh_token_ttl_seconds: 10,
            audience: Some(String::new()),
            cors_origins: vec![
                "https://ok.example".into(),
                "https://bad.example/path".into(),
            ],
            ..TenantSettings::default()
        };
        let fields: Vec<_> = settings
            .validate()
            .unwrap_err()
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "settings.accessTokenTtlSeconds",
                "settings.refreshTokenTtlSeconds",
                "settings.audience",
                "settings.corsOrigins"
            ]
        );
    }

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
        assert_eq!(settings.lockout, Lockout::default());
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

    #[test]
    fn origins() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:3000"));
        assert!(!is_origin("https://app.example.com/"));
        assert!(!is_origin("app.example.com"));
        assert!(!is_origin("*"));
    }
}
