package auditchain

// SealV1 seals c as releases before sealed records did.
func SealV1(c *Checkpoint, key []byte) { c.MAC = c.mac(key, checkpointV1) }
