"""The household identity: keys, device certificates, keystore, invites, grants, revocations."""
