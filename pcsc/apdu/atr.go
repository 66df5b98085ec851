package apdu

// ATRHistorical returns the historical bytes of an answer-to-reset
// (ISO/IEC 7816-3 §8.2): T0's low nibble counts them, and they follow the
// interface bytes, whose presence the Y nibbles of T0 and of each TDi tell.
// It reports false for an ATR too short for what it announces.
func ATRHistorical(atr []byte) ([]byte, bool) {
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

// ATRExtendedLength reports whether an ATR's historical bytes announce
// extended Lc and Le fields: the card capabilities data object (compact-TLV
// tag 7, ISO/IEC 7816-4 §12.1.1) whose third software function table has b7
// set. Historical bytes start with a category indicator: 80 (compact-TLV
// objects follow), or 00 (compact-TLV objects, then a three-byte status
// indicator); other categories carry no card capabilities. A client sends
// extended APDUs only to a card that says so; the virtual card announces
// exactly what it accepts.
func ATRExtendedLength(atr []byte) bool {
	h, ok := ATRHistorical(atr)
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
