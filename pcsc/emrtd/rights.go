package emrtd

// Rights are data group read rights of an inspection system.
type Rights uint8

func (r Rights) allows(dg DG) bool { return false }
