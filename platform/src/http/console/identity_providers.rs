//! Identity providers (trusted token issuers): the list with enable and disable, the form that
//! adds one and the one that edits it (the fields of references 001 and 002: name, issuer,
//! aliases, certificate files or a JWKS URI, clock skew, allowed subjects and scopes, claim
//! mappings, a transformer from `scripts/` with its compile result, the service-account binding),
//! each certificate's expiry as the command line prints it, and removal.

use std::path::Path;

use serde_json::{json, Value};
use warp::http::StatusCode;

use super::tenants::tenant_urls;
use super::{link, Confirmation, Form, Page};
use crate::http::reply::HttpResponse;
use crate::provisioning::identity_providers::{
    self as idps, IdentityProviderChange, NewIdentityProvider, DEFAULT_CLOCK_SKEW_SECONDS,
};
use crate::provisioning::{self, ProvisioningError};
use crate::store::IdentityProvider;

/// Where the transformers offered are (as `grantor check --scripts` looks by default), relative
/// to the server's working directory, as transformer paths are.
const SCRIPTS_DIR: &str = "scripts";

pub fn list(page: &Page, tenant: &str, notice: Option<String>) -> HttpResponse {
    let all = match idps::list(&page.app.oauth, tenant) {
        Ok(all) => all,
        Err(e) => return page.refusal(&e),
    };
    let rows: Vec<Value> = all
        .iter()
        .map(|idp| {
            json!({"name": idp.name, "issuer": idp.issuer, "enabled": idp.enabled,
                "keys": match &idp.jwks_uri {
                    Some(uri) => format!("JWKS {uri}"),
                    None => format!("{} certificate(s)", idp.certificates.len()),
                },
                "warnings": certificates(idp, page.now).iter()
                    .filter(|c| c["warn"] == true)
                    .map(|c| c["validity"].clone()).collect::<Vec<_>>(),
                "url": link(&["tenants", tenant, "identity-providers", &idp.name]),
                "enabled_url": link(&["tenants", tenant, "identity-providers", &idp.name, "enabled"]),
                "remove_url": link(&["tenants", tenant, "identity-providers", &idp.name, "remove"])})
        })
        .collect();
    page.render(
        StatusCode::OK,
        "identity_providers",
        json!({"section": "identity_providers", "tenant": tenant, "urls": tenant_urls(tenant),
            "identity_providers": rows, "notice": notice}),
    )
}

/// Each stored key: what it is, its fingerprint, and for a certificate its expiry with the
/// warning the command line prints (`warn` when near or past).
fn certificates(idp: &IdentityProvider, now: i64) -> Vec<Value> {
    idp.certificates
        .iter()
        .map(
            |pem| match crate::keys::certificates::normalise_verification_key(pem.as_bytes()) {
                Ok(key) => {
                    let (validity, warn) = match &key.validity {
                        Some(v) => (v.describe(now), v.needs_successor(now)),
                        None => ("a public key: no expiry".to_owned(), false),
                    };
                    json!({"description": key.description, "fingerprint": key.fingerprint,
                        "validity": validity, "warn": warn})
                }
                Err(e) => json!({"description": format!("unreadable: {e}"), "fingerprint": "",
                    "validity": "", "warn": true}),
            },
        )
        .collect()
}

/// The `.rhai` files of `scripts/`, as transformer paths, sorted.
fn transformers() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(SCRIPTS_DIR)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".rhai"))
                .map(|name| format!("{SCRIPTS_DIR}/{name}"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Whether the transformer at `path` compiles, as the server would run it.
fn compile_result(page: &Page, path: &str) -> Value {
    match page.app.oauth.claim_transformers.check(Path::new(path)) {
        Ok(()) => json!({"ok": true, "text": "compiles"}),
        Err(e) => json!({"ok": false, "text": e.to_string()}),
    }
}

/// The form (add: `idp` none), filled with `values`, and the choices it offers.
fn form_page(
    page: &Page,
    tenant: &str,
    idp: Option<&IdentityProvider>,
    values: Value,
    error: Option<String>,
    status: StatusCode,
    notice: Option<String>,
) -> HttpResponse {
    let clients = match provisioning::clients::list(&page.app.oauth, tenant) {
        Ok(clients) => clients,
        Err(e) => return page.refusal(&e),
    };
    let clients: Vec<Value> = clients
        .iter()
        .map(|c| json!({"client_id": c.client_id, "name": c.name}))
        .collect();
    let mut scripts = transformers();
    let chosen = values["transformer"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !chosen.is_empty() && !scripts.contains(&chosen) {
        scripts.push(chosen.clone());
    }
    let transformer_result = (!chosen.is_empty()).then(|| compile_result(page, &chosen));
    let (action, title) = match idp {
        Some(idp) => (
            link(&["tenants", tenant, "identity-providers", &idp.name]),
            format!("Identity provider {}", idp.name),
        ),
        None => (
            link(&["tenants", tenant, "identity-providers"]),
            "Add an identity provider".to_owned(),
        ),
    };
    page.render(
        status,
        "identity_provider",
        json!({"section": "identity_providers", "tenant": tenant, "urls": tenant_urls(tenant),
            "title": title, "action": action, "editing": idp.is_some(), "form": values,
            "error": error, "notice": notice, "clients": clients, "transformers": scripts,
            "transformer_result": transformer_result,
            "certificates": idp.map(|i| certificates(i, page.now)).unwrap_or_default(),
            "enabled": idp.map(|i| i.enabled),
            "enabled_url": idp.map(|i| link(&["tenants", tenant, "identity-providers", &i.name, "enabled"])),
            "remove_url": idp.map(|i| link(&["tenants", tenant, "identity-providers", &i.name, "remove"]))}),
    )
}

/// The edit form of the stored `idp`, with `notice` (what was just done).
fn stored_page(
    page: &Page,
    tenant: &str,
    idp: &IdentityProvider,
    notice: Option<String>,
) -> HttpResponse {
    form_page(
        page,
        tenant,
        Some(idp),
        values_of(idp),
        None,
        StatusCode::OK,
        notice,
    )
}

/// A stored provider as its form shows it.
fn values_of(idp: &IdentityProvider) -> Value {
    json!({
        "name": idp.name,
        "issuer": idp.issuer,
        "aliases": idp.aliases.join("\n"),
        "jwks_uri": idp.jwks_uri.clone().unwrap_or_default(),
        "clock_skew": idp.clock_skew_seconds.to_string(),
        "allowed_subjects": idp.allowed_subjects.as_ref().map(|s| s.join("\n")).unwrap_or_default(),
        "allowed_scopes": idp.allowed_scopes.as_ref().map(|s| s.join(" ")).unwrap_or_default(),
        "claim_mappings": idp.claim_mappings.iter()
            .map(|(remote, local)| format!("{remote}={local}")).collect::<Vec<_>>().join("\n"),
        "transformer": idp.claim_transformer.clone().unwrap_or_default(),
        "service_account_client": idp.service_account_client.clone().unwrap_or_default(),
        "scope_claim": idp.scope_claim.clone().unwrap_or_default(),
        "enabled": if idp.enabled { "on" } else { "" },
    })
}

pub fn new_form(page: &Page, tenant: &str) -> HttpResponse {
    if let Err(e) = provisioning::tenants::find(&page.app.oauth, tenant) {
        return page.refusal(&e);
    }
    let values = json!({"clock_skew": DEFAULT_CLOCK_SKEW_SECONDS.to_string(), "enabled": "on"});
    form_page(page, tenant, None, values, None, StatusCode::OK, None)
}

pub fn edit_form(page: &Page, tenant: &str, name: &str) -> HttpResponse {
    match idps::find(&page.app.oauth, tenant, name) {
        Ok(idp) => stored_page(page, tenant, &idp, None),
        Err(e) => page.refusal(&e),
    }
}

/// The keys a form posts: pasted PEM text (each `-----BEGIN` block a key of its own) and
/// uploaded files (PEM or DER: .pem, .crt, .cer, .der; of a chain, the first certificate, as the
/// command line reads a file), handed to provisioning as the command line hands files. A file that
/// holds no key is refused naming it, as the command line names the file it read.
pub fn posted_keys(form: &Form) -> provisioning::Result<(Vec<String>, Vec<Vec<u8>>)> {
    let pasted = form
        .text("certificates_pem")
        .map(|text| pem_blocks(&text))
        .unwrap_or_default();
    let mut files = Vec::new();
    for file in form.files("certificate_files") {
        if let Err(e) = crate::keys::certificates::normalise_verification_key(&file.bytes) {
            return Err(ProvisioningError::invalid(
                provisioning::field::CERTIFICATES,
                format!("{}: {e}", file.file_name.escape_default()),
            ));
        }
        files.push(file.bytes.clone());
    }
    Ok((pasted, files))
}

/// `text` cut into its PEM blocks (each from `-----BEGIN` to its `-----END ...-----` line); text
/// with no block is kept whole, for provisioning to refuse with its reason.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = rest.find("-----BEGIN") {
        let Some(end) = rest[begin..].find("-----END") else {
            break;
        };
        let after_end = begin + end + "-----END".len();
        let close = rest[after_end..]
            .find("-----")
            .map_or(rest.len(), |i| after_end + i + "-----".len());
        blocks.push(format!("{}\n", rest[begin..close].trim()));
        rest = &rest[close..];
    }
    if blocks.is_empty() {
        blocks.push(text.to_owned());
    }
    blocks
}

fn clock_skew(form: &Form) -> provisioning::Result<Option<u32>> {
    form.text("clock_skew")
        .map(|text| {
            text.parse::<u32>().map_err(|_| {
                ProvisioningError::invalid(
                    provisioning::field::CLOCK_SKEW,
                    format!("'{text}': a whole number of seconds"),
                )
            })
        })
        .transpose()
}

fn optional_list(list: Vec<String>) -> Option<Vec<String>> {
    (!list.is_empty()).then_some(list)
}

pub fn add(page: &Page, tenant: &str, form: &Form) -> HttpResponse {
    let added = (|| {
        let (certificates, files) = posted_keys(form)?;
        let new = NewIdentityProvider {
            name: form.text("name").unwrap_or_default(),
            issuer: form.text("issuer").unwrap_or_default(),
            certificates,
            jwks_uri: form.text("jwks_uri"),
            aliases: form.lines("aliases"),
            clock_skew: clock_skew(form)?,
            allowed_subjects: optional_list(form.lines("allowed_subjects")),
            allowed_scopes: optional_list(form.list("allowed_scopes")),
            claim_mappings: idps::parse_claim_mappings(&form.lines("claim_mappings"))?,
            transformer: form.text("transformer"),
            service_account_client: form.text("service_account_client"),
            scope_claim: form.text("scope_claim"),
            enabled: form.checked("enabled"),
        };
        idps::add(
            &page.app.oauth,
            tenant,
            new,
            files,
            page.now,
            &page.signed_in.actor,
        )
    })();
    match added {
        Ok(idp) => {
            let mut notice = format!("Identity provider {} added.", idp.name);
            for c in certificates(&idp, page.now) {
                if c["warn"] == true {
                    notice.push_str(&format!(
                        " Certificate: {}.",
                        c["validity"].as_str().unwrap_or_default()
                    ));
                }
            }
            stored_page(page, tenant, &idp, Some(notice))
        }
        Err(e) => refused(page, tenant, None, form, &e),
    }
}

/// The form again with what was posted and why it was refused; an unknown tenant or provider,
/// or the store failing, is a page of its own.
fn refused(
    page: &Page,
    tenant: &str,
    idp: Option<&IdentityProvider>,
    form: &Form,
    e: &ProvisioningError,
) -> HttpResponse {
    let (status, _) = super::refusal_status(e);
    if !matches!(status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
        return page.refusal(e);
    }
    let mut values = Value::Object(form.refill());
    if let Some(idp) = idp {
        values["name"] = idp.name.clone().into();
        values["issuer"] = idp.issuer.clone().into();
    }
    form_page(
        page,
        tenant,
        idp,
        values,
        Some(super::refusal_text(e)),
        status,
        None,
    )
}

pub fn update(page: &Page, tenant: &str, name: &str, form: &Form) -> HttpResponse {
    let app = &page.app.oauth;
    let idp = match idps::find(app, tenant, name) {
        Ok(idp) => idp,
        Err(e) => return page.refusal(&e),
    };
    let updated = (|| {
        let (Some(change), files) = change_from(&idp, form)? else {
            return Ok(None);
        };
        idps::update(
            app,
            tenant,
            name,
            change,
            files,
            page.now,
            &page.signed_in.actor,
        )
        .map(Some)
    })();
    match updated {
        Ok(Some((idp, _))) => stored_page(
            page,
            tenant,
            &idp,
            Some(format!("Identity provider {} saved.", idp.name)),
        ),
        Ok(None) => stored_page(page, tenant, &idp, Some("Nothing changed.".to_owned())),
        Err(e) => refused(page, tenant, Some(&idp), form, &e),
    }
}

/// What the edit form changes of `stored`: only the settings whose posted value differs (the
/// audit log names those), and the keys posted. Posted keys replace the stored certificates, or
/// join them when `keep_certificates` is ticked (a successor registered before its predecessor
/// expires); a JWKS URI other than the stored one replaces the keys. `None`: no setting changed.
fn change_from(
    stored: &IdentityProvider,
    form: &Form,
) -> provisioning::Result<(Option<IdentityProviderChange>, Vec<Vec<u8>>)> {
    fn differs<T: PartialEq>(posted: T, stored: &T) -> Option<T> {
        (posted != *stored).then_some(posted)
    }
    let (pasted, files) = posted_keys(form)?;
    let new_keys = !pasted.is_empty() || !files.is_empty();
    let jwks_uri = form
        .text("jwks_uri")
        .filter(|uri| Some(uri) != stored.jwks_uri.as_ref());
    if new_keys && jwks_uri.is_some() {
        return Err(ProvisioningError::invalid(
            provisioning::field::JWKS_URI,
            "give certificates or a JWKS URI, not both",
        ));
    }
    let certificates = match (new_keys, form.checked("keep_certificates")) {
        (false, _) => None,
        (true, false) => Some(pasted),
        (true, true) => Some(stored.certificates.iter().cloned().chain(pasted).collect()),
    };
    let change = IdentityProviderChange {
        certificates,
        jwks_uri,
        aliases: differs(form.lines("aliases"), &stored.aliases),
        clock_skew: clock_skew(form)?.filter(|skew| i64::from(*skew) != stored.clock_skew_seconds),
        allowed_subjects: differs(
            optional_list(form.lines("allowed_subjects")),
            &stored.allowed_subjects,
        ),
        allowed_scopes: differs(
            optional_list(form.list("allowed_scopes")),
            &stored.allowed_scopes,
        ),
        claim_mappings: differs(
            idps::parse_claim_mappings(&form.lines("claim_mappings"))?,
            &stored.claim_mappings,
        ),
        transformer: differs(form.text("transformer"), &stored.claim_transformer),
        service_account_client: differs(
            form.text("service_account_client"),
            &stored.service_account_client,
        ),
        scope_claim: differs(form.text("scope_claim"), &stored.scope_claim),
        enabled: None,
    };
    let unchanged = change.certificates.is_none()
        && change.jwks_uri.is_none()
        && change.aliases.is_none()
        && change.clock_skew.is_none()
        && change.allowed_subjects.is_none()
        && change.allowed_scopes.is_none()
        && change.claim_mappings.is_none()
        && change.transformer.is_none()
        && change.service_account_client.is_none()
        && change.scope_claim.is_none();
    Ok(((!unchanged).then_some(change), files))
}

/// Enables or disables (`enabled` = `true` or `false`); disabling revokes the refresh token
/// families its assertions started, and the page says how many.
pub fn set_enabled(page: &Page, tenant: &str, name: &str, form: &Form) -> HttpResponse {
    let enabled = match form.text("enabled").as_deref() {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return page.message(
                StatusCode::BAD_REQUEST,
                "Not valid",
                "enabled: true or false",
            )
        }
    };
    match idps::set_enabled(
        &page.app.oauth,
        tenant,
        name,
        enabled,
        page.now,
        &page.signed_in.actor,
    ) {
        Ok(revoked) => list(
            page,
            tenant,
            Some(if enabled {
                format!("Identity provider {name} enabled.")
            } else {
                format!(
                    "Identity provider {name} disabled: {revoked} refresh token {} revoked.",
                    if revoked == 1 { "family" } else { "families" }
                )
            }),
        ),
        Err(e) => page.refusal(&e),
    }
}

pub fn confirm_removal(page: &Page, tenant: &str, name: &str) -> HttpResponse {
    let idp = match idps::find(&page.app.oauth, tenant, name) {
        Ok(idp) => idp,
        Err(e) => return page.refusal(&e),
    };
    page.confirm(
        "identity_providers",
        tenant,
        Confirmation {
            title: format!("Remove identity provider {}?", idp.name),
            consequences: vec![
                format!(
                    "assertions issued by {} are refused from now on",
                    idp.issuer
                ),
                "the refresh token families its assertions started are revoked".to_owned(),
            ],
            action: link(&["tenants", tenant, "identity-providers", name, "remove"]),
            button: "Remove the identity provider",
            cancel: link(&["tenants", tenant, "identity-providers", name]),
        },
    )
}

pub fn remove(page: &Page, tenant: &str, name: &str) -> HttpResponse {
    match idps::remove(
        &page.app.oauth,
        tenant,
        name,
        page.now,
        &page.signed_in.actor,
    ) {
        Ok(revoked) => list(
            page,
            tenant,
            Some(format!(
                "Identity provider {name} removed: {revoked} refresh token {} revoked.",
                if revoked == 1 { "family" } else { "families" }
            )),
        ),
        Err(e) => page.refusal(&e),
    }
}
