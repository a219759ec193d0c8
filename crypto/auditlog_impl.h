/* Internals shared by crypto/auditlog*.c; nothing else includes this. */
#ifndef SCRIM_AUDITLOG_IMPL_H
#define SCRIM_AUDITLOG_IMPL_H

#include "auditlog.h"

#include "common/arena.h"
#include "common/buf.h"

#define AUDITLOG_ENTRIES     "entries"
#define AUDITLOG_CHECKPOINTS "checkpoints"

/* A reader of newline-terminated lines of at most max bytes, with one
 * bounded buffer: the log is streamed, never loaded whole. */
struct auditlog_lines {
    int fd;
    char *buf;
    size_t cap, max, start, end;
    uint64_t off;  /* file offset just past the last complete line */
    uint64_t torn; /* at the end: bytes after the last newline */
    int eof;
};

/* Open path for reading. -1 with err (errno's text) when it cannot be. */
int auditlog_lines_open(struct auditlog_lines *l, const char *path, size_t max, struct err *err);
void auditlog_lines_close(struct auditlog_lines *l);

/* 1 with the next line (without its newline), 0 at the end of the file
 * (l->torn says how many bytes followed the last newline), -1 on a read
 * error or a line longer than max. */
int auditlog_lines_next(struct auditlog_lines *l, const char **line, size_t *len, struct err *err);

/* The next note of a checkpoints file, each followed by an empty line. 1
 * with the note (without the framing line) in note; 0 at the end, where
 * *torn counts the bytes of an incomplete last note; -1 when the file is
 * malformed before its end. */
int auditlog_notes_next(struct auditlog_lines *l, struct buf *note, uint64_t *torn,
                        struct err *err);

/* The canonical line of e (without newline) chaining to prev. -1, with b as
 * before, when a field is too long, not UTF-8, or b's maximum is hit. */
int auditlog_entry_write(struct buf *b, const struct auditlog_entry *e, const merkle_hash prev);

/* Parse an entry line into e (strings and rules in a) and its chained hash
 * into prev. -1 unless the line is exactly what auditlog_entry_write makes
 * (scratch is used to check that). */
int auditlog_entry_parse(struct arena *a, const char *line, size_t len, struct auditlog_entry *e,
                         merkle_hash prev, struct buf *scratch, struct err *err);

/* The scan behind auditlog_open (nv == 0: signatures unchecked) and
 * auditlog_verify. */
struct auditlog_scan {
    const struct note_verifier *v;
    size_t nv;
    const char *origin; /* the exact origin expected, or NULL */
    const char *suffix; /* then: "/<tenant>", the origin's required ending */
    struct auditlog_report r;
    struct merkle_frontier f; /* the tree of all complete entries */
    merkle_hash prev;         /* the last entry's leaf hash (zero for none) */
    uint64_t entries_end;     /* offset past the last complete entry line */
    uint64_t checkpoints_end; /* offset past the last complete checkpoint */
};

/* 0 when the log in logdir is consistent; -1 with s->r.bad and "sequence
 * N: ..." when it is not, or with s->r.bad 0 when it cannot be read. */
int auditlog_scan_run(const char *logdir, struct auditlog_scan *s, struct err *err);

/* "<dir>/<file>" into out. */
int auditlog_path(char *out, size_t cap, const char *dir, const char *file, struct err *err);

#endif
