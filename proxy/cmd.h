/*
 * cmd: scrim's subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 a rejected payload or a
 * failed verification, 2 a usage or configuration error.
 */
#ifndef SCRIM_CMD_H
#define SCRIM_CMD_H

#define SCRIM_VERSION "0.2.0"

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"
#include "rules/conf.h"

enum { EXIT_OK = 0, EXIT_REJECT = 1, EXIT_USAGE = 2 };

int cmd_redact(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Read a whole file ("-" or NULL: stdin) into b, failing past b's max. */
int cmd_read_file(const char *path, struct buf *b, struct err *err);

/* Read and parse a config file. NULL with err. */
struct config *cmd_load_config(const char *path, struct err *err);

/* Print the message of err as "scrim: <what>: <msg>" on stderr. */
void cmd_report(const char *what, const struct err *err);

#endif
