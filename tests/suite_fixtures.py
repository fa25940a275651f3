"""Tiny checkpoint suites that look like the real ones, made here: a BPE tokenizer trained on the
committed tinyshakespeare text (docs/data/tinyshakespeare, public domain), and per size a model of
Pythia's layout (GPT-NeoX: untied head, parallel residual, rotary on 25 % of each head, vocabulary
padded past the tokenizer's) or a Llama, briefly pre-trained on that text by the project's own
training core and saved as a Hugging Face folder (config, safetensors, tokenizer)."""
from __future__ import annotations

import shutil
from pathlib import Path

from transfer_laws.model.suite import canonical_json
from transfer_laws.tasks.data.corpora import resolve_corpus
from transfer_laws.tasks.data.prepare import prepare
from transfer_laws.tasks.data.tokenizer import encoder_from_folder, train_bpe
from transfer_laws.tasks.train.config import RunConfig
from transfer_laws.tasks.train.core import train

REPO = Path(__file__).resolve().parents[1]
VOCAB, PADDED = 320, 384  # Pythia pads its 50,277-token vocabulary to 50,304 embeddings the same way


def english_folder(dest: Path, parts: int = 40) -> Path:
    """tinyshakespeare cut into `parts` documents (a corpus splits into train and test by document)."""
    text = (REPO / "docs" / "data" / "tinyshakespeare" / "input.txt").read_text()
    dest.mkdir(parents=True, exist_ok=True)
    step = len(text) // parts
    for i in range(parts):
        (dest / f"part{i:02d}.txt").write_text(text[i * step:(i + 1) * step])
    return dest


def architecture(family: str, width: int, layers: int = 2, context: int = 64):
    """A transformers config of `family` (gpt_neox in Pythia's layout, or llama)."""
    if family == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(vocab_size=PADDED, hidden_size=width, intermediate_size=8 * width // 3 // 8 * 8 + 8,
                           num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                           max_position_embeddings=context, tie_word_embeddings=False)
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(vocab_size=PADDED, hidden_size=width, num_hidden_layers=layers, num_attention_heads=2,
                         intermediate_size=4 * width, max_position_embeddings=context, use_parallel_residual=True,
                         tie_word_embeddings=False, rope_parameters={"rope_theta": 10000.0, "partial_rotary_factor": 0.25,
                                                                     "rope_type": "default"})


def tiny_suite(root: Path, family: str = "gpt_neox", widths: tuple[int, ...] = (32, 64), steps: int = 30) -> list[Path]:
    """One checkpoint folder per width under `root`, pre-trained for `steps` steps (seeded, so the
    same call makes the same weights)."""
    cache = root / "cache"
    corpus = resolve_corpus(str(english_folder(root / "english")), cache, field="english")
    tok = root / "tokenizer"
    if not (tok / "tokenizer.json").exists():
        train_bpe(VOCAB, (d.text for d in corpus.documents), tok)
    data = prepare(corpus, cache, 0.1, encoder=encoder_from_folder(tok, str(tok.resolve())))
    folders = []
    for width in widths:
        made = root / "made" / f"{family}-{width}"
        architecture(family, width).save_pretrained(made)
        cfg = RunConfig(architecture=canonical_json(made / "config.json"), n_ctx=32, vocab_size=data.vocab_size,
                        tokenizer=data.tokenizer, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=5,
                        max_steps=steps, eval_interval=steps, eval_tokens=1024, patience=0, threads=1,
                        data_dir=data.root, data_key=data.key, out_dir=str(root / "runs" / f"{family}-{width}"))
        best = Path(train(cfg).best_checkpoint)
        folder = root / "suite" / f"{family}-{width}"
        folder.mkdir(parents=True)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(best / f, folder / f)
        for f in tok.iterdir():
            shutil.copy(f, folder / f.name)
        folders.append(folder)
    return folders
