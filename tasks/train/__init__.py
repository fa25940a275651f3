"""One training run: typed config (`config`), the pure core (`core.train`), the subprocess entry
(`entry`) and the launcher that runs it in its own process (`launch`)."""
