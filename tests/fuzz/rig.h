/*
 * rig: what the engine-driving fuzz targets (engine, rrweb, posthog,
 * sentry) set up once: their config, a fixed pseudonym key and the
 * scanner of policy "p". Any failure aborts: a target without its rig
 * would fuzz nothing.
 */
#ifndef SCRIM_FUZZ_RIG_H
#define SCRIM_FUZZ_RIG_H

#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"
#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/pii.h"

static void rig_open(const char *yaml, size_t n, struct config **conf, struct pseudo_key **key,
                     struct pii_scanner **scanner)
{
    struct err err;
    uint8_t k[PSEUDO_KEY_BYTES] = {9};

    if (keyfile_crypto_init() != 0)
        abort();
    err_clear(&err);
    *conf = conf_parse("fuzz.yaml", yaml, n, &err);
    if (*conf == NULL)
        abort();
    *key = pseudo_key_from_bytes(k);
    *scanner = pii_scanner_new(conf_policy_by_name(*conf, "p")->pii, NULL);
}

#endif
