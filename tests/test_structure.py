"""Structure: no import cycle among the vocabulary modules, one shard schema, one newest-checkpoint rule."""

from __future__ import annotations

import ast
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from albertctl import pipeline
from albertctl.data.shards import read_shard, shard_schema
from albertctl.model.albert import AlbertForPreTraining
from albertctl.model.checkpoint import resolve_checkpoint, save_model
from albertctl.model.config import get_config
from albertctl.train import checkpoint as train_checkpoint
from albertctl.train.synthetic import write_synthetic_data

REPO = Path(__file__).resolve().parents[1]
VOCAB_DIR = REPO / "albertctl" / "vocab"
VOCAB_PACKAGE = "albertctl.vocab"

# --- 1. the vocabulary modules import each other one way -------------------------------------------


def _vocab_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(VOCAB_DIR.glob("*.py")):
        name = VOCAB_PACKAGE if path.stem == "__init__" else f"{VOCAB_PACKAGE}.{path.stem}"
        modules[name] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[tuple[str, bool]]:
    """``(imported albertctl.vocab module, at module level?)`` for every import statement that runs
    (``if TYPE_CHECKING:`` blocks never do)."""
    modules = _vocab_modules()
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other, top)
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                if base in modules:
                    found.append((base, top))
                for alias in child.names:
                    if f"{base}.{alias.name}" in modules:  # `from albertctl.vocab import wordpiece`
                        found.append((f"{base}.{alias.name}", top))
            # Code in functions and classes' methods runs later; class bodies and if/try run now.
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, top and not nested)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return [(name, top) for name, top in found if name != module]


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)) is not None:
            return cycle
    return None


def test_vocab_modules_import_each_other_only_at_module_level() -> None:
    """A function-level import between vocabulary modules is how a cycle hides: there are none."""
    deferred = {
        module: sorted({name for name, top in _imports(module, path) if not top})
        for module, path in _vocab_modules().items()
    }
    assert {m: names for m, names in deferred.items() if names} == {}


def test_vocab_import_graph_has_no_cycle() -> None:
    """Every import between albertctl.vocab modules (module level or not) goes one way."""
    graph = {
        module: {name for name, _ in _imports(module, path)} for module, path in _vocab_modules().items()
    }
    assert graph["albertctl.vocab.tokenizer"]  # the graph was read at all
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph) or [])}"


def test_the_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


_MODULES = ("albertctl.vocab.tokenizer", "albertctl.vocab.wordpiece", "albertctl.vocab.hf_export")
# Every name other modules, tests and benchmarks import from these modules today.
_NAMES = {
    "albertctl.vocab": (
        "ALLOW_VOCAB_MISMATCH REFERENCE_USER_SYMBOLS BuildVocabConfig BuildVocabReport EncodedPair "
        "NormalizationConfig SentencePieceTokenizer Tokenizer WordStartRule build_vocab "
        "check_same_vocabulary has_vocabulary load_tokenizer normalize_text reference_word_start "
        "truncate_pair wordpiece"
    ),
    "albertctl.vocab.tokenizer": (
        "ALLOW_VOCAB_MISMATCH CLS CONFIG_FILE EncodedPair MASK MODEL_FILE PAD SEP SPECIAL_IDS "
        "SPIECE_UNDERLINE SentencePieceTokenizer Tokenizer UNK VOCAB_FILE WORDPIECE_FILE WordStartRule "
        "check_same_vocabulary has_vocabulary load_tokenizer reference_word_start truncate_pair"
    ),
    "albertctl.vocab.wordpiece": (
        "BERT_SPECIALS CONFIG_FILE CONTINUATION WORDPIECE_FILE Tokenizer WordPieceConfig "
        "WordPieceTokenizer WordStartRule is_chinese_char is_punctuation wordpiece_word_start "
        "_clean _is_control _is_whitespace"
    ),
    "albertctl.vocab.hf_export": (
        "DIGIT_COMMA_PENALTY HF_CONFIG_FILE HF_TOKENIZER_FILE hf_tokenizer_config hf_tokenizer_json "
        "write_hf_files"
    ),
}


@pytest.mark.parametrize(
    "order", list(itertools.permutations(_MODULES)), ids=lambda o: "-".join(m.rpartition(".")[2] for m in o)
)
def test_vocab_modules_import_in_any_order(order: tuple[str, ...]) -> None:
    """In a fresh interpreter, importing the three modules in any order works and every name is
    still where it is imported from today (the same object from each module that re-exports it)."""
    script = f"""
import importlib
for name in {list(order)!r}:
    importlib.import_module(name)
names = {_NAMES!r}
for module, listed in names.items():
    mod = importlib.import_module(module)
    missing = [n for n in listed.split() if not hasattr(mod, n)]
    assert not missing, (module, missing)
import albertctl.vocab.tokenizer as t, albertctl.vocab.wordpiece as w
assert w.Tokenizer is t.Tokenizer and w.CONFIG_FILE == t.CONFIG_FILE
assert issubclass(w.WordPieceTokenizer, t.Tokenizer)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


# --- 2. synthetic shards have the one shard schema -----------------------------------------------


@pytest.mark.parametrize("vocab_size", [128, 70000])
def test_synthetic_shards_have_the_shard_schema(tmp_path: Path, vocab_size: int) -> None:
    for batch_rows in (None, 3):
        out = write_synthetic_data(
            tmp_path / f"data-{batch_rows}",
            shards=1,
            rows_per_shard=8,
            vocab_size=vocab_size,
            batch_rows=batch_rows,
        )
        path = out / "shard-00000.arrow"
        with pa.memory_map(str(path), "r") as source:
            written = pa.ipc.open_stream(source).schema  # what the file declares
        expected = shard_schema(vocab_size)
        assert written.equals(expected, check_metadata=True), f"{written}\n!=\n{expected}"
        assert [f.nullable for f in written] == [False] * len(expected)
        table = read_shard(path)
        assert table.schema.equals(expected) and table.num_rows == 8
        if batch_rows is not None:
            assert len(table.to_batches()) == 3  # 8 rows in batches of 3


# --- 3. one rule for a run's newest complete checkpoint ------------------------------------------


def _entry_points(run: Path) -> tuple[Path, Path | None, Path]:
    return pipeline.latest_checkpoint(run), train_checkpoint.latest_checkpoint(run), resolve_checkpoint(run)


@pytest.fixture(scope="module")
def trainer_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with one complete trainer checkpoint, ``checkpoints/step-000004``."""
    run = tmp_path_factory.mktemp("complete") / "run"
    model = AlbertForPreTraining(get_config("debug"), generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    return train_checkpoint.save_trainer_checkpoint(
        run, step=4, model=model, optimizer=optimizer, scheduler=scheduler, rng=[], loader={}
    )


def _copy(complete: Path, run: Path, name: str) -> Path:
    return Path(shutil.copytree(complete, run / "checkpoints" / name))


def test_checkpoint_entry_points_skip_a_half_written_checkpoint(
    tmp_path: Path, trainer_checkpoint: Path
) -> None:
    run = tmp_path / "run"
    complete = _copy(trainer_checkpoint, run, "step-000004")
    # Copied (or written) without the atomic rename and stopped part way: trainer.json, written
    # last, is missing; in the other only the weights are there yet.
    (_copy(trainer_checkpoint, run, "step-000009") / "trainer.json").unlink()
    weights_only = run / "checkpoints" / "step-000012"
    weights_only.mkdir()
    shutil.copy2(complete / "model.safetensors", weights_only)
    (run / "checkpoints" / "step-000020").mkdir()  # just created
    _copy(trainer_checkpoint, run, ".step-000030.tmp-dead")  # a save killed before its rename
    assert _entry_points(run) == (complete, complete, complete)
    assert train_checkpoint.list_checkpoints(run) == [(4, complete)]


def test_checkpoint_entry_points_order_steps_numerically(tmp_path: Path, trainer_checkpoint: Path) -> None:
    run = tmp_path / "run"
    _copy(trainer_checkpoint, run, "step-999999")
    newest = _copy(trainer_checkpoint, run, "step-1000000")  # past 6 digits: lexically smaller
    assert _entry_points(run) == (newest, newest, newest)
    assert [s for s, _ in train_checkpoint.list_checkpoints(run)] == [999999, 1000000]


def test_checkpoint_entry_points_agree_on_model_folders(tmp_path: Path) -> None:
    """Plain model folders (``save_model``) under ``checkpoints/`` count too, as finetune and
    export have always read them."""
    run = tmp_path / "run"
    model = AlbertForPreTraining(get_config("debug"), generator=torch.Generator().manual_seed(0))
    for step in (10, 20):
        save_model(model, run / "checkpoints" / f"step-{step:06d}")
    (run / "checkpoints" / "step-000030").mkdir()
    newest = run / "checkpoints" / "step-000020"
    assert _entry_points(run) == (newest, newest, newest)
