//! Verifying the server's signed tokens as a relying party would: the key its `kid` names in the
//! tenant's JWKS, fetched over HTTP, with jsonwebtoken (aws-lc), not the server's own signing code
//! (openssl).

use serde_json::Value;

use crate::harness::Server;

/// Verifies `token` (header `typ` must be `typ`) against the JWKS at `jwks_path`, requiring
/// `audience` among its audiences; returns the claims.
pub fn verified(server: &Server, jwks_path: &str, token: &str, typ: &str, audience: &str) -> Value {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ));
    let kid = header.kid.clone().unwrap();
    let jwks = server.get(jwks_path).json;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} not in {jwks}"))
        .clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// The `access_token` of a successful token response.
pub fn access_token(reply: &crate::harness::Reply) -> String {
    reply.assert_token()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}
