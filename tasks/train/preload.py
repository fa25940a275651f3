"""Imported once by the training forkserver, so forked runs start without paying imports.

Only imports: no threads, no CUDA initialisation, no open stores (a fork must not inherit them).
Not MLflow: a run writes metrics.jsonl and the launcher talks to MLflow.
"""
import accelerate  # noqa: F401
import numpy  # noqa: F401
import torch  # noqa: F401
import transformers  # noqa: F401
from transformers import (  # noqa: F401
    AutoModelForCausalLM,
    GPT2LMHeadModel,
    LlamaForCausalLM,
    get_cosine_with_min_lr_schedule_with_warmup,
)

import transfer_laws.tasks.train.core  # noqa: F401
import transfer_laws.tasks.train.entry  # noqa: F401
