/*
 * conf: scrim.yaml, parsed once with libyaml into an immutable generation.
 *
 * The loader walks a table of directives per section with typed helpers;
 * unknown keys, wrong types, out-of-range numbers, bad regexes, bad
 * selectors, bad paths and unknown names are errors of the form
 * `file:line:col: in "tenants[1].policy": what was expected`. It reads no
 * files itself (the caller hands it the bytes; key files named in it are
 * opened by crypto/), so it stays in the pure engine. Schema: docs/config.md.
 */
#ifndef SCRIM_CONF_H
#define SCRIM_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "rules/policy.h"

enum format {
    FORMAT_JSON,
    FORMAT_FORM,
    FORMAT_RRWEB,
    FORMAT_POSTHOG,
    FORMAT_SENTRY,
};

/* "json", "form", ...; format_parse returns -1 for an unknown name. */
const char *format_name(enum format f);
int format_parse(const char *name, enum format *out);

struct conf_listen {
    char *addr;               /* host:port */
    char *tls_cert, *tls_key; /* both NULL for plain HTTP */
};

struct conf_limits {
    size_t header_max;                    /* 16 KiB */
    unsigned header_fields;               /* 100 */
    size_t body_max;                      /* 5 MiB */
    size_t decompressed_max;              /* 50 MiB */
    unsigned ratio_max;                   /* 100 */
    unsigned json_depth;                  /* 64 */
    size_t json_nodes;                    /* 1,000,000 */
    uint32_t regex_match_limit;           /* 100,000 */
    uint32_t regex_depth_limit;           /* 1,000 */
    unsigned header_timeout_ms;           /* 10 s */
    unsigned body_timeout_ms;             /* 30 s */
    unsigned idle_timeout_ms;             /* 30 s */
    unsigned max_connections;             /* 10,000 */
    unsigned max_connections_per_ip;      /* 256 */
    size_t inflight_max;                  /* 256 MiB */
    size_t session_entries;               /* node-map entries per session: 100,000 */
    size_t total_entries;                 /* node-map entries in all: 5,000,000 */
    unsigned drain_timeout_ms;            /* SIGTERM: in-flight requests finish within: 30 s */
    unsigned upstream_connect_timeout_ms; /* 2 s */
    unsigned upstream_timeout_ms;         /* whole upstream request: 10 s */
    unsigned upstream_retries;            /* before the payload is spooled: 1 */
    unsigned upstream_connections;        /* per upstream host and worker: 64 */
};

struct conf_tenant {
    char *id;
    uint8_t (*api_key_sha256)[32]; /* SHA-256 of each API key */
    size_t napi_keys;
    char **vendor_keys; /* PostHog project tokens, Sentry public keys */
    size_t nvendor_keys;
    char **public_keys; /* paths of X25519 public key files; first is current */
    size_t npublic_keys;
    char *pseudonym_key; /* path of the 32-byte pseudonym key file */
    unsigned retention_days;
    char *purpose;
    char *policy_name;
    const struct policy *policy; /* resolved */
    unsigned rate_per_sec;       /* 0: unlimited */
    unsigned rate_burst;
};

enum tenant_from {
    TENANT_FROM_API_KEY, /* Authorization: Bearer, or header */
    TENANT_FROM_VENDOR,  /* PostHog token / Sentry key in payload or query */
    TENANT_FROM_FIXED,   /* one tenant named in the route */
};

struct conf_route {
    char *method; /* "POST"; NULL: any */
    char *path;   /* exact, or prefix when it ends with '*' */
    enum format format;
    enum tenant_from tenant_from;
    char *tenant_header;   /* for API keys: header name; NULL: Authorization */
    char *tenant_id;       /* TENANT_FROM_FIXED */
    char *upstream;        /* URL, or NULL for context-only */
    int forward_client_ip; /* truncated when set */
};

struct conf_storage {
    char *dir; /* NULL: no store */
    uint64_t segment_max_bytes;
    unsigned segment_max_age_s;
    unsigned commit_interval_ms;
};

struct conf_audit {
    char *dir;         /* NULL: no audit log */
    char *signing_key; /* path of the Ed25519 secret key file; NULL: not set,
                          the audit log picks its default inside dir */
    char *origin;      /* checkpoint origin prefix; each tenant's log is
                          "<origin>/<tenant>"; NULL: "scrim/<tenant>" */
    unsigned checkpoint_entries;
    unsigned checkpoint_seconds;
};

struct conf_spool {
    char *dir;
    uint64_t max_bytes;
};

struct config {
    char *file;
    struct conf_listen *listen;
    size_t nlisten;
    char *admin;      /* host:port, default 127.0.0.1:9090 */
    unsigned workers; /* 0: one per core */
    struct conf_limits limits;
    struct conf_tenant *tenants;
    size_t ntenants;
    struct policy *policies;
    size_t npolicies;
    struct conf_route *routes;
    size_t nroutes;
    struct conf_storage storage;
    struct conf_audit audit;
    struct conf_spool spool;
};

/* Parse and compile yaml[0..len); name is used in error messages. NULL with
 * err on any error. Relative paths in the file are resolved against the
 * directory of name. */
struct config *conf_parse(const char *name, const char *yaml, size_t len, struct err *err);

void conf_free(struct config *c);

const struct conf_tenant *conf_tenant_by_id(const struct config *c, const char *id);
const struct policy *conf_policy_by_name(const struct config *c, const char *name);

#endif
