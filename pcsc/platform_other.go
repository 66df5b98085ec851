//go:build !linux && !darwin && !windows

package pcsc

// On the BSDs and other Unix systems, PC/SC is pcsc-lite, as on Linux.

// ioctlGetFeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST, SCARD_CTL_CODE(3400)
// = 0x42000000 + 3400 (PC/SC part 10 §2.2).
const ioctlGetFeatureRequest = 0x42000000 + 3400

// pnpNotification reports whether SCardGetStatusChange knows the pseudo
// reader `\\?PnP?\Notification`.
const pnpNotification = true

// controlUnsupported: pcsc-lite reports SCARD_E_UNSUPPORTED_FEATURE only.
func controlUnsupported(error) bool { return false }
