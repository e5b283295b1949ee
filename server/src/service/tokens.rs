//! Access tokens (JWT, `typ: at+jwt`, RFC 9068), opaque refresh tokens,
//! and the opaque single-use tokens mailed to users (password reset, email
//! verification).
//!
//! The three kinds never stand in for one another: access tokens are JWTs
//! checked by signature and `typ`; refresh tokens are looked up by SHA-256
//! in `refresh_tokens`; mailed tokens by SHA-256 of `{kind}:{token}` in
//! `user_tokens`, with the kind in the query too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Header, Validation};
use ring::digest::{SHA256, digest};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{KeyRing, Signer};
use crate::domain::{Secret, SessionId};
use crate::error::{Error, Result};
use crate::store::user_tokens::UserTokenKind;
use crate::store::users::User;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

/// The JOSE `typ` of our access tokens (RFC 9068 §2.1). Checked on the way
/// in, so no other JWT signed by the same key can pass for one.
const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub sid: Uuid,
    pub roles: Vec<String>,
    pub email: String,
    /// Whether the user has followed a verification link. Absent from
    /// tokens issued before it existed, which read as `false`.
    #[serde(default)]
    pub email_verified: bool,
}

/// Who a token is checked against: the tenant's issuer, audience and keys.
pub struct Verifier<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub keys: &'a KeyRing,
}

/// Signs an access token for `user` in `session`.
pub fn issue_access_token(
    verifier: &Verifier<'_>,
    user: &User,
    session: SessionId,
    now: DateTime<Utc>,
    ttl_seconds: u32,
) -> Result<Secret<String>> {
    let claims = AccessClaims {
        iss: verifier.issuer.to_owned(),
        sub: user.id.0,
        aud: verifier.audience.to_owned(),
        exp: now.timestamp() + i64::from(ttl_seconds),
        iat: now.timestamp(),
        jti: Uuid::now_v7(),
        sid: session.0,
        roles: user.roles.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
    };
    let signing = &verifier.keys.signing;
    let mut header = Header::new(signing.algorithm);
    header.typ = Some(ACCESS_TOKEN_TYP.into());
    header.kid = Some(signing.kid.clone());
    let token = match &signing.signer {
        Signer::Jwt(key) => jsonwebtoken::encode(&header, &claims, key)
            .map_err(|e| Error::Internal(format!("signing an access token: {e}")))?,
        Signer::Rsa(key) => sign_rs256(&header, &claims, key)?,
    };
    Ok(Secret::new(token))
}

/// RS256 (RFC 7518 §3.3) with ring's constant-time RSA.
fn sign_rs256(header: &Header, claims: &AccessClaims, key: &RsaKeyPair) -> Result<String> {
    let message = format!("{}.{}", b64_json(header)?, b64_json(claims)?);
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .map_err(|_| Error::Internal("RSA signing failed".into()))?;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn b64_json(value: &impl Serialize) -> Result<String> {
    serde_json::to_vec(value)
        .map(|json| URL_SAFE_NO_PAD.encode(json))
        .map_err(|e| Error::Internal(format!("encoding a token part: {e}")))
}

/// Checks an access token: `typ`, a known `kid` of this tenant, the `alg`
/// of that key and no other (so `none` or an HMAC trick cannot pass), the
/// signature, `iss`, `aud` and `exp`. Expiry is reported apart from the
/// other failures, as `token_expired`.
pub fn verify_access_token(verifier: &Verifier<'_>, token: &str) -> Result<AccessClaims> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::InvalidToken)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(Error::InvalidToken);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| verifier.keys.verifying_key(kid))
        .ok_or(Error::InvalidToken)?;
    if header.alg != key.algorithm {
        return Err(Error::InvalidToken);
    }
    let mut validation = Validation::new(key.algorithm);
    validation.set_issuer(&[verifier.issuer]);
    validation.set_audience(&[verifier.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    // Only Portcullis instances issue and check these tokens, off one clock
    // source; a leeway would only stretch every token's life.
    validation.leeway = 0;
    match jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(Error::TokenExpired),
        Err(_) => Err(Error::InvalidToken),
    }
}

/// The `kid` of a token's header, unverified: only to pick which keys to
/// verify it with.
pub fn unverified_kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// The `iss` claim, unverified: only to pick which tenant's keys to verify
/// the token with. The verification that follows decides.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// A new refresh token (256 random bits, base64url) and the hash under
/// which it is stored.
pub fn new_refresh_token() -> Result<(Secret<String>, String)> {
    let token = random_token()?;
    let hash = hash_refresh_token(&token);
    Ok((Secret::new(token), hash))
}

/// Hex SHA-256. A fast hash is right here: the token has 256 bits of
/// entropy, so there is nothing to brute-force, and refresh is a hot path.
pub fn hash_refresh_token(token: &str) -> String {
    hex_sha256(token.as_bytes())
}

/// A new mailed token of `kind` (256 random bits, base64url) and the hash
/// under which it is stored.
pub fn new_user_token(kind: UserTokenKind) -> Result<(Secret<String>, String)> {
    let token = random_token()?;
    let hash = hash_user_token(kind, &token);
    Ok((Secret::new(token), hash))
}

/// Hex SHA-256 of `{kind}:{token}`: the kind is part of what is hashed, so
/// even a lookup in the wrong place could not match a token of another kind.
pub fn hash_user_token(kind: UserTokenKind, token: &str) -> String {
    hex_sha256(format!("{}:{token}", kind.as_str()).as_bytes())
}

/// A new dashboard session id for the cookie (256 random bits, base64url)
/// and the hash under which it is stored.
pub fn new_dashboard_token() -> Result<(Secret<String>, String)> {
    let token = random_token()?;
    let hash = hash_dashboard_token(&token);
    Ok((Secret::new(token), hash))
}

/// Hex SHA-256 of `dashboard:{token}`, so a dashboard cookie can never be
/// found as a refresh token, nor one as it.
pub fn hash_dashboard_token(token: &str) -> String {
    hex_sha256(format!("dashboard:{token}").as_bytes())
}

/// The CSRF token of a dashboard session: an HMAC keyed by the session's
/// cookie value. Nothing more is stored; a page from elsewhere can neither
/// read the cookie nor compute this from what it can see.
pub fn dashboard_csrf_token(session_token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_token.as_bytes());
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, CSRF_CONTEXT).as_ref())
}

/// Whether `submitted` is the CSRF token of the session (constant time).
pub fn verify_dashboard_csrf_token(session_token: &str, submitted: &str) -> bool {
    let Ok(tag) = URL_SAFE_NO_PAD.decode(submitted) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, session_token.as_bytes());
    hmac::verify(&key, CSRF_CONTEXT, &tag).is_ok()
}

/// A random value for the sign-in form's double-submit cookie.
pub fn new_sign_in_token() -> Result<Secret<String>> {
    random_token().map(Secret::new)
}

const CSRF_CONTEXT: &[u8] = b"portcullis dashboard csrf";

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn hex_sha256(input: &[u8]) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(64);
    for byte in digest(&SHA256, input).as_ref() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let (a, hash_a) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_eq!(hash_a.len(), 64);
        assert_eq!(hash_refresh_token(a.expose()), hash_a);
    }

    #[test]
    fn user_token_hashes_depend_on_the_kind() {
        let (token, hash) = new_user_token(UserTokenKind::PasswordReset).unwrap();
        assert_eq!(token.expose().len(), 43);
        assert_eq!(
            hash_user_token(UserTokenKind::PasswordReset, token.expose()),
            hash
        );
        assert_ne!(
            hash_user_token(UserTokenKind::EmailVerification, token.expose()),
            hash
        );
        assert_ne!(hash_refresh_token(token.expose()), hash);
    }

    #[test]
    fn dashboard_csrf_tokens_belong_to_their_session() {
        let (session, hash) = new_dashboard_token().unwrap();
        assert_ne!(hash_refresh_token(session.expose()), hash);
        let csrf = dashboard_csrf_token(session.expose());
        assert!(verify_dashboard_csrf_token(session.expose(), &csrf));
        let (other, _) = new_dashboard_token().unwrap();
        assert!(!verify_dashboard_csrf_token(other.expose(), &csrf));
        assert!(!verify_dashboard_csrf_token(session.expose(), ""));
        assert!(!verify_dashboard_csrf_token(
            session.expose(),
            "not base64!"
        ));
    }
}
