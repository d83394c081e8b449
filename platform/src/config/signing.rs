//! `[oauth.signing]`: the tenants' own signing keys.

use serde::{Deserialize, Serialize};

use super::renamed_keys::RenamedKey;

/// The keys' former names, without their unit; still read.
pub(super) const RENAMED_KEYS: &[RenamedKey] = &[
    RenamedKey::same_unit("oauth.signing", "jwks_max_age", "jwks_max_age_seconds"),
    RenamedKey::same_unit(
        "oauth.signing",
        "rotation_margin",
        "rotation_margin_seconds",
    ),
];

/// `[oauth.signing]`: the tenants' own signing keys (generated on first use, per tenant).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// The key type new keys get: `RS256` (RSA 2048), `ES256` (EC P-256) or `EdDSA` (Ed25519).
    pub algorithm: SigningAlgorithm,
    /// How long a tenant's JWKS may be cached by its readers, in seconds (`Cache-Control`).
    pub jwks_max_age_seconds: u64,
    /// A rotation publishes the new key at once and signs with it `jwks_max_age_seconds` plus this many
    /// seconds later, so that readers who cached the key set have fetched it again by then (the
    /// margin covers the nodes' cache refresh, clock differences and readers that refetch a
    /// little late).
    pub rotation_margin_seconds: u64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        SigningConfig {
            algorithm: SigningAlgorithm::RS256,
            jwks_max_age_seconds: 300,
            rotation_margin_seconds: 60,
        }
    }
}

/// The JWS algorithm of a tenant's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}
