"""From runs to a report: the runs CSV loader (`runs_csv`), fit.json and report.md (`fit`), the law's
figures (`fit_figures`) and the paper's figures of a sweep (`paper_figures`). No MLflow, no Prefect."""
