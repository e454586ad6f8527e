"""The elastic weight-sharing transformer, its samplers, training and evaluation.

Public entry points: :func:`supernet.model.init` / :func:`supernet.model.apply`
(the supernet), :func:`extract` (standalone weights of a subnet),
:func:`supernet.checkpoint.load` (a trained run), :func:`supernet.evaluation.load_evaluator`,
:mod:`supernet.samplers`, :mod:`supernet.data` and :func:`supernet.train.train_and_evaluate`.
"""

from supernet.extract import extract

__all__ = ["extract"]
