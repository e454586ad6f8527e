"""``nas hf``: write LM subnets as Hugging Face GPT-2 or Llama folders; import or check a folder.

    nas hf export --bundle runs/best --out runs/best-hf                  # an exported LM bundle
    nas hf export --workdir runs/from-gpt2 --out runs/largest-hf         # the largest subnet of a supernet
    nas hf export --workdir runs/from-gpt2 --arch arch.json --out DIR    # any uniform subnet of it
    nas hf check GPT2_FOLDER --space experiments/spaces/gpt2-tiny.yaml   # does it fit the space?
    nas hf import LLAMA_FOLDER --workdir runs/llama   # a supernet run at step 0, no training

``import`` writes the run ``nas train --init-from`` would start from (checkpoint, space,
tokenizer; :mod:`supernet.pretrained.import_run`), so ``nas search`` or ``nas hf export`` can
follow at once; a Llama folder gets the space ``nas spaces from-hf`` would write unless
``--space`` names one.

The folder holds ``config.json``, ``model.safetensors`` and the tokenizer (``--tokenizer``,
or the one found beside the bundle or supernet), loadable by ``GPT2LMHeadModel.from_pretrained``.
A subnet that GPT-2 cannot express (per-layer head counts or MLP widths, linear attention,
``heads x head_dim != embed_dim``) is one line saying why, exit status 2.  A space with
``task.block: llama`` writes a ``LlamaForCausalLM`` folder (``num_key_value_heads`` and
``head_dim`` from the subnet); a subnet whose layers differ in query heads, KV heads or
MLP width says so in one line, and its bundle (``nas export``) stays as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from search_spaces.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hf", help="Hugging Face GPT-2 / Llama folders: export LM subnets, check a folder")
    hs = p.add_subparsers(dest="hf_command", metavar="HF_COMMAND")
    hs.required = True
    e = hs.add_parser("export", help="write a uniform LM subnet as a GPT-2 or Llama folder")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", help="an exported bundle (see 'nas export')")
    src.add_argument("--workdir", help="a 'nas train' run folder (its latest checkpoint)")
    e.add_argument("--arch", help="with --workdir: ARCH.json of the subnet (default: the largest)")
    e.add_argument("--out", required=True, help="the folder to write (GPT-2 or Llama, as the space's block)")
    e.add_argument("--tokenizer", help="tokenizer.json to copy into the folder")
    e.add_argument(
        "--max-positions",
        type=int,
        default=None,
        help="Llama: the max_position_embeddings to write (default: the imported checkpoint's own, "
        "else the space's seq_len)",
    )
    e.set_defaults(func=cmd_export)
    i = hs.add_parser(
        "import",
        help="make a supernet run from a GPT-2 or Llama folder without training (then search or export)",
    )
    i.add_argument("folder", help="a Hugging Face GPT-2 or Llama folder (config.json + safetensors)")
    i.add_argument("--workdir", required=True, help="the run folder to write (new or empty)")
    i.add_argument(
        "--config", default=None, help="a training CONFIG.yaml the run records (default: defaults)"
    )
    i.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    i.add_argument(
        "--space",
        default=None,
        help="built-in space name or YAML whose largest subnet is the checkpoint (default for Llama: "
        "the space 'nas spaces from-hf' writes; required for GPT-2 unless the config names one)",
    )
    i.add_argument("--seq-len", type=int, default=None, help="Llama without --space: the space's context")
    i.set_defaults(func=cmd_import)
    c = hs.add_parser("check", help="check that a GPT-2 or Llama folder fits a space's largest subnet")
    c.add_argument("folder")
    c.add_argument("--space", required=True, help="built-in space name or a space YAML")
    c.set_defaults(func=cmd_check)


def _tokenizer(args: argparse.Namespace, source: Path) -> Path | None:
    if args.tokenizer:
        if not Path(args.tokenizer).is_file():
            raise NasError(f"field '--tokenizer': file '{args.tokenizer}' does not exist")
        return Path(args.tokenizer)
    found = source / "tokenizer.json"
    return found if found.is_file() else None


def cmd_export(args: argparse.Namespace) -> int:
    from supernet import pretrained

    if args.bundle:
        from nas.export.bundle import cast_weights
        from nas.export.load import load_subnet

        sub = load_subnet(args.bundle)
        variables = cast_weights(sub.variables, "float32")  # a bf16 bundle's weights, widened exactly
        space, arch, source = sub.space, sub.arch, Path(args.bundle)
    else:
        from nas.cli_train import _read_archs
        from supernet import checkpoint
        from supernet.extract import extract

        space, params, _ = checkpoint.load(args.workdir)
        arch = _read_archs(args.arch, space)[0] if args.arch else space.largest()
        reason = pretrained.why_not_hf(space, arch)
        if reason is not None:
            family = "Llama" if pretrained.is_llama_space(space) else "GPT-2"
            raise NasError(f"cannot write a {family} folder: {reason}")
        variables, source = extract(params, arch, space=space), Path(args.workdir)
    if args.max_positions is not None and args.max_positions < 1:
        raise NasError(f"field '--max-positions': must be >= 1, got {args.max_positions}")
    out = pretrained.write_hf(
        args.out, space, arch, variables, tokenizer=_tokenizer(args, source), max_positions=args.max_positions
    )
    cfg = json.loads((out / "config.json").read_text())
    if cfg["model_type"] == "llama":
        print(
            f"{out}: Llama with hidden_size {cfg['hidden_size']}, {cfg['num_hidden_layers']} layers, "
            f"{cfg['num_attention_heads']} heads, {cfg['num_key_value_heads']} KV heads, "
            f"intermediate_size {cfg['intermediate_size']}, vocab {cfg['vocab_size']}"
        )
        return 0
    print(
        f"{out}: GPT-2 with n_embd {cfg['n_embd']}, n_layer {cfg['n_layer']}, n_head {cfg['n_head']}, "
        f"n_inner {cfg['n_inner']}, vocab {cfg['vocab_size']}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from search_spaces import load_space
    from supernet import pretrained

    space = load_space(args.space)
    layout, hf = pretrained.family(args.folder, field="folder")
    ckpt = hf.read(args.folder, field="folder")
    layout.check_fit(ckpt.shape, space, source=str(args.folder))
    n = sum(int(v.size) for v in ckpt.tensors.values())
    print(json.dumps({"folder": str(args.folder), "space": space.name, "params": n, **ckpt.shape}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from search_spaces import complexity
    from supernet import pretrained
    from supernet.config import load_config
    from supernet.pretrained import hf_llama, llama_layout
    from supernet.pretrained.import_run import import_run

    folder = Path(args.folder)
    _, hf = pretrained.family(folder, field="folder")
    overrides = [*args.set, f"init_from={json.dumps(str(folder.resolve()))}"]
    if args.space is not None:
        overrides.append(f"space={json.dumps(args.space)}")
    space = None
    if args.space is None and (args.config is None or "space" not in _yaml_keys(args.config)):
        if hf is not hf_llama:
            raise NasError(
                "field '--space': a GPT-2 folder needs a space whose largest subnet is the checkpoint "
                "(--space, or a --config that names one)"
            )
        config = hf_llama.read_config(folder, field="folder")
        space = llama_layout.space_for(
            config, name=folder.resolve().name, seq_len=args.seq_len, source=f"{folder}/config.json"
        )
    elif args.seq_len is not None:
        raise NasError("field '--seq-len': only for a Llama folder imported without --space")
    cfg = load_config(args.config, overrides)
    out = import_run(cfg, args.workdir, space=space, field="folder")
    from supernet import checkpoint

    sp = checkpoint.read_space(out)
    n = complexity(sp, [sp.largest()])["params"][0]
    print(
        f"{out}: a supernet of space '{sp.name}' ({int(sp.size()):,d} archs) at step 0 whose largest subnet is "
        f"'{folder}' ({int(n):,d} params); next: nas search (evaluator {{kind: supernet, workdir: {out}}}), "
        f"nas hf export --workdir {out}, or nas train CONFIG --workdir {out}"
    )
    return 0


def _yaml_keys(path: str) -> set[str]:
    from search_spaces.yaml_io import read_yaml

    raw = read_yaml(path, what="config file")
    return set(raw) if isinstance(raw, dict) else set()
