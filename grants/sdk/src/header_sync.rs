//! Keeps `include/grantor_plugin.h` and `abi.rs` in sync: compiles a C program against the header
//! that prints every constant, struct size and field offset, and compares each with Rust's view.
//! Any drift on either side fails this test.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use crate::abi::*;

/// (C expression, the value Rust has for it).
fn expectations() -> Vec<(&'static str, i64)> {
    macro_rules! field {
        ($c_type:literal, $c_field:literal, $rust:ty, $field:ident) => {
            (
                concat!("offsetof(", $c_type, ", ", $c_field, ")"),
                offset_of!($rust, $field) as i64,
            )
        };
    }
    vec![
        ("GRANTOR_ABI_MAGIC", i64::from(GRANTOR_ABI_MAGIC)),
        ("GRANTOR_ABI_MAJOR", i64::from(GRANTOR_ABI_MAJOR)),
        ("GRANTOR_ABI_MINOR", i64::from(GRANTOR_ABI_MINOR)),
        ("GRANTOR_OK", i64::from(GRANTOR_OK)),
        ("GRANTOR_NOT_FOUND", i64::from(GRANTOR_NOT_FOUND)),
        ("GRANTOR_NOT_CONFIGURED", i64::from(GRANTOR_NOT_CONFIGURED)),
        ("GRANTOR_CONFLICT", i64::from(GRANTOR_CONFLICT)),
        ("GRANTOR_ERROR", i64::from(GRANTOR_ERROR)),
        ("GRANTOR_LOG_ERROR", i64::from(GRANTOR_LOG_ERROR)),
        ("GRANTOR_LOG_WARN", i64::from(GRANTOR_LOG_WARN)),
        ("GRANTOR_LOG_INFO", i64::from(GRANTOR_LOG_INFO)),
        ("GRANTOR_LOG_DEBUG", i64::from(GRANTOR_LOG_DEBUG)),
        (
            "sizeof(grantor_borrowed_bytes_t)",
            size_of::<GrantorBorrowedBytes>() as i64,
        ),
        field!("grantor_borrowed_bytes_t", "ptr", GrantorBorrowedBytes, ptr),
        field!("grantor_borrowed_bytes_t", "len", GrantorBorrowedBytes, len),
        (
            "sizeof(grantor_plugin_bytes_t)",
            size_of::<GrantorPluginBytes>() as i64,
        ),
        field!("grantor_plugin_bytes_t", "ptr", GrantorPluginBytes, ptr),
        field!("grantor_plugin_bytes_t", "len", GrantorPluginBytes, len),
        (
            "sizeof(grantor_host_bytes_t)",
            size_of::<GrantorHostBytes>() as i64,
        ),
        field!("grantor_host_bytes_t", "ptr", GrantorHostBytes, ptr),
        field!("grantor_host_bytes_t", "len", GrantorHostBytes, len),
        (
            "sizeof(grantor_host_api_t)",
            size_of::<GrantorHostApi>() as i64,
        ),
        field!(
            "grantor_host_api_t",
            "struct_size",
            GrantorHostApi,
            struct_size
        ),
        field!("grantor_host_api_t", "host_ctx", GrantorHostApi, host_ctx),
        field!(
            "grantor_host_api_t",
            "host_find_identity_provider",
            GrantorHostApi,
            host_find_identity_provider
        ),
        field!(
            "grantor_host_api_t",
            "host_get_verification_keys",
            GrantorHostApi,
            host_get_verification_keys
        ),
        field!(
            "grantor_host_api_t",
            "host_record_jti",
            GrantorHostApi,
            host_record_jti
        ),
        field!(
            "grantor_host_api_t",
            "host_transform_claims",
            GrantorHostApi,
            host_transform_claims
        ),
        field!("grantor_host_api_t", "host_log", GrantorHostApi, host_log),
        field!(
            "grantor_host_api_t",
            "host_free_buffer",
            GrantorHostApi,
            host_free_buffer
        ),
        (
            "sizeof(grantor_grant_plugin_v1_t)",
            size_of::<GrantorGrantPluginV1>() as i64,
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "magic",
            GrantorGrantPluginV1,
            magic
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "struct_size",
            GrantorGrantPluginV1,
            struct_size
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "abi_major",
            GrantorGrantPluginV1,
            abi_major
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "abi_minor",
            GrantorGrantPluginV1,
            abi_minor
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "name",
            GrantorGrantPluginV1,
            name
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "version",
            GrantorGrantPluginV1,
            version
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "grant_types",
            GrantorGrantPluginV1,
            grant_types
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "grant_types_len",
            GrantorGrantPluginV1,
            grant_types_len
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "on_create",
            GrantorGrantPluginV1,
            on_create
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "on_handle",
            GrantorGrantPluginV1,
            on_handle
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "on_free_buffer",
            GrantorGrantPluginV1,
            on_free_buffer
        ),
        field!(
            "grantor_grant_plugin_v1_t",
            "on_destroy",
            GrantorGrantPluginV1,
            on_destroy
        ),
    ]
}

#[test]
fn c_header_matches_the_rust_abi() {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let header = std::fs::read_to_string(include.join("grantor_plugin.h")).unwrap();
    let symbol = std::str::from_utf8(GRANTOR_PLUGIN_SYMBOL)
        .unwrap()
        .trim_end_matches('\0');
    assert!(
        header.contains(&format!("*{symbol}(void);")),
        "the header must declare {symbol}"
    );

    let expectations = expectations();
    let mut program =
        String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"grantor_plugin.h\"\nint main(void) {\n");
    for (expression, _) in &expectations {
        program.push_str(&format!(
            "    printf(\"%s=%lld\\n\", \"{expression}\", (long long)({expression}));\n"
        ));
    }
    program.push_str("    return 0;\n}\n");

    let dir = std::env::temp_dir().join(format!("grantor-header-sync-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("sync.c");
    let binary = dir.join("sync");
    std::fs::write(&source, program).unwrap();
    let compiled = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "the header does not compile: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(run.status.success());
    let printed = String::from_utf8(run.stdout).unwrap();
    let c_values: Vec<(&str, i64)> = printed
        .lines()
        .map(|line| {
            let (name, value) = line.rsplit_once('=').unwrap();
            (name, value.parse().unwrap())
        })
        .collect();
    assert_eq!(c_values.len(), expectations.len());
    for ((c_name, c_value), (expression, rust_value)) in c_values.iter().zip(&expectations) {
        assert_eq!(c_name, expression);
        assert_eq!(
            c_value, rust_value,
            "{expression}: C says {c_value}, Rust says {rust_value}"
        );
    }
}
