"""Prefect flows and the `transfer-laws` CLI: composition only, no work of their own."""
