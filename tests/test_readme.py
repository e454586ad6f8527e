"""README.md's Python API block runs as written (on the session's local Ray)."""

from __future__ import annotations

import re

import guides
import pytest
from conftest import ROOT


def python_block(section: str) -> str:
    part = guides.section(section)
    blocks = re.findall(r"```python\n(.*?)```", part, flags=re.S)
    assert blocks, f"no python block under '{section}'"
    return blocks[0]


def test_python_api_block_runs(ray_local, tmp_path, monkeypatch, capsys):
    code = python_block("Python API").replace('"runs/', f'"{tmp_path}/')
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "40 evaluations" in out and "64 architectures proposed" in out
    assert (tmp_path / "api-aging" / "pareto.json").is_file()


# ---- every shell command of README -------------------------------------------------------------
def readme_commands() -> list[str]:
    """Every command line of the bash blocks of README and the guides in docs/ (continuations
    joined, comments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", guides.text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+", " ", line.split("  #")[0]).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


# run here, in-process, as written (run directories and placeholders mapped into tmp_path)
RUN_HERE = [
    "nas spaces list",
    "nas spaces show lm-shakespeare",
    "nas spaces show gpt2-small --batch-size 8 --seq-len 256",
    "nas spaces show smollm-135m --batch-size 8 --seq-len 512",
    "nas spaces sample vit-mnist -n 5 --seed 0",
    "nas spaces validate vit-mnist arch.json",
    "nas search experiments/search_tabular.yaml --workers 2",
    "nas search experiments/search_tabular.yaml --set 'strategy={name: bayesian}' --set budget=60",
    "nas search --resume runs/search-nsga2-seed0",
    "nas latency list",
    "nas latency query --device cpu-host --space vit-mnist --arch ARCH.json",
    "nas latency query --device cpu-host --space vit-mnist --archs ARCHS.jsonl",
]
# run by another test (file::test), shortened or on tiny inputs
ELSEWHERE = {
    "nas train experiments/train_mixers_demo.yaml": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "nas search experiments/search_mixers_demo.yaml": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "nas export runs/mixers-search": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "nas predict runs/mixers-best": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "nas latency measure --space mixers-demo": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "nas latency fit --jsonl mixers.jsonl": "test_mixers_pipeline.py::test_readme_mixed_mixer_sequence",
    "python experiments/distill_study.py --pretrain-only": "test_cli_hf.py::test_readme_gpt2_commands_run",
    "nas hf check runs/distill-study": "test_cli_hf.py::test_readme_gpt2_commands_run",
    "nas train experiments/train_from_gpt2.yaml": "test_cli_hf.py::test_readme_gpt2_commands_run",
    "nas eval --workdir runs/from-gpt2": "test_cli_hf.py::test_readme_gpt2_commands_run",
    "nas hf export --workdir runs/from-gpt2": "test_cli_hf.py::test_readme_gpt2_commands_run",
    "python experiments/llama_demo.py": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas spaces from-hf runs/llama-demo": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas hf check runs/llama-demo": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas hf import runs/llama-demo": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas train experiments/train_from_llama.yaml": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas latency measure --space llama-shakespeare": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas latency fit --jsonl llama-laptop.jsonl": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas search experiments/search_llama.yaml": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas export runs/llama-search": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas hf export --bundle runs/llama-best": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas predict runs/llama-best": "test_llama_readme.py::test_readme_llama_commands_run",
    "nas train experiments/train_lm_shakespeare.yaml": (
        "test_lm_task.py::test_builtin_shakespeare_lm_and_play_classification"
    ),
    "nas train experiments/train_mlm_shakespeare.yaml": "test_masked_lm.py::test_readme_mlm_commands_train_eval_predict",
    "nas predict runs/mlm-best": "test_masked_lm.py::test_readme_mlm_commands_train_eval_predict",
    "nas predict runs/lm-best --prompt": "test_readme_own_data.py::test_own_text_corpus_train_search_export_generate",
    "nas train my-lm.yaml": "test_readme_own_data.py::test_own_text_corpus_train_search_export_generate",
    "nas search search-lm.yaml": "test_readme_own_data.py::test_own_text_corpus_train_search_export_generate",
    "nas export runs/my-lm-search": "test_readme_own_data.py::test_own_text_corpus_train_search_export_generate",
    "nas predict runs/my-lm-best": "test_readme_own_data.py::test_own_text_corpus_train_search_export_generate",
    "nas train my-images.yaml": "test_readme_own_data.py::test_own_image_folder_train_search_export_classify",
    "nas search search-images.yaml": "test_readme_own_data.py::test_own_image_folder_train_search_export_classify",
    "nas export runs/my-vit-search": "test_readme_own_data.py::test_own_image_folder_train_search_export_classify",
    "nas predict runs/my-vit-best": "test_readme_own_data.py::test_own_image_folder_train_search_export_classify",
    "python3 -m venv .venv": "test_quickstart.py::test_quickstart_small_end_to_end_and_resume",
    ".venv/bin/python -m pytest": "(the suite itself)",
    "nas search experiments/search_latency_chance.yaml": "test_chance_constraints.py::test_search_records_mean_and_bound_and_meets_the_bound",
    'nas export RUN_DIR --select "latency_ms[cpu-host].q90': "test_chance_constraints.py::test_export_card_shows_mean_bound_and_measured",
    "nas latency fit --csv": "test_cli_latency.py::test_fit_csv_on_hat_and_bad_csvs",
    "nas latency calibrate --device cpu-host --space vit-mnist --check": (
        "test_cli_latency.py::test_calibrate_check_scores_the_predictor_on_fresh_architectures"
    ),
    "nas latency query --device xeon": "test_predictors_intervals.py::test_fit_csv_saves_a_device_that_query_and_list_use",
    "nas latency measure --space vit-mnist --device my-laptop": "test_cli_latency.py::test_measure_then_fit_a_new_device",
    "nas latency fit --jsonl": "test_cli_latency.py::test_measure_then_fit_a_new_device",
    "nas latency query --device my-laptop": "test_cli_latency.py::test_measure_then_fit_a_new_device",
    "nas export runs/quickstart/search": "test_export_cli.py::test_select_best_and_constraint",
    "nas predict runs/best": "test_export_cli.py::test_export_matches_supernet_in_fresh_process",
    "nas finetune runs/best": "test_export_cli.py::test_finetune_updates_card",
    "nas latency verify cpu-host": "test_integrity.py::test_the_shipped_predictors_verify_under_the_legacy_rule",
    "nas export --verify runs/best": (
        "test_integrity.py::test_verify_passes_an_intact_bundle_and_a_folder_of_bundles"
    ),
    "nas train experiments/": "test_training.py::test_killed_run_resumes_exactly",
    "nas search experiments/search_tabular.yaml --log-format json": (
        "test_terminal.py::test_search_prints_a_table_and_a_summary_or_json_lines"
    ),
    "nas eval --workdir": "test_training.py::test_cli_eval_and_train_report_bad_input",
    "nas search experiments/search_hwgpt_l.yaml": (
        "test_search_tables.py::test_readme_hwgpt_search_fixes_its_reference_and_defaults_to_bayesian"
    ),
    "python experiments/search_study.py": "test_search_tables.py::test_search_study_and_proposals_benchmark_run",
    "python experiments/proxy_search_study.py": "test_proxy_guide.py::test_proxy_search_study_runs_and_resumes",
    "nas spaces show vit-resnas-tiny": "test_stages_e2e.py::test_docs_command_and_a_bad_stage_is_one_line_exit_2",
    "nas proxies score lm-shakespeare": "test_proxies_cli.py::test_readme_proxy_commands_run",
    "nas proxies validate scores.jsonl": "test_proxies_cli.py::test_readme_proxy_commands_run",
    "nas search experiments/search_zero_shot.yaml": "test_proxies_cli.py::test_zero_shot_search_runs_without_a_supernet",
    "python -m benchmarks.bench_search proposals": (
        "test_search_tables.py::test_search_study_and_proposals_benchmark_run"
    ),
}
NEEDS_CLUSTER = ("HOST:PORT", "HEAD:6379", "ray start", "ray stop")  # marked so in README


def test_every_readme_command_is_run_by_a_test_or_needs_a_cluster():
    missing = []
    for cmd in readme_commands():
        if cmd in RUN_HERE or any(k in cmd for k in NEEDS_CLUSTER):
            continue
        where = next((t for prefix, t in ELSEWHERE.items() if cmd.startswith(prefix)), None)
        if where is None:
            missing.append(cmd)
        elif "::" in where:
            file, name = where.split("::")
            assert f"def {name}(" in (ROOT / "tests" / file).read_text(), where
    assert not missing, f"README commands that no test runs: {missing}"
    assert set(RUN_HERE) <= set(readme_commands())  # the list follows README


@pytest.mark.slow  # 260 search evaluations (in the driver) and the spaces/latency commands
def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    import shlex

    from nas.cli import main
    from search_spaces import load_space

    monkeypatch.chdir(ROOT)
    space = load_space("vit-mnist")
    (tmp_path / "arch.json").write_text(space.sample(0).to_json())
    (tmp_path / "ARCHS.jsonl").write_text("".join(a.to_json() + "\n" for a in space.sample_many(1, 3)))
    for cmd in RUN_HERE:
        argv = shlex.split(cmd)[1:]
        argv = [str(tmp_path / a) if a in ("arch.json", "ARCHS.jsonl") else a for a in argv]
        argv = [str(tmp_path / "arch.json") if a == "ARCH.json" else a for a in argv]
        argv = [str(tmp_path / a) if a.startswith("runs/") else a for a in argv]
        if argv[0] == "search" and "--resume" not in argv:
            name = "search-nsga2-seed0" if "bayesian" not in cmd else "search-bayesian-seed0"
            argv += ["--run-dir", str(tmp_path / "runs" / name), "--no-progress"]
        rc = main(argv)
        out = capsys.readouterr()
        assert rc == 0, (cmd, out.err)
        assert "Traceback" not in out.err and "warning" not in out.err.lower(), (cmd, out.err)
    assert len((tmp_path / "runs/search-bayesian-seed0/history.jsonl").read_text().splitlines()) == 60


def test_readme_is_one_page_that_links_every_guide():
    """README is what it is, the two commands, a tour and links; the guides live in docs/."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 120
    assert [t for t in re.findall(r"^## (.+)$", text, flags=re.M)] == [
        "Two commands",
        "A five-minute tour",
        "Guides",
    ]
    for path in [*guides.files()[1:], ROOT / "docs/design.md"]:
        assert f"](docs/{path.name})" in text, path.name
