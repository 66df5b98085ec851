/*
 * cam.c: PACE with Chip Authentication Mapping (ICAO 9303-11 §4.4.3.3.3,
 * §4.4.3.5) for the peer (see peer.h).
 *
 * OpenPACE (libeac 1.1.2, and its sources to date) implements generic and
 * integrated mapping but not CAM: it has no id-PACE-ECDH-CAM-* object and
 * no step for the chip authentication data. CAM is generic mapping plus
 * that step, so the peer runs OpenPACE's generic mapping, has OpenPACE
 * compute and check the authentication tokens over the CAM OID (the token's
 * public key object names the protocol run, §4.4.3.4; OpenPACE takes the
 * OID from pace_ctx->protocol, swapped for these two calls), and does the
 * CAM step itself here with OpenSSL: CA_IC from OpenPACE's mapping key,
 * A_IC under OpenPACE's KSenc, and on the terminal PK_IC from OpenPACE's
 * own parse of EF.CardSecurity (EAC_CTX_init_ef_cardsecurity). So the
 * keys, the token and the key extraction are OpenPACE's; the CAM
 * arithmetic and its encryption are this file's, written from the
 * standard, not from puce.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* EC_KEY: libeac hands out EC_KEYs */
#include "peer.h"
#include <openssl/ec.h>
#include <openssl/bn.h>

/* cam_nid returns the NID of id-PACE-ECDH-CAM-* with the cipher of the
 * generic mapping protocol gm (its last arc: 2, 3, 4 for AES-128, -192,
 * -256; ICAO 9303-11 §9.2.1), registering the object with OpenSSL once. */
int cam_nid(int gm)
{
    char txt[64];
    const ASN1_OBJECT *o = OBJ_nid2obj(gm);
    if (!o || OBJ_obj2txt(txt, sizeof txt, o, 1) <= 0) die("GM protocol OID");
    char *last = strrchr(txt, '.');
    if (!last || strncmp(txt, "0.4.0.127.0.7.2.2.4.2.", 22) != 0) die("not id-PACE-ECDH-GM-*");
    char cam[64];
    snprintf(cam, sizeof cam, "0.4.0.127.0.7.2.2.4.6%s", last);
    int nid = OBJ_txt2nid(cam);
    if (nid == NID_undef) {
        char sn[48];
        snprintf(sn, sizeof sn, "id-PACE-ECDH-CAM-%s", last + 1);
        nid = OBJ_create(cam, sn, sn);
    }
    if (nid == NID_undef) die("OBJ_create CAM");
    return nid;
}

/* cam_oid writes the content bytes of the CAM OID, for MSE:Set AT. */
size_t cam_oid(int nid, unsigned char *out, size_t max)
{
    unsigned char *der = NULL;
    int n = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der);
    if (n < 2 || (size_t) (n - 2) > max) die("CAM OID");
    memcpy(out, der + 2, n - 2);
    OPENSSL_free(der);
    return n - 2;
}

/* cam_cipher is AES-CBC without padding under KSenc, and the IV E(KSenc,
 * -1): the block of all one bits encrypted (ICAO 9303-11 §4.4.3.5). */
static int cam_cipher(EAC_CTX *ctx, const unsigned char *in, size_t n, unsigned char *out, int enc)
{
    KA_CTX *ka = ctx->pace_ctx->ka_ctx;
    const EVP_CIPHER *cbc = ka->cipher, *ecb = NULL;
    switch (ka->k_enc->length) {
    case 16: ecb = EVP_aes_128_ecb(); break;
    case 24: ecb = EVP_aes_192_ecb(); break;
    case 32: ecb = EVP_aes_256_ecb(); break;
    default: return 0;
    }
    unsigned char ones[16], iv[16];
    int l = 0, l2 = 0;
    memset(ones, 0xFF, sizeof ones);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c && EVP_EncryptInit_ex(c, ecb, NULL, (unsigned char *) ka->k_enc->data, NULL) &&
        EVP_CIPHER_CTX_set_padding(c, 0) && EVP_EncryptUpdate(c, iv, &l, ones, 16) && l == 16 &&
        EVP_CipherInit_ex(c, cbc, NULL, (unsigned char *) ka->k_enc->data, iv, enc) &&
        EVP_CIPHER_CTX_set_padding(c, 0) && EVP_CipherUpdate(c, out, &l, in, n) &&
        EVP_CipherFinal_ex(c, out + l, &l2) && (size_t) (l + l2) == n;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* cam_chip_data computes A_IC = E(KSenc, CA_IC), CA_IC = SK_IC^-1 ·
 * SK_Map,IC mod n, SK_Map,IC OpenPACE's mapping key (pace_ctx->static_key
 * after PACE_STEP3A_generate_mapping_data), SK_IC the Chip Authentication
 * key ca_key holds; CA_IC on the length of n, padded by ISO/IEC 9797-1
 * method 2 (§4.4.3.5, §9.8.6.1). */
BUF_MEM *cam_chip_data(EAC_CTX *ctx, EVP_PKEY *ca_key)
{
    const EC_KEY *map = EVP_PKEY_get0_EC_KEY(ctx->pace_ctx->static_key), *ca = EVP_PKEY_get0_EC_KEY(ca_key);
    if (!map || !ca || !EC_KEY_get0_private_key(map) || !EC_KEY_get0_private_key(ca)) die("CAM keys");
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *n = BN_new(), *inv = BN_new(), *cam = BN_new();
    if (!EC_GROUP_get_order(EC_KEY_get0_group(map), n, bn) ||
            !BN_mod_inverse(inv, EC_KEY_get0_private_key(ca), n, bn) ||
            !BN_mod_mul(cam, inv, EC_KEY_get0_private_key(map), n, bn))
        die("CA_IC");
    static buf p;
    p.n = (BN_num_bits(n) + 7) / 8;
    if (BN_bn2binpad(cam, p.b, p.n) < 0) die("CA_IC encoding");
    put1(&p, 0x80);
    while (p.n % 16) put1(&p, 0);
    BUF_MEM *out = BUF_MEM_new();
    if (!out || !BUF_MEM_grow(out, p.n) || !cam_cipher(ctx, p.b, p.n, (unsigned char *) out->data, 1))
        die("A_IC");
    BN_free(n); BN_free(inv); BN_free(cam); BN_CTX_free(bn);
    return out;
}

/* cam_check is the terminal's check (§4.4.3.5): CA_IC = D(KSenc, A_IC),
 * then PK_Map,IC = CA_IC · PK_IC, PK_IC the Chip Authentication key
 * OpenPACE finds in EF.CardSecurity (which it parses without passive
 * authentication when the context has no CA context: the test checks the
 * signature with puce's reader and the CSCA). Prints "OK CAM" or "ERR CAM
 * ..." and returns 1 on success. */
int cam_check(EAC_CTX *ctx, const unsigned char *aic, size_t n, const BUF_MEM *mapIC,
        const unsigned char *cs, size_t csn)
{
    static unsigned char plain[MAXAPDU];
    if (n == 0 || n % 16 || n > sizeof plain || !cam_cipher(ctx, aic, n, plain, 0)) {
        puts("ERR CAM A_IC does not decrypt");
        return 0;
    }
    size_t l = n;
    while (l > 0 && plain[l - 1] == 0) l--;
    if (l == 0 || plain[l - 1] != 0x80) {
        puts("ERR CAM A_IC padding");
        return 0;
    }
    l--;
    EAC_CTX *sec = EAC_CTX_new();
    if (!sec || !EAC_CTX_init_ef_cardsecurity(cs, csn, sec) || !sec->ca_ctx || !sec->ca_ctx->ka_ctx) {
        puts("ERR CAM OpenPACE cannot parse EF.CardSecurity");
        return 0;
    }
    const EC_KEY *pk = EVP_PKEY_get0_EC_KEY(sec->ca_ctx->ka_ctx->key);
    const EC_GROUP *g = pk ? EC_KEY_get0_group(pk) : NULL;
    if (!g || !EC_KEY_get0_public_key(pk)) die("PK_IC");
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *cam = BN_bin2bn(plain, l, NULL);
    EC_POINT *want = EC_POINT_new(g), *got = EC_POINT_new(g);
    int ok = 0;
    if (!EC_POINT_oct2point(g, want, (unsigned char *) mapIC->data, mapIC->length, bn)) {
        puts("ERR CAM PK_Map,IC is not on EF.CardSecurity's curve");
    } else if (!EC_POINT_mul(g, got, NULL, EC_KEY_get0_public_key(pk), cam, bn)) {
        die("EC_POINT_mul");
    } else if (EC_POINT_cmp(g, got, want, bn) != 0) {
        puts("ERR CAM CA_IC * PK_IC != PK_Map,IC");
    } else {
        puts("OK CAM");
        ok = 1;
    }
    EC_POINT_free(want); EC_POINT_free(got); BN_free(cam); BN_CTX_free(bn);
    EAC_CTX_clear_free(sec);
    return ok;
}
