//! Values of every variable each console page is given, as a theme is checked with when it loads
//! (`ConsoleTheme::load`): a template that names a value its page does not have, or fails to
//! render, stops the start instead of the first operator who opens the page. Kept beside the
//! handlers' `json!` maps; the unit test below renders each built-in page with them.

use serde_json::{json, Value};

/// The sample values of `page` (a template name without `console/` and `.html`), with what the
/// layout reads on every page.
pub fn sample(page: &str) -> Value {
    let mut values = json!({
        "signed_in": true, "csrf_token": "x", "section": "tenants", "tenant": "acme",
        "notice": "Saved.", "error": "name: must not be empty",
        "urls": {"overview": "/console/tenants/acme", "identity_providers": "/i",
            "new_identity_provider": "/i?new", "applications": "/a", "users": "/u", "keys": "/k",
            "remove": "/r", "qualified_subjects": "/q", "audit": "/console/audit?tenant=acme"},
    });
    let own = match page {
        "sign_in" => json!({"action": "/console/sign-in",
            "openid": {"tenant": "operators", "url": "/console/sign-in/openid"}}),
        "message" => json!({"title": "Not found", "message": "No such page.",
            "link": "/console/sign-in", "link_text": "Sign in", "refresh": "/console/tenants"}),
        "confirm" => json!({"title": "Remove?", "consequences": ["1 user"],
            "action": "/r", "button": "Remove", "cancel": "/c"}),
        "tenants" => json!({"tenants": [{"domain": "acme", "name": "Acme", "status": "active",
            "qualified_subjects": false, "created_at": "Dec  4 10:00:00 2026 GMT",
            "url": "/console/tenants/acme"}], "form": {"domain": "acme"},
            "default_tenant": "carbon.super"}),
        "tenant" => json!({"tenant_info": {"domain": "acme", "name": "Acme",
            "qualified_subjects": true}, "holdings": {"identity_providers": 1,
            "applications": 2, "users": 3, "keys": 1}, "chart": "<svg></svg>",
            "recent": [{"grant_type": "client_credentials", "outcome": "issued", "total": 4}],
            "default_tenant": false}),
        "identity_providers" => json!({"identity_providers": [{"name": "corp",
            "issuer": "https://idp.example", "enabled": true, "keys": "1 certificate(s)",
            "warnings": ["expires soon"], "url": "/i/corp", "enabled_url": "/i/corp/enabled",
            "remove_url": "/i/corp/remove"}]}),
        "identity_provider" => json!({"title": "Identity provider corp", "action": "/i/corp",
            "editing": true, "form": {"name": "corp", "issuer": "https://idp.example",
                "transformer": "scripts/a.rhai", "service_account_client": "c1"},
            "clients": [{"client_id": "c1", "name": "web"}], "transformers": ["scripts/a.rhai"],
            "transformer_result": {"ok": false, "text": "syntax error"},
            "certificates": [{"description": "certificate 'corp'", "fingerprint": "AB:CD",
                "validity": "valid until Dec  4 10:00:00 2027 GMT", "warn": false}],
            "enabled": true, "enabled_url": "/i/corp/enabled", "remove_url": "/i/corp/remove"}),
        "applications" => json!({"applications": [{"name": "web", "client_id": "c1",
            "grant_types": ["client_credentials"], "scopes": ["read"], "token_format": "opaque",
            "authentication": "client_secret", "remove_url": "/a/c1/remove"}],
            "grant_types": [{"name": "client_credentials", "plugin": false}],
            "checked_grant_types": ["client_credentials"], "form": {"token_format": "jwt"},
            "token_formats": ["opaque", "jwt"], "consents": ["required", "skip"],
            "action": "/a"}),
        "application_created" => json!({"application": {"name": "web", "client_id": "c1",
            "grant_types": ["client_credentials"]}, "client_secret": "s",
            "warnings": ["a warning"], "token_endpoint": "https://id.example/oauth2/token"}),
        "users" => json!({"users": [{"username": "alice", "claims": ["email=a@b.example"],
            "created_at": "Dec  4 10:00:00 2026 GMT", "remove_url": "/u/alice/remove"}],
            "form": {"username": "alice"}, "action": "/u"}),
        "keys" => json!({"keys": [{"kid": "k1", "algorithm": "RS256", "state": "current",
            "created_at": "t", "activates_at": "t", "changes_at": "t"}], "action": "/k/rotate"}),
        "plugins" => json!({"plugins": [{"grant_type": "urn:x", "plugin": "p 1.0",
            "path": "plugins/libp.so", "detail": "loaded"}],
            "report": {"summary": "no change", "changes": [{"grant_type": "urn:x",
                "change": "unchanged", "plugin": "p 1.0", "previous": "p 1.0"}]},
            "refused": "a library is broken", "audit_failed": true, "action": "/p/reload"}),
        "audit" => json!({"entries": [{"id": 1, "at": "t", "actor": "admin token",
            "via": "console", "from": "127.0.0.1", "action": "tenant.add", "tenant": "acme",
            "target": "acme", "detail": "{}"}], "tenant_filter": "acme",
            "older": "/console/audit?before=1", "action": "/console/audit"}),
        _ => json!({}),
    };
    if let (Some(values), Value::Object(own)) = (values.as_object_mut(), own) {
        values.extend(own);
    }
    values
}
