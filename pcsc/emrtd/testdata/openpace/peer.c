/* peer.c: the OpenPACE peer's shared parts (see peer.h): options, hex
 * lines, TLV, secure messaging. */
#include "peer.h"

/* Options after the positional arguments: "ext" (extended-length APDUs),
 * "raw" (leave OpenPACE's DH shared secret and its compressed EC keys as it
 * computes them, see shared_secret and comp), "tazero" (draw the
 * terminal's Chip Authentication key until OpenPACE's Comp of it is
 * shorter than the field), and NAME=HEX values for Chip and Terminal
 * Authentication after PACE: ca_oid (the protocol's OID content), ca_curve
 * (decimal standardized domain parameter ID), ca_pub (terminal: the chip's
 * key of DG14, an uncompressed point), ca_keyid (terminal: decimal, -1 for
 * none), ca_key (chip: its private key, PKCS #8 DER), ta_key (terminal: the
 * inspection system's private key, PKCS #8 DER), cvca, dv, is (CV
 * certificates; the chip takes only the CVCA), dg14, dg3 (chip: files). */
int opt_ext, opt_raw, opt_tazero;
const char *opt_val[16][2];

void options(int argc, char **argv, int first)
{
    size_t n = 0;
    for (int i = first; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (strcmp(argv[i], "ext") == 0)
            opt_ext = 1;
        else if (strcmp(argv[i], "raw") == 0)
            opt_raw = 1;
        else if (strcmp(argv[i], "tazero") == 0)
            opt_tazero = 1;
        else if (eq && n < 16) {
            opt_val[n][0] = argv[i];
            opt_val[n][1] = eq + 1;
            n++;
        }
    }
}

/* opt returns the value of NAME=..., or NULL. */
const char *opt(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < 16 && opt_val[i][0]; i++)
        if (strncmp(opt_val[i][0], name, l) == 0 && opt_val[i][0][l] == '=')
            return opt_val[i][1];
    return NULL;
}

/* opthex decodes the hex option NAME into a fresh buffer. */
unsigned char *opthex(const char *name, size_t *n)
{
    const char *v = opt(name);
    if (!v) die("missing option");
    unsigned char *b = malloc(strlen(v) / 2 + 1);
    int l = b ? unhex(v, b, strlen(v) / 2 + 1) : -1;
    if (l < 0) die("bad hex option");
    *n = l;
    return b;
}

void die(const char *msg)
{
    printf("ERR %s\n", msg);
    fflush(stdout);
    exit(1);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* unhex decodes s into out (at most max bytes), returns the length or -1. */
int unhex(const char *s, unsigned char *out, int max)
{
    int n = 0;
    while (s[0] && s[0] != '\n' && s[0] != '\r') {
        int h = hexval(s[0]), l = s[1] ? hexval(s[1]) : -1;
        if (h < 0 || l < 0 || n >= max)
            return -1;
        out[n++] = (unsigned char) (h << 4 | l);
        s += 2;
    }
    return n;
}

void puthex(const char *prefix, const unsigned char *b, size_t n)
{
    fputs(prefix, stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02X", b[i]);
    putchar('\n');
    fflush(stdout);
}

static char line[2 * MAXAPDU + 16];

/* readline reads one "<p> HEX" line into out; returns the length, -1 at EOF. */
int readline(char p, unsigned char *out, int max)
{
    if (!fgets(line, sizeof line, stdin))
        return -1;
    if (line[0] != p || line[1] != ' ')
        die("bad input line");
    int n = unhex(line + 2, out, max);
    if (n < 0)
        die("bad hex");
    return n;
}

/* A growable byte string. */
void put(buf *o, const void *p, size_t n)
{
    if (o->n + n > sizeof o->b)
        die("buffer overflow");
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

void put1(buf *o, unsigned char c) { put(o, &c, 1); }

/* tlv appends tag (one or two bytes), BER length and value. */
void tlv(buf *o, unsigned tag, const unsigned char *v, size_t n)
{
    if (tag > 0xFF)
        put1(o, tag >> 8);
    put1(o, tag & 0xFF);
    if (n < 0x80) {
        put1(o, n);
    } else if (n < 0x100) {
        put1(o, 0x81); put1(o, n);
    } else {
        put1(o, 0x82); put1(o, n >> 8); put1(o, n & 0xFF);
    }
    put(o, v, n);
}

/* find returns the value of the first data object with tag in b[0:n]
 * (BER-TLV, tags of one or two bytes), or NULL. */
const unsigned char *find(const unsigned char *b, size_t n, unsigned tag, size_t *vlen)
{
    size_t i = 0;
    while (i < n) {
        unsigned t = b[i++];
        if ((t & 0x1F) == 0x1F) {
            if (i >= n) return NULL;
            t = t << 8 | b[i++];
        }
        if (i >= n) return NULL;
        size_t l = b[i++];
        if (l == 0x81) {
            if (i >= n) return NULL;
            l = b[i++];
        } else if (l == 0x82) {
            if (i + 1 >= n) return NULL;
            l = (size_t) b[i] << 8 | b[i + 1];
            i += 2;
        } else if (l > 0x80) {
            return NULL;
        }
        if (l > n - i) return NULL;
        if (t == tag) {
            *vlen = l;
            return b + i;
        }
        i += l;
    }
    return NULL;
}

BUF_MEM *bm(const unsigned char *p, size_t n)
{
    BUF_MEM *m = BUF_MEM_new();
    if (!m || (n && !BUF_MEM_grow(m, n))) die("BUF_MEM");
    if (n) memcpy(m->data, p, n);
    m->length = n;
    return m;
}

/* ---- secure messaging, ICAO Doc 9303-11 §9.8 ---- */

size_t blocksize(EAC_CTX *ctx)
{
    return EVP_CIPHER_block_size(ctx->key_ctx->cipher);
}

/* smmac is MAC(KSmac, SSC || pad(m)); EAC_authenticate prepends the SSC
 * (one block) and does not pad. */
BUF_MEM *smmac(EAC_CTX *ctx, const unsigned char *m, size_t n)
{
    BUF_MEM *in = bm(m, n), *padded = EAC_add_iso_pad(ctx, in), *mac;
    if (!padded) die("pad");
    mac = EAC_authenticate(ctx, padded);
    if (!mac) die("EAC_authenticate");
    BUF_MEM_free(in);
    BUF_MEM_free(padded);
    return mac;
}

/* smencrypt returns 01 || E(KSenc, pad(d)). */
void smencrypt(EAC_CTX *ctx, const unsigned char *d, size_t n, buf *o)
{
    BUF_MEM *in = bm(d, n), *padded = EAC_add_iso_pad(ctx, in), *enc;
    if (!padded) die("pad");
    enc = EAC_encrypt(ctx, padded);
    if (!enc) die("EAC_encrypt");
    o->n = 0;
    put1(o, 0x01);
    put(o, enc->data, enc->length);
    BUF_MEM_free(in); BUF_MEM_free(padded); BUF_MEM_free(enc);
}

/* smdecrypt decrypts the value of DO'87' (01 || cryptogram) into o. */
int smdecrypt(EAC_CTX *ctx, const unsigned char *v, size_t n, buf *o)
{
    if (n < 1 || v[0] != 0x01) return 0;
    BUF_MEM *in = bm(v + 1, n - 1), *dec = EAC_decrypt(ctx, in), *plain;
    if (!dec) return 0;
    plain = EAC_remove_iso_pad(dec);
    if (!plain) return 0;
    o->n = 0;
    put(o, plain->data, plain->length);
    BUF_MEM_free(in); BUF_MEM_free(dec); BUF_MEM_free(plain);
    return 1;
}

/* shared_secret reports the length of the shared secret K OpenPACE
 * computed ("OK K n") and, for DH, left-pads it with zeros to the length of
 * p unless the peer runs with "raw". OpenPACE takes K from OpenSSL's
 * DH_compute_key, which drops leading zero bytes, so that in about one run
 * in 256 its KDF input is shorter than the other side's and PACE fails.
 * BSI TR-03110-3 (§A.2.1) takes DH key agreement from PKCS #3, whose §8.4
 * converts the agreed integer to an octet string of k octets, k the length
 * of the modulus p: puce's reader (emrtd/dh.go) and virtual chip do, and
 * the padding here makes OpenPACE do the same; openpace_test.go's
 * DH-leading-zero test shows the difference with "raw". */
void shared_secret(EAC_CTX *ctx)
{
    KA_CTX *ka = ctx->pace_ctx->ka_ctx;
    BUF_MEM *k = ka->shared_secret;
    printf("OK K %zu\n", k->length);
    fflush(stdout);
    int id = EVP_PKEY_base_id(ka->key);
    if (opt_raw || (id != EVP_PKEY_DH && id != EVP_PKEY_DHX))
        return;
    size_t size = (EVP_PKEY_get_bits(ka->key) + 7) / 8;
    if (k->length >= size)
        return;
    size_t old = k->length;
    if (!BUF_MEM_grow(k, size)) die("BUF_MEM_grow");
    memmove(k->data + size - old, k->data, old);
    memset(k->data, 0, size - old);
    k->length = size;
}

/* comp is OpenPACE's Comp(PK) of a key of the group of key (BSI
 * TR-03110-3 §A.2.2.3: SHA-1 of y for DH, the x-coordinate for ECDH),
 * reported as "OK COMP<what> HEX". For ECDH OpenPACE writes x in as few
 * bytes as it needs (BN_bn2bin), so that in one key in 256 its Comp is
 * shorter than the field; the x-coordinate of a point is a field element,
 * whose octet string has the field's length (BSI TR-03111 §3.1.3,
 * FE2OS), as puce and JMRTD write it. Unless the peer runs with "raw", the
 * x-coordinate is left-padded to that length. */
BUF_MEM *comp(EVP_PKEY *key, BUF_MEM *c, const char *what)
{
    if (!c) die("Comp");
    char prefix[32];
    snprintf(prefix, sizeof prefix, "OK COMP%s ", what);
    puthex(prefix, (unsigned char *) c->data, c->length);
    if (opt_raw || EVP_PKEY_base_id(key) != EVP_PKEY_EC)
        return c;
    size_t size = (EVP_PKEY_get_bits(key) + 7) / 8;
    if (c->length >= size)
        return c;
    size_t old = c->length;
    if (!BUF_MEM_grow(c, size)) die("BUF_MEM_grow");
    memmove(c->data + size - old, c->data, old);
    memset(c->data, 0, size - old);
    c->length = size;
    return c;
}

/* der_oid returns the NID of an OID given as its content bytes. */
int der_oid(const unsigned char *c, size_t n)
{
    unsigned char der[64];
    if (n + 2 > sizeof der) return NID_undef;
    der[0] = 0x06; der[1] = n;
    memcpy(der + 2, c, n);
    const unsigned char *p = der;
    ASN1_OBJECT *o = d2i_ASN1_OBJECT(NULL, &p, n + 2);
    int nid = o ? OBJ_obj2nid(o) : NID_undef;
    ASN1_OBJECT_free(o);
    return nid;
}

int main(int argc, char **argv)
{
    EAC_init();
    if (argc > 1 && strcmp(argv[1], "terminal") == 0)
        return terminal(argc, argv);
    if (argc > 1 && strcmp(argv[1], "chip") == 0)
        return chip(argc, argv);
    die("usage: peer terminal|chip ...");
    return 2;
}
