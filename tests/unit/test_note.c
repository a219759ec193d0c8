/* note: C2SP signed notes, checkpoints and audit key files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/keyfile.h"
#include "crypto/note.h"
#include "leak.h"

/* The known answer of Go's golang.org/x/mod/sumdb/note, the reference
 * implementation of the format: key pair, text and the exact signed note. */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                                    \
    "If you think cryptography is the answer to your problem,\n"                                   \
    "then you don't know what your problem is.\n"
#define GO_SIG                                                                                     \
    "\xe2\x80\x94 PeterNeumann "                                                                   \
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=" \
    "\n"

static char dir[] = "/tmp/scrim-test-note-XXXXXX";

static int group_setup(void **state)
{
    (void)state;
    if (keyfile_crypto_init() != 0 || mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct note_signer *go_signer(void)
{
    struct err e;
    struct note_signer *s;

    err_clear(&e);
    s = note_signer_parse(GO_SKEY, strlen(GO_SKEY), &e);
    assert_non_null(s);
    return s;
}

static int verify_str(const char *note, const struct note_verifier *v, size_t nv, struct err *e)
{
    size_t tl;

    err_clear(e);
    return note_verify(note, strlen(note), v, nv, &tl, e);
}

static void test_go_known_answer(void **state)
{
    struct note_signer *s = go_signer();
    struct note_verifier v;
    struct buf b;
    struct err e;
    size_t tl;

    (void)state;
    buf_init(&b, 0);
    err_clear(&e);
    assert_int_equal(note_verifier_format(note_signer_verifier(s), &b), 0);
    assert_string_equal(b.data, GO_VKEY);
    buf_reset(&b);
    assert_int_equal(note_sign(s, GO_TEXT, strlen(GO_TEXT), &b, &e), 0);
    assert_string_equal(b.data, GO_TEXT "\n" GO_SIG);
    assert_int_equal(note_verifier_parse(GO_VKEY "\n", strlen(GO_VKEY) + 1, &v, &e), 0);
    assert_string_equal(v.name, "PeterNeumann");
    assert_int_equal(note_verify(b.data, b.len, &v, 1, &tl, &e), 0);
    assert_int_equal(tl, strlen(GO_TEXT));
    buf_free(&b);
    note_signer_free(s);
}

static void test_wrong_key_and_edits_fail(void **state)
{
    struct note_signer *s = go_signer();
    struct note_verifier v = *note_signer_verifier(s), other;
    char note[512];
    struct err e;

    (void)state;
    snprintf(note, sizeof(note), "%s\n%s", GO_TEXT, GO_SIG);
    assert_int_equal(verify_str(note, &v, 1, &e), 0);
    /* Another key of the same name: its id differs, so the line is ignored
     * and nothing trusted signed the note. */
    other = v;
    other.id[0] ^= 1;
    assert_int_equal(verify_str(note, &other, 1, &e), -1);
    assert_non_null(strstr(e.msg, "not signed by key PeterNeumann"));
    /* Same name and id, different key: the signature is checked and fails. */
    other = v;
    other.pk[0] ^= 1;
    assert_int_equal(verify_str(note, &other, 1, &e), -1);
    assert_non_null(strstr(e.msg, "does not verify"));
    note[3] = 'X'; /* "If yXu think" */
    assert_int_equal(verify_str(note, &v, 1, &e), -1);
    assert_non_null(strstr(e.msg, "does not verify"));
    note_signer_free(s);
}

static void test_unknown_signatures_are_ignored(void **state)
{
    struct note_signer *s = go_signer();
    const struct note_verifier *v = note_signer_verifier(s);
    char note[1024];
    struct err e;

    (void)state;
    /* A witness cosignature before and after scrim's own line. */
    snprintf(note, sizeof(note), "%s\n\xe2\x80\x94 witness.example AAAAAAAAAAAA\n%s", GO_TEXT,
             GO_SIG);
    assert_int_equal(verify_str(note, v, 1, &e), 0);
    snprintf(note, sizeof(note), "%s\n%s\xe2\x80\x94 witness.example AAAAAAAAAAAA\n", GO_TEXT,
             GO_SIG);
    assert_int_equal(verify_str(note, v, 1, &e), 0);
    /* Syntax-only checking accepts a note no key is given for. */
    assert_int_equal(verify_str(note, v, 0, &e), 0);
    note_signer_free(s);
}

static void test_malformed_notes(void **state)
{
    struct note_signer *s = go_signer();
    const struct note_verifier *v = note_signer_verifier(s);
    static const char *bad[] = {
        "",
        GO_TEXT,                                                  /* no signatures */
        GO_TEXT "\n",                                             /* empty signature block */
        GO_TEXT GO_SIG,                                           /* no empty line */
        GO_TEXT "\n- PeterNeumann AAAAAAAAAAAA\n",                /* hyphen, not em dash */
        GO_TEXT "\n\xe2\x80\x94 Peter+Neumann AAAAAAAAAAAA\n",    /* '+' in the name */
        GO_TEXT "\n\xe2\x80\x94 PeterNeumann AAAA*AAAAAAA\n",     /* not base64 */
        GO_TEXT "\n\xe2\x80\x94 PeterNeumann AAAAA\n",            /* not a multiple of 4 */
        GO_TEXT "\n\xe2\x80\x94  AAAAAAAAAAAA\n",                 /* empty name */
        GO_TEXT "\n\xe2\x80\x94 PeterNeumann AAAAAAAAAAAA",       /* no final newline */
        "a\tb\n\n\xe2\x80\x94 PeterNeumann AAAAAAAAAAAA\n",       /* control character */
        "a\xff\n\n\xe2\x80\x94 PeterNeumann AAAAAAAAAAAA\n",      /* not UTF-8 */
        GO_TEXT "\n\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/\n", /* short, claims the key */
    };
    struct err e;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(verify_str(bad[i], v, 1, &e), -1);
        assert_true(e.set);
        assert_null(strstr(e.msg, "cryptography")); /* never echoes the text */
    }
    note_signer_free(s);
}

static void test_signature_limit(void **state)
{
    struct note_signer *s = go_signer();
    struct buf b;
    struct err e;
    size_t tl;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_puts(&b, GO_TEXT "\n" GO_SIG), 0);
    for (int i = 0; i < NOTE_MAX_SIGS; i++)
        assert_int_equal(buf_puts(&b, "\xe2\x80\x94 w AAAAAAAAAAAA\n"), 0);
    err_clear(&e);
    assert_int_equal(note_verify(b.data, b.len, note_signer_verifier(s), 1, &tl, &e), -1);
    assert_non_null(strstr(e.msg, "more than"));
    buf_free(&b);
    note_signer_free(s);
}

static void test_sign_refuses_bad_text(void **state)
{
    struct note_signer *s = go_signer();
    static const char *bad[] = {"", "no newline", "a\n\nb\n", "\na\n", "a\rb\n", "\xc0\xaf\n"};
    struct buf b;
    struct err e;

    (void)state;
    buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(note_sign(s, bad[i], strlen(bad[i]), &b, &e), -1);
        assert_int_equal(b.len, 0);
    }
    buf_free(&b);
    note_signer_free(s);
}

static void test_checkpoint_round_trip(void **state)
{
    struct note_signer *s = go_signer();
    struct note_checkpoint c = {"scrim/acme", 42, {0}}, d;
    struct buf text, note;
    struct err e;
    size_t tl;

    (void)state;
    buf_init(&text, 0);
    buf_init(&note, 0);
    err_clear(&e);
    for (int i = 0; i < 32; i++)
        c.root[i] = (uint8_t)(i * 7);
    assert_int_equal(note_checkpoint_format(&c, &text), 0);
    assert_string_equal(text.data,
                        "scrim/acme\n42\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n");
    assert_int_equal(note_sign(s, text.data, text.len, &note, &e), 0);
    assert_int_equal(note_verify(note.data, note.len, note_signer_verifier(s), 1, &tl, &e), 0);
    assert_int_equal(tl, text.len);
    assert_int_equal(note_checkpoint_parse(note.data, tl, &d, &e), 0);
    assert_string_equal(d.origin, c.origin);
    assert_int_equal(d.size, 42);
    assert_memory_equal(d.root, c.root, 32);
    /* Extension lines are allowed and ignored. */
    assert_int_equal(buf_puts(&text, "ext\n"), 0);
    assert_int_equal(note_checkpoint_parse(text.data, text.len, &d, &e), 0);
    c.origin[5] = ' ';
    assert_int_equal(note_checkpoint_format(&c, &text), -1);
    buf_free(&text);
    buf_free(&note);
    note_signer_free(s);
}

static void test_checkpoint_malformed(void **state)
{
    static const char *bad[] = {
        "",
        "\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n",   /* empty origin */
        "o\n01\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n", /* leading zero */
        "o\n-1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n", /* sign */
        "o\n\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n",   /* no size */
        "o\n18446744073709551616\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n",
        "o\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tl=\n",    /* non-canonical */
        "o\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL\n",        /* 30 bytes */
        "o\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk\n",     /* no padding */
        "o\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n\n",  /* empty extension */
        "o\n1\nAAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\next", /* unterminated */
        "o\n1\n",
    };
    struct note_checkpoint c;
    struct err e;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(note_checkpoint_parse(bad[i], strlen(bad[i]), &c, &e), -1);
        assert_non_null(strstr(e.msg, "checkpoint: "));
    }
    err_clear(&e);
    assert_int_equal(note_checkpoint_parse("o\n18446744073709551615\n"
                                           "AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=\n",
                                           68, &c, &e),
                     0);
    assert_true(c.size == UINT64_MAX);
}

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void assert_same_key(const struct note_verifier *a, const struct note_verifier *b)
{
    assert_string_equal(a->name, b->name);
    assert_memory_equal(a->id, b->id, sizeof(a->id));
    assert_memory_equal(a->pk, b->pk, sizeof(a->pk));
}

static void test_key_files(void **state)
{
    char kp[256], pp[256],
        note_text[] = "scrim/acme\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    struct note_verifier gen, loaded;
    struct note_signer *s;
    struct buf b;
    struct err e;
    struct stat st;
    size_t tl;

    (void)state;
    buf_init(&b, 0);
    err_clear(&e);
    path(kp, sizeof(kp), "audit.key");
    path(pp, sizeof(pp), "audit.pub");
    assert_int_equal(note_keys_generate(dir, "bad name", NULL, &e), -1);
    assert_int_equal(note_keys_generate(dir, "scrim-audit", &gen, &e), 0);
    assert_int_equal(stat(kp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    err_clear(&e);
    assert_int_equal(note_keys_generate(dir, "scrim-audit", NULL, &e), -1); /* never overwrites */
    assert_int_equal(note_verifier_load(pp, &loaded, &e), 0);
    assert_same_key(&gen, &loaded);
    s = note_signer_load(kp, &e);
    assert_non_null(s);
    assert_same_key(note_signer_verifier(s), &gen);
    assert_int_equal(note_sign(s, note_text, strlen(note_text), &b, &e), 0);
    assert_int_equal(note_verify(b.data, b.len, &loaded, 1, &tl, &e), 0);
    note_signer_free(s);
    /* A secret others may read is refused. */
    assert_int_equal(chmod(kp, 0640), 0);
    err_clear(&e);
    assert_null(note_signer_load(kp, &e));
    assert_non_null(strstr(e.msg, "chmod 600"));
    buf_free(&b);
}

static void test_key_strings_malformed(void **state)
{
    static const char *vbad[] = {
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* id */
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* length */
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* alg */
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    };
    static const char *sbad[] = {
        "PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+",
        "PRIVATE+KEY+",
    };
    struct note_verifier v;
    struct err e;

    (void)state;
    for (size_t i = 0; i < sizeof(vbad) / sizeof(vbad[0]); i++) {
        err_clear(&e);
        assert_int_equal(note_verifier_parse(vbad[i], strlen(vbad[i]), &v, &e), -1);
    }
    for (size_t i = 0; i < sizeof(sbad) / sizeof(sbad[0]); i++) {
        err_clear(&e);
        assert_null(note_signer_parse(sbad[i], strlen(sbad[i]), &e));
        assert_null(strstr(e.msg, "AYEK")); /* never echoes the secret */
    }
}

static void test_frames(void **state)
{
    const char two[] = GO_TEXT "\n" GO_SIG "\n" GO_TEXT "\n" GO_SIG;
    size_t len, used, first = strlen(GO_TEXT "\n" GO_SIG);

    (void)state;
    assert_int_equal(note_frame(two, strlen(two), &len, &used), 0);
    assert_int_equal(len, first);
    assert_int_equal(used, first + 1);
    assert_int_equal(note_frame(two + used, strlen(two) - used, &len, &used), 0);
    assert_int_equal(len, first);
    assert_int_equal(note_frame(two, strlen(GO_TEXT) + 1, &len, &used), -1); /* torn */
    assert_int_equal(note_frame(two, first - 1, &len, &used), -1);           /* torn line */
    assert_int_equal(note_frame("\n\n", 2, &len, &used), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_go_known_answer),
        LEAK_TEST(test_wrong_key_and_edits_fail),
        LEAK_TEST(test_unknown_signatures_are_ignored),
        LEAK_TEST(test_malformed_notes),
        LEAK_TEST(test_signature_limit),
        LEAK_TEST(test_sign_refuses_bad_text),
        LEAK_TEST(test_checkpoint_round_trip),
        LEAK_TEST(test_checkpoint_malformed),
        LEAK_TEST(test_key_files),
        LEAK_TEST(test_key_strings_malformed),
        LEAK_TEST(test_frames),
    };
    return cmocka_run_group_tests_name("note", tests, group_setup, group_teardown);
}
