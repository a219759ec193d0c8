/*
 * note: C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures,
 * the tlog checkpoints they carry (c2sp.org/tlog-checkpoint), and the audit
 * key files. The formats are the ones Go's sumdb/note and the transparency
 * log tooling read, so a witness or verifier nobody here wrote can check
 * scrim's checkpoints (docs/audit.md).
 *
 *   signed note  <text ending in \n> \n <signature line>+
 *   signature    U+2014 SP <key name> SP base64(key id[4] || Ed25519 sig[64]) \n
 *   key id       SHA-256(key name || 0x0A || 0x01 || public key[32])[0..4)
 *   audit.pub    <key name>+<key id, 8 hex>+base64(0x01 || public key) \n
 *   audit.key    PRIVATE+KEY+<key name>+<key id>+base64(0x01 || seed[32]) \n
 *   checkpoint   <origin> \n <tree size, decimal> \n base64(root[32]) \n
 *
 * The secret key lives in sodium_malloc memory (locked, wiped on free); its
 * file must be mode 0600. Signatures are checked by libsodium. Parsing never
 * echoes note bytes in an error: messages say which line and what is wrong.
 */
#ifndef SCRIM_NOTE_H
#define SCRIM_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define NOTE_NAME_MAX     128         /* key names */
#define NOTE_ORIGIN_MAX   255         /* checkpoint origins */
#define NOTE_MAX_BYTES    (64 * 1024) /* the largest signed note read */
#define NOTE_MAX_SIGS     100         /* signature lines in one note */
#define NOTE_DEFAULT_NAME "scrim-audit"

struct note_verifier {
    char name[NOTE_NAME_MAX + 1];
    uint8_t id[4];
    uint8_t pk[32];
};

/* A signing key; the secret half is in guarded memory. */
struct note_signer;

/* 1 when s[0..n) may be a key name or an origin scrim writes: 1..max bytes
 * of printable ASCII other than space and '+'. */
int note_name_ok(const char *s, size_t n, size_t max);

/* Strict base64 (RFC 4648 section 4, padded, canonical) of s[0..n) into out
 * (at most cap bytes, cap <= 96). -1 unless every character is consumed and
 * re-encoding the result gives s back. */
int note_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len) WUR;

/* Canonical decimal (digits, no sign, no leading zero but in "0") of
 * s[0..n) that fits in 64 bits. */
int note_u64_parse(const char *s, size_t n, uint64_t *out) WUR;

/* Append base64 of p[0..n) to out (n <= 96). */
int note_b64_encode(struct buf *out, const uint8_t *p, size_t n) WUR;

/* Make an Ed25519 pair named name and write DIR/audit.key (0600) and
 * DIR/audit.pub (0644); existing files are never overwritten. out (may be
 * NULL) receives the verifier key. */
int note_keys_generate(const char *dir, const char *name, struct note_verifier *out,
                       struct err *err) WUR;

/* Parse a verifier key string (trailing newline and spaces allowed). The key
 * id must match the name and key. */
int note_verifier_parse(const char *s, size_t n, struct note_verifier *out, struct err *err) WUR;

/* Read and parse a verifier key file such as audit.pub. */
int note_verifier_load(const char *path, struct note_verifier *out, struct err *err) WUR;

/* Append the verifier key string (no newline) to out. */
int note_verifier_format(const struct note_verifier *v, struct buf *out) WUR;

/* Load a signing key file; NULL with err when it is missing, malformed, its
 * key id does not match, or group or others may read it. */
struct note_signer *note_signer_load(const char *path, struct err *err);

/* Parse a signing key string held in memory the caller wipes (tests and
 * known-answer vectors). */
struct note_signer *note_signer_parse(const char *s, size_t n, struct err *err);

/* Wipe and free. NULL is a no-op. */
void note_signer_free(struct note_signer *s);

/* The public half, for checking this signer's own notes. */
const struct note_verifier *note_signer_verifier(const struct note_signer *s);

/* Append text[0..n) and its signature line, a complete signed note, to out.
 * The text must be non-empty UTF-8 ending in a newline, without blank lines
 * or control characters other than newline. On -1 out is as before. */
int note_sign(const struct note_signer *s, const char *text, size_t n, struct buf *out,
              struct err *err) WUR;

/*
 * Check the signed note s[0..n) against the trusted keys v[0..nv): it must
 * be well-formed, every signature line whose key name and id match a trusted
 * key must verify, and at least one must. Lines from other keys are ignored
 * (witness cosignatures, rotated keys). On 0 *text_len is the length of the
 * signed text, which starts at s. With nv == 0 only the syntax is checked
 * (for tools that print a note without trusting it).
 */
int note_verify(const char *s, size_t n, const struct note_verifier *v, size_t nv, size_t *text_len,
                struct err *err) WUR;

/* The extent of the signed note at the start of s[0..n) when notes are
 * stored one after another, each followed by an empty line (the audit log's
 * checkpoints file, proofs): text lines, an empty line, signature lines, and
 * an empty line or the end of s. On 0 *note_len is the note's length and
 * *used what to skip to reach the next one. -1 when no complete note is
 * there. */
int note_frame(const char *s, size_t n, size_t *note_len, size_t *used) WUR;

struct note_checkpoint {
    char origin[NOTE_ORIGIN_MAX + 1];
    uint64_t size;
    uint8_t root[32];
};

/* Append the checkpoint's note text (three lines, no extension lines). -1
 * when the origin is not note_name_ok or out's maximum is reached. */
int note_checkpoint_format(const struct note_checkpoint *c, struct buf *out) WUR;

/* Parse checkpoint note text: origin, canonical decimal size, canonical
 * base64 root of 32 bytes, then any non-empty extension lines (ignored). */
int note_checkpoint_parse(const char *text, size_t n, struct note_checkpoint *out,
                          struct err *err) WUR;

#endif
