//! The gateway's path check against a real file server (Python's `http.server`, which normalises
//! paths its own way, as backends do): dot segments, encoded characters, `;` parameters and case,
//! sent as raw request lines (an HTTP library would normalise them first). A token that holds only
//! `read` never gets the admin file or a file outside the API's upstream base path, and what the
//! backend is asked for is exactly the normalised path the gateway matched.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::harness::{now, start_gateway, Gateway, IdpKey, PythonBackend};

const ISSUER: &str = "https://paths-idp.example";
const ADMIN_FILE: &str = "ADMIN-FILE-CONTENT";
const ROOT_SECRET: &str = "ROOT-SECRET-CONTENT";

/// `python3 -m http.server` on a free loopback port, serving `root`; its request log (one line
/// per request, on stderr) in `log`.
struct FileServer {
    backend: PythonBackend,
    log: std::path::PathBuf,
}

impl FileServer {
    fn start(root: &Path, log: &Path) -> FileServer {
        let backend = PythonBackend::start(
            &[
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ],
            &[root.as_os_str()],
            Some(log),
        );
        FileServer {
            backend,
            log: log.to_owned(),
        }
    }

    fn url(&self) -> &str {
        &self.backend.url
    }

    /// The request lines the backend received, as `GET /path`.
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let start = line.find("\"GET ")? + 1;
                let end = line[start..].find(" HTTP/")? + start;
                Some(line[start..end].to_owned())
            })
            .collect()
    }
}

/// Sends `GET {target}` as written (no client-side normalisation); returns the status and body.
fn raw_get(base_url: &str, target: &str, token: &str) -> (u16, String) {
    let address = base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A file server behind a gateway with three APIs over it, and the key of the issuer the
/// gateway trusts.
struct PathsGateway {
    _dir: tempfile::TempDir,
    backend: FileServer,
    key: IdpKey,
    gateway: Gateway,
}

impl PathsGateway {
    fn start() -> PathsGateway {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        for (file, content) in [
            ("ROOT-SECRET", ROOT_SECRET),
            ("api/admin", ADMIN_FILE),
            ("api/public/readme", "PUBLIC"),
            ("api/items/1", "ITEM-1"),
            ("open/readme", "OPEN"),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let backend = FileServer::start(&root, &dir.path().join("http.server.log"));
        let key = IdpKey::rsa(dir.path(), "paths");
        let gateway = start_gateway(&format!(
            r#"
[gateway]
bind = "127.0.0.1:0"
backend_claims = "none"

[[gateway.api]]
context = "/files"
upstream = "{backend}/api"

[[gateway.api.resource]]
method = "GET"
path = "/admin"
scopes = ["admin"]

[[gateway.api.resource]]
method = "GET"
path = "/public/*"

[[gateway.api.resource]]
method = "GET"
path = "/items/{{id}}"

[[gateway.api]]
context = "/open"
upstream = "{backend}/open"

[[gateway.api.resource]]
path = "/*"

[[gateway.api]]
context = "/all"
upstream = "{backend}/api"

[[gateway.api.resource]]
method = "GET"
path = "/admin"
scopes = ["admin"]

[[gateway.api.resource]]
path = "/*"

[[gateway.jwt_issuer]]
name = "{ISSUER}"
certificates = ["{certificate}"]
"#,
            backend = backend.url(),
            certificate = key.certificate_path.display(),
        ));
        PathsGateway {
            _dir: dir,
            backend,
            key,
            gateway,
        }
    }

    /// A token of the trusted issuer with `scope`.
    fn token(&self, scope: &str) -> String {
        self.key
            .assertion(&json!({"iss": ISSUER, "sub": "carol", "iat": now(),
                                   "exp": now() + 300, "scope": scope}))
    }
}

#[test]
fn the_path_checked_is_the_path_forwarded() {
    let setup = PathsGateway::start();
    let (backend, gw) = (&setup.backend, &setup.gateway.server);
    let reader = setup.token("read");

    // What the read-only token gets: (path as sent, status, path the backend must be asked for).
    let table: &[(&str, u16, Option<&str>)] = &[
        ("/files/public/readme", 200, Some("/api/public/readme")),
        ("/files/items/1", 200, Some("/api/items/1")),
        ("/files/admin", 403, None),
        ("/files/public/../admin", 403, None),
        ("/files/public/%2e%2e/admin", 403, None),
        ("/files/public/%2E%2e/admin", 403, None),
        ("/files/public/..;/admin", 403, None),
        ("/files//admin", 403, None),
        ("/files/%61dmin", 403, None),
        ("/files/admin;x", 403, None),
        ("/files/items/..%2fadmin", 400, None),
        ("/files/items/..%2Fadmin", 400, None),
        ("/files/items/..%5cadmin", 400, None),
        ("/files/items/..\\admin", 400, None),
        ("/files/admin%00", 400, None),
        ("/files/public/%252e%252e/admin", 400, None),
        ("/files/public/../../ROOT-SECRET", 400, None),
        ("/files/public/%2e%2e/%2e%2e/ROOT-SECRET", 400, None),
        ("/files/../ROOT-SECRET", 400, None),
        ("/open/../api/admin", 400, None),
        ("/open/%2e%2e/api/admin", 400, None),
        ("/../api/admin", 400, None),
        ("/all/%61dmin", 403, None),
        ("/all/./admin", 403, None),
        ("/all/admin;x", 403, None),
        // Parameters are removed: the backend is asked for what was matched, not `/api/admin;/x`.
        ("/all/admin;/x", 404, Some("/api/admin/x")),
        ("/all/public;v=1/readme", 200, Some("/api/public/readme")),
        ("/all/x/../admin", 403, None),
        // Case is kept and matched as it is: the backend is asked for /api/ADMIN, not the admin file.
        ("/all/ADMIN", 404, Some("/api/ADMIN")),
        ("/all/public/%72eadme", 200, Some("/api/public/readme")),
        ("/open/./readme", 200, Some("/open/readme")),
    ];
    for (path, status, forwarded) in table {
        let before = backend.requests().len();
        let (got, body) = raw_get(&gw.base_url, path, &reader);
        assert_eq!(got, *status, "{path}: {body}");
        assert!(!body.contains(ADMIN_FILE), "{path} served the admin file");
        assert!(!body.contains(ROOT_SECRET), "{path} served the root secret");
        // Backend lines are logged after the answer: wait for the one expected, if any.
        match forwarded {
            Some(expected) => {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while backend.requests().len() == before {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{path}: not forwarded"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert_eq!(
                    backend.requests()[before..],
                    [format!("GET {expected}")],
                    "{path}"
                );
            }
            None => assert_eq!(backend.requests().len(), before, "{path} was forwarded"),
        }
    }
}

#[test]
fn with_the_admin_scope_exactly_the_normalised_path_is_forwarded_and_none_that_climbs_out() {
    let setup = PathsGateway::start();
    let (backend, gw) = (&setup.backend, &setup.gateway.server);
    let admin = setup.token("read admin");

    // With the admin scope, a dot segment inside the context reaches the admin file, and the
    // backend is asked for exactly the normalised path.
    let before = backend.requests().len();
    let (status, body) = raw_get(&gw.base_url, "/files/public/%2e%2e/admin", &admin);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(ADMIN_FILE), "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while backend.requests().len() == before {
        assert!(std::time::Instant::now() < deadline, "not forwarded");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(backend.requests()[before..], ["GET /api/admin".to_owned()]);
    // A path that climbs out of its context stays refused whatever the token holds.
    let (status, _) = raw_get(&gw.base_url, "/files/public/../../ROOT-SECRET", &admin);
    assert_eq!(status, 400);
}
