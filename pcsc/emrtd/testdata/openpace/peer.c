/*
 * peer.c: OpenPACE (libeac) as the other side of puce's PACE, for
 * pcsc/emrtd's openpace_test.go, which compiles it at test time with
 *   gcc peer.c $(pkg-config --cflags --libs libeac libcrypto)
 * It is test data, not part of the Go module's build.
 *
 * The test and the peer exchange hex lines: "> HEX" is a command APDU,
 * "< HEX" its response (data and status word). Results go to stdout as
 * "OK ..." or "ERR ...", diagnostics to stderr.
 *
 *   peer terminal mrz|can SECRET [ext] [raw]
 *     OpenPACE as the terminal: prints the commands of a PACE run (it reads
 *     EF.CardAccess first), then SELECT of the eMRTD application and READ
 *     BINARY of EF.COM and DG1 under secure messaging; reads each response
 *     from stdin. Ends with "OK FILE <sfi> HEX" for each file, "OK DONE".
 *   peer chip CARDACCESS-HEX mrz|can SECRET EFCOM-HEX [raw] [NAME=HEX...]
 *     OpenPACE as the chip: reads commands from stdin, answers them; serves
 *     EF.CardAccess in the MF, the PACE steps, and after PACE under secure
 *     messaging SELECT of the eMRTD application and EF.COM (SFI 1E); with
 *     ca_oid, ca_curve, ca_key, cvca, dg14 and dg3, Chip Authentication
 *     version 1 and Terminal Authentication, then DG3.
 *
 * The call sequence follows OpenPACE's API (eac.h, pace.h); secure
 * messaging is ICAO Doc 9303-11 §9.8 built on EAC_encrypt/EAC_authenticate.
 */
#include <eac/eac.h>
#include <eac/pace.h>
#include <eac/ca.h>
#include <eac/ta.h>
#include <eac/objects.h>
#include <openssl/objects.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXAPDU 70000

static void die(const char *msg);
static int unhex(const char *s, unsigned char *out, int max);

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
static int opt_ext, opt_raw, opt_tazero;
static const char *opt_val[16][2];

static void options(int argc, char **argv, int first)
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
static const char *opt(const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; i < 16 && opt_val[i][0]; i++)
        if (strncmp(opt_val[i][0], name, l) == 0 && opt_val[i][0][l] == '=')
            return opt_val[i][1];
    return NULL;
}

/* opthex decodes the hex option NAME into a fresh buffer. */
static unsigned char *opthex(const char *name, size_t *n)
{
    const char *v = opt(name);
    if (!v) die("missing option");
    unsigned char *b = malloc(strlen(v) / 2 + 1);
    int l = b ? unhex(v, b, strlen(v) / 2 + 1) : -1;
    if (l < 0) die("bad hex option");
    *n = l;
    return b;
}

static void die(const char *msg)
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
static int unhex(const char *s, unsigned char *out, int max)
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

static void puthex(const char *prefix, const unsigned char *b, size_t n)
{
    fputs(prefix, stdout);
    for (size_t i = 0; i < n; i++)
        printf("%02X", b[i]);
    putchar('\n');
    fflush(stdout);
}

static char line[2 * MAXAPDU + 16];

/* readline reads one "<p> HEX" line into out; returns the length, -1 at EOF. */
static int readline(char p, unsigned char *out, int max)
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
typedef struct { unsigned char b[MAXAPDU]; size_t n; } buf;

static void put(buf *o, const void *p, size_t n)
{
    if (o->n + n > sizeof o->b)
        die("buffer overflow");
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put1(buf *o, unsigned char c) { put(o, &c, 1); }

/* tlv appends tag (one or two bytes), BER length and value. */
static void tlv(buf *o, unsigned tag, const unsigned char *v, size_t n)
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
static const unsigned char *find(const unsigned char *b, size_t n, unsigned tag, size_t *vlen)
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

/* A parsed command APDU (ISO/IEC 7816-4 §5.1, short or extended). */
typedef struct {
    unsigned char cla, ins, p1, p2;
    const unsigned char *data;
    size_t lc, ne;
    int has_le, ext;
} capdu;

static int parse_apdu(const unsigned char *b, size_t n, capdu *c)
{
    memset(c, 0, sizeof *c);
    if (n < 4) return 0;
    c->cla = b[0]; c->ins = b[1]; c->p1 = b[2]; c->p2 = b[3];
    b += 4; n -= 4;
    if (n == 0) return 1;
    if (n == 1) { c->has_le = 1; c->ne = b[0] ? b[0] : 256; return 1; }
    if (b[0] != 0) { /* short with Lc */
        c->lc = b[0];
        if (n < 1 + c->lc) return 0;
        c->data = b + 1;
        if (n == 1 + c->lc) return 1;
        if (n != 2 + c->lc) return 0;
        c->has_le = 1; c->ne = b[1 + c->lc] ? b[1 + c->lc] : 256;
        return 1;
    }
    c->ext = 1;
    if (n == 3) { c->has_le = 1; c->ne = (b[1] << 8 | b[2]) ? (size_t) (b[1] << 8 | b[2]) : 65536; return 1; }
    c->lc = (size_t) b[1] << 8 | b[2];
    if (n < 3 + c->lc) return 0;
    c->data = b + 3;
    if (n == 3 + c->lc) return 1;
    if (n != 5 + c->lc) return 0;
    size_t le = (size_t) b[3 + c->lc] << 8 | b[4 + c->lc];
    c->has_le = 1; c->ne = le ? le : 65536;
    return 1;
}

/* build_apdu encodes a command; ext forces extended length. */
static void build_apdu(buf *o, unsigned char cla, unsigned char ins, unsigned char p1,
        unsigned char p2, const unsigned char *data, size_t lc, int has_le, size_t ne, int ext)
{
    o->n = 0;
    put1(o, cla); put1(o, ins); put1(o, p1); put1(o, p2);
    if (lc > 255 || ne > 256)
        ext = 1;
    if (ext && (lc || has_le)) {
        put1(o, 0);
        if (lc) { put1(o, lc >> 8); put1(o, lc & 0xFF); put(o, data, lc); }
        if (has_le) { put1(o, (ne >> 8) & 0xFF); put1(o, ne & 0xFF); }
        return;
    }
    if (lc) { put1(o, lc); put(o, data, lc); }
    if (has_le) put1(o, ne & 0xFF);
}

static BUF_MEM *bm(const unsigned char *p, size_t n)
{
    BUF_MEM *m = BUF_MEM_new();
    if (!m || (n && !BUF_MEM_grow(m, n))) die("BUF_MEM");
    if (n) memcpy(m->data, p, n);
    m->length = n;
    return m;
}

/* ---- secure messaging, ICAO Doc 9303-11 §9.8 ---- */

static size_t blocksize(EAC_CTX *ctx)
{
    return EVP_CIPHER_block_size(ctx->key_ctx->cipher);
}

/* smmac is MAC(KSmac, SSC || pad(m)); EAC_authenticate prepends the SSC
 * (one block) and does not pad. */
static BUF_MEM *smmac(EAC_CTX *ctx, const unsigned char *m, size_t n)
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
static void smencrypt(EAC_CTX *ctx, const unsigned char *d, size_t n, buf *o)
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
static int smdecrypt(EAC_CTX *ctx, const unsigned char *v, size_t n, buf *o)
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
static void shared_secret(EAC_CTX *ctx)
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
static BUF_MEM *comp(EVP_PKEY *key, BUF_MEM *c, const char *what)
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

/* ---- the terminal ---- */

static unsigned char rbuf[MAXAPDU];

/* transmit prints a command and reads its response; returns the SW, the
 * data in *data (rbuf) and *dn. */
static unsigned transmit(const buf *cmd, const unsigned char **data, size_t *dn)
{
    puthex("> ", cmd->b, cmd->n);
    int n = readline('<', rbuf, sizeof rbuf);
    if (n < 2) die("no response");
    *data = rbuf;
    *dn = n - 2;
    return rbuf[n - 2] << 8 | rbuf[n - 1];
}

/* sm_transmit sends one command under secure messaging (§9.8.4-9.8.6) and
 * returns the unprotected response data in out and its status word. */
static unsigned sm_transmit(EAC_CTX *ctx, unsigned char cla, unsigned char ins,
        unsigned char p1, unsigned char p2, const unsigned char *data, size_t lc,
        int has_le, size_t ne, int ext, buf *out)
{
    static buf body, m, cmd, tmp;
    size_t bs = blocksize(ctx);
    body.n = 0; m.n = 0;
    cla |= 0x0C;
    EAC_increment_ssc(ctx);
    /* the padded header */
    put1(&m, cla); put1(&m, ins); put1(&m, p1); put1(&m, p2);
    put1(&m, 0x80);
    while (m.n % bs) put1(&m, 0);
    if (lc) {
        smencrypt(ctx, data, lc, &tmp);
        tlv(&body, 0x87, tmp.b, tmp.n);
    }
    if (has_le) {
        unsigned char le[2] = { (ne >> 8) & 0xFF, ne & 0xFF };
        if (ne >= 256 || ext)
            tlv(&body, 0x97, le, 2);
        else
            tlv(&body, 0x97, le + 1, 1);
    }
    put(&m, body.b, body.n);
    BUF_MEM *mac = smmac(ctx, m.b, m.n);
    tlv(&body, 0x8E, (unsigned char *) mac->data, mac->length);
    BUF_MEM_free(mac);
    build_apdu(&cmd, cla, ins, p1, p2, body.b, body.n, 1, ext ? 65536 : 256, ext);

    const unsigned char *r;
    size_t rn;
    unsigned sw = transmit(&cmd, &r, &rn);
    EAC_increment_ssc(ctx);
    if (rn == 0)
        return sw; /* a plain error status: the session ends (§9.8.6.1) */
    size_t l87 = 0, l99 = 0, l8e = 0;
    const unsigned char *do87 = find(r, rn, 0x87, &l87), *do99 = find(r, rn, 0x99, &l99),
          *do8e = find(r, rn, 0x8E, &l8e);
    if (!do99 || !do8e || l99 != 2) die("response lacks DO'99' or DO'8E'");
    /* the MAC covers every data object before DO'8E' */
    size_t covered = (size_t) (do8e - r) - 2;
    BUF_MEM *want = smmac(ctx, r, covered);
    if (want->length != l8e || CRYPTO_memcmp(want->data, do8e, l8e) != 0)
        die("response MAC does not verify");
    BUF_MEM_free(want);
    out->n = 0;
    if (do87 && !smdecrypt(ctx, do87, l87, out))
        die("response cryptogram");
    return do99[0] << 8 | do99[1];
}

/* KA_CTX_derive_keys is OpenPACE's KDF (eac_lib.h, exported by libeac but
 * not in its public headers): Chip Authentication version 1 derives the
 * keys from K alone (ICAO 9303-11 §6.2, §9.7.1), where OpenPACE's
 * CA_STEP6_derive_keys also verifies version 2's token. */
int KA_CTX_derive_keys(KA_CTX *ctx, const BUF_MEM *nonce, EVP_MD_CTX *md_ctx);

/* read_file reads a file of the current application by short EF
 * identifier under secure messaging, whole (ICAO 9303-10 §3.6). */
static int read_file(EAC_CTX *ctx, unsigned char sfi, buf *file)
{
    static buf out;
    file->n = 0;
    unsigned sw = sm_transmit(ctx, 0x00, 0xB0, 0x80 | sfi, 0x00, NULL, 0, 1, 0xDF, 0, &out);
    if (sw != 0x9000 && sw != 0x6282) { printf("ERR read %02X %04X\n", sfi, sw); return 0; }
    put(file, out.b, out.n);
    size_t total = 0;
    if (file->n >= 2) {
        size_t l = file->b[1], h = 2;
        if (l == 0x81 && file->n >= 3) { l = file->b[2]; h = 3; }
        else if (l == 0x82 && file->n >= 4) { l = file->b[2] << 8 | file->b[3]; h = 4; }
        total = h + l;
    }
    while (file->n < total) {
        size_t n = total - file->n > 0xDF ? 0xDF : total - file->n;
        sw = sm_transmit(ctx, 0x00, 0xB0, file->n >> 8, file->n & 0xFF, NULL, 0, 1, n, 0, &out);
        if ((sw != 0x9000 && sw != 0x6282) || out.n == 0) { printf("ERR read %02X at %zu %04X\n", sfi, file->n, sw); return 0; }
        put(file, out.b, out.n);
    }
    printf("OK FILE %02X ", sfi);
    puthex("", file->b, file->n);
    return 1;
}

/* der_oid returns the NID of an OID given as its content bytes. */
static int der_oid(const unsigned char *c, size_t n)
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

/* eac runs Chip Authentication version 1 (ICAO 9303-11 §6.2: MSE:Set AT and
 * GENERAL AUTHENTICATE with the terminal's ephemeral key, then secure
 * messaging under keys from K) and Terminal Authentication version 1
 * (§7.1, BSI TR-03110-3 §B.11: the DV and IS certificates, GET CHALLENGE,
 * EXTERNAL AUTHENTICATE over ID_IC || r_IC || Comp(PK_PCD)) with OpenPACE's
 * CA and TA steps, then reads DG3. */
static int eac(EAC_CTX *ctx, BUF_MEM *id_ic)
{
    size_t oidn, pubn, keyn, cvcan, dvn, isn;
    unsigned char *oid = opthex("ca_oid", &oidn), *pub = opthex("ca_pub", &pubn),
                  *key = opthex("ta_key", &keyn), *cvca = opthex("cvca", &cvcan),
                  *dv = opthex("dv", &dvn), *is = opthex("is", &isn);
    int keyid = atoi(opt("ca_keyid") ? opt("ca_keyid") : "-1");
    static buf tmp, out;
    unsigned sw;

    if (!EAC_CTX_init_ca(ctx, der_oid(oid, oidn), atoi(opt("ca_curve") ? opt("ca_curve") : "13")))
        die("EAC_CTX_init_ca");
    EVP_PKEY *cakey = ctx->ca_ctx->ka_ctx->key;
    size_t field = (EVP_PKEY_get_bits(cakey) + 7) / 8;
    BUF_MEM *compPCD = NULL;
    for (int i = 0; i < 4096; i++) {
        compPCD = TA_STEP3_generate_ephemeral_key(ctx);
        if (!compPCD) die("TA_STEP3_generate_ephemeral_key");
        if (!opt_tazero || compPCD->length < field)
            break;
        BUF_MEM_free(compPCD);
        compPCD = NULL;
    }
    if (!compPCD) die("no key with a short x-coordinate");
    compPCD = comp(cakey, compPCD, "PCD");
    BUF_MEM *pkPCD = CA_STEP2_get_eph_pubkey(ctx);
    if (!pkPCD) die("CA_STEP2_get_eph_pubkey");

    /* Chip Authentication: MSE:Set AT 41 A4 { 80 protocol, 84 key ID },
     * GENERAL AUTHENTICATE 7C { 80 PK_PCD } */
    tmp.n = 0;
    tlv(&tmp, 0x80, oid, oidn);
    if (keyid >= 0) {
        unsigned char k = keyid;
        tlv(&tmp, 0x84, &k, 1);
    }
    if ((sw = sm_transmit(ctx, 0x00, 0x22, 0x41, 0xA4, tmp.b, tmp.n, 0, 0, 0, &out)) != 0x9000) {
        printf("ERR CA MSE:Set AT %04X\n", sw);
        return 1;
    }
    static buf inner, ga;
    inner.n = 0; ga.n = 0;
    tlv(&inner, 0x80, (unsigned char *) pkPCD->data, pkPCD->length);
    tlv(&ga, 0x7C, inner.b, inner.n);
    if ((sw = sm_transmit(ctx, 0x00, 0x86, 0x00, 0x00, ga.b, ga.n, 1, 256, 0, &out)) != 0x9000) {
        printf("ERR CA GENERAL AUTHENTICATE %04X\n", sw);
        return 1;
    }
    BUF_MEM *chip = bm(pub, pubn);
    if (!CA_STEP4_compute_shared_secret(ctx, chip)) die("CA_STEP4_compute_shared_secret");
    if (!KA_CTX_derive_keys(ctx->ca_ctx->ka_ctx, NULL, ctx->md_ctx)) die("KA_CTX_derive_keys");
    if (!EAC_CTX_set_encryption_ctx(ctx, EAC_ID_CA)) die("EAC_CTX_set_encryption_ctx CA");
    static buf file;
    if (!read_file(ctx, 0x1E, &file))
        return 1;
    puts("OK CA");

    /* Terminal Authentication: OpenPACE checks the chain first. The
     * private key comes after the chain: with one set, OpenPACE derives
     * each certificate's public key from a copy of it and OpenSSL's key
     * check then finds the pair inconsistent (cv_cert.c, 2022 snapshot). */
    if (!EAC_CTX_init_ta(ctx, NULL, 0, cvca, cvcan)) die("EAC_CTX_init_ta");
    if (!TA_STEP2_import_certificate(ctx, dv, dvn)) { puts("ERR OpenPACE refuses the DV certificate"); return 1; }
    if (!TA_STEP2_import_certificate(ctx, is, isn)) { puts("ERR OpenPACE refuses the IS certificate"); return 1; }
    const unsigned char *kp = key;
    if (!(ctx->ta_ctx->priv_key = d2i_AutoPrivateKey(NULL, &kp, keyn))) die("terminal key");
    puts("OK CVC");
    const unsigned char *certs[2] = { dv, is };
    size_t certn[2] = { dvn, isn };
    const unsigned char *chr = NULL;
    size_t chrn = 0;
    for (int i = 0; i < 2; i++) {
        size_t vn, bn, rn;
        const unsigned char *v = find(certs[i], certn[i], 0x7F21, &vn), *body, *car;
        if (!v || !(body = find(v, vn, 0x7F4E, &bn)) || !(car = find(body, bn, 0x42, &rn))) die("CV certificate");
        chr = find(body, bn, 0x5F20, &chrn);
        tmp.n = 0;
        tlv(&tmp, 0x83, car, rn);
        if ((sw = sm_transmit(ctx, 0x00, 0x22, 0x81, 0xB6, tmp.b, tmp.n, 0, 0, 0, &out)) != 0x9000) {
            printf("ERR TA MSE:Set DST %04X\n", sw);
            return 1;
        }
        /* PSO:Verify Certificate: the body and the signature, without the
         * 7F21 wrapper (TR-03110-3 §B.11.5) */
        if ((sw = sm_transmit(ctx, 0x00, 0x2A, 0x00, 0xBE, v, vn, 0, 0, 0, &out)) != 0x9000) {
            printf("ERR TA PSO:Verify Certificate %04X\n", sw);
            return 1;
        }
    }
    if (!chr) die("IS certificate without CHR");
    tmp.n = 0;
    tlv(&tmp, 0x83, chr, chrn);
    if ((sw = sm_transmit(ctx, 0x00, 0x22, 0x81, 0xA4, tmp.b, tmp.n, 0, 0, 0, &out)) != 0x9000) {
        printf("ERR TA MSE:Set AT %04X\n", sw);
        return 1;
    }
    if ((sw = sm_transmit(ctx, 0x00, 0x84, 0x00, 0x00, NULL, 0, 1, 8, 0, &out)) != 0x9000 || out.n != 8) {
        printf("ERR TA GET CHALLENGE %04X\n", sw);
        return 1;
    }
    BUF_MEM *r = bm(out.b, out.n);
    if (!TA_STEP4_set_nonce(ctx, r)) die("TA_STEP4_set_nonce");
    BUF_MEM *sig = TA_STEP5_sign(ctx, compPCD, id_ic, NULL);
    if (!sig) die("TA_STEP5_sign");
    if ((sw = sm_transmit(ctx, 0x00, 0x82, 0x00, 0x00, (unsigned char *) sig->data, sig->length, 0, 0, 0, &out)) != 0x9000) {
        printf("ERR TA EXTERNAL AUTHENTICATE %04X\n", sw);
        return 1;
    }
    puts("OK TA");
    if (!read_file(ctx, 0x03, &file))
        return 1;
    fflush(stdout);
    free(oid); free(pub); free(key); free(cvca); free(dv); free(is);
    return 0;
}

static int terminal(int argc, char **argv)
{
    if (argc < 4) die("usage");
    enum s_type type = strcmp(argv[2], "mrz") == 0 ? PACE_MRZ : PACE_CAN;
    options(argc, argv, 4);
    int ext = opt_ext;
    static buf cmd, ga, tmp;
    const unsigned char *r, *v;
    size_t rn, vn;
    unsigned sw;

    /* EF.CardAccess by its short EF identifier 1C (ICAO 9303-11 §4.2) */
    build_apdu(&cmd, 0x00, 0xB0, 0x9C, 0x00, NULL, 0, 1, ext ? 65536 : 256, ext);
    if ((sw = transmit(&cmd, &r, &rn)) != 0x9000 && sw != 0x6282) die("read EF.CardAccess");
    EAC_CTX *ctx = EAC_CTX_new();
    if (!ctx || !EAC_CTX_init_ef_cardaccess(r, rn, ctx) || !ctx->pace_ctx)
        die("EAC_CTX_init_ef_cardaccess");
    PACE_SEC *pi = PACE_SEC_new(argv[3], strlen(argv[3]), type);
    if (!pi) die("PACE_SEC_new");

    /* MSE:Set AT (§4.4.4.1): 80 protocol OID, 83 password, 84 parameter ID */
    unsigned char oid[64];
    const ASN1_OBJECT *obj = OBJ_nid2obj(ctx->pace_ctx->protocol);
    unsigned char *der = NULL;
    int dn = obj ? i2d_ASN1_OBJECT(obj, &der) : -1;
    if (dn < 2 || dn - 2 > (int) sizeof oid) die("protocol OID");
    memcpy(oid, der + 2, dn - 2);
    OPENSSL_free(der);
    tmp.n = 0;
    tlv(&tmp, 0x80, oid, dn - 2);
    unsigned char ref = type == PACE_MRZ ? 1 : 2;
    tlv(&tmp, 0x83, &ref, 1);
    unsigned char id = ctx->pace_ctx->id;
    tlv(&tmp, 0x84, &id, 1);
    build_apdu(&cmd, 0x00, 0x22, 0xC1, 0xA4, tmp.b, tmp.n, 0, 0, 0);
    if ((sw = transmit(&cmd, &r, &rn)) != 0x9000) die("MSE:Set AT refused");

    /* GENERAL AUTHENTICATE 1: the encrypted nonce (§4.4.3.1) */
    ga.n = 0;
    tlv(&ga, 0x7C, NULL, 0);
    build_apdu(&cmd, 0x10, 0x86, 0x00, 0x00, ga.b, ga.n, 1, ext ? 65536 : 256, ext);
    if ((sw = transmit(&cmd, &r, &rn)) != 0x9000) die("GA nonce refused");
    if (!(v = find(r, rn, 0x7C, &vn)) || !(v = find(v, vn, 0x80, &vn))) die("GA nonce answer");
    BUF_MEM *z = bm(v, vn);
    if (!PACE_STEP2_dec_nonce(ctx, pi, z)) die("PACE_STEP2_dec_nonce");

    /* 2: mapping data (§4.4.3.3.1) */
    BUF_MEM *map = PACE_STEP3A_generate_mapping_data(ctx);
    if (!map) die("PACE_STEP3A_generate_mapping_data");
    tmp.n = 0;
    tlv(&tmp, 0x81, (unsigned char *) map->data, map->length);
    ga.n = 0;
    tlv(&ga, 0x7C, tmp.b, tmp.n);
    build_apdu(&cmd, 0x10, 0x86, 0x00, 0x00, ga.b, ga.n, 1, ext ? 65536 : 256, ext);
    if ((sw = transmit(&cmd, &r, &rn)) != 0x9000) die("GA mapping refused");
    if (!(v = find(r, rn, 0x7C, &vn)) || !(v = find(v, vn, 0x82, &vn))) die("GA mapping answer");
    BUF_MEM *mapIC = bm(v, vn);
    if (!PACE_STEP3A_map_generator(ctx, mapIC)) die("PACE_STEP3A_map_generator");

    /* 3: key agreement (§4.4.3.3.2) */
    BUF_MEM *pkPCD = PACE_STEP3B_generate_ephemeral_key(ctx);
    if (!pkPCD) die("PACE_STEP3B_generate_ephemeral_key");
    tmp.n = 0;
    tlv(&tmp, 0x83, (unsigned char *) pkPCD->data, pkPCD->length);
    ga.n = 0;
    tlv(&ga, 0x7C, tmp.b, tmp.n);
    build_apdu(&cmd, 0x10, 0x86, 0x00, 0x00, ga.b, ga.n, 1, ext ? 65536 : 256, ext);
    if ((sw = transmit(&cmd, &r, &rn)) != 0x9000) die("GA key agreement refused");
    if (!(v = find(r, rn, 0x7C, &vn)) || !(v = find(v, vn, 0x84, &vn))) die("GA key agreement answer");
    BUF_MEM *pkIC = bm(v, vn);
    if (!PACE_STEP3B_compute_shared_secret(ctx, pkIC)) die("PACE_STEP3B_compute_shared_secret");
    shared_secret(ctx);
    if (!PACE_STEP3C_derive_keys(ctx)) die("PACE_STEP3C_derive_keys");

    /* 4: mutual authentication (§4.4.3.4) */
    BUF_MEM *tPCD = PACE_STEP3D_compute_authentication_token(ctx, pkIC);
    if (!tPCD) die("PACE_STEP3D_compute_authentication_token");
    tmp.n = 0;
    tlv(&tmp, 0x85, (unsigned char *) tPCD->data, tPCD->length);
    ga.n = 0;
    tlv(&ga, 0x7C, tmp.b, tmp.n);
    build_apdu(&cmd, 0x00, 0x86, 0x00, 0x00, ga.b, ga.n, 1, 256, 0);
    sw = transmit(&cmd, &r, &rn);
    if (sw != 0x9000) {
        printf("ERR token refused %04X\n", sw);
        return 1;
    }
    if (!(v = find(r, rn, 0x7C, &vn)) || !(v = find(v, vn, 0x86, &vn))) die("GA token answer");
    BUF_MEM *tIC = bm(v, vn);
    if (PACE_STEP3D_verify_authentication_token(ctx, tIC) != 1) die("chip's token does not verify");
    /* ID_IC for Terminal Authentication (ICAO 9303-11 §7.1) */
    BUF_MEM *id_ic = comp(ctx->pace_ctx->ka_ctx->key, EAC_Comp(ctx, EAC_ID_PACE, pkIC), "IDIC");
    puts("OK PACE");
    fflush(stdout);

    /* secure messaging: SELECT the eMRTD application, then read files */
    if (!EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE)) die("EAC_CTX_set_encryption_ctx");
    static const unsigned char aid[] = { 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01 };
    static buf out, file;
    if ((sw = sm_transmit(ctx, 0x00, 0xA4, 0x04, 0x0C, aid, sizeof aid, 0, 0, 0, &out)) != 0x9000) {
        printf("ERR select %04X\n", sw);
        return 1;
    }
    if (!read_file(ctx, 0x1E, &file) || !read_file(ctx, 0x01, &file))
        return 1;
    if (opt("ca_oid") && eac(ctx, id_ic) != 0)
        return 1;
    puts("OK DONE");
    fflush(stdout);
    return 0;
}

/* ---- the chip ---- */

static unsigned char cbuf[MAXAPDU];

static void respond(const unsigned char *d, size_t n, unsigned sw)
{
    static buf o;
    o.n = 0;
    put(&o, d, n);
    put1(&o, sw >> 8);
    put1(&o, sw & 0xFF);
    puthex("< ", o.b, o.n);
}

/* ga_answer answers 7C { tag value } 9000. */
static void ga_answer(unsigned tag, const BUF_MEM *m)
{
    static buf in, out;
    in.n = 0; out.n = 0;
    tlv(&in, tag, (unsigned char *) m->data, m->length);
    tlv(&out, 0x7C, in.b, in.n);
    respond(out.b, out.n, 0x9000);
}

/* sm_respond protects a response (§9.8.5): DO'87' when there is data,
 * DO'99', DO'8E'. */
static void sm_respond(EAC_CTX *ctx, const unsigned char *d, size_t n, unsigned sw)
{
    static buf o, tmp;
    o.n = 0;
    EAC_increment_ssc(ctx);
    if (n) {
        smencrypt(ctx, d, n, &tmp);
        tlv(&o, 0x87, tmp.b, tmp.n);
    }
    unsigned char s[2] = { sw >> 8, sw & 0xFF };
    tlv(&o, 0x99, s, 2);
    BUF_MEM *mac = smmac(ctx, o.b, o.n);
    tlv(&o, 0x8E, (unsigned char *) mac->data, mac->length);
    BUF_MEM_free(mac);
    respond(o.b, o.n, 0x9000);
}

static int chip(int argc, char **argv)
{
    if (argc < 6) die("usage");
    options(argc, argv, 6);
    static unsigned char ca[4096], efcom[4096];
    int can = unhex(argv[2], ca, sizeof ca), comn = unhex(argv[5], efcom, sizeof efcom);
    if (can < 0 || comn < 0) die("bad hex argument");
    enum s_type type = strcmp(argv[3], "mrz") == 0 ? PACE_MRZ : PACE_CAN;
    EAC_CTX *ctx = EAC_CTX_new();
    if (!ctx || !EAC_CTX_init_ef_cardaccess(ca, can, ctx) || !ctx->pace_ctx)
        die("EAC_CTX_init_ef_cardaccess");
    PACE_SEC *pi = PACE_SEC_new(argv[4], strlen(argv[4]), type);
    if (!pi) die("PACE_SEC_new");
    int step = -1, sm = 0, lds1 = 0, smcmds = 0;
    BUF_MEM *pkPCD = NULL;

    /* the files of the application: EF.COM, and DG14 and DG3 (which needs
     * Terminal Authentication) when given */
    struct file { unsigned char sfi; unsigned char *b; size_t n; int needs_ta; } files[3], *cur = NULL;
    int nfiles = 0;
    files[nfiles++] = (struct file) { 0x1E, efcom, (size_t) comn, 0 };
    if (opt("dg14")) { files[nfiles] = (struct file) { 0x0E, NULL, 0, 0 }; files[nfiles].b = opthex("dg14", &files[nfiles].n); nfiles++; }
    if (opt("dg3")) { files[nfiles] = (struct file) { 0x03, NULL, 0, 1 }; files[nfiles].b = opthex("dg3", &files[nfiles].n); nfiles++; }

    /* Chip Authentication: the protocol and curve of DG14, the private key
     * (PKCS #8); Terminal Authentication: the CVCA */
    unsigned char *caoid = NULL;
    size_t caoidn = 0;
    int ca_pending = 0, ca_done = 0, ta_ok = 0;
    BUF_MEM *compPCD = NULL;
    if (opt("ca_oid")) {
        size_t keyn, cvcan;
        caoid = opthex("ca_oid", &caoidn);
        unsigned char *key = opthex("ca_key", &keyn), *cvca = opthex("cvca", &cvcan);
        if (!EAC_CTX_init_ca(ctx, der_oid(caoid, caoidn), atoi(opt("ca_curve") ? opt("ca_curve") : "13")) ||
                !CA_set_key(ctx, key, keyn, NULL, 0))
            die("EAC_CTX_init_ca");
        if (!EAC_CTX_init_ta(ctx, NULL, 0, cvca, cvcan)) die("EAC_CTX_init_ta");
    }
    static buf plain;
    capdu c;
    int n;
    while ((n = readline('>', cbuf, sizeof cbuf)) >= 0) {
        if (!parse_apdu(cbuf, n, &c)) { respond(NULL, 0, 0x6700); continue; }
        if (sm) {
            /* ICAO 9303-11 §9.8: every command under secure messaging */
            if ((c.cla & 0x0C) != 0x0C) {
                fprintf(stderr, "plain command under SM: %02X %02X\n", c.cla, c.ins);
                sm = 0;
                respond(NULL, 0, 0x6987);
                continue;
            }
            size_t l87 = 0, l97 = 0, l8e = 0;
            const unsigned char *do87 = find(c.data, c.lc, 0x87, &l87),
                  *do97 = find(c.data, c.lc, 0x97, &l97), *do8e = find(c.data, c.lc, 0x8E, &l8e);
            static buf m;
            size_t bs = blocksize(ctx);
            m.n = 0;
            put1(&m, c.cla); put1(&m, c.ins); put1(&m, c.p1); put1(&m, c.p2); put1(&m, 0x80);
            while (m.n % bs) put1(&m, 0);
            if (!do8e) { respond(NULL, 0, 0x6987); sm = 0; continue; }
            put(&m, c.data, (size_t) (do8e - c.data) - 2);
            EAC_increment_ssc(ctx);
            BUF_MEM *want = smmac(ctx, m.b, m.n);
            if (want->length != l8e || CRYPTO_memcmp(want->data, do8e, l8e) != 0) {
                fprintf(stderr, "command MAC does not verify: %02X %02X\n", c.cla, c.ins);
                printf("ERR command MAC\n");
                respond(NULL, 0, 0x6988);
                sm = 0;
                continue;
            }
            BUF_MEM_free(want);
            plain.n = 0;
            if (do87 && !smdecrypt(ctx, do87, l87, &plain)) { respond(NULL, 0, 0x6988); sm = 0; continue; }
            size_t ne = 0;
            if (do97) {
                for (size_t i = 0; i < l97; i++) ne = ne << 8 | do97[i];
                if (ne == 0) ne = l97 == 1 ? 256 : 65536;
            }
            smcmds++;
            fprintf(stderr, "SM command %02X %02X %02X %02X verified\n", c.cla, c.ins, c.p1, c.p2);
            if (c.ins == 0xA4 && c.p1 == 0x04) {
                static const unsigned char aid[] = { 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01 };
                lds1 = plain.n == sizeof aid && memcmp(plain.b, aid, sizeof aid) == 0;
                sm_respond(ctx, NULL, 0, lds1 ? 0x9000 : 0x6A82);
            } else if (c.ins == 0xB0 && lds1) {
                /* READ BINARY: by short EF identifier, which makes the
                 * file current, or at an offset of the current file */
                size_t off = 0;
                if (c.p1 & 0x80) {
                    cur = NULL;
                    for (int i = 0; i < nfiles; i++)
                        if (files[i].sfi == (c.p1 & 0x1F))
                            cur = &files[i];
                    off = c.p2;
                } else {
                    off = (size_t) c.p1 << 8 | c.p2;
                }
                if (!cur) { sm_respond(ctx, NULL, 0, 0x6A82); continue; }
                if (cur->needs_ta && !ta_ok) { sm_respond(ctx, NULL, 0, 0x6982); continue; }
                if (off > cur->n) { sm_respond(ctx, NULL, 0, 0x6B00); continue; }
                size_t k = cur->n - off < ne ? cur->n - off : ne;
                sm_respond(ctx, cur->b + off, k, k < ne ? 0x6282 : 0x9000);
            } else if (c.ins == 0x22 && c.p1 == 0x41 && c.p2 == 0xA4 && caoid) {
                /* Chip Authentication, MSE:Set AT (ICAO 9303-11 §6.2.4.2) */
                size_t l80 = 0;
                const unsigned char *o = find(plain.b, plain.n, 0x80, &l80);
                ca_pending = o && l80 == caoidn && memcmp(o, caoid, l80) == 0 && !ca_done;
                sm_respond(ctx, NULL, 0, ca_pending ? 0x9000 : 0x6A88);
            } else if (c.ins == 0x86 && ca_pending) {
                /* GENERAL AUTHENTICATE 7C { 80 PK_PCD }: K, keys without a
                 * nonce (version 1), answered under the PACE keys; the
                 * next command runs under the new ones with SSC 0 */
                size_t vn = 0;
                const unsigned char *v = find(plain.b, plain.n, 0x7C, &vn);
                ca_pending = 0;
                if (!v || !(v = find(v, vn, 0x80, &vn))) { sm_respond(ctx, NULL, 0, 0x6A80); continue; }
                BUF_MEM *pk = bm(v, vn);
                if (!CA_STEP4_compute_shared_secret(ctx, pk) ||
                        !KA_CTX_derive_keys(ctx->ca_ctx->ka_ctx, NULL, ctx->md_ctx)) {
                    sm_respond(ctx, NULL, 0, 0x6A80);
                    continue;
                }
                compPCD = comp(ctx->ca_ctx->ka_ctx->key, EAC_Comp(ctx, EAC_ID_CA, pk), "PCD");
                static const unsigned char empty[] = { 0x7C, 0x00 };
                sm_respond(ctx, empty, sizeof empty, 0x9000);
                if (!EAC_CTX_set_encryption_ctx(ctx, EAC_ID_CA)) die("EAC_CTX_set_encryption_ctx CA");
                ca_done = 1;
                puts("OK CA");
            } else if (c.ins == 0x22 && c.p1 == 0x81 && (c.p2 == 0xB6 || c.p2 == 0xA4) && ca_done) {
                /* Terminal Authentication, MSE:Set DST and MSE:Set AT */
                sm_respond(ctx, NULL, 0, 0x9000);
            } else if (c.ins == 0x2A && c.p1 == 0x00 && c.p2 == 0xBE && ca_done) {
                /* PSO:Verify Certificate: body and signature, which
                 * OpenPACE takes wrapped in 7F21 */
                static buf cert;
                cert.n = 0;
                tlv(&cert, 0x7F21, plain.b, plain.n);
                int ok = TA_STEP2_import_certificate(ctx, cert.b, cert.n);
                if (!ok)
                    puts("ERR OpenPACE refuses a certificate");
                sm_respond(ctx, NULL, 0, ok ? 0x9000 : 0x6300);
            } else if (c.ins == 0x84 && ca_done) {
                BUF_MEM *r = TA_STEP4_get_nonce(ctx);
                if (!r) die("TA_STEP4_get_nonce");
                sm_respond(ctx, (unsigned char *) r->data, r->length, 0x9000);
            } else if (c.ins == 0x82 && ca_done && compPCD) {
                /* EXTERNAL AUTHENTICATE: the signature over ID_IC || r_IC
                 * || Comp(PK_PCD), ID_IC the chip's PACE key compressed */
                BUF_MEM *sig = bm(plain.b, plain.n);
                BUF_MEM *idic = comp(ctx->pace_ctx->ka_ctx->key,
                        EAC_Comp(ctx, EAC_ID_PACE, ctx->pace_ctx->my_eph_pubkey), "IDIC");
                ta_ok = TA_STEP6_verify(ctx, compPCD, idic, NULL, sig) == 1;
                puts(ta_ok ? "OK TA" : "ERR terminal's signature does not verify");
                sm_respond(ctx, NULL, 0, ta_ok ? 0x9000 : 0x6300);
            } else {
                sm_respond(ctx, NULL, 0, 0x6D00);
            }
            continue;
        }
        if (c.ins == 0xB0 && c.p1 == 0x9C) { /* EF.CardAccess, SFI 1C */
            size_t k = (size_t) can < c.ne ? (size_t) can : c.ne;
            respond(ca, k, k < c.ne ? 0x6282 : 0x9000);
        } else if (c.ins == 0x22 && c.p1 == 0xC1 && c.p2 == 0xA4) {
            /* MSE:Set AT: the protocol must be the one EF.CardAccess gave
             * OpenPACE, the password the one it was started with */
            size_t l80 = 0, l83 = 0;
            const unsigned char *o = find(c.data, c.lc, 0x80, &l80), *ref = find(c.data, c.lc, 0x83, &l83);
            unsigned char *der = NULL;
            int dn = i2d_ASN1_OBJECT(OBJ_nid2obj(ctx->pace_ctx->protocol), &der);
            int ok = o && ref && l83 == 1 && dn > 2 && (size_t) (dn - 2) == l80 && memcmp(der + 2, o, l80) == 0 &&
                ref[0] == (type == PACE_MRZ ? 1 : 2);
            OPENSSL_free(der);
            step = ok ? 0 : -1;
            respond(NULL, 0, ok ? 0x9000 : 0x6A80);
        } else if (c.ins == 0x86 && step >= 0) {
            size_t vn = 0;
            const unsigned char *v = find(c.data, c.lc, 0x7C, &vn);
            if (!v) { respond(NULL, 0, 0x6A80); step = -1; continue; }
            switch (step) {
            case 0: {
                BUF_MEM *z = PACE_STEP1_enc_nonce(ctx, pi);
                if (!z) die("PACE_STEP1_enc_nonce");
                ga_answer(0x80, z);
                break;
            }
            case 1: {
                if (!(v = find(v, vn, 0x81, &vn))) { respond(NULL, 0, 0x6A80); step = -1; continue; }
                BUF_MEM *map = PACE_STEP3A_generate_mapping_data(ctx);
                if (!map || !PACE_STEP3A_map_generator(ctx, bm(v, vn))) { respond(NULL, 0, 0x6A80); step = -1; continue; }
                ga_answer(0x82, map);
                break;
            }
            case 2: {
                if (!(v = find(v, vn, 0x83, &vn))) { respond(NULL, 0, 0x6A80); step = -1; continue; }
                pkPCD = bm(v, vn);
                BUF_MEM *pk = PACE_STEP3B_generate_ephemeral_key(ctx);
                if (!pk || !PACE_STEP3B_compute_shared_secret(ctx, pkPCD)) {
                    respond(NULL, 0, 0x6A80); step = -1; continue;
                }
                shared_secret(ctx);
                if (!PACE_STEP3C_derive_keys(ctx)) die("PACE_STEP3C_derive_keys");
                ga_answer(0x84, pk);
                break;
            }
            case 3: {
                if (!(v = find(v, vn, 0x85, &vn))) { respond(NULL, 0, 0x6A80); step = -1; continue; }
                if (PACE_STEP3D_verify_authentication_token(ctx, bm(v, vn)) != 1) {
                    printf("ERR terminal's token does not verify\n");
                    respond(NULL, 0, 0x6300);
                    step = -1;
                    continue;
                }
                BUF_MEM *t = PACE_STEP3D_compute_authentication_token(ctx, pkPCD);
                if (!t || !EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE)) die("token");
                ga_answer(0x86, t);
                sm = 1;
                printf("OK PACE\n");
                break;
            }
            }
            step++;
        } else {
            respond(NULL, 0, 0x6982);
        }
    }
    printf("OK SM %d\n", smcmds);
    fflush(stdout);
    return 0;
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
