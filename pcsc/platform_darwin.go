package pcsc

// On macOS, PC/SC is Apple's PCSC framework, derived from pcsc-lite: the
// same control codes, but no plug-and-play pseudo reader (it was never
// there), so waits for readers poll the reader list.

// ioctlGetFeatureRequest is CM_IOCTL_GET_FEATURE_REQUEST, SCARD_CTL_CODE(3400)
// = 0x42000000 + 3400 (PC/SC part 10 §2.2).
const ioctlGetFeatureRequest = 0x42000000 + 3400

// pnpNotification reports whether SCardGetStatusChange knows the pseudo
// reader `\\?PnP?\Notification`.
const pnpNotification = false

// controlUnsupported reports platform codes, beyond
// SCARD_E_UNSUPPORTED_FEATURE, by which SCardControl says the reader has no
// such control: none known here.
func controlUnsupported(error) bool { return false }
