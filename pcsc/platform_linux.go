package pcsc

// On Linux, PC/SC is pcsc-lite. Its control codes are SCARD_CTL_CODE(code)
// = 0x42000000 + code (pcsc-lite reader.h), and it supports the
// plug-and-play pseudo reader.

// ioctlGetFeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST, SCARD_CTL_CODE(3400)
// (PC/SC part 10 §2.2).
const ioctlGetFeatureRequest = 0x42000000 + 3400

// pnpNotification reports whether SCardGetStatusChange knows the pseudo
// reader `\\?PnP?\Notification`.
const pnpNotification = true

// controlUnsupported reports platform codes, beyond
// SCARD_E_UNSUPPORTED_FEATURE, by which SCardControl says the reader has no
// such control: pcsc-lite has none.
func controlUnsupported(error) bool { return false }
