/*
 * engine_fixture: what the engine's format tests (test_engine, test_rrweb,
 * test_posthog, test_sentry) set up once per group: a config parsed from
 * the test's YAML and a fixed pseudonym key.
 */
#ifndef SCRIM_TEST_ENGINE_FIXTURE_H
#define SCRIM_TEST_ENGINE_FIXTURE_H

#include <stddef.h>

#include "common/err.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"

/* 0, or -1 with the config error printed to stderr. */
int engine_fixture_open(const char *yaml, size_t n, struct config **conf, struct pseudo_key **key,
                        struct err *err);
void engine_fixture_close(struct config *conf, struct pseudo_key *key);

/* tests/cli/payloads/<name> (up to 1 MiB), found from this file's path;
 * fails the test when it cannot be read. xfree() the result. */
char *engine_fixture_read(const char *name, size_t *len);

#endif
