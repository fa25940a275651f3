"""The Prefect deployments (prefect.yaml), shipped in the wheel as package data for `transfer-laws deploy`."""
