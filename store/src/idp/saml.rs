//! SAML service providers registered with `orgid clients add --protocol saml` (`SamlSpStore`):
//! the client row and its SAML data written together; the data goes with the client
//! (`ON DELETE CASCADE`). Table in the `0016_saml_sps` migration.

use orgid_directory::StoreError;
use orgid_directory::idp::StoredSamlSp;

use super::list;

#[derive(sqlx::FromRow)]
pub(crate) struct SamlSpDb {
    id: String,
    metadata: String,
    name_id: String,
    sign: String,
    attributes: String,
}

impl SamlSpDb {
    pub(crate) fn into_domain(self) -> Result<StoredSamlSp, StoreError> {
        Ok(StoredSamlSp {
            id: self.id,
            metadata: self.metadata,
            name_id: self.name_id,
            sign: self.sign,
            attributes: list("SAML attributes", &self.attributes)?,
        })
    }
}

macro_rules! saml_impl {
    ($store:ident, $db:ty) => {
        #[async_trait]
        impl orgid_directory::idp::SamlSpStore for $store {
            #[tracing::instrument(skip_all, err)]
            async fn saml_sps(&self) -> Result<Vec<orgid_directory::idp::StoredSamlSp>, StoreError> {
                ::sqlx::query_as::<_, $crate::idp::saml::SamlSpDb>(
                    "SELECT id, metadata, name_id, sign, attributes FROM idp_saml_sps ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db)?
                .into_iter()
                .map($crate::idp::saml::SamlSpDb::into_domain)
                .collect()
            }

            #[tracing::instrument(skip_all, err)]
            async fn add_saml_sp(
                &self,
                client: &orgid_directory::idp::StoredClient,
                sp: &orgid_directory::idp::StoredSamlSp,
                audit: &[orgid_directory::audit::AuditEvent],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(db)?;
                Self::insert_client(&mut tx, client).await?;
                ::sqlx::query(
                    "INSERT INTO idp_saml_sps (id, metadata, name_id, sign, attributes) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(sp.id.as_str())
                .bind(sp.metadata.as_str())
                .bind(sp.name_id.as_str())
                .bind(sp.sign.as_str())
                .bind($crate::idp::list_json("SAML attributes", &sp.attributes)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                Self::commit_audited(tx, audit).await
            }
        }
    };
}

pub(crate) use saml_impl;
