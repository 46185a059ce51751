"""The household's web page: login, status, friends, invites by QR code, files, docs."""
