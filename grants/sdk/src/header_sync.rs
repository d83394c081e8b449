//! Keeps `include/grantor_plugin.h` and `abi.rs` in sync, so that drift on either side fails a
//! test:
//!
//! - a C program compiled against the header prints every constant, struct size and alignment, and
//!   every field's offset and size (`name=value` lines); each is compared with Rust's view;
//! - the same program defines functions with the signatures of every callback and entry point and
//!   stores them in the header's types (`-Werror` rejects a mismatch); the Rust side does the same
//!   with the `abi.rs` types, so both agree with the one list of signatures written here;
//! - the constants, structs and fields declared in `abi.rs` and in the header are read back from
//!   the sources and must be exactly the ones checked here (an appended field or a new constant on
//!   either side fails until both sides and this test are updated).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void};
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::*;

const ABI_SOURCE: &str = include_str!("abi.rs");

/// One `#[repr(C)]` struct: its Rust and C names, size, alignment and fields (name, offset, size)
/// in declaration order.
struct Layout {
    rust: &'static str,
    c: &'static str,
    size: usize,
    align: usize,
    fields: Vec<(&'static str, usize, usize)>,
}

/// The size of the field `project` selects (`size_of` of a field's type, without naming it).
fn field_size<S, F>(_project: fn(&S) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! layout {
    ($rust:ident => $c:literal { $($field:ident),* $(,)? }) => {
        Layout {
            rust: stringify!($rust),
            c: $c,
            size: size_of::<$rust>(),
            align: align_of::<$rust>(),
            fields: vec![$((
                stringify!($field),
                offset_of!($rust, $field),
                field_size(|s: &$rust| &s.$field),
            )),*],
        }
    };
}

fn layouts() -> Vec<Layout> {
    vec![
        layout!(GrantorBorrowedBytes => "grantor_borrowed_bytes_t" { ptr, len }),
        layout!(GrantorPluginBytes => "grantor_plugin_bytes_t" { ptr, len }),
        layout!(GrantorHostBytes => "grantor_host_bytes_t" { ptr, len }),
        layout!(GrantorHostApi => "grantor_host_api_t" {
            struct_size,
            host_ctx,
            host_find_identity_provider,
            host_get_verification_keys,
            host_record_jti,
            host_transform_claims,
            host_log,
            host_free_buffer,
            host_validate_token,
        }),
        layout!(GrantorGrantPluginV1 => "grantor_grant_plugin_v1_t" {
            magic,
            struct_size,
            abi_major,
            abi_minor,
            name,
            version,
            grant_types,
            grant_types_len,
            on_create,
            on_handle,
            on_free_buffer,
            on_destroy,
        }),
    ]
}

/// The integer constants, by name (the same in Rust and C).
fn integer_constants() -> Vec<(&'static str, i64)> {
    macro_rules! constants {
        ($($name:ident),* $(,)?) => { vec![$((stringify!($name), i64::from($name))),*] };
    }
    constants![
        GRANTOR_ABI_MAGIC,
        GRANTOR_ABI_MAJOR,
        GRANTOR_ABI_MINOR,
        GRANTOR_OK,
        GRANTOR_NOT_FOUND,
        GRANTOR_NOT_CONFIGURED,
        GRANTOR_CONFLICT,
        GRANTOR_ERROR,
        GRANTOR_LOG_ERROR,
        GRANTOR_LOG_WARN,
        GRANTOR_LOG_INFO,
        GRANTOR_LOG_DEBUG,
    ]
}

/// The plugin symbol without its NUL.
fn symbol() -> &'static str {
    std::str::from_utf8(GRANTOR_PLUGIN_SYMBOL)
        .expect("GRANTOR_PLUGIN_SYMBOL is UTF-8")
        .strip_suffix('\0')
        .expect("GRANTOR_PLUGIN_SYMBOL is NUL-terminated")
}

/// Every constant name this test checks.
fn checked_constant_names() -> Vec<&'static str> {
    let mut names: Vec<_> = integer_constants().iter().map(|(n, _)| *n).collect();
    names.push("GRANTOR_PLUGIN_SYMBOL");
    names.sort_unstable();
    names
}

/// Rust's function pointer types, with the header's typedef for each (`None`: the entry point,
/// declared as a function rather than a typedef).
const FUNCTION_TYPES: &[(&str, Option<&str>)] = &[
    ("GrantorHostCall", Some("grantor_host_call")),
    ("GrantorOnCreate", Some("grantor_on_create")),
    ("GrantorOnHandle", Some("grantor_on_handle")),
    ("GrantorOnFreeBuffer", Some("grantor_on_free_buffer")),
    ("GrantorOnDestroy", Some("grantor_on_destroy")),
    ("GrantorPluginEntry", None),
];

/// The C half of the signature check: a function of each signature, stored in the header's type
/// for it. Keep in step with `rust_signatures` below.
const C_SIGNATURES: &str = r#"
static int32_t call(void *host_ctx, grantor_borrowed_bytes_t request,
                    grantor_host_bytes_t *result_out) {
    (void)host_ctx; (void)request; (void)result_out;
    return GRANTOR_OK;
}
static void log_message(void *host_ctx, int32_t level, grantor_borrowed_bytes_t message) {
    (void)host_ctx; (void)level; (void)message;
}
static void free_host_buffer(grantor_host_bytes_t buffer) { (void)buffer; }
static int32_t create(grantor_borrowed_bytes_t config, void **instance_out,
                      grantor_plugin_bytes_t *error_out) {
    (void)config; (void)instance_out; (void)error_out;
    return GRANTOR_OK;
}
static int32_t handle(void *instance, const grantor_host_api_t *host,
                      grantor_borrowed_bytes_t request, grantor_plugin_bytes_t *result_out) {
    (void)instance; (void)host; (void)request; (void)result_out;
    return GRANTOR_OK;
}
static void free_plugin_buffer(grantor_plugin_bytes_t buffer) { (void)buffer; }
static void destroy(void *instance) { (void)instance; }

static const char *const grant_types[] = {"urn:grantor:test:header-sync"};
static const grantor_grant_plugin_v1_t descriptor = {
    .magic = GRANTOR_ABI_MAGIC,
    .struct_size = sizeof(grantor_grant_plugin_v1_t),
    .abi_major = GRANTOR_ABI_MAJOR,
    .abi_minor = GRANTOR_ABI_MINOR,
    .name = "header-sync",
    .version = "0",
    .grant_types = grant_types,
    .grant_types_len = 1,
    .on_create = create,
    .on_handle = handle,
    .on_free_buffer = free_plugin_buffer,
    .on_destroy = destroy,
};

/* -Wmissing-prototypes: fails unless the header declares this exact function. */
const grantor_grant_plugin_v1_t *grantor_grant_plugin_v1(void) { return &descriptor; }

static void check_signatures(void) {
    grantor_host_api_t api = {
        .struct_size = sizeof(grantor_host_api_t),
        .host_ctx = NULL,
        .host_find_identity_provider = call,
        .host_get_verification_keys = call,
        .host_record_jti = call,
        .host_transform_claims = call,
        .host_log = log_message,
        .host_free_buffer = free_host_buffer,
        .host_validate_token = call,
    };
    grantor_host_call host_call = call;
    grantor_on_create on_create = create;
    grantor_on_handle on_handle = handle;
    grantor_on_free_buffer on_free_buffer = free_plugin_buffer;
    grantor_on_destroy on_destroy = destroy;
    const grantor_grant_plugin_v1_t *(*entry)(void) = grantor_grant_plugin_v1;
    (void)api; (void)host_call; (void)on_create; (void)on_handle; (void)on_free_buffer;
    (void)on_destroy; (void)entry;
}
"#;

/// The Rust half of the signature check: the same signatures as `C_SIGNATURES`, stored in the
/// `abi.rs` types (a mismatch does not compile).
#[test]
fn rust_signatures() {
    unsafe extern "C" fn call(
        _host_ctx: *mut c_void,
        _request: GrantorBorrowedBytes,
        _result_out: *mut GrantorHostBytes,
    ) -> i32 {
        GRANTOR_OK
    }
    unsafe extern "C" fn log_message(
        _host_ctx: *mut c_void,
        _level: i32,
        _message: GrantorBorrowedBytes,
    ) {
    }
    unsafe extern "C" fn free_host_buffer(_buffer: GrantorHostBytes) {}
    unsafe extern "C" fn create(
        _config: GrantorBorrowedBytes,
        _instance_out: *mut *mut c_void,
        _error_out: *mut GrantorPluginBytes,
    ) -> i32 {
        GRANTOR_OK
    }
    unsafe extern "C" fn handle(
        _instance: *mut c_void,
        _host: *const GrantorHostApi,
        _request: GrantorBorrowedBytes,
        _result_out: *mut GrantorPluginBytes,
    ) -> i32 {
        GRANTOR_OK
    }
    unsafe extern "C" fn free_plugin_buffer(_buffer: GrantorPluginBytes) {}
    unsafe extern "C" fn destroy(_instance: *mut c_void) {}
    unsafe extern "C" fn entry() -> *const GrantorGrantPluginV1 {
        std::ptr::null()
    }

    let api = GrantorHostApi {
        struct_size: size_of::<GrantorHostApi>() as u32,
        host_ctx: std::ptr::null_mut(),
        host_find_identity_provider: call,
        host_get_verification_keys: call,
        host_record_jti: call,
        host_transform_claims: call,
        host_log: log_message,
        host_free_buffer: free_host_buffer,
        host_validate_token: call,
    };
    let grant_types: [*const c_char; 0] = [];
    let descriptor = GrantorGrantPluginV1 {
        magic: GRANTOR_ABI_MAGIC,
        struct_size: size_of::<GrantorGrantPluginV1>() as u32,
        abi_major: GRANTOR_ABI_MAJOR,
        abi_minor: GRANTOR_ABI_MINOR,
        name: c"header-sync".as_ptr(),
        version: c"0".as_ptr(),
        grant_types: grant_types.as_ptr(),
        grant_types_len: 0,
        on_create: create,
        on_handle: handle,
        on_free_buffer: free_plugin_buffer,
        on_destroy: destroy,
    };
    let host_call: GrantorHostCall = call;
    let on_create: GrantorOnCreate = create;
    let on_handle: GrantorOnHandle = handle;
    let on_free_buffer: GrantorOnFreeBuffer = free_plugin_buffer;
    let on_destroy: GrantorOnDestroy = destroy;
    let entry: GrantorPluginEntry = entry;
    let _ = (
        api,
        descriptor,
        host_call,
        on_create,
        on_handle,
        on_free_buffer,
        on_destroy,
        entry,
    );
}

/// A fresh temporary directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "grantor-header-sync-{}-{}-{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (C expression, printf conversion, the value Rust has for it), in output order.
fn expectations() -> Vec<(String, &'static str, String)> {
    let mut out = Vec::new();
    for (name, value) in integer_constants() {
        out.push((name.to_owned(), "%lld", value.to_string()));
    }
    out.push((
        "GRANTOR_PLUGIN_SYMBOL".to_owned(),
        "%s",
        symbol().to_owned(),
    ));
    for layout in layouts() {
        let c = layout.c;
        out.push((format!("sizeof({c})"), "%lld", layout.size.to_string()));
        out.push((format!("_Alignof({c})"), "%lld", layout.align.to_string()));
        for (field, offset, size) in &layout.fields {
            out.push((
                format!("offsetof({c}, {field})"),
                "%lld",
                offset.to_string(),
            ));
            out.push((
                format!("sizeof((({c} *)0)->{field})"),
                "%lld",
                size.to_string(),
            ));
        }
    }
    out
}

fn c_program(expectations: &[(String, &'static str, String)]) -> String {
    let mut program =
        String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"grantor_plugin.h\"\n");
    program.push_str(C_SIGNATURES);
    program.push_str("\nint main(void) {\n    check_signatures();\n");
    for (expression, conversion, _) in expectations {
        let argument = if *conversion == "%lld" {
            format!("(long long)({expression})")
        } else {
            expression.clone()
        };
        program.push_str(&format!(
            "    printf(\"%s={conversion}\\n\", \"{expression}\", {argument});\n"
        ));
    }
    program.push_str("    return 0;\n}\n");
    program
}

/// Compiles `program` against the header in `include` (strict warnings, as errors), runs it and
/// returns what it printed.
fn compile_and_run(include: &Path, program: &str) -> String {
    let dir = TempDir::new();
    let source = dir.0.join("header_sync.c");
    let binary = dir.0.join("header_sync");
    std::fs::write(&source, program).unwrap();
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg("-Wmissing-prototypes")
        .arg("-I")
        .arg(include)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `cc`: {e}"));
    assert!(
        compiled.status.success(),
        "the header check program does not compile against {}:\n{}{}",
        include.display(),
        String::from_utf8_lossy(&compiled.stdout),
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    assert!(
        run.status.success(),
        "the header check program failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn c_header_matches_the_rust_abi() {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let header_path = include.join("grantor_plugin.h");
    let header = std::fs::read_to_string(&header_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", header_path.display()));
    let symbol = symbol();
    assert!(
        header.contains(&format!("*{symbol}(void);")),
        "the header must declare `const grantor_grant_plugin_v1_t *{symbol}(void);`"
    );

    let expectations = expectations();
    let printed = compile_and_run(&include, &c_program(&expectations));
    let c_lines: Vec<(&str, &str)> = printed
        .lines()
        .map(|line| {
            line.split_once('=')
                .unwrap_or_else(|| panic!("not a name=value line: {line}"))
        })
        .collect();

    let mut mismatches = Vec::new();
    for (expression, _, rust_value) in &expectations {
        match c_lines.iter().find(|(name, _)| name == expression) {
            Some((_, c_value)) if c_value == rust_value => {}
            Some((_, c_value)) => mismatches.push(format!(
                "{expression}: C says {c_value}, Rust says {rust_value}"
            )),
            None => mismatches.push(format!("{expression}: not printed by the C program")),
        }
    }
    assert_eq!(
        c_lines.len(),
        expectations.len(),
        "unexpected output:\n{printed}"
    );
    assert!(
        mismatches.is_empty(),
        "grantor_plugin.h and abi.rs disagree:\n{}",
        mismatches.join("\n")
    );
}

/// Every `pub const` of `abi.rs` and every `#define GRANTOR_*` of the header is checked.
#[test]
fn every_constant_is_checked() {
    let checked = checked_constant_names();
    let mut in_rust: Vec<&str> = ABI_SOURCE
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .map(|rest| rest.split(':').next().unwrap().trim())
        .collect();
    in_rust.sort_unstable();
    assert_eq!(in_rust, checked, "abi.rs constants vs this test");

    let header = read_header();
    let mut in_c: Vec<&str> = header
        .lines()
        .filter_map(|line| line.trim().strip_prefix("#define "))
        .map(|rest| rest.split_whitespace().next().unwrap())
        .filter(|name| name.starts_with("GRANTOR_") && *name != "GRANTOR_PLUGIN_H")
        .collect();
    in_c.sort_unstable();
    assert_eq!(in_c, checked, "grantor_plugin.h constants vs this test");
}

/// The structs and their fields, in order, are exactly those checked, on both sides; so is the
/// set of function pointer types.
#[test]
fn every_struct_field_and_function_type_is_checked() {
    let layouts = layouts();
    let expected_rust: BTreeMap<String, Vec<String>> = layouts
        .iter()
        .map(|l| (l.rust.to_owned(), field_names(l)))
        .collect();
    let expected_c: BTreeMap<String, Vec<String>> = layouts
        .iter()
        .map(|l| (l.c.to_owned(), field_names(l)))
        .collect();
    assert_eq!(
        rust_structs(ABI_SOURCE),
        expected_rust,
        "abi.rs structs vs this test"
    );
    let header = strip_c_comments(&read_header());
    assert_eq!(
        c_structs(&header),
        expected_c,
        "grantor_plugin.h structs vs this test"
    );

    let mut rust_types: Vec<&str> = ABI_SOURCE
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub type "))
        .map(|rest| rest.split([' ', '=']).next().unwrap())
        .collect();
    rust_types.sort_unstable();
    let mut expected_types: Vec<&str> = FUNCTION_TYPES.iter().map(|(rust, _)| *rust).collect();
    expected_types.sort_unstable();
    assert_eq!(
        rust_types, expected_types,
        "abi.rs function types vs this test"
    );

    let mut c_typedefs = c_function_typedefs(&header);
    c_typedefs.sort_unstable();
    let mut expected_typedefs: Vec<&str> = FUNCTION_TYPES.iter().filter_map(|(_, c)| *c).collect();
    expected_typedefs.sort_unstable();
    assert_eq!(
        c_typedefs, expected_typedefs,
        "grantor_plugin.h function typedefs vs this test"
    );
}

fn read_header() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/grantor_plugin.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn field_names(layout: &Layout) -> Vec<String> {
    layout
        .fields
        .iter()
        .map(|(f, _, _)| (*f).to_owned())
        .collect()
}

/// `pub struct Name { pub field: ..., ... }` in `abi.rs`: name -> fields in order.
fn rust_structs(source: &str) -> BTreeMap<String, Vec<String>> {
    let mut structs = BTreeMap::new();
    let mut lines = source.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("pub struct ") else {
            continue;
        };
        let name = rest.trim_end_matches('{').trim().to_owned();
        let mut fields = Vec::new();
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            if let Some(field) = line.strip_prefix("pub ") {
                fields.push(field.split(':').next().unwrap().trim().to_owned());
            }
        }
        structs.insert(name, fields);
    }
    structs
}

/// Removes `/* */` and `//` comments (the header has no comment markers inside strings).
fn strip_c_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let Some(start) = [rest.find("/*"), rest.find("//")]
            .into_iter()
            .flatten()
            .min()
        else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..start]);
        out.push(' ');
        let closer = if rest[start..].starts_with("/*") {
            "*/"
        } else {
            "\n"
        };
        rest = rest[start + 2..]
            .find(closer)
            .map_or("", |end| &rest[start + 2 + end + closer.len()..]);
    }
}

/// `typedef struct tag { type field; ... } name;` in the header: name -> fields in order.
fn c_structs(header: &str) -> BTreeMap<String, Vec<String>> {
    let mut structs = BTreeMap::new();
    let mut rest = header;
    while let Some(start) = rest.find("typedef struct") {
        let open = start + rest[start..].find('{').expect("struct without body");
        let close = open + rest[open..].find('}').expect("unterminated struct");
        let name_end = close
            + rest[close..]
                .find(';')
                .expect("struct without typedef name");
        let name = rest[close + 1..name_end].trim().to_owned();
        let fields = rest[open + 1..close]
            .split(';')
            .map(str::trim)
            .filter(|declaration| !declaration.is_empty())
            .map(|declaration| match declaration.split_once("(*") {
                // A function pointer field: `ret (*name)(params)`.
                Some((_, after)) => after.split(')').next().unwrap().trim().to_owned(),
                None => last_identifier(declaration).to_owned(),
            })
            .collect();
        structs.insert(name, fields);
        rest = &rest[name_end..];
    }
    structs
}

/// `typedef ret (*name)(params);` in the header.
fn c_function_typedefs(header: &str) -> Vec<&str> {
    header
        .split(';')
        .map(str::trim)
        .filter(|declaration| declaration.starts_with("typedef") && !declaration.contains('{'))
        .filter_map(|declaration| declaration.split_once("(*"))
        .map(|(_, after)| after.split(')').next().unwrap().trim())
        .collect()
}

fn last_identifier(declaration: &str) -> &str {
    declaration
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|token| !token.is_empty())
        .unwrap_or("")
}

// ABI 1.0 compatibility: plugins built against the 1.0 header keep working with every 1.x host,
// so each 1.0 struct must stay a prefix of the current one and the 1.0 constants keep their
// values. The frozen 1.0 header (`tests/plugins/abi-1.0`, never edited) and the current one are
// compiled with the same program, which prints what a 1.0 plugin relies on.

/// The directory of the frozen ABI 1.0 header.
fn abi_1_0_include() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/plugins/abi-1.0")
}

fn read_header_in(include: &Path) -> String {
    let path = include.join("grantor_plugin.h");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `#define GRANTOR_*` constants of `header` that no 1.x release may change (all but the
/// minor version and the include guard), with whether each is a string.
fn constants_kept_across_minors(header: &str) -> Vec<(String, bool)> {
    header
        .lines()
        .filter_map(|line| line.trim().strip_prefix("#define "))
        .map(|rest| {
            let (name, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            (name.to_owned(), value.trim_start().starts_with('"'))
        })
        .filter(|(name, _)| {
            name.starts_with("GRANTOR_")
                && name != "GRANTOR_PLUGIN_H"
                && name != "GRANTOR_ABI_MINOR"
        })
        .collect()
}

/// A C program printing (`name=value` lines) the constants of `frozen` (a header's text) that
/// every minor keeps, and each of its structs' size and alignment and each field's offset and
/// size: compiled against a later header, it prints the same names with that header's values.
fn abi_prefix_program(frozen: &str) -> String {
    let mut program =
        String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"grantor_plugin.h\"\n");
    program.push_str("\nint main(void) {\n");
    let mut integer = |expression: &str| {
        program.push_str(&format!(
            "    printf(\"%s=%lld\\n\", \"{expression}\", (long long)({expression}));\n"
        ));
    };
    let mut strings = Vec::new();
    for (name, is_string) in constants_kept_across_minors(frozen) {
        if is_string {
            strings.push(name);
        } else {
            integer(&name);
        }
    }
    for (c, fields) in c_structs(&strip_c_comments(frozen)) {
        integer(&format!("sizeof({c})"));
        integer(&format!("_Alignof({c})"));
        for field in fields {
            integer(&format!("offsetof({c}, {field})"));
            integer(&format!("sizeof((({c} *)0)->{field})"));
        }
    }
    for name in strings {
        program.push_str(&format!("    printf(\"%s=%s\\n\", \"{name}\", {name});\n"));
    }
    program.push_str("    return 0;\n}\n");
    program
}

fn printed_values(include: &Path, program: &str) -> BTreeMap<String, String> {
    compile_and_run(include, program)
        .lines()
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not a name=value line: {line}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// How the header in `current` breaks plugins built against the one in `frozen`: a struct of
/// `frozen` whose fields are not the first fields of the current one, a field at another offset
/// or of another size, a versioned struct (one with `struct_size`, read through a pointer and
/// gated by that size) that shrank, a struct passed by value whose size or alignment changed, a
/// constant with another value. Empty when compatible.
fn abi_prefix_mismatches(frozen: &Path, current: &Path) -> Vec<String> {
    let frozen_header = read_header_in(frozen);
    let program = abi_prefix_program(&frozen_header);
    let before = printed_values(frozen, &program);
    let now = printed_values(current, &program);
    let mut mismatches = Vec::new();

    let current_structs = c_structs(&strip_c_comments(&read_header_in(current)));
    let mut struct_wide = Vec::new();
    for (c, fields) in c_structs(&strip_c_comments(&frozen_header)) {
        match current_structs.get(&c) {
            Some(current_fields) if current_fields.starts_with(&fields) => {}
            Some(current_fields) => mismatches.push(format!(
                "{c}: fields {current_fields:?} do not start with ABI 1.0's {fields:?}"
            )),
            None => mismatches.push(format!("{c}: no longer declared")),
        }
        let (size, align) = (format!("sizeof({c})"), format!("_Alignof({c})"));
        let number =
            |values: &BTreeMap<String, String>, key: &str| -> u64 { values[key].parse().unwrap() };
        if fields.iter().any(|field| field == "struct_size") {
            if number(&now, &size) < number(&before, &size) {
                mismatches.push(format!(
                    "{size}: {} now, {} in ABI 1.0 (a versioned struct only grows)",
                    now[&size], before[&size]
                ));
            }
        } else {
            for key in [&size, &align] {
                if now[key] != before[key] {
                    mismatches.push(format!(
                        "{key}: {} now, {} in ABI 1.0 (passed by value: it cannot change)",
                        now[key], before[key]
                    ));
                }
            }
        }
        struct_wide.extend([size, align]);
    }
    for (name, value) in &before {
        if struct_wide.contains(name) {
            continue;
        }
        match now.get(name) {
            Some(current) if current == value => {}
            Some(current) => mismatches.push(format!("{name}: {current} now, {value} in ABI 1.0")),
            None => mismatches.push(format!("{name}: not printed for the current header")),
        }
    }
    mismatches
}

/// The 1.0 structs (the host table and the plugin descriptor among them) are prefixes of the
/// current ones, and the 1.0 constants keep their values: a plugin built against ABI 1.0 reads
/// and fills every 1.0 field where the current host has it.
#[test]
fn every_abi_1_0_struct_is_a_prefix_of_the_current_one() {
    let frozen = read_header_in(&abi_1_0_include());
    assert!(
        frozen.contains("#define GRANTOR_ABI_MAJOR 1\n")
            && frozen.contains("#define GRANTOR_ABI_MINOR 0\n"),
        "tests/plugins/abi-1.0/grantor_plugin.h is no longer the ABI 1.0 header"
    );
    let frozen_structs = c_structs(&strip_c_comments(&frozen));
    for checked in ["grantor_host_api_t", "grantor_grant_plugin_v1_t"] {
        assert!(
            frozen_structs.get(checked).is_some_and(|f| f.len() > 2),
            "{checked} not read from the frozen header: {frozen_structs:?}"
        );
    }
    let current = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let mismatches = abi_prefix_mismatches(&abi_1_0_include(), &current);
    assert!(
        mismatches.is_empty(),
        "grantor_plugin.h breaks plugins built against ABI 1.0:\n{}",
        mismatches.join("\n")
    );
}

/// The check above catches a moved 1.0 field, a changed constant and a grown by-value struct, and
/// accepts what a minor version may do: append a field to a versioned struct, bump the minor.
#[test]
fn the_abi_1_0_prefix_check_catches_moved_fields_and_accepts_appended_ones() {
    let frozen = abi_1_0_include();
    let header = read_header_in(&frozen);
    let scratch = TempDir::new();
    let mismatches_of = |edits: &[(&str, &str)]| {
        let mut text = header.clone();
        for (from, to) in edits {
            assert_eq!(
                text.matches(from).count(),
                1,
                "{from} is not in the header once"
            );
            text = text.replace(from, to);
        }
        std::fs::write(scratch.0.join("grantor_plugin.h"), text).unwrap();
        abi_prefix_mismatches(&frozen, &scratch.0)
    };
    let swap = |a: &'static str, b: &'static str| [(a, "@SWAP@"), (b, a), ("@SWAP@", b)];

    let moved = mismatches_of(&swap(
        "grantor_host_call host_find_identity_provider;",
        "grantor_host_call host_get_verification_keys;",
    ));
    assert!(
        moved
            .iter()
            .any(|m| m.starts_with("offsetof(grantor_host_api_t, host_find_identity_provider)")),
        "{moved:?}"
    );
    let moved = mismatches_of(&swap("uint16_t abi_major;", "uint16_t abi_minor;"));
    assert!(
        moved
            .iter()
            .any(|m| m.starts_with("offsetof(grantor_grant_plugin_v1_t, abi_major)")),
        "{moved:?}"
    );
    let inserted = mismatches_of(&[(
        "    void *host_ctx;\n",
        "    void *host_ctx;\n    grantor_host_call host_new_callback;\n",
    )]);
    assert!(
        inserted
            .iter()
            .any(|m| m.starts_with("grantor_host_api_t: fields"))
            && inserted
                .iter()
                .any(|m| m.starts_with("offsetof(grantor_host_api_t, host_log)")),
        "{inserted:?}"
    );
    let changed = mismatches_of(&[("#define GRANTOR_CONFLICT 3", "#define GRANTOR_CONFLICT 4")]);
    assert!(
        changed
            .iter()
            .any(|m| m.starts_with("GRANTOR_CONFLICT: 4 now, 3")),
        "{changed:?}"
    );
    let grown = mismatches_of(&[(
        "    size_t len;         /* number of readable bytes at ptr */\n",
        "    size_t len;         /* number of readable bytes at ptr */\n    size_t cap;\n",
    )]);
    assert!(
        grown
            .iter()
            .any(|m| m.starts_with("sizeof(grantor_borrowed_bytes_t)")),
        "{grown:?}"
    );

    let appended = mismatches_of(&[
        (
            "    void (*host_free_buffer)(grantor_host_bytes_t buffer);\n",
            "    void (*host_free_buffer)(grantor_host_bytes_t buffer);\n    \
             grantor_host_call host_validate_token;\n",
        ),
        (
            "#define GRANTOR_ABI_MINOR 0\n",
            "#define GRANTOR_ABI_MINOR 1\n",
        ),
    ]);
    assert!(appended.is_empty(), "{appended:?}");
}
