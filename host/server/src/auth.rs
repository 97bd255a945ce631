//! API keys: generated from the OS-seeded CSPRNG, shown once, stored as their sha256 only.

use crate::App;
use crate::error::{ApiError, ProblemKind};
use crate::extract::Caller;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use microlearn_store::{
    ApiKeyRecord, DEFAULT_TENANT, Quotas, Store, StoreError, TenantRecord, now_ms,
};
use sha2::{Digest, Sha256};

/// Create the default tenant (with `default_quotas`) unless it exists.
pub fn ensure_default_tenant(store: &Store, default_quotas: &Quotas) -> Result<(), StoreError> {
    if store.tenant_record(DEFAULT_TENANT)?.is_none() {
        store.put_tenant(&TenantRecord {
            name: DEFAULT_TENANT.into(),
            quotas: default_quotas.clone(),
            created_at_ms: now_ms(),
        })?;
    }
    Ok(())
}

/// Prefix of every key, so leaked keys are easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "mlk_";

/// Lowercase hex sha256 of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new secret key (256 random bits) and its record for `tenant`.
pub fn new_key(tenant: &str, admin: bool, label: &str) -> (String, ApiKeyRecord) {
    let secret: [u8; 32] = rand::random();
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let id_bytes: [u8; 6] = rand::random();
    let record = ApiKeyRecord {
        id: format!("key_{}", hex::encode(id_bytes)),
        sha256: hash_key(&key),
        tenant: tenant.to_string(),
        admin,
        configured: false,
        label: label.to_string(),
        created_at_ms: now_ms(),
    };
    (key, record)
}

/// Prefix of a local token, so one is told apart from an API key in a log or a leak scan.
pub const LOCAL_TOKEN_PREFIX: &str = "mll_";

/// The key id a local token shows as (`/v1/me`, request logs).
pub const LOCAL_KEY_ID: &str = "local";

/// A fresh local token (256 random bits): the credential `microlearn run` uses to reach the
/// `microlearn serve` that holds its data directory. One per server process, held in memory
/// only and never in the store, so it ends with the process and a leftover runtime file grants
/// nothing. It acts for the default tenant without admin rights: a CLI run needs the default
/// tenant's datasets, pipelines and models, never tenants or keys.
pub fn new_local_token() -> String {
    let secret: [u8; 32] = rand::random();
    format!("{LOCAL_TOKEN_PREFIX}{}", hex::encode(secret))
}

/// Whether `name` is usable as a tenant name (it becomes a key prefix, so no `/`).
pub fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The label of keys registered from the configuration; records written before the
/// `configured` flag existed are recognised by it.
const CONFIGURED_LABEL: &str = "admin (from configuration)";

/// Make sure the default tenant and an admin key exist. With `configured` (from the config file
/// or `MICROLEARN_ADMIN_KEY`) that key is registered as a global admin key, and any key an
/// earlier configuration registered is revoked: rotating the configured key must end the old
/// one. Without a configured key, earlier configured keys are revoked too, and when no admin
/// key is left one is generated and returned so the caller can print it once.
pub fn bootstrap(
    store: &Store,
    configured: Option<&str>,
    default_quotas: &Quotas,
) -> Result<Option<String>, StoreError> {
    ensure_default_tenant(store, default_quotas)?;
    let current = configured.map(hash_key);
    for old in store.api_keys()? {
        let from_config = old.configured || (old.admin && old.label == CONFIGURED_LABEL);
        if from_config && Some(&old.sha256) != current.as_ref() {
            store.remove_api_key(&old.sha256)?;
            tracing::info!(key = %old.id, "revoked the admin key of an earlier configuration");
        }
    }
    if let Some(hash) = current {
        if store.api_key_by_hash(&hash)?.is_none() {
            let id_bytes: [u8; 6] = rand::random();
            store.put_api_key(&ApiKeyRecord {
                id: format!("key_{}", hex::encode(id_bytes)),
                sha256: hash,
                tenant: DEFAULT_TENANT.into(),
                admin: true,
                configured: true,
                label: CONFIGURED_LABEL.into(),
                created_at_ms: now_ms(),
            })?;
        }
        return Ok(None);
    }
    // Only a global admin (a default-tenant admin key) can manage tenants; a tenant admin
    // left over does not count.
    if store
        .api_keys()?
        .iter()
        .any(|k| k.admin && k.tenant == DEFAULT_TENANT)
    {
        return Ok(None);
    }
    let (key, record) = new_key(DEFAULT_TENANT, true, "admin (created on first start)");
    store.put_api_key(&record)?;
    Ok(Some(key))
}

/// Resolve `Authorization: Bearer <key>` to a [`Caller`]; routes that need one extract it.
/// A request without a key passes through (health and the OpenAPI document are public); a
/// request with an unknown key is rejected here.
pub async fn authenticate(
    State(app): State<App>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    ProblemKind::Unauthorized,
                    "the Authorization header must be `Bearer <key>`",
                )
            })?;
        let hash = hash_key(key);
        // Compared as hashes, as stored keys are: the comparison never sees the secret.
        let caller = if hash == app.local_token_sha256 {
            Caller {
                tenant: DEFAULT_TENANT.into(),
                admin: false,
                key_id: LOCAL_KEY_ID.into(),
            }
        } else {
            let record = app
                .store
                .api_key_by_hash(&hash)?
                .ok_or_else(|| ApiError::new(ProblemKind::Unauthorized, "unknown API key"))?;
            Caller {
                tenant: record.tenant,
                admin: record.admin,
                key_id: record.id,
            }
        };
        req.extensions_mut().insert(caller);
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_only_their_hash_is_kept() {
        let (a, ra) = new_key("t", false, "x");
        let (b, _) = new_key("t", false, "x");
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        assert_eq!(ra.sha256, hash_key(&a));
        assert!(!serde_json::to_string(&ra).expect("encodes").contains(&a));
    }

    #[test]
    fn local_tokens_are_random_and_not_api_keys() {
        let (a, b) = (new_local_token(), new_local_token());
        assert_ne!(a, b);
        assert!(a.starts_with(LOCAL_TOKEN_PREFIX) && a.len() == LOCAL_TOKEN_PREFIX.len() + 64);
        assert!(!a.starts_with(KEY_PREFIX));
    }

    #[test]
    fn tenant_names_cannot_escape_their_key_prefix() {
        assert!(valid_tenant_name("acme-1"));
        assert!(!valid_tenant_name("a/b"));
        assert!(!valid_tenant_name(""));
        assert!(!valid_tenant_name("Acme"));
    }
}
