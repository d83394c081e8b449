//! An operator's theme (`[oauth.sign_in] theme_dir`): its files replace the built-in pages of the
//! same name, the others stay; a template that does not render stops `serve` and fails `check`,
//! naming the file, before any browser sees it.

use crate::harness::{on_each_backend, Backend, Deployment};

/// A valid authorization request of a client of the default tenant, as a query string.
fn authorization_query(client_id: &str) -> String {
    format!(
        "response_type=code&client_id={client_id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb\
         &scope=openid&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256"
    )
}

fn a_theme_directory_replaces_the_pages_it_has(backend: Backend) {
    let theme = tempfile::tempdir().unwrap();
    std::fs::write(
        theme.path().join("login.html"),
        "<!doctype html><h1>Acme staff sign-in to {{ tenant_name }}</h1>\
         <form method=\"post\" action=\"{{ action }}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf_token }}\">\
         {% for field in hidden %}<input type=\"hidden\" name=\"{{ field.name }}\" value=\"{{ field.value }}\">{% endfor %}\
         </form>",
    )
    .unwrap();
    let theme_config = format!(
        "[oauth.sign_in]\ntheme_dir = \"{}\"\n",
        theme.path().display()
    );
    let deployment = Deployment::with_extra_config(backend, &theme_config);
    let client = deployment.add_client_with(
        "carbon.super",
        "web",
        "authorization_code",
        "openid",
        &["--redirect-uri", "https://app.example/cb"],
    );
    let check = deployment.cli_without_waiting(&["check"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(
        stdout.contains("theme\tok\t") && stdout.contains("replaces login.html"),
        "{stdout}"
    );

    let server = deployment.start();
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(server.url(&format!(
            "/oauth2/authorize?{}",
            authorization_query(&client.id)
        )))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("Acme staff sign-in to"), "{html}");
    assert!(html.contains(r#"name="csrf_token""#), "{html}");
    // A page the theme does not have stays the built-in one.
    let error = http
        .get(server.url("/oauth2/authorize?client_id=nobody"))
        .send()
        .unwrap();
    assert_eq!(error.status(), 400);
    assert!(error.text().unwrap().contains("This sign-in cannot go on"));
}
on_each_backend!(a_theme_directory_replaces_the_pages_it_has);

#[test]
fn a_broken_theme_stops_serve_and_fails_check_naming_the_file() {
    let theme = tempfile::tempdir().unwrap();
    std::fs::write(
        theme.path().join("consent.html"),
        "{% extends \"base.html\" %}{% block content %}{{ scopes | no_such_filter }}{% endblock %}",
    )
    .unwrap();
    let deployment = Deployment::with_extra_config(
        Backend::Sqlite,
        &format!(
            "[oauth.sign_in]\ntheme_dir = \"{}\"\n",
            theme.path().display()
        ),
    );
    let check = deployment.cli_without_waiting(&["check"]);
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("consent.html"), "{stderr}");
    let stderr = deployment.serve_fails();
    assert!(stderr.contains("consent.html"), "{stderr}");
}
