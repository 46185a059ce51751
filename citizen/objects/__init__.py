"""Objects (blobs): encrypted, erasure-coded shares at friends: put, get, repair."""
