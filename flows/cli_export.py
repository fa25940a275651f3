"""`transfer-laws export-suite`: a finished sweep's pre-trained models as a suite of Hugging Face folders."""
from __future__ import annotations


def register(sub) -> None:
    from transfer_laws.flows.cli import DefaultsHelp

    p = sub.add_parser("export-suite", formatter_class=DefaultsHelp,
                       help="write a sweep's pre-trained models as Hugging Face folders",
                       description="Write the pre-trained models of the finished sweep CONFIG (first seed of "
                       "each size and source) under OUT/SOURCE/SOURCE-N<size>/: config.json, "
                       "model.safetensors, the sweep's tokenizer and a model card (N, tokens seen, held-out "
                       "loss). Each loads with from_pretrained, and the folders of one source are a suite "
                       "another sweep can measure (sources: {NAME: {checkpoints: [...]}}). Needs a sweep "
                       "whose tokenizer is a Hugging Face one (bpe:V, a folder, hf:NAME).")
    p.add_argument("config", help="the sweep's YAML file")
    p.add_argument("--out", required=True, help="folder to write the suite into")
    p.add_argument("--source", help="export only this source (default: every source)")
    p.add_argument("--home", help="override the config's project run folder")
    p.set_defaults(func=cmd_export_suite)


def cmd_export_suite(a) -> int:
    from transfer_laws.flows.api import export_suite

    folders = export_suite(a.config, a.out, source=a.source, home=a.home)
    for folder in folders:
        print(folder)
    by_source: dict[str, list[str]] = {}
    for folder in folders:
        by_source.setdefault(folder.parent.name, []).append(str(folder.resolve()))
    print("measure them as a source of another sweep:\nsources:")
    for name, paths in by_source.items():
        print(f"  {name}:\n    checkpoints:" + "".join(f"\n      - {p}" for p in paths))
    return 0
