//! `serve`'s options for signing in through an OpenID Connect provider, how
//! they become [`OidcSettings`], and the provider's start beside the server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::auth::oidc::{IdentityProvider, OidcSettings};
use crate::core::Core;
use crate::domain::group_rules::{GroupRules, TeamRoleRule};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sign-in through an OpenID Connect provider")]
pub struct IdentityArgs {
    /// The provider's issuer, exactly as its discovery document names it
    /// (https://login.example.org/realms/main); turns provider sign-in on
    #[arg(long, env = "ATLASCOPE_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The client id registered for atlascope at the provider
    #[arg(long, env = "ATLASCOPE_OIDC_CLIENT_ID", value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret (prefer --oidc-client-secret-file or the environment: arguments are visible to `ps`)
    #[arg(long, env = "ATLASCOPE_OIDC_CLIENT_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// A file holding the client secret (its surrounding white space is ignored)
    #[arg(long, env = "ATLASCOPE_OIDC_CLIENT_SECRET_FILE", value_name = "PATH", conflicts_with = "oidc_client_secret")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Where the provider sends people back [default: --public-url or the bind address, + /auth/oidc/callback]
    #[arg(long, env = "ATLASCOPE_OIDC_REDIRECT_URL", value_name = "URL")]
    pub oidc_redirect_url: Option<String>,
    /// Scopes to ask for, separated by spaces or commas (`openid` is always asked for)
    #[arg(long, env = "ATLASCOPE_OIDC_SCOPES", default_value = "openid profile email", value_name = "SCOPES")]
    pub oidc_scopes: String,
    /// The provider's name on the sign-in page [default: the issuer's host name]
    #[arg(long, env = "ATLASCOPE_OIDC_NAME", value_name = "NAME")]
    pub oidc_name: Option<String>,
    /// The claim that lists a person's groups
    #[arg(long, env = "ATLASCOPE_OIDC_GROUPS_CLAIM", default_value = "groups", value_name = "CLAIM")]
    pub oidc_groups_claim: String,
    /// Members of this group are site administrators, and nobody else is (repeatable)
    #[arg(long, env = "ATLASCOPE_OIDC_ADMIN_GROUPS", value_delimiter = ',', value_name = "GROUP")]
    pub oidc_admin_group: Vec<String>,
    /// Members of GROUP get ROLE (viewer, editor, owner) on the team called TEAM; the provider then
    /// decides that team's roles at every sign-in (repeatable; in the environment, separated by `;`)
    #[arg(long, env = "ATLASCOPE_OIDC_TEAM_ROLES", value_delimiter = ';', value_name = "GROUP=TEAM:ROLE")]
    pub oidc_team_role: Vec<String>,
    /// Refuse sign-in with a password: only the identity provider signs people in
    /// (API tokens and the command line still work)
    #[arg(long, env = "ATLASCOPE_DISABLE_LOCAL_SIGN_IN")]
    pub disable_local_sign_in: bool,
}

impl IdentityArgs {
    /// The provider's settings, or `None` when no issuer is given. Every
    /// message names the option at fault.
    pub fn settings(&self, public_url: Option<&str>, bind: SocketAddr) -> anyhow::Result<Option<OidcSettings>> {
        let Some(issuer) = self.oidc_issuer.as_deref().map(str::trim).filter(|i| !i.is_empty()) else {
            if self.disable_local_sign_in {
                anyhow::bail!("--disable-local-sign-in needs --oidc-issuer: nobody could sign in");
            }
            return Ok(None);
        };
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|id| !id.trim().is_empty())
            .context("--oidc-issuer needs --oidc-client-id (ATLASCOPE_OIDC_CLIENT_ID)")?;
        let client_secret = match (&self.oidc_client_secret, &self.oidc_client_secret_file) {
            (Some(secret), _) => Some(secret.trim().to_string()),
            (None, Some(path)) => {
                let secret = std::fs::read_to_string(path)
                    .with_context(|| format!("--oidc-client-secret-file: cannot read {}", path.display()))?;
                let secret = secret.trim().to_string();
                if secret.is_empty() {
                    anyhow::bail!("--oidc-client-secret-file: {} is empty", path.display());
                }
                Some(secret)
            }
            (None, None) => None,
        };
        let redirect_url = match &self.oidc_redirect_url {
            Some(url) => url.trim().to_string(),
            None => default_redirect(public_url, bind)?,
        };
        let rules = GroupRules {
            admin_groups: self
                .oidc_admin_group
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
            team_roles: self
                .oidc_team_role
                .iter()
                .filter(|rule| !rule.trim().is_empty())
                .map(|rule| TeamRoleRule::parse(rule).map_err(|e| anyhow::anyhow!("--oidc-team-role: {e}")))
                .collect::<anyhow::Result<_>>()?,
        };
        let scopes = self
            .oidc_scopes
            .split([' ', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(str::to_string)
            .collect();
        let display_name = self.oidc_name.clone().unwrap_or_else(|| host_of(issuer).unwrap_or(issuer).to_string());
        Ok(Some(OidcSettings {
            issuer: issuer.to_string(),
            client_id,
            client_secret,
            redirect_url,
            scopes,
            display_name,
            groups_claim: self.oidc_groups_claim.trim().to_string(),
            rules,
        }))
    }
}

/// The core, signing people in through `provider`. Discovery is fetched
/// now so a misconfigured provider shows in the log at once; a provider that
/// is down is only warned about (local administrators must still get in).
pub async fn signing_in_through(core: Core, provider: Arc<IdentityProvider>) -> anyhow::Result<Core> {
    match provider.warm_up().await {
        Ok(()) => tracing::info!(issuer = %provider.settings().issuer, "signing in through the identity provider"),
        Err(error) => {
            tracing::warn!(%error, "the identity provider cannot be reached yet; sign-in through it will try again")
        }
    }
    for team in crate::service::identity::teams_missing_for_rules(&core, &provider.settings().rules).await? {
        tracing::warn!(%team, "an --oidc-team-role rule names a team that does not exist (yet); it grants nothing until it does");
    }
    Ok(core.with_identity_provider(provider))
}

/// `/auth/oidc/callback` under the public URL, or under the bind address
/// when it is one a browser can open.
fn default_redirect(public_url: Option<&str>, bind: SocketAddr) -> anyhow::Result<String> {
    if let Some(url) = public_url {
        return Ok(format!("{}/auth/oidc/callback", url.trim().trim_end_matches('/')));
    }
    if bind.ip().is_unspecified() {
        anyhow::bail!(
            "--oidc-issuer: the server listens on {bind}, which is no address a browser returns to; \
             give --public-url or --oidc-redirect-url"
        );
    }
    Ok(format!("http://{bind}/auth/oidc/callback"))
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.split(['/', ':', '?', '#']).next().filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        identity: IdentityArgs,
    }

    fn settings(args: &[&str]) -> anyhow::Result<Option<OidcSettings>> {
        let harness = Harness::try_parse_from(std::iter::once("atlascope").chain(args.iter().copied()))?;
        harness.identity.settings(None, "127.0.0.1:8080".parse().unwrap())
    }

    #[test]
    fn the_redirect_defaults_to_the_public_url_and_scopes_drop_openid() {
        let found = settings(&[
            "--oidc-issuer",
            "https://id.example.org/realms/main",
            "--oidc-client-id",
            "atlascope",
            "--oidc-scopes",
            "openid profile,email groups",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(found.redirect_url, "http://127.0.0.1:8080/auth/oidc/callback");
        assert_eq!(found.scopes, ["profile", "email", "groups"]);
        assert_eq!(found.display_name, "id.example.org");
        let public = default_redirect(Some("https://atlas.example.org/"), "0.0.0.0:80".parse().unwrap()).unwrap();
        assert_eq!(public, "https://atlas.example.org/auth/oidc/callback");
        assert!(
            default_redirect(None, "0.0.0.0:80".parse().unwrap()).unwrap_err().to_string().contains("--public-url")
        );
    }

    #[test]
    fn mistakes_name_the_option_at_fault() {
        let no_client = settings(&["--oidc-issuer", "https://id.example"]).unwrap_err().to_string();
        assert!(no_client.contains("--oidc-client-id"), "{no_client}");
        let bad_rule =
            settings(&["--oidc-issuer", "https://id.example", "--oidc-client-id", "a", "--oidc-team-role", "x"])
                .unwrap_err()
                .to_string();
        assert!(bad_rule.contains("--oidc-team-role") && bad_rule.contains("GROUP=TEAM:ROLE"), "{bad_rule}");
        let lonely = settings(&["--disable-local-sign-in"]).unwrap_err().to_string();
        assert!(lonely.contains("--oidc-issuer"), "{lonely}");
        let missing = settings(&[
            "--oidc-issuer",
            "https://id.example",
            "--oidc-client-id",
            "a",
            "--oidc-client-secret-file",
            "/nonexistent/secret",
        ])
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/secret"), "{missing}");
        assert!(settings(&[]).unwrap().is_none(), "no issuer, no provider");
    }
}
