"""``nas hf``: write LM subnets as Hugging Face GPT-2 or Llama folders; check a folder against a space.

    nas hf export --bundle runs/best --out runs/best-hf                  # an exported LM bundle
    nas hf export --workdir runs/from-gpt2 --out runs/largest-hf         # the largest subnet of a supernet
    nas hf export --workdir runs/from-gpt2 --arch arch.json --out DIR    # any uniform subnet of it
    nas hf check GPT2_FOLDER --space experiments/spaces/gpt2-tiny.yaml   # does it fit the space?

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
    e.add_argument("--out", required=True, help="the GPT-2 folder to write")
    e.add_argument("--tokenizer", help="tokenizer.json to copy into the folder")
    e.set_defaults(func=cmd_export)
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
        from nas.export.load import load_subnet

        sub = load_subnet(args.bundle)
        space, arch, variables, source = sub.space, sub.arch, sub.variables, Path(args.bundle)
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
    out = pretrained.write_hf(args.out, space, arch, variables, tokenizer=_tokenizer(args, source))
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
    from supernet.pretrained import gpt2_layout, hf_gpt2, hf_llama, llama_layout

    space = load_space(args.space)
    if hf_llama.is_llama(hf_llama.read_config(args.folder)):
        ckpt = hf_llama.read(args.folder)
        llama_layout.check_fit(ckpt.shape, space, source=str(args.folder))
    else:
        ckpt = hf_gpt2.read(args.folder)
        gpt2_layout.check_fit(ckpt.shape, space, source=str(args.folder))
    n = sum(int(v.size) for v in ckpt.tensors.values())
    print(json.dumps({"folder": str(args.folder), "space": space.name, "params": n, **ckpt.shape}))
    return 0
