/*
 * peer.h: OpenPACE (libeac) as the other side of puce's PACE, Chip and
 * Terminal Authentication, for pcsc/emrtd's openpace_test.go, which
 * compiles peer.c, terminal.c and chip.c at test time with
 *   gcc *.c $(pkg-config --cflags --libs libeac libcrypto)
 * It is test data, not part of the Go module's build.
 *
 * The test and the peer exchange hex lines: "> HEX" is a command APDU,
 * "< HEX" its response (data and status word). Results go to stdout as
 * "OK ..." or "ERR ...", diagnostics to stderr.
 *
 *   peer terminal mrz|can SECRET [ext] [raw] [tazero] [NAME=HEX...]
 *     OpenPACE as the terminal: prints the commands of a PACE run (it reads
 *     EF.CardAccess first), then SELECT of the eMRTD application and READ
 *     BINARY of EF.COM and DG1 under secure messaging; reads each response
 *     from stdin. Ends with "OK FILE <sfi> HEX" for each file, "OK DONE".
 *     With ca_oid, ca_curve, ca_pub, ca_keyid, ta_key, cvca, dv and is,
 *     Chip Authentication version 1 and Terminal Authentication, then DG3.
 *     With cam=1, PACE with Chip Authentication Mapping (cam.c): it reads
 *     EF.CardSecurity (SFI 1D, in the MF, "OK FILE 1D ...") and checks the
 *     chip's A_IC against its key ("OK CAM").
 *   peer chip CARDACCESS-HEX mrz|can SECRET EFCOM-HEX [raw] [NAME=HEX...]
 *     OpenPACE as the chip: reads commands from stdin, answers them; serves
 *     EF.CardAccess in the MF, the PACE steps, and after PACE under secure
 *     messaging SELECT of the eMRTD application and EF.COM (SFI 1E); with
 *     ca_oid, ca_curve, ca_key, cvca, dg14 and dg3, Chip Authentication
 *     version 1 and Terminal Authentication, then DG3. With cam=1 and
 *     cardsecurity=HEX (and ca_oid, ca_key for the key), PACE with Chip
 *     Authentication Mapping, EF.CardSecurity served in the MF after PACE,
 *     and Terminal Authentication over the terminal's PACE key.
 *
 * The call sequence follows OpenPACE's API (eac.h, pace.h, ca.h, ta.h);
 * secure messaging is ICAO Doc 9303-11 §9.8 built on EAC_encrypt and
 * EAC_authenticate.
 */
#ifndef PEER_H
#define PEER_H

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

/* A byte string of up to MAXAPDU bytes. */
typedef struct { unsigned char b[MAXAPDU]; size_t n; } buf;

/* A parsed command APDU (ISO/IEC 7816-4 §5.1, short or extended). */
typedef struct {
    unsigned char cla, ins, p1, p2;
    const unsigned char *data;
    size_t lc, ne;
    int has_le, ext;
} capdu;

extern int opt_ext, opt_raw, opt_tazero;
void options(int argc, char **argv, int first);
const char *opt(const char *name);
unsigned char *opthex(const char *name, size_t *n);

void die(const char *msg) __attribute__((noreturn));
int unhex(const char *s, unsigned char *out, int max);
void puthex(const char *prefix, const unsigned char *b, size_t n);
int readline(char p, unsigned char *out, int max);
void put(buf *o, const void *p, size_t n);
void put1(buf *o, unsigned char c);
void tlv(buf *o, unsigned tag, const unsigned char *v, size_t n);
const unsigned char *find(const unsigned char *b, size_t n, unsigned tag, size_t *vlen);
BUF_MEM *bm(const unsigned char *p, size_t n);
int der_oid(const unsigned char *c, size_t n);

size_t blocksize(EAC_CTX *ctx);
BUF_MEM *smmac(EAC_CTX *ctx, const unsigned char *m, size_t n);
void smencrypt(EAC_CTX *ctx, const unsigned char *d, size_t n, buf *o);
int smdecrypt(EAC_CTX *ctx, const unsigned char *v, size_t n, buf *o);
void shared_secret(EAC_CTX *ctx);
BUF_MEM *comp(EVP_PKEY *key, BUF_MEM *c, const char *what);

/* KA_CTX_derive_keys is OpenPACE's KDF (eac_lib.h, exported by libeac but
 * not in its public headers): Chip Authentication version 1 derives the
 * keys from K alone (ICAO 9303-11 §6.2, §9.7.1), where OpenPACE's
 * CA_STEP6_derive_keys also verifies version 2's token. */
int KA_CTX_derive_keys(KA_CTX *ctx, const BUF_MEM *nonce, EVP_MD_CTX *md_ctx);

/* cam.c: PACE with Chip Authentication Mapping around OpenPACE's generic
 * mapping. */
int cam_nid(int gm);
size_t cam_oid(int nid, unsigned char *out, size_t max);
BUF_MEM *cam_chip_data(EAC_CTX *ctx, EVP_PKEY *ca_key);
int cam_check(EAC_CTX *ctx, const unsigned char *aic, size_t n, const BUF_MEM *mapIC,
        const unsigned char *cs, size_t csn);

int terminal(int argc, char **argv);
int chip(int argc, char **argv);

#endif
