"""albertctl: from raw text to a pretrained and fine-tuned ALBERT.

The package is laid out by pipeline stage: ``vocab`` (SentencePiece vocabulary and the
tokenizer), ``data`` (SOP pairs and n-gram masking into Arrow shards), ``model`` (the ALBERT
core), ``train`` (optimizers, schedules, checkpoints shared by pretraining and fine-tuning),
``glue`` (task registry and fine-tuning) and ``cli`` (thin typer commands).
"""

__version__ = "0.1.0"
