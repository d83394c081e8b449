//! Tenancy: which tenant a request addresses, and what a tenant domain may look like.
//!
//! The default tenant answers `/oauth2/...`; tenant `acme` answers `/t/acme/oauth2/...` and
//! `/oauth2/...?tenantDomain=acme` (the WSO2 convention). Whether the tenant exists is the store's
//! business; this module only decides which name was asked for.

/// Longest tenant domain accepted (a DNS name's limit).
const MAX_TENANT_DOMAIN_LEN: usize = 253;

/// A tenant domain is a lowercase DNS-like name: letters, digits, `-` and `.`, not starting or
/// ending with a separator. This keeps it safe in URL paths, logs and issuer URLs.
pub fn validate_tenant_domain(domain: &str) -> Result<(), String> {
    let valid_chars = domain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let bad_edge = |b: Option<&u8>| matches!(b, Some(b'-') | Some(b'.'));
    if domain.is_empty()
        || domain.len() > MAX_TENANT_DOMAIN_LEN
        || !valid_chars
        || bad_edge(domain.as_bytes().first())
        || bad_edge(domain.as_bytes().last())
        || domain.contains("..")
    {
        return Err(format!(
            "invalid tenant domain '{}': use lowercase letters, digits, '-' and '.'",
            domain.escape_default()
        ));
    }
    Ok(())
}

/// Chooses the tenant from the path segment and the `tenantDomain` query parameter.
///
/// Both may be given only if they agree; neither means the default tenant. The error says how
/// they disagree (the HTTP layer answers it as `invalid_request`).
pub fn resolve_tenant_domain(
    path_tenant: Option<&str>,
    query_tenant: Option<&str>,
    default_tenant: &str,
) -> Result<String, String> {
    let chosen = match (path_tenant, query_tenant) {
        (Some(p), Some(q)) if p != q => {
            return Err(format!(
                "tenantDomain '{}' contradicts the tenant '{}' in the path",
                q.escape_default(),
                p.escape_default()
            ))
        }
        (Some(p), _) => p,
        (None, Some(q)) => q,
        (None, None) => default_tenant,
    };
    Ok(chosen.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for good in ["carbon.super", "acme", "a-b.example.com", "t1"] {
            assert!(validate_tenant_domain(good).is_ok(), "{good}");
        }
        for bad in [
            "", "Acme", "a b", ".acme", "acme.", "a..b", "a/b", "ä", "-x",
        ] {
            assert!(validate_tenant_domain(bad).is_err(), "{bad}");
        }
        assert!(validate_tenant_domain(&"a".repeat(254)).is_err());
    }

    #[test]
    fn tenant_paths_drop_the_host_and_keep_a_base_path() {
        let urls = |base: &str| TenantUrls {
            public_base_url: base.to_owned(),
            default_tenant: "carbon.super".to_owned(),
        };
        let plain = urls("http://localhost:9443");
        assert_eq!(
            plain.tenant_path("carbon.super", "oauth2/authorize"),
            "/oauth2/authorize"
        );
        assert_eq!(
            plain.tenant_path("acme", "oauth2/authorize"),
            "/t/acme/oauth2/authorize"
        );
        assert!(!plain.is_https());
        let prefixed = urls("HTTPS://id.example/idp");
        assert_eq!(
            prefixed.tenant_path("acme", "oauth2/authorize"),
            "/idp/t/acme/oauth2/authorize"
        );
        assert!(prefixed.is_https());
    }

    #[test]
    fn resolution() {
        assert_eq!(resolve_tenant_domain(None, None, "d").unwrap(), "d");
        assert_eq!(resolve_tenant_domain(Some("a"), None, "d").unwrap(), "a");
        assert_eq!(resolve_tenant_domain(None, Some("b"), "d").unwrap(), "b");
        assert_eq!(
            resolve_tenant_domain(Some("a"), Some("a"), "d").unwrap(),
            "a"
        );
        let err = resolve_tenant_domain(Some("a"), Some("b"), "d").unwrap_err();
        assert!(err.contains("contradicts"), "{err}");
    }
}

/// Where a tenant's endpoints are, as clients and tokens name them.
#[derive(Debug, Clone)]
pub struct TenantUrls {
    /// `server.public_base_url`, without a trailing slash.
    pub public_base_url: String,
    pub default_tenant: String,
}

impl TenantUrls {
    pub fn new(server: &crate::config::ServerConfig) -> TenantUrls {
        TenantUrls {
            public_base_url: server.public_base_url.clone(),
            default_tenant: server.default_tenant.clone(),
        }
    }

    /// The tenant's issuer identifier: its tenant-qualified token endpoint URL, as WSO2 names a
    /// tenant's issuer (an audience value for this server).
    pub fn issuer_url(&self, tenant: &str) -> String {
        self.tenant_qualified_url(tenant, "oauth2/token")
    }

    /// `{public_base_url}/t/{tenant}/{path}`, for the default tenant too (which also answers
    /// without the prefix: `tenant_url`).
    pub fn tenant_qualified_url(&self, tenant: &str, path: &str) -> String {
        format!("{}/t/{tenant}/{path}", self.public_base_url)
    }

    /// The tenant's JWKS URL, where its signing keys are published.
    pub fn jwks_url(&self, tenant: &str) -> String {
        self.tenant_url(tenant, "oauth2/jwks")
    }

    /// `{public_base_url}/{path}` for the default tenant, `{public_base_url}/t/{tenant}/{path}`
    /// for others.
    pub fn tenant_url(&self, tenant: &str, path: &str) -> String {
        let base = &self.public_base_url;
        if tenant == self.default_tenant {
            format!("{base}/{path}")
        } else {
            format!("{base}/t/{tenant}/{path}")
        }
    }

    /// `tenant_url` without the scheme and host: where the server's own pages post their forms,
    /// on whatever host the browser reached (its cookies are that host's).
    pub fn tenant_path(&self, tenant: &str, path: &str) -> String {
        let url = self.tenant_url(tenant, path);
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        match after_scheme.find('/') {
            Some(slash) => after_scheme[slash..].to_owned(),
            None => "/".to_owned(),
        }
    }

    /// Whether browsers reach the server over HTTPS (`public_base_url`): its cookies are then
    /// `Secure` and `__Host-` prefixed.
    pub fn is_https(&self) -> bool {
        self.public_base_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// The tenant's token endpoint URL, as clients address it (an audience value for this server).
    pub fn token_endpoint_url(&self, tenant: &str) -> String {
        self.tenant_url(tenant, "oauth2/token")
    }
}
