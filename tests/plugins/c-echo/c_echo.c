/*
 * A grant plugin written in C against grantor_plugin.h, loaded by the end-to-end tests.
 * Grants the "subject" form parameter (naively extracted from the request JSON; a real plugin
 * would use a JSON parser) with scope "read", after logging through the host.
 *
 * Build: cc -shared -fPIC -I grants/sdk/include -o libgrant_c_echo.so c_echo.c
 * The e2e tests also build it with -I tests/plugins/abi-1.0 (the frozen ABI 1.0 header) as the
 * 1.0 plugin a 1.x host must keep serving: keep this file valid ABI 1.0 source.
 * -DC_ECHO_VERSION='"2.0.0"' and -DC_ECHO_SCOPE='"write"' build another version of it, which
 * grants another scope (the plugin reload test tells the versions apart by it).
 * -DC_ECHO_EXTRA_RESULT='",\"audience\":[\"x\"]"' appends those members to its granted result.
 * -DGRANTOR_TEST_ABI_MAJOR=2 builds a descriptor of another ABI major, which the host must refuse.
 * -DGRANTOR_TEST_NULL_ON_HANDLE leaves the descriptor's on_handle NULL, which the host must refuse
 * at load rather than jump to on the first request.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "grantor_plugin.h"

#ifndef C_ECHO_VERSION
#define C_ECHO_VERSION "1.0.0"
#endif
#ifndef C_ECHO_SCOPE
#define C_ECHO_SCOPE "read"
#endif

/* Raw JSON members appended to the granted result (a leading comma included): ABI 1.1 result
 * fields, well formed or not, exactly as a plugin might write them. */
#ifndef C_ECHO_EXTRA_RESULT
#define C_ECHO_EXTRA_RESULT ""
#endif

#ifndef GRANTOR_TEST_ABI_MAJOR
#define GRANTOR_TEST_ABI_MAJOR GRANTOR_ABI_MAJOR
#endif

#ifdef GRANTOR_TEST_NULL_ON_HANDLE
#define ON_HANDLE_SLOT NULL
#define UNUSED_IN_TEST __attribute__((unused))
#else
#define ON_HANDLE_SLOT on_handle
#define UNUSED_IN_TEST
#endif

static int instance_token;

static grantor_plugin_bytes_t give(const char *text, size_t len) {
    grantor_plugin_bytes_t out = {NULL, 0};
    out.ptr = malloc(len ? len : 1);
    if (out.ptr) {
        memcpy(out.ptr, text, len);
        out.len = len;
    }
    return out;
}

static int32_t on_create(grantor_borrowed_bytes_t config, void **instance_out,
                         grantor_plugin_bytes_t *error_out) {
    (void)config;
    (void)error_out;
    *instance_out = &instance_token;
    return GRANTOR_OK;
}

static UNUSED_IN_TEST int32_t on_handle(void *instance, const grantor_host_api_t *host,
                         grantor_borrowed_bytes_t request, grantor_plugin_bytes_t *result_out) {
    static const char key[] = "\"subject\":\"";
    static const char log_line[] = "c-echo handling a request";
    char subject[128] = "c-plugin-user";
    char result[2048];
    const char *found = NULL;
    size_t i, n;

    if (instance != &instance_token || host == NULL) {
        return GRANTOR_ERROR;
    }
    {
        grantor_borrowed_bytes_t message = {(const uint8_t *)log_line, sizeof log_line - 1};
        host->host_log(host->host_ctx, GRANTOR_LOG_INFO, message);
    }
    /* Find "subject":"..." in the request; bounded by request.len, never past it. */
    for (i = 0; i + sizeof key - 1 <= request.len; i++) {
        if (memcmp(request.ptr + i, key, sizeof key - 1) == 0) {
            found = (const char *)request.ptr + i + sizeof key - 1;
            break;
        }
    }
    if (found) {
        const char *end = (const char *)request.ptr + request.len;
        for (n = 0; found + n < end && found[n] != '"' && found[n] != '\\' && n < sizeof subject - 1; n++) {
            subject[n] = found[n];
        }
        subject[n] = '\0';
    }
    n = (size_t)snprintf(result, sizeof result,
                         "{\"status\":\"granted\",\"subject\":\"%s\",\"scopes\":[\"" C_ECHO_SCOPE "\"],"
                         "\"claims\":{\"written_in\":\"C\"},\"refresh_token_allowed\":false"
                         C_ECHO_EXTRA_RESULT "}",
                         subject);
    *result_out = give(result, n);
    return result_out->ptr ? GRANTOR_OK : GRANTOR_ERROR;
}

static void on_free_buffer(grantor_plugin_bytes_t buffer) { free(buffer.ptr); }

static void on_destroy(void *instance) { (void)instance; }

static const char *const grant_types[] = {"urn:grantor:test:c-echo"};

static const grantor_grant_plugin_v1_t descriptor = {
    GRANTOR_ABI_MAGIC,
    sizeof(grantor_grant_plugin_v1_t),
    GRANTOR_TEST_ABI_MAJOR,
    GRANTOR_ABI_MINOR,
    "c-echo",
    C_ECHO_VERSION,
    grant_types,
    sizeof grant_types / sizeof grant_types[0],
    on_create,
    ON_HANDLE_SLOT,
    on_free_buffer,
    on_destroy,
};

const grantor_grant_plugin_v1_t *grantor_grant_plugin_v1(void) { return &descriptor; }
