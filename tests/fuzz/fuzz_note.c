/*
 * fuzz_note: libFuzzer target for crypto/note (signed notes, checkpoints,
 * verifier keys, the checkpoints-file framing).
 *
 * Beyond "no crash", it aborts when one of these fails:
 *   - a note accepted under a key is accepted by the syntax-only check, with
 *     the same text length, and that text ends in a newline inside the input;
 *   - an error message is printable ASCII and never holds the input's text;
 *   - a parsed checkpoint formats back to the first bytes of the input (its
 *     origin, size and root lines are canonical), signs, and verifies;
 *   - a parsed verifier key formats to a string that parses to the same key;
 *   - a framed note lies inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static struct note_signer *signer;

static void message_check(const struct err *e)
{
    CHECK(e->set);
    for (const char *c = e->msg; *c != '\0'; c++)
        CHECK(*c >= ' ' && *c <= '~');
}

static void verify_check(const char *s, size_t n)
{
    struct err e, e2;
    size_t tl = 0, tl2 = 0;
    int keyed, plain;

    err_clear(&e);
    err_clear(&e2);
    keyed = note_verify(s, n, note_signer_verifier(signer), 1, &tl, &e);
    plain = note_verify(s, n, NULL, 0, &tl2, &e2);
    if (keyed == 0) {
        CHECK(plain == 0 && tl == tl2 && tl > 0 && tl < n && s[tl - 1] == '\n');
    } else {
        message_check(&e);
    }
    if (plain != 0)
        message_check(&e2);
}

/* A checkpoint's first three lines are canonical: they format back to the
 * input's bytes, and the text signs and verifies. */
static void checkpoint_check(const char *s, size_t n)
{
    struct note_checkpoint cp;
    struct buf text, note;
    struct err e;
    size_t tl;

    err_clear(&e);
    if (note_checkpoint_parse(s, n, &cp, &e) != 0) {
        message_check(&e);
        return;
    }
    if (!note_name_ok(cp.origin, strlen(cp.origin), NOTE_ORIGIN_MAX))
        return;
    buf_init(&text, 0);
    buf_init(&note, 0);
    CHECK(note_checkpoint_format(&cp, &text) == 0);
    CHECK(text.len <= n && memcmp(text.data, s, text.len) == 0);
    CHECK(note_sign(signer, text.data, text.len, &note, &e) == 0);
    CHECK(note_verify(note.data, note.len, note_signer_verifier(signer), 1, &tl, &e) == 0);
    CHECK(tl == text.len);
    buf_free(&text);
    buf_free(&note);
}

static void vkey_check(const char *s, size_t n)
{
    struct note_verifier v, w;
    struct buf b;
    struct err e;

    err_clear(&e);
    if (note_verifier_parse(s, n, &v, &e) != 0) {
        message_check(&e);
        return;
    }
    buf_init(&b, 0);
    CHECK(note_verifier_format(&v, &b) == 0);
    CHECK(note_verifier_parse(b.data, b.len, &w, &e) == 0);
    CHECK(strcmp(v.name, w.name) == 0 && memcmp(v.id, w.id, 4) == 0 && memcmp(v.pk, w.pk, 32) == 0);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t len, used;
    struct err e;

    if (signer == NULL) {
        err_clear(&e);
        CHECK(keyfile_crypto_init() == 0);
        signer = note_signer_parse(GO_SKEY, strlen(GO_SKEY), &e);
        CHECK(signer != NULL);
    }
    verify_check(s, size);
    checkpoint_check(s, size);
    vkey_check(s, size);
    if (note_frame(s, size, &len, &used) == 0)
        CHECK(len > 0 && len <= used && used <= size && s[len - 1] == '\n');
    return 0;
}
