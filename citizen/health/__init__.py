"""`citizen doctor` and `GET /v1/health`: pure checks over gathered facts, and the gathering."""
