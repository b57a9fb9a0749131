//! The OpenID Connect relying party: discovery and signing keys from the
//! issuer (fetched again when they are old or a token names a key not yet
//! seen), the authorization code flow with PKCE, `state` and `nonce`, the
//! ID token's checks, the claims atlascope reads, and refreshes that ask
//! the provider whether an account may still sign in.
//!
//! It makes outbound HTTP requests only to the configured provider, never
//! follows redirects (a provider answer must not point the server
//! elsewhere) and gives up after [`REQUEST_TIMEOUT`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGrantType, CoreIdToken, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde_json::Value;

use crate::domain::accounts::ProviderIdentity;
use crate::domain::group_rules::GroupRules;

/// The longest a request to the provider may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Discovery and keys are fetched again after this long.
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);
/// How often a session asks the provider again when the provider does not
/// say how long its access token lasts; and the bounds on what it says.
const DEFAULT_RECHECK: Duration = Duration::from_secs(15 * 60);
const SHORTEST_RECHECK: Duration = Duration::from_secs(60);
const LONGEST_RECHECK: Duration = Duration::from_secs(60 * 60);
/// The largest claims document read from the provider.
const MAX_CLAIMS_BYTES: usize = 256 * 1024;

/// How the server signs people in through a provider (`serve --oidc-…`).
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer exactly as the provider names itself.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Where the provider sends people back: this server's `/auth/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for beside `openid`.
    pub scopes: Vec<String>,
    /// The provider's name on the sign-in page.
    pub display_name: String,
    /// The claim that lists a person's groups.
    pub groups_claim: String,
    pub rules: GroupRules,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "(set)"))
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Why a step with the provider failed, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or answered with something that is
    /// not a provider's answer.
    #[error("the identity provider at {issuer} cannot be reached: {detail}")]
    Unreachable { issuer: String, detail: String },
    /// The provider answered and said no.
    #[error("the identity provider refused: {0}")]
    Refused(String),
    /// The provider's answer failed a check (signature, issuer, audience,
    /// expiry, nonce): nobody is signed in on it.
    #[error("the identity provider's answer failed a check: {0}")]
    Invalid(String),
}

impl ProviderError {
    /// The provider could not be reached or made no sense: worth trying
    /// again later, unlike a refusal or a failed check.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ProviderError::Unreachable { .. })
    }
}

/// The one discovery field beyond the core ones atlascope reads: where the
/// provider signs people out (OpenID Connect RP-Initiated Logout).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct SignOutMetadata {
    end_session_endpoint: Option<openidconnect::url::Url>,
}

impl AdditionalProviderMetadata for SignOutMetadata {}

type Metadata = ProviderMetadata<
    SignOutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type ProviderClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What discovery found, and when.
struct Discovered {
    client: ProviderClient,
    userinfo: Option<openidconnect::url::Url>,
    end_session: Option<openidconnect::url::Url>,
    fetched: Instant,
}

/// A sign-in about to be sent to the provider: the browser goes to `url`;
/// the rest is kept for the callback.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderClaims {
    pub identity: ProviderIdentity,
    /// `preferred_username`, else the e-mail address, as given.
    pub username_hint: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
}

/// A finished sign-in: who, and what the session needs to ask again.
pub struct SignedIn {
    pub claims: ProviderClaims,
    pub refresh_token: Option<String>,
    pub recheck_in: Duration,
}

/// A refresh the provider granted.
pub struct Renewed {
    /// The refresh token to use next time (the old one when the provider
    /// does not rotate them).
    pub refresh_token: String,
    pub recheck_in: Duration,
}

/// The configured provider; cheap to share.
pub struct IdentityProvider {
    settings: OidcSettings,
    http: reqwest::Client,
    discovered: tokio::sync::RwLock<Option<Arc<Discovered>>>,
    /// One discovery at a time.
    discovering: tokio::sync::Mutex<()>,
}

impl IdentityProvider {
    pub fn new(settings: OidcSettings) -> anyhow::Result<IdentityProvider> {
        IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| anyhow::anyhow!("--oidc-issuer: `{}` is not a URL: {e}", settings.issuer))?;
        RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| anyhow::anyhow!("--oidc-redirect-url: `{}` is not a URL: {e}", settings.redirect_url))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT / 2)
            .user_agent(concat!("atlascope/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(IdentityProvider {
            settings,
            http,
            discovered: tokio::sync::RwLock::new(None),
            discovering: tokio::sync::Mutex::new(()),
        })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Fetches discovery and keys now (at start-up), so a misconfigured
    /// provider shows in the log at once.
    pub async fn warm_up(&self) -> Result<(), ProviderError> {
        self.client(Freshness::Cached).await.map(|_| ())
    }

    /// The discovered client: the cached one unless it is old or `fresh`
    /// asks for one discovered after `fresh`'s instant.
    async fn client(&self, freshness: Freshness) -> Result<Arc<Discovered>, ProviderError> {
        let usable = |found: &Option<Arc<Discovered>>| {
            found.as_ref().filter(|d| freshness.accepts(d.fetched) && d.fetched.elapsed() < METADATA_MAX_AGE).cloned()
        };
        if let Some(found) = usable(&*self.discovered.read().await) {
            return Ok(found);
        }
        let _turn = self.discovering.lock().await;
        if let Some(found) = usable(&*self.discovered.read().await) {
            return Ok(found);
        }
        match self.discover().await {
            Ok(found) => {
                let found = Arc::new(found);
                *self.discovered.write().await = Some(found.clone());
                Ok(found)
            }
            // An old document still serves while the provider is away, unless
            // it is known not to hold the key needed.
            Err(error) => match (&*self.discovered.read().await, freshness) {
                (Some(old), Freshness::Cached) => {
                    tracing::warn!(%error, "could not fetch the identity provider's discovery document again; using the one fetched earlier");
                    Ok(old.clone())
                }
                _ => Err(error),
            },
        }
    }

    async fn discover(&self) -> Result<Discovered, ProviderError> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| self.unreachable(e))?;
        let metadata = Metadata::discover_async(issuer, &self.http).await.map_err(|e| {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                detail = format!("{detail}: {cause}");
                source = cause.source();
            }
            self.unreachable(detail)
        })?;
        let userinfo = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(self.settings.redirect_url.clone()).map_err(|e| self.unreachable(e))?);
        tracing::info!(issuer = %self.settings.issuer, "fetched the identity provider's discovery document and keys");
        Ok(Discovered { client, userinfo, end_session, fetched: Instant::now() })
    }

    fn unreachable(&self, detail: impl std::fmt::Display) -> ProviderError {
        ProviderError::Unreachable { issuer: self.settings.issuer.clone(), detail: detail.to_string() }
    }

    /// Starts a sign-in: where to send the browser, and what to keep.
    pub async fn begin(&self) -> Result<Authorization, ProviderError> {
        let discovered = self.client(Freshness::Cached).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = discovered.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Finishes a sign-in: trades the code for tokens, checks the ID token
    /// (signature, issuer, audience, expiry, nonce, access token hash) and
    /// reads the claims, from the ID token and the userinfo endpoint.
    pub async fn finish(&self, code: &str, pkce_verifier: &str, nonce: &str) -> Result<SignedIn, ProviderError> {
        let discovered = self.client(Freshness::Cached).await?;
        let tokens = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| self.unreachable(e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e))?;
        let id_token =
            tokens.id_token().ok_or_else(|| ProviderError::Invalid("the token response holds no ID token".into()))?;
        let nonce = Nonce::new(nonce.to_string());
        let (discovered, subject) = match self.verify(&discovered, id_token, &tokens, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // The provider signs with a key fetched after ours: fetch them again.
                let fresh = self.client(Freshness::After(discovered.fetched)).await?;
                let subject = self.verify(&fresh, id_token, &tokens, &nonce).map_err(invalid)?;
                (fresh, subject)
            }
            other => (discovered, other.map_err(invalid)?),
        };
        let mut claims = jwt_payload(&id_token.to_string())?;
        if let Some(userinfo) = &discovered.userinfo {
            let info = self.userinfo(userinfo, tokens.access_token().secret()).await?;
            if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
                return Err(ProviderError::Invalid("the userinfo answer names another subject".into()));
            }
            claims.extend(info);
        }
        Ok(SignedIn {
            claims: self.read_claims(subject, &claims),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            recheck_in: recheck_after(tokens.expires_in()),
        })
    }

    /// The subject of a verified ID token.
    fn verify(
        &self,
        discovered: &Discovered,
        id_token: &CoreIdToken,
        tokens: &CoreTokenResponse,
        nonce: &Nonce,
    ) -> Result<String, ClaimsVerificationError> {
        let verifier = discovered.client.id_token_verifier();
        let claims = id_token.claims(&verifier, nonce)?;
        if let Some(expected) = claims.access_token_hash() {
            let algorithm = id_token.signing_alg().map_err(ClaimsVerificationError::SignatureVerification)?;
            let key = id_token.signing_key(&verifier).map_err(ClaimsVerificationError::SignatureVerification)?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), algorithm, key)
                .map_err(|e| ClaimsVerificationError::Other(format!("the access token hash: {e}")))?;
            if actual != *expected {
                return Err(ClaimsVerificationError::Other("the access token hash does not match".into()));
            }
        }
        Ok(claims.subject().as_str().to_string())
    }

    async fn userinfo(
        &self,
        url: &openidconnect::url::Url,
        access_token: &str,
    ) -> Result<serde_json::Map<String, Value>, ProviderError> {
        let response =
            self.http.get(url.clone()).bearer_auth(access_token).send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Refused(format!("the userinfo endpoint answered {status}")));
        }
        let body = read_limited(response).await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Invalid(format!("the userinfo answer is not a JSON object: {e}")))
    }

    fn read_claims(&self, subject: String, claims: &serde_json::Map<String, Value>) -> ProviderClaims {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).unwrap_or_default().to_string();
        let email = text("email");
        let username_hint = Some(text("preferred_username")).filter(|s| !s.is_empty()).unwrap_or_else(|| email.clone());
        let display_name = Some(text("name")).filter(|s| !s.is_empty()).unwrap_or_else(|| username_hint.clone());
        let groups = match claims.get(&self.settings.groups_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        ProviderClaims {
            identity: ProviderIdentity { issuer: self.settings.issuer.clone(), subject },
            username_hint,
            display_name,
            email,
            groups,
        }
    }

    /// Where to send a browser to sign out at the provider as well, coming
    /// back to this server's sign-in page; `None` when the provider offers
    /// no sign-out (or cannot be reached now).
    pub async fn sign_out_url(&self) -> Option<String> {
        let discovered = self.client(Freshness::Cached).await.ok()?;
        let mut url = discovered.end_session.clone()?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("client_id", &self.settings.client_id);
            if let Some(back) = self.settings.redirect_url.strip_suffix("/auth/oidc/callback") {
                query.append_pair("post_logout_redirect_uri", &format!("{back}/login"));
            }
        }
        Some(url.to_string())
    }

    /// Asks the provider whether the session may go on, with its refresh token.
    pub async fn renew(&self, refresh_token: &str) -> Result<Renewed, ProviderError> {
        let discovered = self.client(Freshness::Cached).await?;
        let tokens = discovered
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .map_err(|e| self.unreachable(e))?
            .request_async(&self.http)
            .await
            .map_err(|e| self.token_error(e))?;
        Ok(Renewed {
            refresh_token: tokens.refresh_token().map_or_else(|| refresh_token.to_string(), |t| t.secret().clone()),
            recheck_in: recheck_after(tokens.expires_in()),
        })
    }

    fn token_error<RE: std::error::Error + 'static>(
        &self,
        error: RequestTokenError<RE, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
    ) -> ProviderError {
        match error {
            RequestTokenError::ServerResponse(answer) => {
                let mut words = answer.error().to_string();
                if let Some(description) = answer.error_description() {
                    words = format!("{description} ({words})");
                }
                ProviderError::Refused(words)
            }
            RequestTokenError::Request(e) => self.unreachable(e),
            RequestTokenError::Parse(e, _) => self.unreachable(format!("its token answer cannot be read: {e}")),
            RequestTokenError::Other(e) => self.unreachable(e),
        }
    }
}

/// Which discovery document will do.
#[derive(Clone, Copy)]
enum Freshness {
    Cached,
    /// Only one fetched after this instant.
    After(Instant),
}

impl Freshness {
    fn accepts(self, fetched: Instant) -> bool {
        match self {
            Freshness::Cached => true,
            Freshness::After(seen) => fetched > seen,
        }
    }
}

fn invalid(error: ClaimsVerificationError) -> ProviderError {
    ProviderError::Invalid(error.to_string())
}

/// How long until a session asks the provider again, from the lifetime of
/// the access token it gave.
fn recheck_after(expires_in: Option<Duration>) -> Duration {
    expires_in.unwrap_or(DEFAULT_RECHECK).clamp(SHORTEST_RECHECK, LONGEST_RECHECK)
}

/// The claims of a JWT whose signature was checked already.
fn jwt_payload(jwt: &str) -> Result<serde_json::Map<String, Value>, ProviderError> {
    let payload = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| ProviderError::Invalid(format!("the ID token's claims are not base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Invalid(format!("the ID token's claims: {e}")))
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_CLAIMS_BYTES {
            return Err(format!("its answer is larger than {} KiB", MAX_CLAIMS_BYTES / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_ask_again_when_the_access_token_ends_within_bounds() {
        assert_eq!(recheck_after(None), DEFAULT_RECHECK);
        assert_eq!(recheck_after(Some(Duration::from_secs(5))), SHORTEST_RECHECK);
        assert_eq!(recheck_after(Some(Duration::from_secs(600))), Duration::from_secs(600));
        assert_eq!(recheck_after(Some(Duration::from_secs(86_400))), LONGEST_RECHECK);
    }

    #[test]
    fn the_claims_of_a_token_are_read_from_its_middle_part() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"a","groups":["x"]}"#);
        let claims = jwt_payload(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["groups"][0], "x");
        assert!(matches!(jwt_payload("only-one-part"), Err(ProviderError::Invalid(_))));
    }

    #[test]
    fn settings_never_print_the_client_secret() {
        let settings = OidcSettings {
            issuer: "https://id.example".into(),
            client_id: "atlascope".into(),
            client_secret: Some("very-secret-value".into()),
            redirect_url: "https://atlas.example/auth/oidc/callback".into(),
            scopes: vec![],
            display_name: "Example".into(),
            groups_claim: "groups".into(),
            rules: GroupRules::default(),
        };
        assert!(!format!("{settings:?}").contains("very-secret-value"));
    }
}
