//! Replay keys: the ids of accepted assertions, kept until the assertions expire so that none is
//! accepted twice. Two kinds share one table (`jwt_replay_cache`): the assertions of grants (an
//! identity provider's `jti`s) and the assertions clients authenticate with (`private_key_jwt`,
//! one name space per client). The kind is a type everywhere but in that table's `issuer` column,
//! which this file alone encodes.

use std::borrow::Cow;

/// Whose assertion a replay key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayKind {
    /// A client's own assertion (RFC 7523 section 3 used for client authentication): refused as
    /// `invalid_client` when replayed.
    ClientAssertion { client_id: String },
    /// An identity provider's assertion presented as a grant: refused as `invalid_grant`.
    GrantAssertion { issuer: String },
}

/// One replay key as a request records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKey {
    pub tenant_domain: String,
    pub kind: ReplayKind,
    /// The assertion's `jti` (or what its grant uses in its place).
    pub jti: String,
    /// Kept until then; an expired key no longer blocks its id and is replaced.
    pub expires_at: i64,
}

/// The `issuer` column of a client's assertions: a name space no identity provider's issuer (a URL
/// or a name) shares.
const CLIENT_ASSERTION_ISSUER_PREFIX: &str = "client-assertion:";

impl ReplayKind {
    /// The kind as the `issuer` column stores it.
    pub(super) fn stored_issuer(&self) -> Cow<'_, str> {
        match self {
            ReplayKind::GrantAssertion { issuer } => Cow::Borrowed(issuer),
            ReplayKind::ClientAssertion { client_id } => {
                Cow::Owned(format!("{CLIENT_ASSERTION_ISSUER_PREFIX}{client_id}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_assertions_have_a_name_space_of_their_own() {
        let client = ReplayKind::ClientAssertion {
            client_id: "cid".into(),
        };
        let grant = ReplayKind::GrantAssertion {
            issuer: "cid".into(),
        };
        assert_eq!(client.stored_issuer(), "client-assertion:cid");
        assert_eq!(grant.stored_issuer(), "cid");
    }
}
