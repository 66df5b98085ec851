package emrtdapplet

import "github.com/puce-id/puce/pcsc/apdu"

const (
	rightDG3 = 0x01
	rightDG4 = 0x02
)

type taConfig struct{}

type taState struct {
	done   bool
	rights byte
}

func (a *Applet) taSetDST(apdu.Command) apdu.Response { return apdu.Status(apdu.SWFuncNotSupported) }
func (a *Applet) taSetAT(apdu.Command) apdu.Response  { return apdu.Status(apdu.SWFuncNotSupported) }
func (a *Applet) taChallenge(apdu.Command) apdu.Response {
	return apdu.Status(apdu.SWFuncNotSupported)
}
func (a *Applet) taExternalAuthenticate(apdu.Command) apdu.Response {
	return apdu.Status(apdu.SWFuncNotSupported)
}
func (a *Applet) psoVerifyCertificate(apdu.Command) apdu.Response {
	return apdu.Status(apdu.SWINSNotSupported)
}
func (a *Applet) internalAuthenticate(apdu.Command) apdu.Response {
	return apdu.Status(apdu.SWINSNotSupported)
}
