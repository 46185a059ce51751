"""Friends: pairing by invite (codec and pure rules), finding friends, and the friends service."""
