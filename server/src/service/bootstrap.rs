//! First start: the `system` and `default` tenants and the first
//! superadmin, created together only when the database has no tenant.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};

use super::passwords::PasswordHasher;
use super::tenants::Tenants;
use crate::domain::{
    Email, Password, PasswordPolicy, Role, Secret, TenantSettings, TenantSlug, UserId,
};
use crate::error::{Error, Result};
use crate::store::users::User;
use crate::store::{self, Db};

/// What the first start created, to print once.
pub struct Bootstrapped {
    pub admin_email: Email,
    /// Set when the password was generated (not configured): shown once.
    pub generated_password: Option<Secret<String>>,
}

pub async fn run(
    db: &Db,
    tenants: &Tenants,
    hasher: &PasswordHasher,
    admin_email: &Email,
    admin_password: Option<&Secret<String>>,
) -> Result<Option<Bootstrapped>> {
    if store::tenants::count(db).await? > 0 {
        return Ok(None);
    }
    let generated_password = match admin_password {
        Some(_) => None,
        None => Some(random_password()?),
    };
    let password_text = admin_password
        .or(generated_password.as_ref())
        .map(|p| p.expose().clone())
        .unwrap_or_default();
    let password =
        Password::parse_new(password_text, &PasswordPolicy::default(), Some(admin_email))
            .map_err(|m| Error::Internal(format!("bootstrap admin password {}", m.join("; "))))?;
    let hash = hasher.hash(&password).await?;

    let now = Utc::now();
    let txn = store::begin(db).await?;
    let system_settings = TenantSettings {
        signup_enabled: false,
        ..TenantSettings::default()
    };
    let created = async {
        let system = tenants
            .create(
                &txn,
                TenantSlug::system(),
                "Platform".into(),
                system_settings,
                now,
            )
            .await?;
        tenants
            .create(
                &txn,
                TenantSlug::parse(TenantSlug::DEFAULT).map_err(Error::Internal)?,
                "Default".into(),
                TenantSettings::default(),
                now,
            )
            .await?;
        let admin = User {
            id: UserId::generate(),
            tenant_id: system.id,
            email: admin_email.as_str().to_owned(),
            name: Some("Administrator".into()),
            password_hash: Some(hash.expose().clone()),
            roles: vec![Role::user().to_string(), Role::superadmin().to_string()],
            email_verified: true,
            disabled: false,
            locked_until: None,
            created_at: now,
            updated_at: now,
        };
        store::users::insert(&txn, &admin).await?;
        Ok::<_, Error>(())
    }
    .await;
    match created {
        Ok(()) => {
            store::commit(txn).await?;
            tracing::info!("created tenants `system` and `default` and the first superadmin");
            Ok(Some(Bootstrapped {
                admin_email: admin_email.clone(),
                generated_password,
            }))
        }
        // Another instance bootstrapped the same database at the same moment.
        Err(Error::Validation(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn random_password() -> Result<Secret<String>> {
    let mut bytes = [0u8; 18];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("system random generator failed".into()))?;
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(bytes)))
}
