package emrtdapplet

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"io"
	"time"

	"github.com/puce-id/puce/pcsc/apdu"
)

// fidCardSecurity is EF.CardSecurity in the master file, short EF
// identifier 1D (ICAO 9303-11 §9.2.11; BSI TR-03110-3 §A.1.2). In the
// application the same identifier names EF.SOD: the MF and the application
// are separate namespaces, so the file lives apart from Applet.files.
const fidCardSecurity uint16 = 0x011D

// oidSecurityObject is id-SecurityObject, the content type of the signed
// SecurityInfos in EF.CardSecurity: bsi-de applications(3) eID(2) 1 (BSI
// TR-03110-3 §A.1.2.5).
var oidSecurityObject = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 3, 2, 1}

// SignCardSecurity builds the content of an EF.CardSecurity over infos, the
// DER of SecurityInfos (a SET OF SecurityInfo): a ContentInfo with a
// SignedData of content type id-SecurityObject signed by the issuer's
// document signer, the one that signs EF.SOD, as ICAO 9303-11 §9.2.11 and
// BSI TR-03110-3 §A.1.2.5 have it (the file holds the ContentInfo itself,
// with no application tag around it). Personalise uses it for
// Options.CardSecurity; tests use it for chips with other SecurityInfos
// (Applet.ReplaceCardSecurity). rnd is crypto/rand when nil.
func (is *Issuer) SignCardSecurity(infos []byte, now time.Time, rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	return signCardSecurity(is, infos, now, rnd)
}

func signCardSecurity(is *Issuer, infos []byte, now time.Time, rnd io.Reader) ([]byte, error) {
	var set asn1.RawValue
	if rest, err := asn1.Unmarshal(infos, &set); err != nil || len(rest) != 0 || set.Tag != asn1.TagSet {
		return nil, fmt.Errorf("%w: SecurityInfos for EF.CardSecurity is no SET", ErrProfile)
	}
	return signCMS(is, oidSecurityObject, infos, now, rnd)
}

// dg14Infos returns the SecurityInfos inside DG14 (6E { SET }).
func dg14Infos(dg14 []byte) ([]byte, error) {
	t, _, err := apdu.DecodeTLV(dg14)
	if err != nil || t.Tag != 0x6E {
		return nil, fmt.Errorf("%w: DG14 encoding", ErrProfile)
	}
	return t.Value, nil
}

// CardSecurity returns a copy of EF.CardSecurity, nil when the chip has
// none (Options.CardSecurity).
func (a *Applet) CardSecurity() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.cardSecurity)
}

// ReplaceCardSecurity replaces EF.CardSecurity (nil removes it), for tests
// of its verification: a tampered signature, another signer.
func (a *Applet) ReplaceCardSecurity(b []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cardSecurity = bytes.Clone(b)
}

// fileData finds an EF by file identifier under the current DF: in the MF,
// EF.CardAccess, EF.DIR, EF.ATR/INFO and EF.CardSecurity; in the
// application its 01xx files (EF.CardAccess among them, see Applet).
func (a *Applet) fileData(fid uint16) ([]byte, bool) {
	if a.inMF {
		if fid == fidCardSecurity {
			return a.cardSecurity, a.cardSecurity != nil
		}
		if !mfFile(fid) {
			return nil, false
		}
	} else if fid&0xFF00 != 0x0100 {
		return nil, false
	}
	b, ok := a.files[fid]
	return b, ok
}

// mfHas reports whether the master file holds the EF (SELECT by path from
// the MF).
func (a *Applet) mfHas(fid uint16) bool {
	if fid == fidCardSecurity {
		return a.cardSecurity != nil
	}
	_, ok := a.files[fid]
	return ok && mfFile(fid)
}
