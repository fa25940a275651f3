"""Local services: Prefect and MLflow servers, workers and PostgreSQL (`servers`), the empty Prefect
database copied into new projects (`prefect_template`), and a local sweep's start-up (`warmup`)."""
