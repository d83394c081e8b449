//! Key rotation that verifiers survive (DESIGN.md section 10). Two verifiers that cache a tenant's
//! key set and refetch it at most once per `min_refresh_interval`: Grantor's gateway trusting the
//! API tenant by its JWKS URL, and the JWT bearer grant at the API tenant trusting the identity
//! tenant by `--jwks-uri` (reference 000). Both fetch the key sets before `keys rotate`; every
//! token issued afterwards, by the old key until the switch and by the new one after it, must
//! verify at both. Then `keys rotate --now`, which signs at once and withdraws the old key.
//!
//! Small settings keep the test short: the JWKS may be cached 5 s, the switch comes 2 s after
//! that, and the verifiers refetch at most every 5 s (so a rotation that signed at once would
//! meet a verifier that cannot refetch yet).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    jwt_client, kid_of, on_each_backend, start_gateway, Backend, Credentials, Deployment,
    Reference000, Reply, Server, Upstream, API_ISSUER,
};

/// Seconds the verifiers keep a key set, and refetch at most once in.
const VERIFIER_INTERVAL: u64 = 5;

fn verifier_settings() -> String {
    format!(
        "[oauth.jwks_endpoint]\nmin_refresh_interval = {VERIFIER_INTERVAL}\n\
         cache_lifetime = {VERIFIER_INTERVAL}\n"
    )
}

fn server_settings() -> String {
    format!(
        "[oauth.signing]\njwks_max_age = {VERIFIER_INTERVAL}\nrotation_margin = 2\n{}",
        verifier_settings()
    )
}

fn gateway_settings(server: &Server, upstream: &Upstream, audience: &str) -> String {
    format!(
        "{}\n[gateway]\nbind = \"127.0.0.1:0\"\n\
         [[gateway.api]]\ncontext = \"/orders\"\nupstream = \"{}/api\"\n\
         [[gateway.api.resource]]\nmethod = \"GET\"\npath = \"/list\"\n\
         [[gateway.jwt_issuer]]\nname = \"{API_ISSUER}\"\njwks.url = \"{}\"\naudience = [\"{audience}\"]\n",
        verifier_settings(),
        upstream.url,
        server.url("/t/apis.example/oauth2/jwks"),
    )
}

/// One pass through both verifiers: an ID token from the identity tenant, exchanged at the API
/// tenant (the JWT bearer grant verifies it by JWKS), the access token sent through the gateway
/// (which verifies it by JWKS). Returns the kids that signed the ID token and the access token;
/// any refusal fails the test, saying which verifier refused and when.
fn one_round(reference: &Reference000, gateway: &Server, round: &str) -> (String, String) {
    let id_token = reference.id_token(&reference.webapp);
    let exchanged = reference.exchange(&id_token, Some("orders"));
    assert_eq!(
        exchanged.status,
        200,
        "{round}: the JWT bearer grant refused an ID token signed by {}: {}",
        kid_of(&id_token),
        exchanged.json
    );
    let access_token = exchanged.json["access_token"].as_str().unwrap().to_owned();
    let called = Reply::from(
        reqwest::blocking::Client::new()
            .get(gateway.url("/orders/list"))
            .bearer_auth(&access_token)
            .send()
            .unwrap(),
    );
    assert_eq!(
        called.status,
        200,
        "{round}: the gateway refused an access token signed by {}: {} {:?}",
        kid_of(&access_token),
        called.json,
        called.header("www-authenticate")
    );
    (kid_of(&id_token), kid_of(&access_token))
}

/// `keys rotate` on `tenant`, whose key was `old`: the new key's id and its state just after.
fn rotate(deployment: &Deployment, tenant: &str, old: &str) -> (String, String) {
    let said = deployment.cli_ok(&["keys", "rotate", "--tenant", tenant]);
    let listed: Vec<Value> =
        serde_json::from_str(&deployment.cli_ok(&["keys", "list", "--tenant", tenant, "--json"]))
            .unwrap();
    let new = listed
        .iter()
        .find(|k| k["kid"] != old && k["state"] != "retired")
        .unwrap_or_else(|| panic!("no new key after a rotation: {listed:?} ({said})"));
    let kid = new["kid"].as_str().unwrap().to_owned();
    assert!(said.contains(&kid), "{said}");
    (kid, new["state"].as_str().unwrap().to_owned())
}

fn verifiers_that_cache_the_key_set_accept_every_token_across_a_rotation(backend: Backend) {
    let reference = Reference000::start_with(backend, &server_settings(), &[]);
    let upstream = Upstream::start();
    let gateway = start_gateway(&gateway_settings(
        &reference.server,
        &upstream,
        &reference.apiapp.id,
    ));
    let gw = &gateway.server;

    // Both verifiers fetch the key sets now, before the rotation.
    let (old_idp, old_api) = one_round(&reference, gw, "before the rotation");
    let (new_idp, idp_state) = rotate(reference.deployment(), "idp.example", &old_idp);
    let (new_api, api_state) = rotate(reference.deployment(), "apis.example", &old_api);
    let rotated = Instant::now();
    // Published at once.
    for (tenant, kid) in [("idp.example", &new_idp), ("apis.example", &new_api)] {
        let published = reference
            .server
            .get(&format!("/t/{tenant}/oauth2/jwks"))
            .json;
        assert!(
            published["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == kid.as_str()),
            "{tenant}: {published}"
        );
    }

    // Tokens, issued and checked until the new keys have signed a few: every one verifies.
    let deadline = rotated + Duration::from_secs(60);
    let (mut by_old_keys, mut by_new_keys, mut rounds) = (0, 0, 0);
    while by_new_keys < 3 {
        rounds += 1;
        let round = format!(
            "round {rounds}, {} ms after the rotation",
            rotated.elapsed().as_millis()
        );
        let (idp, api) = one_round(&reference, gw, &round);
        match (idp == new_idp, api == new_api) {
            (true, true) => by_new_keys += 1,
            (false, false) => {
                assert_eq!((&idp, &api), (&old_idp, &old_api), "{round}");
                by_old_keys += 1;
            }
            // The two tenants switch a moment apart (rotated one after the other).
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the new keys never signed ({rounds} rounds)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The new keys were the next ones, and the old keys went on signing until the switch.
    assert_eq!((idp_state.as_str(), api_state.as_str()), ("next", "next"));
    assert!(by_old_keys > 0, "{rounds} rounds, none by the old keys");
    let listed: Vec<Value> = serde_json::from_str(&reference.deployment().cli_ok(&[
        "keys",
        "list",
        "--tenant",
        "apis.example",
        "--json",
    ]))
    .unwrap();
    let states: Vec<(&str, &str)> = listed
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (new_api.as_str(), "current"),
            (old_api.as_str(), "retiring")
        ]
    );
}
on_each_backend!(verifiers_that_cache_the_key_set_accept_every_token_across_a_rotation);

/// A client credentials access token of `tenant` for `client`.
fn client_credentials_token(server: &Server, tenant: &str, client: &Credentials) -> String {
    crate::harness::access_token(&server.token(
        &format!("/t/{tenant}/oauth2/token"),
        client,
        &[("grant_type", "client_credentials")],
    ))
}

fn published_kids(server: &Server, tenant: &str) -> Vec<String> {
    server.get(&format!("/t/{tenant}/oauth2/jwks")).json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

on_each_backend!(
    an_immediate_rotation_signs_at_once_says_what_it_breaks_and_withdraws_the_old_keys
);
fn an_immediate_rotation_signs_at_once_says_what_it_breaks_and_withdraws_the_old_keys(
    backend: Backend,
) {
    let deployment = Deployment::new(backend);
    deployment.cli_ok(&["tenant", "add", "acme"]);
    let client = jwt_client(&deployment, "acme");
    let server = deployment.start();
    let old = kid_of(&client_credentials_token(&server, "acme", &client));
    // A scheduled rotation is pending; the immediate one replaces it too.
    let (pending, state) = rotate(&deployment, "acme", &old);
    assert_eq!(state, "next");

    let said = deployment.cli_ok(&["keys", "rotate", "--tenant", "acme", "--now"]);
    let listed: Vec<Value> =
        serde_json::from_str(&deployment.cli_ok(&["keys", "list", "--tenant", "acme", "--json"]))
            .unwrap();
    let current: Vec<&str> = listed
        .iter()
        .filter(|k| k["state"] == "current")
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(current.len(), 1, "{listed:?}");
    let new = current[0].to_owned();
    for withdrawn in [&old, &pending] {
        let row = listed
            .iter()
            .find(|k| k["kid"] == withdrawn.as_str())
            .unwrap();
        assert_eq!(row["state"], "retired", "{withdrawn}");
    }
    // It says plainly what it breaks.
    for needed in [
        format!("key {new} signs now"),
        "refuse tokens signed by it until they fetch the key set again".to_owned(),
        "Withdrawn from the JWKS now".to_owned(),
        old.clone(),
        pending.clone(),
        "stop verifying".to_owned(),
    ] {
        assert!(said.contains(&needed), "{needed}: {said}");
    }

    // The next token is signed by the new key, which alone is published.
    let token = client_credentials_token(&server, "acme", &client);
    assert_eq!(kid_of(&token), new);
    assert_eq!(published_kids(&server, "acme"), [new.as_str()]);
    crate::harness::verified(&server, "/t/acme/oauth2/jwks", &token, "at+jwt", &client.id);
}
