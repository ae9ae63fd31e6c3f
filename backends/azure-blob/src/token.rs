//! Bearer tokens for Entra ID sign-in: a [`TokenProvider`] fetches one, a
//! [`BearerSource`] caches it and fetches a new one shortly before it expires.
//! Tokens are [`Secret`]s: no `Debug` or error message shows them.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use mirrorcast_store::secret::Secret;
use tokio::sync::Mutex;

/// The scope of Azure Storage tokens.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Fetch a new token this long before the cached one expires, so no request
/// leaves with a token that lapses on the way.
const REFRESH_MARGIN: Duration = Duration::minutes(5);

/// A bearer token and when it stops being accepted.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token itself.
    pub token: Secret,
    /// When the service stops accepting it; a new one is fetched shortly before.
    pub expires_at: DateTime<Utc>,
}

/// Why no token could be had. The message names the credential and what to
/// do; it never holds a token or a client secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

/// Something that can get a token for [`STORAGE_SCOPE`]: an Entra ID
/// credential, a token from the environment, a test's own.
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A fresh token for [`STORAGE_SCOPE`]; a [`BearerSource`] asks only when its cached one nears expiry.
    async fn token(&self) -> Result<AccessToken, TokenError>;
}

/// A token fixed at start-up (`AZURE_STORAGE_TOKEN`, `token_env`): used as
/// given until the service refuses it.
#[derive(Debug)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// Serves `token` as if it never expires.
    pub fn new(token: Secret) -> Self {
        StaticToken(token)
    }
}

#[async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<AccessToken, TokenError> {
        // Unknown expiry: never refreshed (there is nothing to refresh from).
        Ok(AccessToken { token: self.0.clone(), expires_at: DateTime::<Utc>::MAX_UTC })
    }
}

/// A provider behind a cache shared by every clone: one token serves all
/// concurrent requests; a new one is fetched within `REFRESH_MARGIN` (5 minutes) of expiry.
#[derive(Clone)]
pub struct BearerSource {
    inner: Arc<Cached>,
}

struct Cached {
    provider: Arc<dyn TokenProvider>,
    /// Tells which credential this is in `Debug` and messages: `azure-cli`, `static`.
    label: String,
    // An async mutex: concurrent requests wait for the one fetch instead of each fetching.
    current: Mutex<Option<AccessToken>>,
}

impl BearerSource {
    /// A cache over `provider`, named `label` in messages; fetches no token until the first request.
    pub fn new(label: impl Into<String>, provider: Arc<dyn TokenProvider>) -> Self {
        BearerSource { inner: Arc::new(Cached { provider, label: label.into(), current: Mutex::new(None) }) }
    }

    /// A fixed token.
    pub fn fixed(token: Secret) -> Self {
        Self::new("static token", Arc::new(StaticToken::new(token)))
    }

    /// What credential this is (`azure-cli`, `static token`), for messages.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// A token valid for at least the refresh margin, from the cache or fresh.
    pub async fn bearer(&self) -> Result<Secret, TokenError> {
        self.bearer_at(Utc::now()).await
    }

    async fn bearer_at(&self, now: DateTime<Utc>) -> Result<Secret, TokenError> {
        let mut current = self.inner.current.lock().await;
        if let Some(t) = current.as_ref().filter(|t| t.expires_at - REFRESH_MARGIN > now) {
            return Ok(t.token.clone());
        }
        let fresh = self.inner.provider.token().await?;
        tracing::debug!(credential = %self.inner.label, expires_at = %fresh.expires_at, "got a bearer token");
        let token = fresh.token.clone();
        *current = Some(fresh);
        Ok(token)
    }
}

impl fmt::Debug for BearerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BearerSource").field(&self.inner.label).finish()
    }
}

/// Two sources are equal when they share one cache.
impl PartialEq for BearerSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for BearerSource {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Hands out `token-<n>` valid for `lifetime` from the fixed time `now`.
    #[derive(Debug)]
    struct Counting {
        fetched: AtomicU32,
        lifetime: Duration,
        now: DateTime<Utc>,
    }

    #[async_trait]
    impl TokenProvider for Counting {
        async fn token(&self) -> Result<AccessToken, TokenError> {
            let n = self.fetched.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken { token: Secret::new(format!("token-{n}")), expires_at: self.now + self.lifetime })
        }
    }

    #[tokio::test]
    async fn a_token_is_cached_until_near_expiry_then_fetched_again() {
        let now = Utc::now();
        let provider = Arc::new(Counting { fetched: AtomicU32::new(0), lifetime: Duration::minutes(60), now });
        let source = BearerSource::new("counting", provider.clone());
        assert_eq!(source.bearer_at(now).await.unwrap().expose(), "token-1");
        assert_eq!(source.clone().bearer_at(now + Duration::minutes(54)).await.unwrap().expose(), "token-1");
        // Within the margin: a new one, though the old one has not lapsed yet.
        assert_eq!(source.bearer_at(now + Duration::minutes(56)).await.unwrap().expose(), "token-2");
        assert_eq!(provider.fetched.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn debug_names_the_credential_not_the_token() {
        let source = BearerSource::fixed(Secret::new("eyJhbGciOi.secret-part"));
        assert_eq!(source.bearer().await.unwrap().expose(), "eyJhbGciOi.secret-part");
        let d = format!("{source:?}");
        assert!(d.contains("static token") && !d.contains("secret-part"), "{d}");
    }
}
