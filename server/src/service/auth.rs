//! The token flows: register, login, refresh (rotation and reuse
//! detection), logout, logout-all, and authenticating a Bearer token.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::json;

use super::audit::{Audit, AuditEvent, AuditKind};
use super::credentials::{Credentials, UserGone};
use super::limits::{LimitKind, RateLimiters};
use super::passwords::PasswordHasher;
use super::tenants::TenantContext;
use super::token_cache::TokenCache;
use super::tokens::{self, AccessClaims};
use crate::domain::{
    DisplayName, Email, EmailVerification, Password, Role, Secret, SessionId, UserId, Validator,
};
use crate::error::{Error, Result};
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{self, Db, StoreError};

/// Where a request came from, recorded on sessions and in the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's address: the socket peer, or what a trusted proxy
    /// says in `X-Forwarded-For` (`api::client_ip`).
    pub ip: Option<IpAddr>,
    /// At most [`MAX_USER_AGENT_CHARS`] characters.
    user_agent: Option<String>,
}

impl ClientInfo {
    /// User agents are client-chosen text of any length: this keeps a
    /// prefix that fits the columns that record it.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> Self {
        let user_agent =
            user_agent.map(
                |agent| match agent.char_indices().nth(MAX_USER_AGENT_CHARS) {
                    Some((cut, _)) => agent[..cut].to_owned(),
                    None => agent.to_owned(),
                },
            );
        Self { ip, user_agent }
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }
}

/// Unparsed registration input, straight from the request.
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

pub struct TokenPair {
    pub access_token: Secret<String>,
    pub refresh_token: Secret<String>,
    /// Seconds until the access token expires.
    pub expires_in: u32,
    /// Seconds until the session (and so every refresh token) ends.
    pub refresh_expires_in: u32,
}

/// A verified Bearer token, its live session and its user.
#[derive(Clone)]
pub struct Principal {
    pub user: User,
    pub session_id: SessionId,
    pub claims: AccessClaims,
}

pub struct Auth {
    db: Db,
    hasher: Arc<PasswordHasher>,
    audit: Arc<Audit>,
    reuse_grace: Duration,
    /// Registration mails the verification link through it.
    credentials: Arc<Credentials>,
    limits: Arc<RateLimiters>,
    token_cache: TokenCache,
}

/// The longest user agent recorded (the columns' size).
const MAX_USER_AGENT_CHARS: usize = 512;

impl Auth {
    pub fn new(
        db: Db,
        hasher: Arc<PasswordHasher>,
        audit: Arc<Audit>,
        reuse_grace: Duration,
        credentials: Arc<Credentials>,
        limits: Arc<RateLimiters>,
        token_cache_lifetime: Duration,
    ) -> Self {
        Self {
            db,
            hasher,
            audit,
            reuse_grace,
            credentials,
            limits,
            token_cache: TokenCache::new(token_cache_lifetime),
        }
    }

    pub async fn register(
        &self,
        tenant: &TenantContext,
        input: Registration,
        client: &ClientInfo,
    ) -> Result<User> {
        let settings = tenant.settings();
        if !settings.signup_enabled || tenant.tenant.slug.is_system() {
            return Err(Error::SignupDisabled);
        }
        self.limits.check_ip(
            tenant.id(),
            &settings.rate_limits,
            LimitKind::RegisterPerIp,
            client.ip,
        )?;
        let mut v = Validator::default();
        let email = v.check("email", Email::parse(&input.email));
        let password = v.check_all(
            "password",
            Password::parse_new(input.password, &settings.password_policy, email.as_ref()),
        );
        let name = v.check("name", DisplayName::parse_optional(input.name.as_deref()));
        v.finish().map_err(Error::Validation)?;
        let (Some(email), Some(password), Some(name)) = (email, password, name) else {
            return Err(Error::Internal("validator passed without values".into()));
        };
        let hash = self.hasher.hash(&password).await?;
        let now = Utc::now();
        let user = User {
            id: UserId::generate(),
            tenant_id: tenant.id(),
            email: email.as_str().to_owned(),
            name: name.map(|n| n.as_str().to_owned()),
            password_hash: Some(hash.expose().clone()),
            roles: vec![Role::user().to_string()],
            email_verified: false,
            disabled: false,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        store::users::insert(&self.db, &user)
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation => Error::EmailTaken,
                other => other.into(),
            })?;
        tracing::info!(user_id = %user.id, "user registered");
        if settings.email_verification.mails_on_registration() {
            match self.credentials.send_verification(tenant, &user).await {
                Ok(Ok(())) => {}
                Ok(Err(UserGone)) => {
                    tracing::info!(user_id = %user.id, "deleted before their verification mail");
                }
                // The account exists; failing the request now would only
                // make the client retry into `email_taken`. The user can ask
                // for a new link with `/auth/resend-verification`.
                Err(e) => {
                    tracing::error!(user_id = %user.id, error = %e, "verification mail not issued");
                }
            }
        }
        Ok(user)
    }

    /// Checks the credentials ([`Self::check_credentials`]) and opens a session.
    pub async fn login(
        &self,
        tenant: &TenantContext,
        email: &str,
        password: String,
        client: ClientInfo,
    ) -> Result<TokenPair> {
        let user = self
            .check_credentials(tenant, email, password, &client)
            .await?;
        let pair = self.open_session(tenant, &user, &client).await?;
        tracing::info!("login succeeded");
        Ok(pair)
    }

    /// The one credential check of every sign-in (API login and dashboard
    /// sign-in alike): the password (the same argon2 work whether or not
    /// the account exists), then whether the account may sign in at all.
    /// Failures are audited here; opening a session is the caller's part.
    /// Rate limits per IP and per email come first, then the lockout; both
    /// apply to unknown emails alike, so neither tells whether an account
    /// exists.
    pub async fn check_credentials(
        &self,
        tenant: &TenantContext,
        email: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<User> {
        let mut v = Validator::default();
        let email = v.check("email", Email::parse(email));
        let password = v.check("password", Password::parse_attempt(password));
        v.finish().map_err(Error::Validation)?;
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::Internal("validator passed without values".into()));
        };
        let limits = &tenant.settings().rate_limits;
        self.limits
            .check_ip(tenant.id(), limits, LimitKind::LoginPerIp, client.ip)?;
        self.limits.check(
            tenant.id(),
            limits,
            LimitKind::LoginPerEmail,
            email.as_str(),
        )?;
        let now = Utc::now();
        let (throttle, user) =
            store::throttle::find_with_user(&self.db, tenant.id(), &email).await?;
        if let Some(until) = throttle.and_then(|t| t.locked_until).filter(|u| *u > now) {
            // No hashing: a locked email costs an attacker's flood nothing.
            tracing::info!("login refused: locked");
            let retry_after_secs = u64::try_from((until - now).num_seconds()).unwrap_or(0) + 1;
            return Err(Error::AccountLocked { retry_after_secs });
        }
        let stored_hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let matches = self.hasher.verify(&password, stored_hash).await?;
        let user = match user {
            Some(user) if matches => user,
            other => {
                tracing::info!("login failed");
                self.count_failure(tenant, &email, other.as_ref(), client, now)
                    .await?;
                // The email is recorded only when it names an account:
                // otherwise the log would collect what people mistype.
                let mut event = AuditEvent::new(AuditKind::LoginFailed, tenant.id())
                    .client(client)
                    .detail(json!({"reason": "invalid_credentials"}));
                if let Some(user) = other {
                    event = event.subject(user.id);
                }
                self.audit.record(event).await;
                return Err(Error::InvalidCredentials);
            }
        };
        // Said only after a correct password, so it reveals nothing to a guesser.
        if user.disabled {
            self.audit
                .record(
                    AuditEvent::new(AuditKind::LoginFailed, tenant.id())
                        .subject(user.id)
                        .client(client)
                        .detail(json!({"reason": "account_disabled"})),
                )
                .await;
            return Err(Error::AccountDisabled);
        }
        if tenant.settings().email_verification == EmailVerification::Required
            && !user.email_verified
        {
            return Err(Error::EmailNotVerified);
        }
        if throttle.is_some() {
            // A correct password ends the run of failures.
            let txn = store::begin(&self.db).await?;
            store::throttle::clear(&txn, tenant.id(), email.as_str()).await?;
            store::users::set_locked_until(&txn, tenant.id(), email.as_str(), None).await?;
            store::commit(txn).await?;
        }
        record_user(user.id);
        Ok(user)
    }

    /// Counts a failed login for the email and locks it once the tenant's
    /// `lockout.maxFailures` is reached within its window. The count and
    /// the lock are in the database, so they hold across restarts and
    /// every instance.
    async fn count_failure(
        &self,
        tenant: &TenantContext,
        email: &Email,
        user: Option<&User>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let lockout = tenant.settings().lockout;
        let window_start = now - chrono::Duration::seconds(i64::from(lockout.window_seconds));
        let txn = store::begin(&self.db).await?;
        let failures =
            store::throttle::record_failure(&txn, tenant.id(), email.as_str(), now, window_start)
                .await?;
        let locked_until = (failures >= lockout.max_failures)
            .then(|| now + chrono::Duration::seconds(i64::from(lockout.duration_seconds)));
        if let Some(until) = locked_until {
            store::throttle::lock(&txn, tenant.id(), email.as_str(), until).await?;
            store::users::set_locked_until(&txn, tenant.id(), email.as_str(), Some(until)).await?;
        }
        store::commit(txn).await?;
        if let Some(until) = locked_until {
            tracing::warn!(failures, "account locked after failed logins");
            let mut event = AuditEvent::new(AuditKind::AccountLocked, tenant.id())
                .client(client)
                .detail(json!({"failures": failures, "until": until}));
            if let Some(user) = user {
                event = event.subject(user.id);
            }
            self.audit.record(event).await;
        }
        Ok(())
    }

    /// The session of a successful login, with its first refresh token
    /// and the login's audit record, all written at once.
    async fn open_session(
        &self,
        tenant: &TenantContext,
        user: &User,
        client: &ClientInfo,
    ) -> Result<TokenPair> {
        let now = Utc::now();
        let lifetime =
            chrono::Duration::seconds(i64::from(tenant.settings().refresh_token_ttl_seconds));
        let session = Session {
            id: SessionId::generate(),
            tenant_id: tenant.id(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
            ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
        };
        let (refresh_token, refresh_hash) = tokens::new_refresh_token()?;
        let audit = AuditEvent::new(AuditKind::LoginSucceeded, tenant.id())
            .actor(user.id)
            .subject(user.id)
            .client(client)
            .into_record();
        if !store::sessions::open(&self.db, &session, &refresh_hash, &audit).await? {
            // Deleted since its password was checked.
            return Err(Error::InvalidCredentials);
        }
        self.token_pair(tenant, user, &session, refresh_token, now)
    }

    fn token_pair(
        &self,
        tenant: &TenantContext,
        user: &User,
        session: &Session,
        refresh_token: Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<TokenPair> {
        let ttl = tenant.settings().access_token_ttl_seconds;
        let access_token =
            tokens::issue_access_token(&tenant.verifier(), user, session.id, now, ttl)?;
        let refresh_expires_in = (session.expires_at - now).num_seconds().max(0);
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: ttl,
            refresh_expires_in: u32::try_from(refresh_expires_in).unwrap_or(u32::MAX),
        })
    }

    /// Rotates a refresh token. The token, its session and user are read
    /// first, in one query; then one round trip writes the rotation,
    /// conditional on the token and the session still being live
    /// ([`store::sessions::rotate_refresh_token`]): of concurrent refreshes
    /// with one token exactly one wins, so a session never forks, and a
    /// session revoked since the read gets no new token. A token already
    /// retired is either a lost race (within the reuse grace: refused,
    /// nothing else) or replay of a stolen token (later: the whole session
    /// is revoked, RFC 9700 §4.14.2).
    pub async fn refresh(
        &self,
        tenant: &TenantContext,
        token: &str,
        client: ClientInfo,
    ) -> Result<TokenPair> {
        let hash = tokens::hash_refresh_token(token);
        let now = Utc::now();
        let Some((found, session, user)) =
            store::sessions::find_refresh_token_with_session(&self.db, tenant.id(), &hash).await?
        else {
            return Err(Error::InvalidToken);
        };
        if let Some(retired_at) = found.retired_at {
            self.refuse_retired(tenant, session, retired_at, &client, now)
                .await?;
            return Err(Error::InvalidToken);
        }
        self.limits.check(
            tenant.id(),
            &tenant.settings().rate_limits,
            LimitKind::RefreshPerSession,
            &session.id.0.to_string(),
        )?;
        if !session.is_live(now) || user.disabled {
            return Err(Error::InvalidToken);
        }
        record_user(user.id);
        let (refresh_token, refresh_hash) = tokens::new_refresh_token()?;
        let rotated = store::sessions::rotate_refresh_token(
            &self.db,
            store::sessions::Rotation {
                tenant: tenant.id(),
                session: session.id,
                presented_hash: hash,
                new_hash: refresh_hash,
                now,
                ip: client.ip.map(|ip| ip.to_string()),
                user_agent: client.user_agent,
            },
        )
        .await?;
        if !rotated {
            // Retired since it was read (a concurrent refresh with this
            // token won: the lost race the reuse grace is for), or the
            // session ended meanwhile.
            return Err(Error::InvalidToken);
        }
        self.token_pair(tenant, &user, &session, refresh_token, now)
    }

    /// A retired refresh token came back. Within the reuse grace of its
    /// rotation it is the loser of a concurrent refresh and nothing
    /// happens; later it is a replay, and its session is revoked.
    async fn refuse_retired(
        &self,
        tenant: &TenantContext,
        session: Session,
        retired_at: DateTime<Utc>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let lost_race = (now - retired_at).to_std().unwrap_or_default() <= self.reuse_grace;
        if lost_race
            || !store::sessions::revoke(&self.db, tenant.id(), session.id, None, now).await?
        {
            return Ok(());
        }
        tracing::warn!(session_id = %session.id, "refresh token reuse detected; session revoked");
        let event = AuditEvent::new(AuditKind::RefreshReuseDetected, tenant.id())
            .client(client)
            .subject(session.user_id)
            .detail(json!({"sessionId": session.id.0}));
        self.audit.record(event).await;
        Ok(())
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are
    /// ignored: logout always succeeds, and says nothing about the token.
    pub async fn logout(&self, tenant: &TenantContext, token: &str) -> Result<()> {
        let hash = tokens::hash_refresh_token(token);
        let Some(found) = store::sessions::find_refresh_token(&self.db, tenant.id(), &hash).await?
        else {
            return Ok(());
        };
        if store::sessions::revoke(&self.db, tenant.id(), found.session_id, None, Utc::now())
            .await?
        {
            tracing::info!(session_id = %found.session_id, "logout");
            let session = store::sessions::find(&self.db, tenant.id(), found.session_id).await?;
            let mut event = AuditEvent::new(AuditKind::Logout, tenant.id())
                .detail(json!({"sessionId": found.session_id.0}));
            if let Some(session) = session {
                event = event.actor(session.user_id).subject(session.user_id);
            }
            self.audit.record(event).await;
        }
        Ok(())
    }

    pub async fn logout_all(&self, tenant: &TenantContext, principal: &Principal) -> Result<()> {
        let revoked =
            store::sessions::revoke_all(&self.db, tenant.id(), principal.user.id, Utc::now())
                .await?;
        tracing::info!(revoked, "logout from all sessions");
        self.audit
            .record(
                AuditEvent::new(AuditKind::LogoutAll, tenant.id())
                    .actor(principal.user.id)
                    .subject(principal.user.id)
                    .detail(json!({"sessionsRevoked": revoked})),
            )
            .await;
        Ok(())
    }

    /// Verifies a Bearer token and checks, in one query, that its session
    /// is live and its user still exists and is enabled: a revoked session
    /// or a disabled user stops every token at once, not at its `exp`.
    /// A token checked moments ago skips both while that result still
    /// holds ([`super::token_cache`]).
    pub async fn authenticate(&self, tenant: &TenantContext, token: &str) -> Result<Principal> {
        let now = Utc::now();
        // Read before the query, so a change committed after it shows.
        let auth_changes = self.db.auth_changes();
        let key = TokenCache::key(token);
        if let Some(principal) = self.token_cache.get(&key, tenant, auth_changes, now) {
            record_user(principal.user.id);
            return Ok(principal);
        }
        let claims = tokens::verify_access_token(&tenant.verifier(), token)?;
        let session_id = SessionId(claims.sid);
        let (session, user) = store::sessions::find_with_user(&self.db, tenant.id(), session_id)
            .await?
            .ok_or(Error::InvalidToken)?;
        if !session.is_live(now) || session.user_id.0 != claims.sub || user.disabled {
            return Err(Error::InvalidToken);
        }
        record_user(user.id);
        let principal = Principal {
            user,
            session_id,
            claims,
        };
        self.token_cache
            .put(key, tenant, auth_changes, session.expires_at, &principal);
        Ok(principal)
    }
}

/// Adds the user to the request's span, so its log lines say whose it was.
fn record_user(id: UserId) {
    tracing::Span::current().record("user_id", tracing::field::display(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_user_agent_is_cut_to_its_first_characters_not_bytes() {
        let agent = "é".repeat(MAX_USER_AGENT_CHARS + 1);
        let client = ClientInfo::new(None, Some(&agent));
        assert_eq!(
            client.user_agent(),
            Some("é".repeat(MAX_USER_AGENT_CHARS).as_str())
        );
        let short = ClientInfo::new(None, Some("App/1.0"));
        assert_eq!(short.user_agent(), Some("App/1.0"));
    }
}
