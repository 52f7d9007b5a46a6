package parser

// Every test of the package reads with recycled buffers overwritten, so
// that a handler keeping part of a record's body shows.
func init() { poisonBuffers = true }
