/* chip.c: OpenPACE as the chip (see peer.h). */
#include "peer.h"

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

/* ga_answer answers 7C { tag value [8A a_ic] } 9000. */
static void ga_answer2(unsigned tag, const BUF_MEM *m, const BUF_MEM *aic)
{
    static buf in, out;
    in.n = 0; out.n = 0;
    tlv(&in, tag, (unsigned char *) m->data, m->length);
    if (aic)
        tlv(&in, 0x8A, (unsigned char *) aic->data, aic->length);
    tlv(&out, 0x7C, in.b, in.n);
    respond(out.b, out.n, 0x9000);
}

static void ga_answer(unsigned tag, const BUF_MEM *m) { ga_answer2(tag, m, NULL); }

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

int chip(int argc, char **argv)
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
    struct file { unsigned char sfi; unsigned char *b; size_t n; int needs_ta, mf; } files[4], *cur = NULL;
    int nfiles = 0;
    files[nfiles++] = (struct file) { 0x1E, efcom, (size_t) comn, 0 };
    if (opt("dg14")) { files[nfiles] = (struct file) { 0x0E, NULL, 0, 0 }; files[nfiles].b = opthex("dg14", &files[nfiles].n); nfiles++; }
    if (opt("dg3")) { files[nfiles] = (struct file) { 0x03, NULL, 0, 1 }; files[nfiles].b = opthex("dg3", &files[nfiles].n); nfiles++; }
    /* EF.CardSecurity, in the MF (SFI 1D), after PACE (ICAO 9303-11 §9.2.11) */
    if (opt("cardsecurity")) { files[nfiles] = (struct file) { 0x1D, NULL, 0, 0, 1 }; files[nfiles].b = opthex("cardsecurity", &files[nfiles].n); nfiles++; }
    int is_cam = 0;

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
            } else if (c.ins == 0xB0) {
                /* READ BINARY: by short EF identifier, which makes the
                 * file current, or at an offset of the current file */
                size_t off = 0;
                if (c.p1 & 0x80) {
                    cur = NULL;
                    for (int i = 0; i < nfiles; i++)
                        if (files[i].sfi == (c.p1 & 0x1F) && files[i].mf == !lds1)
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
            } else if ((c.ins == 0x86 && ca_pending) ||
                    (c.ins == 0x22 && c.p1 == 0x41 && c.p2 == 0xA6 && caoid && !ca_done)) {
                /* GENERAL AUTHENTICATE 7C { 80 PK_PCD } after MSE:Set AT,
                 * or MSE:Set KAT { 91 PK_PCD } (3DES, §6.2.4.1): K, keys
                 * without a nonce (version 1), answered under the PACE
                 * keys; the next command runs under the new ones with SSC
                 * 0 */
                int ga = c.ins == 0x86;
                size_t vn = plain.n;
                const unsigned char *v = plain.b;
                if (ga)
                    v = find(plain.b, plain.n, 0x7C, &vn);
                ca_pending = 0;
                if (!v || !(v = find(v, vn, ga ? 0x80 : 0x91, &vn))) { sm_respond(ctx, NULL, 0, 0x6A80); continue; }
                BUF_MEM *pk = bm(v, vn);
                if (!CA_STEP4_compute_shared_secret(ctx, pk) ||
                        !KA_CTX_derive_keys(ctx->ca_ctx->ka_ctx, NULL, ctx->md_ctx)) {
                    sm_respond(ctx, NULL, 0, 0x6A80);
                    continue;
                }
                compPCD = comp(ctx->ca_ctx->ka_ctx->key, EAC_Comp(ctx, EAC_ID_CA, pk), "PCD");
                static const unsigned char empty[] = { 0x7C, 0x00 };
                sm_respond(ctx, empty, ga ? sizeof empty : 0, 0x9000);
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
            /* or, with cam=1, id-PACE-ECDH-CAM-* of the same cipher */
            is_cam = 0;
            if (!ok && opt("cam") && o && ref && l83 == 1 && ref[0] == (type == PACE_MRZ ? 1 : 2)) {
                unsigned char camoid[32];
                size_t camn = cam_oid(cam_nid(ctx->pace_ctx->protocol), camoid, sizeof camoid);
                ok = is_cam = camn == l80 && memcmp(camoid, o, l80) == 0;
            }
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
                int gm = ctx->pace_ctx->protocol;
                if (is_cam)
                    ctx->pace_ctx->protocol = cam_nid(gm);
                if (PACE_STEP3D_verify_authentication_token(ctx, bm(v, vn)) != 1) {
                    printf("ERR terminal's token does not verify\n");
                    respond(NULL, 0, 0x6300);
                    step = -1;
                    continue;
                }
                BUF_MEM *t = PACE_STEP3D_compute_authentication_token(ctx, pkPCD);
                ctx->pace_ctx->protocol = gm;
                BUF_MEM *aic = NULL;
                if (is_cam) {
                    /* A_IC with the Chip Authentication key; the chip is
                     * then authenticated, and Terminal Authentication signs
                     * the terminal's PACE key (BSI TR-03110-2 §3.4) */
                    if (!ctx->ca_ctx) die("cam=1 needs ca_oid and ca_key");
                    aic = cam_chip_data(ctx, ctx->ca_ctx->ka_ctx->key);
                    ca_done = 1;
                    compPCD = comp(ctx->pace_ctx->ka_ctx->key, EAC_Comp(ctx, EAC_ID_PACE, pkPCD), "PCD");
                    puts("OK CAM");
                }
                if (!t || !EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE)) die("token");
                ga_answer2(0x86, t, aic);
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

