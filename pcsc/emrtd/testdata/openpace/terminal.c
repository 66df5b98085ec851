/* terminal.c: OpenPACE as the terminal (see peer.h). */
#include "peer.h"

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

    if (ctx->ca_ctx->protocol == NID_id_CA_ECDH_3DES_CBC_CBC) {
        /* Chip Authentication with 3DES: MSE:Set KAT 41 A6 { 91 PK_PCD,
         * 84 key ID } (ICAO 9303-11 §6.2.4.1) */
        tmp.n = 0;
        tlv(&tmp, 0x91, (unsigned char *) pkPCD->data, pkPCD->length);
        if (keyid >= 0) {
            unsigned char k = keyid;
            tlv(&tmp, 0x84, &k, 1);
        }
        if ((sw = sm_transmit(ctx, 0x00, 0x22, 0x41, 0xA6, tmp.b, tmp.n, 0, 0, 0, &out)) != 0x9000) {
            printf("ERR CA MSE:Set KAT %04X\n", sw);
            return 1;
        }
    } else {
        /* with AES: MSE:Set AT 41 A4 { 80 protocol, 84 key ID }, GENERAL
         * AUTHENTICATE 7C { 80 PK_PCD } (§6.2.4.2) */
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
        const unsigned char *v = find(certs[i], certn[i], 0x7F21, &vn), *body = NULL, *car = NULL;
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

int terminal(int argc, char **argv)
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
    size_t oidn = dn - 2;
    /* PACE-CAM: OpenPACE chose the generic mapping of the same cipher */
    int gm = ctx->pace_ctx->protocol, cam = opt("cam") ? cam_nid(gm) : NID_undef;
    if (cam != NID_undef)
        oidn = cam_oid(cam, oid, sizeof oid);
    tmp.n = 0;
    tlv(&tmp, 0x80, oid, oidn);
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

    /* 4: mutual authentication (§4.4.3.4), the tokens over the OID of the
     * protocol run */
    if (cam != NID_undef)
        ctx->pace_ctx->protocol = cam;
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
    ctx->pace_ctx->protocol = gm;
    /* PACE-CAM: the encrypted chip authentication data, DO'8A' (§4.4.3.5) */
    static buf aic;
    aic.n = 0;
    if (cam != NID_undef) {
        size_t an;
        const unsigned char *a = find(r, rn, 0x7C, &vn);
        if (!a || !(a = find(a, vn, 0x8A, &an))) {
            puts("ERR CAM no DO'8A'");
            return 1;
        }
        put(&aic, a, an);
    }
    /* ID_IC for Terminal Authentication (ICAO 9303-11 §7.1) */
    BUF_MEM *id_ic = comp(ctx->pace_ctx->ka_ctx->key, EAC_Comp(ctx, EAC_ID_PACE, pkIC), "IDIC");
    puts("OK PACE");
    fflush(stdout);

    /* secure messaging: SELECT the eMRTD application, then read files */
    if (!EAC_CTX_set_encryption_ctx(ctx, EAC_ID_PACE)) die("EAC_CTX_set_encryption_ctx");
    if (cam != NID_undef) {
        /* EF.CardSecurity in the MF, then the check of A_IC against its key
         * (§4.4.3.5, §9.2.11) */
        static buf cs;
        if (!read_file(ctx, 0x1D, &cs) || !cam_check(ctx, aic.b, aic.n, mapIC, cs.b, cs.n))
            return 1;
    }
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

