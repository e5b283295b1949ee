//! Sessions and the refresh tokens that keep them alive.

use chrono::{DateTime, Utc};
use entity::{refresh_token, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    Statement,
};
use uuid::Uuid;

use super::audit::AuditRecord;
use super::users::User;
use super::{Connection, Db, StoreResult, unless_user_gone};
use crate::domain::{SessionId, TenantId, UserId};

#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Session {
    /// Not revoked and not past its absolute lifetime.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

impl From<session::Model> for Session {
    fn from(row: session::Model) -> Self {
        Self {
            id: SessionId(row.id),
            tenant_id: TenantId(row.tenant_id),
            user_id: UserId(row.user_id),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// A refresh token row: which session it belongs to and whether it has
/// been rotated away.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub session_id: SessionId,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<refresh_token::Model> for RefreshToken {
    fn from(row: refresh_token::Model) -> Self {
        Self {
            session_id: SessionId(row.session_id),
            retired_at: row.retired_at,
        }
    }
}

/// On SQLite, a login's three inserts, written with others in one
/// transaction ([`super::Batches`]). The session is inserted only while
/// its user exists (a foreign-key error would fail the whole batch), and
/// each later insert only if the one before it inserted its row
/// (`changes()`), so a login is written whole or not at all. Parameters,
/// in order: the session's id, tenant, user, created, last used, expires,
/// ip, user agent; tenant and user again; the refresh token's id, tenant,
/// session, hash, created; the audit record's id, tenant, time, type,
/// actor, subject, ip, user agent, detail; and the batch's `RETURNING ?`.
const OPEN_SQLITE: &str = "\
    INSERT INTO sessions (id, tenant_id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
     SELECT ?, ?, ?, ?, ?, ?, ?, ? \
      WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND id = ?); \
    INSERT INTO refresh_tokens (id, tenant_id, session_id, token_hash, created_at) \
     SELECT ?, ?, ?, ?, ? WHERE changes() = 1; \
    INSERT INTO audit_events \
      (id, tenant_id, occurred_at, type, actor_user_id, subject_user_id, ip, user_agent, detail) \
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE changes() = 1 \
    RETURNING ?; ";

/// On PostgreSQL one statement, with the parameters in the same order as
/// [`OPEN_SQLITE`]'s: each insert feeds the next, and the statement is
/// atomic on its own.
const OPEN_POSTGRES: &str = "\
    WITH opened AS ( \
        INSERT INTO sessions (id, tenant_id, user_id, created_at, last_used_at, expires_at, ip, user_agent) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
         WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = $9 AND id = $10) \
        RETURNING id \
    ), token AS ( \
        INSERT INTO refresh_tokens (id, tenant_id, session_id, token_hash, created_at) \
        SELECT $11, $12, $13, $14, $15 FROM opened \
        RETURNING id \
    ) \
    INSERT INTO audit_events \
      (id, tenant_id, occurred_at, type, actor_user_id, subject_user_id, ip, user_agent, detail) \
    SELECT $16, $17, $18, $19, $20, $21, $22, $23, $24 FROM token";

/// Opens a session for a login: the session, its first refresh token
/// (stored as `refresh_hash`) and the login's audit record, in one round
/// trip to the database (on SQLite, batched with other writes). `false`
/// when the user no longer exists (deleted since the password check), and
/// then nothing is written.
///
/// Hand-written SQL, because sea-orm cannot chain these inserts into one
/// statement: as a transaction of its own plus the audit insert, a login
/// made seven round trips to the database besides its reads, and in
/// `cargo xtask bench` the database's share of CPU during logins came out
/// of the hashing threads' (the login ratio).
pub async fn open(
    db: &Db,
    session: &Session,
    refresh_hash: &str,
    audit: &AuditRecord,
) -> StoreResult<bool> {
    let (tenant, user) = (session.tenant_id.0, session.user_id.0);
    let values: Vec<sea_orm::Value> = vec![
        session.id.0.into(),
        tenant.into(),
        user.into(),
        session.created_at.into(),
        session.last_used_at.into(),
        session.expires_at.into(),
        session.ip.clone().into(),
        session.user_agent.clone().into(),
        tenant.into(),
        user.into(),
        Uuid::now_v7().into(),
        tenant.into(),
        session.id.0.into(),
        refresh_hash.to_owned().into(),
        session.created_at.into(),
        audit.id.into(),
        audit.tenant_id.0.into(),
        audit.occurred_at.into(),
        audit.kind.clone().into(),
        audit.actor.map(|u| u.0).into(),
        audit.subject.map(|u| u.0).into(),
        audit.ip.clone().into(),
        audit.user_agent.clone().into(),
        audit.detail.to_string().into(),
    ];
    if let Some(batches) = db.batches() {
        return Ok(batches.write(OPEN_SQLITE, values).await? == 1);
    }
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            OPEN_POSTGRES,
            values,
        ))
        .await;
    // The statement can see the user and still fail its foreign key check,
    // when a delete commits in between.
    unless_user_gone(result.map(|result| result.rows_affected() == 1))
}

pub async fn find(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: SessionId,
) -> StoreResult<Option<Session>> {
    Ok(session::Entity::find_by_id(id.0)
        .filter(session::Column::TenantId.eq(tenant.0))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(Session::from))
}

/// The session and its user in one query: what every Bearer request needs.
pub async fn find_with_user(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    id: SessionId,
) -> StoreResult<Option<(Session, User)>> {
    let found = session::Entity::find_by_id(id.0)
        .filter(session::Column::TenantId.eq(tenant.0))
        .find_also_related(user::Entity)
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop();
    match found {
        Some((session, Some(user))) => Ok(Some((session.into(), User::try_from(user)?))),
        _ => Ok(None),
    }
}

/// The user's sessions that are not revoked, newest first. Expired ones
/// are left to the caller, which knows the time.
pub async fn list_unrevoked(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<Session>> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .order_by_desc(session::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Session::from)
        .collect())
}

/// Revokes one live session; with `owner`, only if it belongs to that
/// user (a user revoking their own). `false` when there was none to revoke.
pub async fn revoke(
    db: &impl Connection,
    tenant: TenantId,
    id: SessionId,
    owner: Option<UserId>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::Id.eq(id.0))
        .filter(session::Column::RevokedAt.is_null());
    if let Some(user) = owner {
        update = update.filter(session::Column::UserId.eq(user.0));
    }
    let revoked = update.exec(db).await?.rows_affected == 1;
    db.auth_changed();
    Ok(revoked)
}

/// Revokes every live session of the user; returns how many.
pub async fn revoke_all(
    db: &impl Connection,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now))
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::UserId.eq(user.0))
        .filter(session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    db.auth_changed();
    Ok(result.rows_affected)
}

/// A refresh: the presented token's hash, the new one's, and where the
/// request came from.
pub struct Rotation {
    pub tenant: TenantId,
    pub session: SessionId,
    pub presented_hash: String,
    pub new_hash: String,
    pub now: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// SQLite has no writes inside `WITH`, so a refresh is three statements,
/// written with others in one transaction ([`super::Batches`]). The first
/// retires the presented token only while its session is live; each later
/// one runs only if the one before it changed a row (`changes()`). Inside
/// the transaction nothing else writes, so once the first has changed its
/// row the others change theirs: all three happen or none does, and the
/// last returns a row only if all did. Parameters, in order: now, tenant,
/// presented hash, session, tenant, session, now; new id, tenant,
/// session, new hash, now; now, ip, user agent, tenant, session; and the
/// batch's `RETURNING ?`.
const ROTATE_SQLITE: &str = "\
    UPDATE refresh_tokens SET retired_at = ? \
     WHERE tenant_id = ? AND token_hash = ? AND session_id = ? AND retired_at IS NULL \
       AND EXISTS (SELECT 1 FROM sessions \
                    WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL AND expires_at > ?); \
    INSERT INTO refresh_tokens (id, tenant_id, session_id, token_hash, created_at) \
     SELECT ?, ?, ?, ?, ? WHERE changes() = 1; \
    UPDATE sessions SET last_used_at = ?, ip = ?, user_agent = ? \
     WHERE tenant_id = ? AND id = ? AND changes() = 1 \
    RETURNING ?; ";

/// On PostgreSQL one statement does it: each step feeds the next, and the
/// statement is atomic on its own. Of concurrent callers with one token,
/// the later waits for the row lock and then finds the token retired.
///
/// The token is found by its hash alone and its session through the row's
/// own `session_id`: given `session_id = $n` as well, the planner's generic
/// plan took the session index and filtered every token the session ever
/// had, so each rotation cost more than the last (a session refreshed 1000
/// times read 1001 rows; `cargo xtask bench` spent a third of PostgreSQL's
/// time there).
const ROTATE_POSTGRES: &str = "\
    WITH retired AS ( \
        UPDATE refresh_tokens SET retired_at = $1 \
         WHERE tenant_id = $2 AND token_hash = $3 AND retired_at IS NULL \
           AND EXISTS (SELECT 1 FROM sessions \
                        WHERE tenant_id = $2 AND id = refresh_tokens.session_id \
                          AND revoked_at IS NULL AND expires_at > $1) \
        RETURNING session_id \
    ), touched AS ( \
        UPDATE sessions SET last_used_at = $1, ip = $6, user_agent = $7 \
         WHERE tenant_id = $2 AND id IN (SELECT session_id FROM retired) \
           AND revoked_at IS NULL AND expires_at > $1 \
        RETURNING id \
    ) \
    INSERT INTO refresh_tokens (id, tenant_id, session_id, token_hash, created_at) \
    SELECT $4, $2, id, $5, $1 FROM touched";

/// Rotates a refresh token in one round trip to the database: retires the
/// presented token if it is still live and its session too, gives the
/// session the new one, and records when and from where the session was
/// last used. `true` when all of that happened. Retiring is a conditional
/// UPDATE, so of concurrent callers with one token exactly one wins and a
/// session never forks. Otherwise nothing happened, except on PostgreSQL
/// when the session was revoked at that very moment (after the
/// statement's snapshot): its token is then retired, which changes nothing
/// for a session that cannot be refreshed anyway.
///
/// Hand-written SQL, because sea-orm cannot chain these writes into one
/// statement; the queries the hot path would otherwise make (five round
/// trips, on SQLite all of them holding the write turn) were the limit
/// of refresh throughput (`cargo xtask bench`).
pub async fn rotate_refresh_token(db: &Db, rotation: Rotation) -> StoreResult<bool> {
    let Rotation {
        tenant,
        session,
        presented_hash,
        new_hash,
        now,
        ip,
        user_agent,
    } = rotation;
    let (tenant, session, new_id) = (tenant.0, session.0, Uuid::now_v7());
    if let Some(batches) = db.batches() {
        let values = vec![
            now.into(),
            tenant.into(),
            presented_hash.into(),
            session.into(),
            tenant.into(),
            session.into(),
            now.into(),
            new_id.into(),
            tenant.into(),
            session.into(),
            new_hash.into(),
            now.into(),
            now.into(),
            ip.into(),
            user_agent.into(),
            tenant.into(),
            session.into(),
        ];
        return Ok(batches.write(ROTATE_SQLITE, values).await? == 1);
    }
    let values: [sea_orm::Value; 7] = [
        now.into(),
        tenant.into(),
        presented_hash.into(),
        new_id.into(),
        new_hash.into(),
        ip.into(),
        user_agent.into(),
    ];
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            ROTATE_POSTGRES,
            values,
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// A presented refresh token with its session and that session's user,
/// in one query: everything a refresh reads before it writes.
pub async fn find_refresh_token_with_session(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    token_hash: &str,
) -> StoreResult<Option<(RefreshToken, Session, User)>> {
    let found = refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.0))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .find_also_related(session::Entity)
        .and_also_related(user::Entity)
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(user::Column::TenantId.eq(tenant.0))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop();
    match found {
        Some((token, Some(session), Some(user))) => Ok(Some((
            RefreshToken::from(token),
            session.into(),
            User::try_from(user)?,
        ))),
        _ => Ok(None),
    }
}

pub async fn find_refresh_token(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    token_hash: &str,
) -> StoreResult<Option<RefreshToken>> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.0))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .all(db) // a unique key: no `.one` (module docs)
        .await?
        .pop()
        .map(RefreshToken::from))
}

/// How many of the tenant's sessions are live at `now`.
pub async fn count_live(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    Ok(session::Entity::find()
        .filter(session::Column::TenantId.eq(tenant.0))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .count(db)
        .await?)
}
