/*
 * log: JSON lines on stderr.
 *
 * One line per event: {"ts":"...","level":"warn","msg":"..."}. The message
 * is formatted by the caller from config names, rule ids, counts and sizes;
 * it must never hold payload bytes (DESIGN.md invariant 4). the logger
 * escapes the message, so a slip cannot break the line format.
 */
#ifndef SCRIM_LOG_H
#define SCRIM_LOG_H

#include "err.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below level are discarded. Default LOG_INFO. */
void log_set_level(enum log_level level);

void log_debug(const char *fmt, ...) ERR_PRINTF(1, 2);
void log_info(const char *fmt, ...) ERR_PRINTF(1, 2);
void log_warn(const char *fmt, ...) ERR_PRINTF(1, 2);
void log_error(const char *fmt, ...) ERR_PRINTF(1, 2);

/* Log at error level and exit(1). Only main() and start-up code call it. */
void fatal(const char *fmt, ...) ERR_PRINTF(1, 2) __attribute__((noreturn));

#endif
