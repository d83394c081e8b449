/*
 * grantor_plugin.h: the Grantor grant plugin ABI, version 1.
 *
 * The same ABI as grants/sdk/src/abi.rs (Rust); a test in that crate compiles this header and
 * compares every size, offset and constant, so the two cannot drift apart.
 *
 * A plugin is a shared library exporting one symbol, grantor_grant_plugin_v1, that returns a static
 * descriptor. The host checks the descriptor's header (magic, struct_size, abi_major) before it
 * reads anything else. Structs grow only by appending fields, gated by struct_size. Payloads are
 * JSON (UTF-8) bytes; statuses are integers.
 *
 * Ownership, always:
 *   - grantor_borrowed_bytes_t: lent for the duration of one call; never keep the pointer.
 *   - grantor_plugin_bytes_t:   allocated by the plugin, freed by the plugin's on_free_buffer.
 *   - grantor_host_bytes_t:     allocated by the host, freed with host_free_buffer.
 *
 * Plugins are trusted in-process code. The ABI guards against mistakes (version mismatch, buffer
 * ownership, crashes of the handler logic contained where possible), not against malice: a plugin
 * can do anything the server process can.
 */
#ifndef GRANTOR_PLUGIN_H
#define GRANTOR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "GRNT": the first field of every descriptor. */
#define GRANTOR_ABI_MAGIC 0x47524E54u
/* Incompatible changes bump the major version; the host refuses any other major. */
#define GRANTOR_ABI_MAJOR 1
/* Compatible additions (appended fields) bump the minor version. */
#define GRANTOR_ABI_MINOR 0

/* Status codes of entry points and callbacks. */
#define GRANTOR_OK 0
#define GRANTOR_NOT_FOUND 1      /* a callback found nothing */
#define GRANTOR_NOT_CONFIGURED 2 /* a callback this deployment does not offer */
#define GRANTOR_CONFLICT 3       /* host_record_jti: already recorded (a replay) */
#define GRANTOR_ERROR (-1)       /* any failure; details, if any, as UTF-8 text in the output */

/* Log levels for host_log. */
#define GRANTOR_LOG_ERROR 1
#define GRANTOR_LOG_WARN 2
#define GRANTOR_LOG_INFO 3
#define GRANTOR_LOG_DEBUG 4

/* Bytes lent for one call. */
typedef struct grantor_borrowed_bytes {
    const uint8_t *ptr;
    size_t len;
} grantor_borrowed_bytes_t;

/* Bytes the plugin allocated; the host returns them to on_free_buffer exactly once. */
typedef struct grantor_plugin_bytes {
    uint8_t *ptr;
    size_t len;
} grantor_plugin_bytes_t;

/* Bytes the host allocated (callback results); the plugin frees them with host_free_buffer. */
typedef struct grantor_host_bytes {
    uint8_t *ptr;
    size_t len;
} grantor_host_bytes_t;

/* A host callback: one JSON request (lent) in, one host-owned JSON result out. */
typedef int32_t (*grantor_host_call)(void *host_ctx, grantor_borrowed_bytes_t request,
                                     grantor_host_bytes_t *result_out);

/* Callbacks into the host, passed with every on_handle call and valid only during it. */
typedef struct grantor_host_api {
    /* sizeof(grantor_host_api_t) as the host built it; fields past it do not exist. */
    uint32_t struct_size;
    /* Opaque; pass it back to every callback. */
    void *host_ctx;
    /* {"issuer": "..."} -> the tenant's identity provider with that issuer. */
    grantor_host_call host_find_identity_provider;
    /* {"issuer": "...", "kid": "..." or null} -> {"keys": [JWK, ...]}. */
    grantor_host_call host_get_verification_keys;
    /* {"issuer", "jti", "expires_at"} -> GRANTOR_OK, or GRANTOR_CONFLICT when already seen. */
    grantor_host_call host_record_jti;
    /* {"issuer", "claims": {...}} -> {"claims": {...}, "subject"?, "scopes"?}. */
    grantor_host_call host_transform_claims;
    /* Logs UTF-8 text (lent) through the host's logging at `level`. */
    void (*host_log)(void *host_ctx, int32_t level, grantor_borrowed_bytes_t message);
    /* Releases a buffer a callback returned. */
    void (*host_free_buffer)(grantor_host_bytes_t buffer);
} grantor_host_api_t;

/* Creates an instance from its JSON configuration (lent). Non-zero on failure, optionally with
 * UTF-8 text in *error_out (plugin-owned). */
typedef int32_t (*grantor_on_create)(grantor_borrowed_bytes_t config, void **instance_out,
                                     grantor_plugin_bytes_t *error_out);

/* Handles one token request: request JSON lent, result JSON plugin-owned in *result_out.
 * Non-zero means the plugin failed; the client gets server_error. May be called from several
 * threads at once for one instance. */
typedef int32_t (*grantor_on_handle)(void *instance, const grantor_host_api_t *host,
                                     grantor_borrowed_bytes_t request,
                                     grantor_plugin_bytes_t *result_out);

/* Releases a buffer the plugin returned. */
typedef void (*grantor_on_free_buffer)(grantor_plugin_bytes_t buffer);

/* Destroys an instance. Libraries are loaded once and never unloaded. */
typedef void (*grantor_on_destroy)(void *instance);

/* The static descriptor; lives as long as the library. */
typedef struct grantor_grant_plugin_v1 {
    uint32_t magic;       /* GRANTOR_ABI_MAGIC */
    uint32_t struct_size; /* sizeof(grantor_grant_plugin_v1_t) as the plugin built it */
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *name;    /* NUL-terminated UTF-8, static */
    const char *version; /* NUL-terminated UTF-8, static */
    const char *const *grant_types; /* grant_types_len static NUL-terminated grant type names */
    size_t grant_types_len;
    grantor_on_create on_create;
    grantor_on_handle on_handle;
    grantor_on_free_buffer on_free_buffer;
    grantor_on_destroy on_destroy;
} grantor_grant_plugin_v1_t;

/* The one symbol every plugin exports. */
const grantor_grant_plugin_v1_t *grantor_grant_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* GRANTOR_PLUGIN_H */
