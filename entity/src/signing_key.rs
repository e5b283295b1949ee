use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    #[sea_orm(unique)]
    pub kid: String,
    /// JWS `alg`: `EdDSA`, `ES256` or `RS256`.
    pub algorithm: String,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    /// base64 of nonce ‖ AEAD ciphertext of the private key (PKCS#8 DER),
    /// sealed under the master key with the kid as associated data.
    pub private_key: String,
    pub created_at: DateTimeUtc,
    /// Set when a newer key replaced this one: from then on it only
    /// verifies, until `retire_at`; after that it is gone from the JWKS.
    pub retire_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id",
        on_delete = "Cascade"
    )]
    Tenant,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
