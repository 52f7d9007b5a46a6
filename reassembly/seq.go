package reassembly

// TCP sequence numbers wrap at 2^32; compare them by signed distance
// (RFC 9293, section 3.4; RFC 1982 serial number arithmetic).

// seqDiff returns a - b as a signed distance.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// seqAfter reports whether a comes after b.
func seqAfter(a, b uint32) bool { return seqDiff(a, b) > 0 }
