package pcsc

import (
	"errors"

	"github.com/ebfe/scard"
)

// On Windows, control codes are device I/O control codes:
// SCARD_CTL_CODE(code) = CTL_CODE(FILE_DEVICE_SMARTCARD, code,
// METHOD_BUFFERED, FILE_ANY_ACCESS) = 0x00310000 | code<<2 (winsmcrd.h).

// ioctlGetFeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST, SCARD_CTL_CODE(3400)
// (PC/SC part 10 §2.2).
const ioctlGetFeatureRequest = 0x00310000 | 3400<<2

// pnpNotification reports whether SCardGetStatusChange knows the pseudo
// reader `\\?PnP?\Notification`; the Windows smart card service does.
const pnpNotification = true

// controlUnsupported reports the Win32 codes a reader driver returns through
// SCardControl for a control it does not implement: ERROR_INVALID_FUNCTION
// (1) and ERROR_NOT_SUPPORTED (50).
func controlUnsupported(err error) bool {
	var code scard.Error
	return errors.As(err, &code) && (code == 1 || code == 50)
}
