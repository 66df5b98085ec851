package virtual

// announcesExtendedLength reports whether an ATR's historical bytes
// announce extended Lc and Le fields: card capabilities (compact-TLV tag 7,
// ISO/IEC 7816-4 §12.1.1) whose third byte has b7 set. The historical bytes
// follow the interface bytes, whose presence the Y nibbles of T0 and each
// TDi tell (ISO/IEC 7816-3 §8.2), and start with a category indicator: 80
// (compact-TLV objects) or 00 (compact-TLV objects, then a three-byte status
// indicator). An ATR too short for what it announces announces nothing.
func announcesExtendedLength(atr []byte) bool {
	if len(atr) < 2 {
		return false
	}
	k := int(atr[1] & 0x0F)
	i, y := 2, atr[1]>>4
	for {
		for bit := byte(1); bit <= 8; bit <<= 1 {
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 {
			break
		}
		if i-1 >= len(atr) {
			return false
		}
		y = atr[i-1] >> 4 // TDi, the last interface byte counted
	}
	if i+k > len(atr) || k == 0 {
		return false
	}
	h := atr[i : i+k]
	var objs []byte
	switch {
	case h[0] == 0x80:
		objs = h[1:]
	case h[0] == 0x00 && len(h) >= 4:
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
