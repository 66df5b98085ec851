package pcsc

// atrHistorical returns the historical bytes of an ATR (ISO/IEC 7816-3
// §8.2): T0's low nibble counts them, and they follow the interface bytes,
// whose presence TD bytes chain. It reports false for an ATR too short for
// what it announces.
func atrHistorical(atr []byte) ([]byte, bool) {
	if len(atr) < 2 {
		return nil, false
	}
	k := int(atr[1] & 0x0F)
	i := 2
	y := atr[1] >> 4 // presence of TAi, TBi, TCi, TDi in bits 1 to 4
	for {
		for bit := byte(1); bit <= 8; bit <<= 1 {
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 {
			break
		}
		// TDi is the last interface byte counted: it says which follow.
		if i-1 >= len(atr) {
			return nil, false
		}
		y = atr[i-1] >> 4
	}
	if i+k > len(atr) {
		return nil, false
	}
	return atr[i : i+k], true
}

// atrExtendedLength reports whether the ATR's historical bytes announce
// extended Lc and Le fields: the card capabilities data object (compact-TLV
// tag 7) whose third software function table has b7 set (ISO/IEC 7816-4
// §8.1.1.2.7, table 87). Historical bytes start with a category indicator:
// 80 (compact-TLV objects follow), or 00 (compact-TLV objects, then a
// three-byte status indicator); other categories carry no card capabilities.
func atrExtendedLength(atr []byte) bool {
	h, ok := atrHistorical(atr)
	if !ok || len(h) == 0 {
		return false
	}
	var objs []byte
	switch h[0] {
	case 0x80:
		objs = h[1:]
	case 0x00:
		if len(h) < 4 {
			return false
		}
		objs = h[1 : len(h)-3]
	default:
		return false
	}
	for len(objs) > 0 {
		tag, n := objs[0]>>4, int(objs[0]&0x0F)
		if 1+n > len(objs) {
			return false
		}
		if tag == 0x7 && n >= 3 {
			return objs[3]&0x40 != 0
		}
		objs = objs[1+n:]
	}
	return false
}
