//! The password lifecycle: forgot / reset by mail, change password, and
//! email verification.
//!
//! Reset and verification tokens are 256 random bits mailed to the user and
//! stored only as a hash (`service::tokens`), bound to one tenant, one user
//! and one kind, short-lived and single use: using one is a conditional
//! UPDATE, so of concurrent uses exactly one wins.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use serde_json::json;

use super::audit::{Audit, AuditEvent, AuditKind};
use super::auth::{ClientInfo, Principal};
use super::limits::{LimitKind, RateLimiters};
use super::mail::{Mailer, TokenMail};
use super::passwords::PasswordHasher;
use super::tenants::TenantContext;
use super::tokens;
use crate::domain::{Email, Password, Secret, UserId, Validator};
use crate::error::{Error, Result};
use crate::store::user_tokens::{self, NewUserToken, UserTokenKind};
use crate::store::users::User;
use crate::store::{self, ConnectionTrait, Db};

pub struct Credentials {
    db: Db,
    hasher: Arc<PasswordHasher>,
    mailer: Arc<Mailer>,
    audit: Arc<Audit>,
    limits: Arc<RateLimiters>,
}

/// A reset or verification token whose user is known; see
/// [`Credentials::check_reset_token`].
pub struct TokenHolder {
    pub user: User,
    kind: UserTokenKind,
    token_hash: String,
}

impl TokenHolder {
    /// Uses the token up inside `txn`. Of concurrent uses exactly one
    /// succeeds; the others (and a token that expired since it was checked)
    /// get the invalid-token error of its kind.
    async fn use_up(
        &self,
        txn: &impl ConnectionTrait,
        tenant: &TenantContext,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let consumed = user_tokens::consume(
            txn,
            tenant.id(),
            self.user.id,
            self.kind,
            &self.token_hash,
            now,
        )
        .await?;
        if consumed {
            Ok(())
        } else {
            Err(invalid_token(self.kind))
        }
    }
}

impl Credentials {
    pub fn new(
        db: Db,
        hasher: Arc<PasswordHasher>,
        mailer: Arc<Mailer>,
        audit: Arc<Audit>,
        limits: Arc<RateLimiters>,
    ) -> Self {
        Self {
            db,
            hasher,
            mailer,
            audit,
            limits,
        }
    }

    async fn record(
        &self,
        kind: AuditKind,
        tenant: &TenantContext,
        user: UserId,
        detail: serde_json::Value,
    ) {
        self.audit
            .record(
                AuditEvent::new(kind, tenant.id())
                    .subject(user)
                    .detail(detail),
            )
            .await;
    }

    /// Mails a reset link when `email` names an existing, enabled account,
    /// and otherwise does nothing the caller could tell apart: the same
    /// answer, and nearly the same work (see below). The mail itself is
    /// queued, never awaited, so it adds no time to the answer.
    /// Limited per IP and per email (whether or not it names an account),
    /// so nobody can bomb a mailbox with reset links.
    pub async fn forgot_password(
        &self,
        tenant: &TenantContext,
        email: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
        let limits = &tenant.settings().rate_limits;
        self.limits.check_ip(
            tenant.id(),
            limits,
            LimitKind::ForgotPasswordPerIp,
            client.ip,
        )?;
        self.limits.check(
            tenant.id(),
            limits,
            LimitKind::ForgotPasswordPerEmail,
            email.as_str(),
        )?;
        let user = store::users::find_by_email(&self.db, tenant.id(), &email)
            .await?
            .filter(|user| !user.disabled);
        // An unknown account gets a throw-away id: the token generation,
        // the transaction and its DELETE run all the same (matching no
        // row); only the INSERT and the mail are skipped.
        let user_id = user.as_ref().map_or_else(UserId::generate, |u| u.id);
        let kind = UserTokenKind::PasswordReset;
        let token = self
            .replace_token(tenant, user_id, kind, user.is_some(), Invitation::No)
            .await?;
        // No token: the user was deleted since the read, so there is no
        // account any more.
        match user.zip(token) {
            Some((user, token)) => {
                self.mail(tenant, &user, kind, &token, Invitation::No);
                tracing::info!(user_id = %user.id, "password reset requested");
                self.record(
                    AuditKind::PasswordResetRequested,
                    tenant,
                    user.id,
                    json!({}),
                )
                .await;
            }
            None => tracing::info!("password reset requested for no enabled account"),
        }
        Ok(())
    }

    /// The user a live reset token belongs to, without using it up: the
    /// hosted page shows its form only for a token that can still work.
    pub async fn check_reset_token(
        &self,
        tenant: &TenantContext,
        token: &str,
    ) -> Result<TokenHolder> {
        self.holder(tenant, UserTokenKind::PasswordReset, token)
            .await
    }

    /// Sets a new password with a reset token, uses the token up and
    /// revokes every session of the user, in one transaction. Following a
    /// link mailed to the address also proves the address, so the email
    /// counts as verified afterwards.
    pub async fn reset_password(
        &self,
        tenant: &TenantContext,
        token: &str,
        password: String,
    ) -> Result<()> {
        let holder = self.check_reset_token(tenant, token).await?;
        let password = self.new_password(tenant, &holder.user, "password", password)?;
        // Hashed before the transaction: on SQLite the transaction holds the
        // write lock, which must not wait for argon2.
        let hash = self.hasher.hash(&password).await?;
        let now = Utc::now();
        let user_id = holder.user.id;
        let txn = store::begin(&self.db).await?;
        holder.use_up(&txn, tenant, now).await?;
        store::users::set_password(&txn, tenant.id(), user_id, hash.expose(), now).await?;
        store::users::mark_email_verified(&txn, tenant.id(), user_id, now).await?;
        let revoked = store::sessions::revoke_all(&txn, tenant.id(), user_id, now).await?;
        user_tokens::delete_for_user(&txn, tenant.id(), user_id, UserTokenKind::PasswordReset)
            .await?;
        store::commit(txn).await?;
        tracing::info!(%user_id, revoked, "password reset");
        self.record(
            AuditKind::PasswordResetCompleted,
            tenant,
            user_id,
            json!({"sessionsRevoked": revoked}),
        )
        .await;
        Ok(())
    }

    /// Changes the caller's password after checking the current one, and
    /// revokes every session of the user (the caller's too: their tokens
    /// were issued under the old password).
    pub async fn change_password(
        &self,
        tenant: &TenantContext,
        principal: &Principal,
        current: String,
        new: String,
    ) -> Result<()> {
        let user = &principal.user;
        let mut v = Validator::default();
        let current = v.check("currentPassword", Password::parse_attempt(current));
        let new = v.check_all(
            "newPassword",
            Password::parse_new(
                new,
                &tenant.settings().password_policy,
                parse_email(user).as_ref(),
            ),
        );
        v.finish().map_err(Error::Validation)?;
        let (Some(current), Some(new)) = (current, new) else {
            return Err(Error::Internal("validator passed without values".into()));
        };
        if !self
            .hasher
            .verify(&current, user.password_hash.as_deref())
            .await?
        {
            tracing::info!(user_id = %user.id, "password change refused: wrong current password");
            return Err(Error::InvalidCredentials);
        }
        let hash = self.hasher.hash(&new).await?;
        let now = Utc::now();
        let txn = store::begin(&self.db).await?;
        store::users::set_password(&txn, tenant.id(), user.id, hash.expose(), now).await?;
        let revoked = store::sessions::revoke_all(&txn, tenant.id(), user.id, now).await?;
        // A reset link mailed before the change must not undo it.
        user_tokens::delete_for_user(&txn, tenant.id(), user.id, UserTokenKind::PasswordReset)
            .await?;
        store::commit(txn).await?;
        tracing::info!(user_id = %user.id, revoked, "password changed");
        self.record(
            AuditKind::PasswordChanged,
            tenant,
            user.id,
            json!({"sessionsRevoked": revoked}),
        )
        .await;
        Ok(())
    }

    /// Mails a fresh verification link (earlier ones stop working). Nothing
    /// is sent to an address that is verified already. [`UserGone`] when
    /// the user was deleted while this ran: then nothing is sent either.
    pub async fn send_verification(
        &self,
        tenant: &TenantContext,
        user: &User,
    ) -> Result<Result<(), UserGone>> {
        if user.email_verified {
            return Ok(Ok(()));
        }
        self.issue(
            tenant,
            user,
            UserTokenKind::EmailVerification,
            Invitation::No,
        )
        .await
    }

    /// Mails a user an admin created without a password a link to choose
    /// one: a password-reset token, worded as an invitation. [`UserGone`]
    /// as for [`Self::send_verification`].
    pub async fn send_invitation(
        &self,
        tenant: &TenantContext,
        user: &User,
    ) -> Result<Result<(), UserGone>> {
        self.issue(tenant, user, UserTokenKind::PasswordReset, Invitation::Yes)
            .await
    }

    /// A fresh token of `kind` for `user`, mailed; [`UserGone`] (nothing
    /// stored, nothing sent) when the user was deleted meanwhile.
    async fn issue(
        &self,
        tenant: &TenantContext,
        user: &User,
        kind: UserTokenKind,
        invitation: Invitation,
    ) -> Result<Result<(), UserGone>> {
        let sent = self
            .replace_token(tenant, user.id, kind, true, invitation)
            .await?
            .map(|token| self.mail(tenant, user, kind, &token, invitation));
        Ok(sent.ok_or(UserGone))
    }

    /// The user a live verification token belongs to, without using it up
    /// (the hosted page asks for a click before verifying).
    pub async fn check_verification_token(
        &self,
        tenant: &TenantContext,
        token: &str,
    ) -> Result<TokenHolder> {
        self.holder(tenant, UserTokenKind::EmailVerification, token)
            .await
    }

    /// Marks the token's user verified and uses the token up.
    pub async fn verify_email(&self, tenant: &TenantContext, token: &str) -> Result<()> {
        let holder = self.check_verification_token(tenant, token).await?;
        let now = Utc::now();
        let user_id = holder.user.id;
        let txn = store::begin(&self.db).await?;
        holder.use_up(&txn, tenant, now).await?;
        store::users::mark_email_verified(&txn, tenant.id(), user_id, now).await?;
        store::commit(txn).await?;
        tracing::info!(%user_id, "email verified");
        self.record(AuditKind::EmailVerified, tenant, user_id, json!({}))
            .await;
        Ok(())
    }

    async fn holder(
        &self,
        tenant: &TenantContext,
        kind: UserTokenKind,
        token: &str,
    ) -> Result<TokenHolder> {
        if token.is_empty() {
            return Err(invalid_token(kind));
        }
        let token_hash = tokens::hash_user_token(kind, token);
        let Some(user_id) =
            user_tokens::find_live(&self.db, tenant.id(), kind, &token_hash, Utc::now()).await?
        else {
            return Err(invalid_token(kind));
        };
        store::users::find(&self.db, tenant.id(), user_id)
            .await?
            .filter(|user| !user.disabled)
            .map(|user| TokenHolder {
                user,
                kind,
                token_hash,
            })
            .ok_or_else(|| invalid_token(kind))
    }

    /// A new token of `kind` for the user, replacing their earlier ones;
    /// `None` when the user was deleted since the caller read them (nothing
    /// is written then). With `store` false nothing is inserted (the caller
    /// has no account to bind it to), but the rest of the work is the same.
    async fn replace_token(
        &self,
        tenant: &TenantContext,
        user_id: UserId,
        kind: UserTokenKind,
        store: bool,
        invitation: Invitation,
    ) -> Result<Option<Secret<String>>> {
        let (token, hash) = tokens::new_user_token(kind)?;
        let now = Utc::now();
        let txn = store::begin(&self.db).await?;
        user_tokens::delete_for_user(&txn, tenant.id(), user_id, kind).await?;
        if store {
            let ttl = ttl_seconds(tenant, kind, invitation);
            let stored = user_tokens::insert(
                &txn,
                &NewUserToken {
                    tenant_id: tenant.id(),
                    user_id,
                    kind,
                    token_hash: &hash,
                    created_at: now,
                    expires_at: now + Duration::seconds(i64::from(ttl)),
                },
            )
            .await?;
            if !stored {
                // Dropping the transaction rolls back its DELETE as well
                // (PostgreSQL has aborted it already).
                return Ok(None);
            }
        }
        store::commit(txn).await?;
        Ok(Some(token))
    }

    /// Queues the mail that carries `token` to `user`.
    fn mail(
        &self,
        tenant: &TenantContext,
        user: &User,
        kind: UserTokenKind,
        token: &Secret<String>,
        invitation: Invitation,
    ) {
        self.mailer.send(&TokenMail {
            kind,
            invitation: invitation == Invitation::Yes,
            user_id: user.id,
            to: &user.email,
            tenant_name: &tenant.tenant.name,
            tenant_slug: tenant.tenant.slug.as_str(),
            token,
            ttl_seconds: ttl_seconds(tenant, kind, invitation),
        });
    }

    /// Checks a new password for `user` against the tenant's policy; every
    /// broken rule is its own entry for `field`.
    fn new_password(
        &self,
        tenant: &TenantContext,
        user: &User,
        field: &'static str,
        password: String,
    ) -> Result<Password> {
        let mut v = Validator::default();
        let password = v.check_all(
            field,
            Password::parse_new(
                password,
                &tenant.settings().password_policy,
                parse_email(user).as_ref(),
            ),
        );
        v.finish().map_err(Error::Validation)?;
        password.ok_or_else(|| Error::Internal("validator passed without a value".into()))
    }
}

/// The user a mail was for was deleted while the request ran; no token
/// was stored and no mail sent. What that means is the caller's to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserGone;

/// The error for a token of `kind` that cannot be used: one for every
/// reason, so the answer says nothing more.
fn invalid_token(kind: UserTokenKind) -> Error {
    match kind {
        UserTokenKind::PasswordReset => Error::InvalidResetToken,
        UserTokenKind::EmailVerification => Error::InvalidVerificationToken,
    }
}

/// How long the tenant lets a token of `kind` live.
/// Whether a password-reset token is an admin's invitation to choose a
/// first password rather than an answer to "forgot password".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invitation {
    Yes,
    No,
}

/// An invitation may wait in a mailbox far longer than a reset a user
/// just asked for: it lives as long as a verification link.
fn ttl_seconds(tenant: &TenantContext, kind: UserTokenKind, invitation: Invitation) -> u32 {
    let settings = tenant.settings();
    match (kind, invitation) {
        (UserTokenKind::PasswordReset, Invitation::No) => settings.reset_token_ttl_seconds,
        (UserTokenKind::PasswordReset, Invitation::Yes) | (UserTokenKind::EmailVerification, _) => {
            settings.verification_token_ttl_seconds
        }
    }
}

/// The stored email as an [`Email`], for the password rule that looks for
/// its local part. It was parsed before it was stored, so this succeeds.
fn parse_email(user: &User) -> Option<Email> {
    Email::parse(&user.email).ok()
}
