/*
 * FROZEN COPY OF ABI 1.0: never edit this file. It is grants/sdk/include/grantor_plugin.h as
 * released with ABI 1.0, kept byte for byte so that the tests build a 1.0 plugin (c-echo, see
 * tests/e2e/plugin_abi_compat.rs) against it and check that every later 1.x header keeps each
 * 1.0 struct as a prefix (grants/sdk/src/header_sync.rs). A 1.x change goes into the shipped
 * header only.
 */
/*
 * grantor_plugin.h: the Grantor grant plugin ABI, version 1.
 *
 * The same ABI as grants/sdk/src/abi.rs (Rust); a test in that crate compiles this header and
 * compares every size, offset and constant, so the two cannot drift apart.
 *
 * A plugin is a shared library exporting one symbol, grantor_grant_plugin_v1 (GRANTOR_PLUGIN_SYMBOL),
 * that returns a static descriptor. The host checks the descriptor's header (magic, struct_size, abi_major) before it
 * reads anything else. Structs grow only by appending fields, gated by struct_size. Payloads are
 * JSON (UTF-8) bytes; statuses are integers.
 *
 * Ownership, always (whoever allocates frees, with its own allocator):
 *   - grantor_borrowed_bytes_t: borrowed: lent for the duration of one call; never keep the
 *     pointer, never write through it, never free it.
 *   - grantor_plugin_bytes_t:   plugin-owned: allocated by the plugin; the host hands it back,
 *     unchanged and exactly once, to the plugin's on_free_buffer.
 *   - grantor_host_bytes_t:     host-owned: allocated by the host; the plugin hands it back,
 *     unchanged and exactly once, to host_free_buffer.
 * A null ptr with len 0 is an empty buffer.
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
/* The name of the one symbol every plugin exports (declared at the end of this header). */
#define GRANTOR_PLUGIN_SYMBOL "grantor_grant_plugin_v1"

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

/* Bytes the host lends to the plugin (or the plugin to the host) for the duration of one call. */
typedef struct grantor_borrowed_bytes {
    const uint8_t *ptr; /* borrowed for one call: read only, do not keep, do not free */
    size_t len;         /* number of readable bytes at ptr */
} grantor_borrowed_bytes_t;

/* Bytes the plugin allocated and hands to the host; the host returns them to the plugin's
 * on_free_buffer exactly once. */
typedef struct grantor_plugin_bytes {
    uint8_t *ptr; /* plugin-owned: freed by the plugin's on_free_buffer */
    size_t len;   /* number of bytes at ptr; passed back unchanged to on_free_buffer */
} grantor_plugin_bytes_t;

/* Bytes the host allocated and hands to the plugin (callback results); the plugin frees them with
 * host_free_buffer exactly once. */
typedef struct grantor_host_bytes {
    uint8_t *ptr; /* host-owned: freed by the plugin with host_free_buffer */
    size_t len;   /* number of bytes at ptr; passed back unchanged to host_free_buffer */
} grantor_host_bytes_t;

/* A host callback: one JSON request in, one JSON result out, and a status code.
 *   host_ctx:   grantor_host_api_t.host_ctx, passed back unchanged.
 *   request:    borrowed for this call (the plugin keeps ownership).
 *   result_out: the host writes host-owned bytes here (JSON on GRANTOR_OK, otherwise UTF-8 error
 *               text, possibly empty); the plugin frees them with host_free_buffer. */
typedef int32_t (*grantor_host_call)(void *host_ctx, grantor_borrowed_bytes_t request,
                                     grantor_host_bytes_t *result_out);

/* Callbacks into the host, passed with every on_handle call. The struct is borrowed: host-owned
 * and valid only during that on_handle call; do not keep the pointer or call back afterwards. */
typedef struct grantor_host_api {
    /* sizeof(grantor_host_api_t) as the host built it; fields past it do not exist. */
    uint32_t struct_size;
    /* Opaque, host-owned, borrowed for the on_handle call; pass it back to every callback. */
    void *host_ctx;
    /* {"issuer": "..."} -> the tenant's identity provider with that issuer; when its keys are
     * certificates, "certificate_keys" carries them as JWKs (no need to ask for them below).
     * Request borrowed; result host-owned (free with host_free_buffer). */
    grantor_host_call host_find_identity_provider;
    /* {"issuer": "...", "kid": "..." or null} -> {"keys": [JWK, ...]}.
     * Request borrowed; result host-owned (free with host_free_buffer). */
    grantor_host_call host_get_verification_keys;
    /* {"issuer", "jti", "expires_at"} -> GRANTOR_OK, or GRANTOR_CONFLICT when already seen.
     * Request borrowed; result host-owned (free with host_free_buffer). */
    grantor_host_call host_record_jti;
    /* {"issuer", "claims": {...}, "requested_scopes": [...]} -> {"claims": {...}, "subject"?,
     * "scopes"?} or {"rejected": "why"}; GRANTOR_NOT_CONFIGURED without a transformer,
     * GRANTOR_ERROR (with a description) when it failed.
     * Request borrowed; result host-owned (free with host_free_buffer). */
    grantor_host_call host_transform_claims;
    /* Logs UTF-8 text through the host's logging at `level` (GRANTOR_LOG_*).
     * message: borrowed for this call; the host copies what it keeps. */
    void (*host_log)(void *host_ctx, int32_t level, grantor_borrowed_bytes_t message);
    /* Releases a buffer a callback returned, exactly once. buffer: host-owned, ptr and len
     * unchanged; the plugin must not touch it afterwards. */
    void (*host_free_buffer)(grantor_host_bytes_t buffer);
} grantor_host_api_t;

/* Creates an instance from its JSON configuration (the registration's properties).
 *   config:       borrowed for this call.
 *   instance_out: on GRANTOR_OK, the plugin writes its opaque, plugin-owned instance here; it
 *                 lives until on_destroy.
 *   error_out:    on failure, optionally UTF-8 text: plugin-owned, freed with on_free_buffer.
 * Returns GRANTOR_OK, or non-zero on failure. */
typedef int32_t (*grantor_on_create)(grantor_borrowed_bytes_t config, void **instance_out,
                                     grantor_plugin_bytes_t *error_out);

/* Handles one token request.
 *   instance:   from on_create, plugin-owned.
 *   host:       borrowed for this call (see grantor_host_api_t).
 *   request:    borrowed for this call: the request JSON.
 *   result_out: the plugin writes the result JSON (or UTF-8 error text on failure) here:
 *               plugin-owned, freed with on_free_buffer.
 * Non-zero means the plugin failed; the client gets server_error. May be called from several
 * threads at once for one instance. */
typedef int32_t (*grantor_on_handle)(void *instance, const grantor_host_api_t *host,
                                     grantor_borrowed_bytes_t request,
                                     grantor_plugin_bytes_t *result_out);

/* Releases a buffer the plugin returned. buffer: plugin-owned, ptr and len unchanged, freed
 * exactly once. */
typedef void (*grantor_on_free_buffer)(grantor_plugin_bytes_t buffer);

/* Destroys an instance (plugin-owned, from on_create). Libraries are loaded once and never
 * unloaded. */
typedef void (*grantor_on_destroy)(void *instance);

/* The static descriptor returned by grantor_grant_plugin_v1(): plugin-owned, immutable, lives as
 * long as the library; the host reads it and never frees it or anything it points to. */
typedef struct grantor_grant_plugin_v1 {
    uint32_t magic;       /* GRANTOR_ABI_MAGIC */
    uint32_t struct_size; /* sizeof(grantor_grant_plugin_v1_t) as the plugin built it */
    uint16_t abi_major;   /* GRANTOR_ABI_MAJOR as the plugin built it */
    uint16_t abi_minor;   /* GRANTOR_ABI_MINOR as the plugin built it */
    const char *name;     /* NUL-terminated UTF-8, static, plugin-owned */
    const char *version;  /* NUL-terminated UTF-8, static, plugin-owned */
    /* grant_types_len NUL-terminated grant type URIs or names; array and strings static,
     * plugin-owned */
    const char *const *grant_types;
    size_t grant_types_len;                /* number of entries in grant_types */
    grantor_on_create on_create;           /* required; see grantor_on_create */
    grantor_on_handle on_handle;           /* required; see grantor_on_handle */
    grantor_on_free_buffer on_free_buffer; /* required; frees plugin-owned buffers */
    grantor_on_destroy on_destroy;         /* required; see grantor_on_destroy */
} grantor_grant_plugin_v1_t;

/* The one symbol every plugin exports (GRANTOR_PLUGIN_SYMBOL). It returns the static descriptor:
 * plugin-owned, never freed, valid as long as the library is loaded. */
const grantor_grant_plugin_v1_t *grantor_grant_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* GRANTOR_PLUGIN_H */
