//! A request path as the gateway authorizes and forwards it: normalised once (RFC 3986 §6.2.2),
//! so that the path a resource's scopes are checked against is the very path the upstream gets.
//! Spellings that name another resource than they appear to are either undone here or refused:
//!
//! - percent-encoded unreserved characters are decoded (`%61dmin` is `admin`, `%2e%2e` is `..`),
//!   and the hex digits of the other encodings upper-cased;
//! - `.` and `..` segments are removed (RFC 3986 §5.2.4) and repeated slashes merged;
//! - a `;` starts a segment's parameters (`/admin;x`), which are removed: `/admin;x` is matched and
//!   forwarded as `/admin`, with its scopes, and `..;x` is a dot segment (as servlet containers
//!   read both). Forwarding them would let a backend that reads `;` its own way (ending the whole
//!   path at the first one, say) see another path than the one matched;
//! - refused: an encoded `/` or `\`, a raw `\`, an encoded `%` (a double encoding, which a
//!   backend or a proxy before it may decode once more), an encoded control character (`%00`
//!   and the like), a malformed escape, and a `..` that climbs above the root or out of an API's
//!   context (`/files/public/../../secret`, `/open/../api/admin`: one API named, another place
//!   reached).
//!
//! Never decoded: the reserved characters other than those above, so what the upstream splits on
//! stays as the client sent it.

/// A path in normal form: starts with `/`, no dot segments, no empty segments, no `;`
/// parameters (a trailing slash is kept). What is matched, and what is forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath(String);

impl NormalPath {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    pub fn has_trailing_slash(&self) -> bool {
        self.0.len() > 1 && self.0.ends_with('/')
    }
}

/// Why a path cannot be normalised safely (a 400 for the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsafe(pub &'static str);

/// The APIs' contexts as segments, which a `..` may not climb out of.
#[derive(Debug, Default)]
pub struct Contexts(Vec<Vec<String>>);

impl Contexts {
    pub fn new<'a>(contexts: impl IntoIterator<Item = &'a str>) -> Contexts {
        Contexts(
            contexts
                .into_iter()
                .map(|c| {
                    c.split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .collect(),
        )
    }

    /// Whether removing the last of `stack` leaves a context that `stack` was in.
    fn climbs_out(&self, stack: &[&str]) -> bool {
        self.0.iter().any(|context| {
            stack.len() <= context.len()
                && !context.is_empty()
                && stack.iter().zip(context).all(|(s, c)| s == c)
        })
    }
}

/// Normalises `raw`, the request target's path as it came on the wire; a `..` that would leave
/// one of `contexts` (go above its first segments) is refused, like one that climbs above the
/// root: `/files/public/../../secret` or `/open/../api/admin` name one API and reach another
/// place.
pub fn normalise(raw: &str, contexts: &Contexts) -> Result<NormalPath, Unsafe> {
    if !raw.starts_with('/') {
        return Err(Unsafe("the request path must start with /"));
    }
    // Most paths are in normal form already: one scan instead of the rewrite.
    if is_plainly_normal(raw) {
        return Ok(NormalPath(raw.to_owned()));
    }
    let decoded = decode_unreserved(raw)?;
    let mut output: Vec<&str> = Vec::new();
    let mut segments = decoded.split('/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match without_parameters(segment) {
            // `//` merged; a final empty segment is the trailing slash.
            "" | "." => trailing_slash = last && !output.is_empty(),
            ".." => {
                if output.is_empty() {
                    return Err(Unsafe("the path climbs above the root with .."));
                }
                if contexts.climbs_out(&output) {
                    return Err(Unsafe("the path climbs out of the API's context with .."));
                }
                output.pop();
                trailing_slash = last && !output.is_empty();
            }
            matched => {
                output.push(matched);
                trailing_slash = false;
            }
        }
    }
    let mut path = String::with_capacity(decoded.len());
    for segment in &output {
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() || trailing_slash {
        path.push('/');
    }
    Ok(NormalPath(path))
}

/// Whether `raw` (starting with `/`) is in normal form as it is: no escape, backslash or `;`, no
/// empty segment but a trailing slash, no segment starting with a dot. (A segment starting with a
/// dot may be a dot segment; such paths take the long way.)
fn is_plainly_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'%' | b'\\' | b';' => false,
        b'/' => !matches!(bytes.get(i + 1), Some(b'/') | Some(b'.')),
        _ => true,
    })
}

/// A segment without its `;` parameters.
fn without_parameters(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// Decodes the percent-encoded unreserved characters (RFC 3986 §2.3), upper-cases the hex digits
/// of the other escapes, and refuses what would change the path's structure once a backend
/// decoded it.
fn decode_unreserved(raw: &str) -> Result<String, Unsafe> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok().map(|b| (h, b)));
                let Some((hex, byte)) = hex else {
                    return Err(Unsafe("the path has a malformed percent-encoding"));
                };
                match byte {
                    b'/' => return Err(Unsafe("the path has an encoded /")),
                    b'\\' => return Err(Unsafe("the path has an encoded \\")),
                    b'%' => {
                        return Err(Unsafe(
                            "the path has an encoded % (a double encoding is refused)",
                        ))
                    }
                    0x00..=0x1f | 0x7f => {
                        return Err(Unsafe("the path has an encoded control character"))
                    }
                    b if is_unreserved(b) => out.push(char::from(b)),
                    _ => {
                        out.push('%');
                        out.push_str(&hex.to_ascii_uppercase());
                    }
                }
                i += 3;
            }
            b'\\' => return Err(Unsafe("the path has a \\")),
            _ => {
                // Copy the run up to the next escape or backslash whole (it may be UTF-8).
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'%' || b == b'\\')
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&raw[i..end]);
                i = end;
            }
        }
    }
    Ok(out)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(raw: &str) -> String {
        normalise(raw, &Contexts::default()).unwrap().0
    }

    #[test]
    fn decodes_unreserved_characters_and_removes_dot_segments() {
        assert_eq!(forwarded("/files/admin"), "/files/admin");
        assert_eq!(forwarded("/files/public/../admin"), "/files/admin");
        assert_eq!(forwarded("/files/public/%2e%2e/admin"), "/files/admin");
        assert_eq!(forwarded("/files/public/%2E./admin"), "/files/admin");
        assert_eq!(forwarded("/%61dmin"), "/admin");
        assert_eq!(forwarded("/./admin"), "/admin");
        assert_eq!(forwarded("/files//admin"), "/files/admin");
        assert_eq!(forwarded("/a/b/./c/../d/"), "/a/b/d/");
        assert_eq!(forwarded("/a/b/.."), "/a/");
        assert_eq!(forwarded("/a/.."), "/");
        assert_eq!(forwarded("/"), "/");
        assert_eq!(forwarded("//"), "/");
        assert_eq!(forwarded("/menu/"), "/menu/");
        // Reserved and other characters stay encoded, their hex upper-cased.
        assert_eq!(forwarded("/q/a%3fb%2c%20c"), "/q/a%3Fb%2C%20c");
        assert_eq!(forwarded("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(forwarded("/%7e~"), "/~~");
        // Case is kept: resources are matched case-sensitively.
        assert_eq!(forwarded("/ADMIN"), "/ADMIN");
    }

    #[test]
    fn paths_in_normal_form_take_the_short_way_and_others_do_not() {
        for raw in ["/", "/files/admin", "/menu/", "/a.b/c.d", "/a-b_c~d/e"] {
            assert!(is_plainly_normal(raw), "{raw}");
            assert_eq!(forwarded(raw), raw);
        }
        for raw in [
            "//", "/./a", "/a/..", "/.hidden", "/a%41", "/a;b", "/a\\b", "/a//b",
        ] {
            assert!(!is_plainly_normal(raw), "{raw}");
        }
    }

    #[test]
    fn segment_parameters_are_removed() {
        let path = normalise("/admin;x/list;a=b", &Contexts::default()).unwrap();
        assert_eq!(path.as_str(), "/admin/list");
        assert_eq!(path.segments().collect::<Vec<_>>(), ["admin", "list"]);
        // Whatever a backend makes of `;`, it is asked for what was matched.
        assert_eq!(forwarded("/all/admin;/x"), "/all/admin/x");
        assert_eq!(forwarded("/;x/admin"), "/admin");
        // `..;x` and `.;x` are dot segments.
        assert_eq!(forwarded("/files/public/..;x/admin"), "/files/admin");
        assert_eq!(forwarded("/files/.;x/admin"), "/files/admin");
    }

    #[test]
    fn dot_segments_stay_inside_contexts() {
        let contexts = Contexts::new(["/files", "/open", "/api/v1"]);
        let ok = |raw: &str| normalise(raw, &contexts).map(|p| p.0);
        assert_eq!(ok("/files/public/../admin").unwrap(), "/files/admin");
        assert_eq!(ok("/api/v1/a/../b").unwrap(), "/api/v1/b");
        // Outside every context, a climb is only normalised (the result is routed as it is).
        assert_eq!(ok("/x/../files/admin").unwrap(), "/files/admin");
        for raw in [
            "/files/public/../../ROOT-SECRET",
            "/files/..",
            "/open/../api/admin",
            "/open;x/../api/admin",
            "/api/v1/../v2/x",
            "/api/v1/a/../../../files",
        ] {
            assert!(ok(raw).is_err(), "{raw} was accepted");
        }
    }

    #[test]
    fn refuses_what_cannot_be_normalised_safely() {
        for raw in [
            "/files/items/..%2fadmin",
            "/files/items/..%2Fadmin",
            "/files/a%5c..%5cadmin",
            "/files/a\\admin",
            "/files/admin%00.json",
            "/files/admin%0a",
            "/files/%7f",
            "/files/%252e%252e%252fadmin",
            "/files/100%25",
            "/files/%zz",
            "/files/%2",
            "/files/%",
            "/..",
            "/a/../..",
            "/%2e%2e/etc/passwd",
            "*",
            "files",
        ] {
            assert!(
                normalise(raw, &Contexts::default()).is_err(),
                "{raw} was accepted"
            );
        }
    }
}
