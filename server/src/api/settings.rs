//! Tenant settings as the API shows and accepts them. The rules live in
//! `domain::TenantSettings::validate`; this is only the wire shape.

use poem_openapi::{Enum, Object};

use crate::domain::{
    EmailVerification, Limit, Lockout, PasswordPolicy, RateLimits, SigningAlgorithm, TenantSettings,
};

/// A tenant's settings. Every field has a default.
#[derive(Debug, Clone, Object)]
#[oai(rename = "TenantSettings", rename_all = "camelCase")]
pub struct Settings {
    /// Access-token lifetime in seconds (60–86400; default 900).
    pub access_token_ttl_seconds: u32,
    /// Absolute session (refresh-token) lifetime in seconds (300–31536000,
    /// not below the access-token lifetime; default 604800 = 7 days).
    pub refresh_token_ttl_seconds: u32,
    /// The `aud` claim of access tokens; absent when unset, and then the
    /// tenant slug.
    #[oai(skip_serializing_if_is_none)]
    pub audience: Option<String>,
    /// Whether `POST /auth/register` is open (default true; always false in `system`).
    pub signup_enabled: bool,
    pub password_policy: PasswordPolicyDto,
    /// Algorithm of the tenant's signing key (default `EdDSA`). Changing it
    /// rotates the key at once; the old key keeps verifying until the
    /// tokens it signed have expired.
    pub signing_algorithm: Algorithm,
    /// Browser origins (`https://app.example.com`) allowed to call the
    /// tenant's API with credentials (CORS). Default none.
    pub cors_origins: Vec<String>,
    pub rate_limits: RateLimitsDto,
    pub lockout: LockoutDto,
    /// Default `optional`.
    pub email_verification: Verification,
    /// Lifetime of a mailed password-reset link, in seconds (60–86400; default 1800).
    pub reset_token_ttl_seconds: u32,
    /// Lifetime of a mailed verification link, in seconds (60–2592000; default 86400).
    pub verification_token_ttl_seconds: u32,
}

/// Account lockout: after `maxFailures` consecutive failed logins for one
/// email within `windowSeconds` (defaults 10 in 900 s), logins for it are
/// refused with 429 `account_locked` for `durationSeconds` (default 900),
/// whatever the password. Unknown emails are counted alike, so a lock
/// reveals nothing. An admin lifts it with `PATCH .../users/{id}` `{"locked": false}`.
#[derive(Debug, Clone, Copy, Object)]
#[oai(rename = "Lockout", rename_all = "camelCase")]
pub struct LockoutDto {
    pub max_failures: u32,
    pub window_seconds: u32,
    pub duration_seconds: u32,
}

#[derive(Debug, Clone, Object)]
#[oai(rename = "PasswordPolicy", rename_all = "camelCase")]
pub struct PasswordPolicyDto {
    /// Minimum length in characters (8–128; default 8).
    pub min_length: u32,
    /// Maximum length in characters (minLength–1024; default 128).
    pub max_length: u32,
    /// Composition rules, off by default. Common passwords and passwords
    /// containing the email's local part are always refused; length counts
    /// characters after NFKC normalisation.
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    /// A character that is neither a letter nor a digit.
    pub require_symbol: bool,
}

/// Whether registration mails a verification link (`optional`, `required`)
/// and whether login waits for it (`required`: 403 `email_not_verified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "EmailVerification", rename_all = "lowercase")]
pub enum Verification {
    Off,
    Optional,
    Required,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "SigningAlgorithm")]
pub enum Algorithm {
    #[oai(rename = "EdDSA")]
    EdDsa,
    #[oai(rename = "ES256")]
    Es256,
    #[oai(rename = "RS256")]
    Rs256,
}

/// At most `max` requests per `perSeconds` (a token bucket).
#[derive(Debug, Clone, Copy, Object)]
#[oai(rename = "RateLimit", rename_all = "camelCase")]
pub struct LimitDto {
    pub max: u32,
    pub per_seconds: u32,
}

/// Per-tenant rate limits; over a limit the answer is 429 `rate_limited`.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RateLimits", rename_all = "camelCase")]
pub struct RateLimitsDto {
    /// Login attempts per client IP (default 30/60 s).
    pub login_per_ip: LimitDto,
    /// Login attempts per email, whether or not the account exists (default 10/60 s).
    pub login_per_email: LimitDto,
    /// Registrations per client IP (default 10/hour).
    pub register_per_ip: LimitDto,
    /// Password-reset requests per client IP (default 20/hour).
    pub forgot_password_per_ip: LimitDto,
    /// Password-reset requests per email (default 3/hour).
    pub forgot_password_per_email: LimitDto,
    /// Refreshes per session (default 60/60 s).
    pub refresh_per_session: LimitDto,
    /// All requests under `/t/{tenant}` per client IP (default 600/60 s).
    pub requests_per_ip: LimitDto,
}

/// A partial update of the settings: absent fields keep their value.
#[derive(Debug, Clone, Default, Object)]
#[oai(rename = "TenantSettingsPatch", rename_all = "camelCase")]
pub struct SettingsPatch {
    pub access_token_ttl_seconds: Option<u32>,
    pub refresh_token_ttl_seconds: Option<u32>,
    /// An empty string resets the audience to the tenant slug.
    pub audience: Option<String>,
    pub signup_enabled: Option<bool>,
    pub password_policy: Option<PasswordPolicyDto>,
    pub signing_algorithm: Option<Algorithm>,
    pub cors_origins: Option<Vec<String>>,
    pub rate_limits: Option<RateLimitsDto>,
    pub lockout: Option<LockoutDto>,
    pub email_verification: Option<Verification>,
    pub reset_token_ttl_seconds: Option<u32>,
    pub verification_token_ttl_seconds: Option<u32>,
}

impl SettingsPatch {
    pub fn apply(self, settings: &mut TenantSettings) {
        if let Some(v) = self.access_token_ttl_seconds {
            settings.access_token_ttl_seconds = v;
        }
        if let Some(v) = self.refresh_token_ttl_seconds {
            settings.refresh_token_ttl_seconds = v;
        }
        if let Some(v) = self.audience {
            settings.audience = Some(v).filter(|a| !a.is_empty());
        }
        if let Some(v) = self.signup_enabled {
            settings.signup_enabled = v;
        }
        if let Some(v) = self.password_policy {
            settings.password_policy = v.into();
        }
        if let Some(v) = self.signing_algorithm {
            settings.signing_algorithm = v.into();
        }
        if let Some(v) = self.cors_origins {
            settings.cors_origins = v;
        }
        if let Some(v) = self.rate_limits {
            settings.rate_limits = v.into();
        }
        if let Some(v) = self.email_verification {
            settings.email_verification = match v {
                Verification::Off => EmailVerification::Off,
                Verification::Optional => EmailVerification::Optional,
                Verification::Required => EmailVerification::Required,
            };
        }
        if let Some(v) = self.reset_token_ttl_seconds {
            settings.reset_token_ttl_seconds = v;
        }
        if let Some(v) = self.verification_token_ttl_seconds {
            settings.verification_token_ttl_seconds = v;
        }
        if let Some(v) = self.lockout {
            settings.lockout = Lockout {
                max_failures: v.max_failures,
                window_seconds: v.window_seconds,
                duration_seconds: v.duration_seconds,
            };
        }
    }
}

impl From<TenantSettings> for Settings {
    fn from(s: TenantSettings) -> Self {
        Self {
            access_token_ttl_seconds: s.access_token_ttl_seconds,
            refresh_token_ttl_seconds: s.refresh_token_ttl_seconds,
            audience: s.audience,
            signup_enabled: s.signup_enabled,
            password_policy: PasswordPolicyDto {
                min_length: s.password_policy.min_length,
                max_length: s.password_policy.max_length,
                require_uppercase: s.password_policy.require_uppercase,
                require_lowercase: s.password_policy.require_lowercase,
                require_digit: s.password_policy.require_digit,
                require_symbol: s.password_policy.require_symbol,
            },
            email_verification: match s.email_verification {
                EmailVerification::Off => Verification::Off,
                EmailVerification::Optional => Verification::Optional,
                EmailVerification::Required => Verification::Required,
            },
            reset_token_ttl_seconds: s.reset_token_ttl_seconds,
            verification_token_ttl_seconds: s.verification_token_ttl_seconds,
            signing_algorithm: match s.signing_algorithm {
                SigningAlgorithm::EdDSA => Algorithm::EdDsa,
                SigningAlgorithm::ES256 => Algorithm::Es256,
                SigningAlgorithm::RS256 => Algorithm::Rs256,
            },
            cors_origins: s.cors_origins,
            rate_limits: s.rate_limits.into(),
            lockout: LockoutDto {
                max_failures: s.lockout.max_failures,
                window_seconds: s.lockout.window_seconds,
                duration_seconds: s.lockout.duration_seconds,
            },
        }
    }
}

impl From<PasswordPolicyDto> for PasswordPolicy {
    fn from(p: PasswordPolicyDto) -> Self {
        Self {
            min_length: p.min_length,
            max_length: p.max_length,
            require_uppercase: p.require_uppercase,
            require_lowercase: p.require_lowercase,
            require_digit: p.require_digit,
            require_symbol: p.require_symbol,
        }
    }
}

impl From<Algorithm> for SigningAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::EdDsa => Self::EdDSA,
            Algorithm::Es256 => Self::ES256,
            Algorithm::Rs256 => Self::RS256,
        }
    }
}

impl From<Limit> for LimitDto {
    fn from(l: Limit) -> Self {
        Self {
            max: l.max,
            per_seconds: l.per_seconds,
        }
    }
}

impl From<LimitDto> for Limit {
    fn from(l: LimitDto) -> Self {
        Self {
            max: l.max,
            per_seconds: l.per_seconds,
        }
    }
}

impl From<RateLimits> for RateLimitsDto {
    fn from(r: RateLimits) -> Self {
        Self {
            login_per_ip: r.login_per_ip.into(),
            login_per_email: r.login_per_email.into(),
            register_per_ip: r.register_per_ip.into(),
            forgot_password_per_ip: r.forgot_password_per_ip.into(),
            forgot_password_per_email: r.forgot_password_per_email.into(),
            refresh_per_session: r.refresh_per_session.into(),
            requests_per_ip: r.requests_per_ip.into(),
        }
    }
}

impl From<RateLimitsDto> for RateLimits {
    fn from(r: RateLimitsDto) -> Self {
        Self {
            login_per_ip: r.login_per_ip.into(),
            login_per_email: r.login_per_email.into(),
            register_per_ip: r.register_per_ip.into(),
            forgot_password_per_ip: r.forgot_password_per_ip.into(),
            forgot_password_per_email: r.forgot_password_per_email.into(),
            refresh_per_session: r.refresh_per_session.into(),
            requests_per_ip: r.requests_per_ip.into(),
        }
    }
}
