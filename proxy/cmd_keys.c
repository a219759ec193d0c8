/*
 * scrim keys: make the keys a deployment needs.
 *   new        a tenant's X25519 pair (T.pub for the config, T.key for the
 *              tenant's data owner only)
 *   pseudonym  a tenant's pseudonym key (T.pseudonym, for the proxy)
 *   api        a fresh API key, and the sha256 line for the config
 *   audit      the deployment's Ed25519 pair that signs audit checkpoints
 */
#include "cmd.h"

#include "crypto/keys.h"
#include "crypto/note.h"
#include "crypto/pseudo.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char keys_usage[] =
    "usage: scrim keys new --tenant T --dir D\n"
    "       scrim keys pseudonym --tenant T --dir D\n"
    "       scrim keys api --tenant T\n"
    "       scrim keys audit --dir D [--name NAME]\n"
    "\n"
    "new        writes D/T.pub (goes into the config) and D/T.key (mode 0600,\n"
    "           for the tenant's data owner; the proxy never needs it)\n"
    "pseudonym  writes D/T.pseudonym (mode 0600), the key of the tenant's\n"
    "           pseudonyms; the proxy's config names it\n"
    "api        prints a fresh API key and the sha256 line for the config\n"
    "audit      writes D/audit.key (mode 0600, for the proxy: it signs the audit\n"
    "           log's checkpoints) and D/audit.pub (for auditors); NAME is the\n"
    "           key name in signatures, default scrim-audit\n"
    "Existing files are never overwritten.\n";

/* Tenant ids name files: keep them to a safe alphabet. */
static int tenant_ok(const char *t)
{
    if (t == NULL || *t == '\0' || strlen(t) > 64 || *t == '.' || *t == '-')
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '-' || *t == '_' || *t == '.'))
            return 0;
    return 1;
}

static int keys_api(const char *tenant)
{
    uint8_t raw[32], h[crypto_hash_sha256_BYTES];
    char key[64], hex[2 * sizeof(h) + 1];

    randombytes_buf(raw, sizeof(raw));
    memcpy(key, "scrim_", 6);
    sodium_bin2base64(key + 6, sizeof(key) - 6, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(h, (const uint8_t *)key, strlen(key));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    printf("api key for %s (give it to the client; scrim keeps only the hash):\n  %s\n"
           "config line (tenants[].api_keys):\n  - sha256: %s\n",
           tenant, key, hex);
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(key, sizeof(key));
    return EXIT_OK;
}

static int keys_files(const char *what, const char *tenant, const char *dir)
{
    struct err err;
    char id[KEYS_ID_HEX + 1], path[4096];

    err_clear(&err);
    if (strcmp(what, "new") == 0) {
        if (keys_generate_tenant(dir, tenant, id, &err) != 0)
            goto fail;
        printf("wrote %s/%s.pub and %s/%s.key (key id %s)\n", dir, tenant, dir, tenant, id);
        return EXIT_OK;
    }
    if (snprintf(path, sizeof(path), "%s/%s.pseudonym", dir, tenant) >= (int)sizeof(path)) {
        err_set(&err, "path too long");
        goto fail;
    }
    if (pseudo_key_generate(path, &err) != 0)
        goto fail;
    printf("wrote %s\n", path);
    return EXIT_OK;
fail:
    cmd_report("keys", &err);
    return EXIT_USAGE;
}

static int keys_audit(const char *dir, const char *name)
{
    struct note_verifier v;
    struct buf vkey;
    struct err err;

    err_clear(&err);
    if (note_keys_generate(dir, name ? name : NOTE_DEFAULT_NAME, &v, &err) != 0) {
        cmd_report("keys", &err);
        return EXIT_USAGE;
    }
    buf_init(&vkey, 1024);
    if (note_verifier_format(&v, &vkey) == 0)
        printf("wrote %s/audit.key (mode 0600, for the proxy) and %s/audit.pub (for auditors)\n"
               "verifier key: %s\n",
               dir, dir, vkey.data);
    buf_free(&vkey);
    return EXIT_OK;
}

int cmd_keys(int argc, char **argv)
{
    static const struct option longopts[] = {{"tenant", required_argument, NULL, 't'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"name", required_argument, NULL, 'n'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *what = argc > 1 ? argv[1] : NULL, *tenant = NULL, *dir = NULL, *name = NULL;
    int ch;

    if (what == NULL || strcmp(what, "--help") == 0 || strcmp(what, "-h") == 0) {
        fputs(keys_usage, what ? stdout : stderr);
        return what ? EXIT_OK : EXIT_USAGE;
    }
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "t:d:n:h", longopts, NULL)) != -1) {
        if (ch == 't')
            tenant = optarg;
        else if (ch == 'd')
            dir = optarg;
        else if (ch == 'n')
            name = optarg;
        else {
            fputs(keys_usage, ch == 'h' ? stdout : stderr);
            return ch == 'h' ? EXIT_OK : EXIT_USAGE;
        }
    }
    if (strcmp(what, "audit") == 0 && dir != NULL && optind == argc - 1)
        return keys_audit(dir, name);
    if (!tenant_ok(tenant) || optind != argc - 1) {
        fputs("scrim: keys: --tenant must be 1-64 of [A-Za-z0-9._-]\n", stderr);
        return EXIT_USAGE;
    }
    if (strcmp(what, "api") == 0)
        return keys_api(tenant);
    if ((strcmp(what, "new") == 0 || strcmp(what, "pseudonym") == 0) && dir != NULL)
        return keys_files(what, tenant, dir);
    fputs(keys_usage, stderr);
    return EXIT_USAGE;
}
