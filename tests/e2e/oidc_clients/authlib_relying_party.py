"""An independent OpenID relying party: Authlib, unmodified, signs a user in through Grantor.

Discovery (validated by Authlib), the authorization request with PKCE S256, state and nonce, the
login and consent pages' forms posted as a browser would (a cookie jar, the forms' own fields),
the code exchange, the ID token verified with the keys of jwks_uri and checked by Authlib's
OpenID claims rules, UserInfo, and RP-Initiated Logout. Prints what it saw as one JSON object;
the test asserts on it.

Arguments: issuer client_id client_secret redirect_uri post_logout_redirect_uri username password
"""

import json, os, sys, time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, parse_qs

# Authlib holds every endpoint to https (RFC 8414 2) unless told the transport is a local test one.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from authlib.oidc.rpinitiated.discovery import OpenIDProviderMetadata as LogoutMetadata

issuer, client_id, client_secret, redirect_uri, post_logout_uri, username, password = sys.argv[1:8]


class Forms(HTMLParser):
    """The page's forms: action and named inputs (hidden and typed) with their values."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "fields": {}, "buttons": []})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "button" and self.forms and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value")))


def only_form(response):
    assert response.status_code == 200, (response.status_code, response.text[:500])
    parser = Forms()
    parser.feed(response.text)
    assert len(parser.forms) == 1, response.text
    form = parser.forms[0]
    return urljoin(response.url, form["action"]), form


# Discovery, validated against OpenID Connect Discovery 1.0 and RP-Initiated Logout 2.1 by Authlib.
discovered = requests.get(issuer + "/.well-known/openid-configuration")
assert discovered.status_code == 200, (discovered.status_code, discovered.text)
metadata = OpenIDProviderMetadata(discovered.json())
metadata.validate()
LogoutMetadata(discovered.json()).validate_end_session_endpoint()
assert metadata["end_session_endpoint"], metadata
assert metadata["issuer"] == issuer, metadata["issuer"]

rp = OAuth2Session(
    client_id,
    client_secret,
    scope="openid profile email",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
code_verifier = generate_token(64)
nonce = generate_token(20)
authorization_url, state = rp.create_authorization_url(
    metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
)

# The user's browser: a cookie jar and the pages' forms, posted as they are.
browser = requests.Session()
action, login = only_form(browser.get(authorization_url))
fields = dict(login["fields"], username=username, password=password)
action, consent = only_form(browser.post(action, data=fields, allow_redirects=False))
assert ("decision", "allow") in consent["buttons"], consent
answered = browser.post(action, data=dict(consent["fields"], decision="allow"), allow_redirects=False)
assert answered.status_code in (302, 303), (answered.status_code, answered.text[:500])
callback = answered.headers["Location"]
assert callback.startswith(redirect_uri + "?"), callback
response_params = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}

# The code exchange checks state (Authlib raises on a mismatch) and sends the PKCE verifier.
token = rp.fetch_token(
    metadata["token_endpoint"],
    authorization_response=callback,
    state=state,
    code_verifier=code_verifier,
)

# The ID token, verified with the keys of jwks_uri and checked as OpenID Connect Core 3.1.3.7 says.
keys = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"]).json())
claims = jwt.decode(
    token["id_token"],
    keys,
    claims_cls=CodeIDToken,
    claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
    },
    claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
)
claims.validate(now=int(time.time()), leeway=5)

userinfo = rp.get(metadata["userinfo_endpoint"])
assert userinfo.status_code == 200, (userinfo.status_code, userinfo.text)

# The refresh token rotates (RFC 9700 4.14.2): Authlib's refresh gives new tokens that UserInfo
# takes; presenting the spent one again is refused and revokes what its rotation issued.
first = dict(token)
refreshed = rp.refresh_token(metadata["token_endpoint"], refresh_token=first["refresh_token"])
refreshed_userinfo = rp.get(metadata["userinfo_endpoint"])
reused = requests.post(
    metadata["token_endpoint"],
    data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    auth=(client_id, client_secret),
)
after_reuse = requests.get(
    metadata["userinfo_endpoint"],
    headers={"Authorization": "Bearer " + refreshed["access_token"]},
)

# What must never be logged: the tokens and the browser's cookies.
secrets = [token["access_token"], token["id_token"], token.get("refresh_token")]
secrets += [refreshed["access_token"], refreshed.get("refresh_token")]
secrets += list(browser.cookies.get_dict().values())

# RP-Initiated Logout: the ID token names the session, so no question is asked.
logout_state = generate_token(12)
logged_out = browser.get(
    metadata["end_session_endpoint"],
    params={
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": post_logout_uri,
        "state": logout_state,
    },
    allow_redirects=False,
)
# Signed out: a new request that may not show a page is told the user must sign in.
again_url, again_state = rp.create_authorization_url(
    metadata["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(20),
    prompt="none",
)
again = browser.get(again_url, allow_redirects=False)
again_params = {k: v[0] for k, v in parse_qs(urlsplit(again.headers.get("Location", "")).query).items()}

print(json.dumps({
    "state_sent": state,
    "response": response_params,
    "token_type": token["token_type"],
    "scope": token.get("scope"),
    "nonce_sent": nonce,
    "claims": dict(claims),
    "userinfo": userinfo.json(),
    "refresh": {
        "new_tokens": refreshed["access_token"] != first["access_token"]
        and refreshed.get("refresh_token") not in (None, first["refresh_token"]),
        "userinfo_status": refreshed_userinfo.status_code,
        "userinfo_sub": refreshed_userinfo.json().get("sub"),
        "reused_status": reused.status_code,
        "reused_error": reused.json().get("error"),
        "after_reuse_status": after_reuse.status_code,
    },
    "logout": {"status": logged_out.status_code, "location": logged_out.headers.get("Location"),
               "state_sent": logout_state},
    "after_logout": {"status": again.status_code, "params": again_params, "state_sent": again_state},
    "secrets": [secret for secret in secrets if secret],
}))
