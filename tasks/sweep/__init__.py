"""The sweep: its config, the DAG of runs (`plan`), the order they start in (`schedule`), device
slots, the cost estimate, the Prefect units of the sweep and of its aggregation, and fan-out to
deployments."""
