"""The fine-tuning loop every task kind shares (:mod:`albertctl.finetune.loop`).

A task kind -- sentence classification/regression (:mod:`albertctl.glue`), span extraction
(:mod:`albertctl.squad`), multiple choice (:mod:`albertctl.race`) -- reads its files, builds
features, and hands the loop a :class:`~albertctl.finetune.loop.PreparedTask`: training data that
collates itself, a model head, an objective for the :class:`~albertctl.train.trainer.Trainer`
and a dev evaluator. Seeds, best/final selection, checkpoints, ``results.json``, precision,
device, exact resume after a kill and torchrun come from the loop. See docs/design.md.
"""
