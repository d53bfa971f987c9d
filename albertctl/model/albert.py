"""The ALBERT model: backbone, pretraining heads (MLM + SOP), sequence classification, question
answering (SQuAD spans), multiple choice (RACE), and their losses.

Follows TF ALBERT (google-research/albert ``modeling.py``) and matches transformers'
``modeling_albert.py`` numerically (tests/test_model_parity.py). Reads and writes nothing; the
caller decides device and dtype (the modules are autocast-friendly).

Shape legend:
    B batch, L sequence length, P masked positions per sequence, E embedding size,
    H hidden size, N attention heads, D head size (H / N), I intermediate size, V vocab size,
    C number of labels (classification) or of choices (multiple choice).

Where we follow TF rather than transformers (docs/model.md): FFN-output dropout is applied
(transformers 5 never applies it), the SOP head has no dropout, padded keys get -10000 added
(not finfo.min, so an all-padding row stays finite), the pad row of the word table is trained
like any other, and weights start from a normal truncated at 2 std. The span and multiple-choice
losses take masks: padded positions and absent choices get no softmax mass (see :func:`span_loss`).

``config.embedding_layout == "brightmart"`` builds brightmart/albert_zh's variant instead
(``modeling.py`` there, checked in tests/test_brightmart.py): the embeddings and the MLM transform
change (:class:`AlbertEmbeddings`, :class:`AlbertMLMHead`); blocks, pooler and heads do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from albertctl.model.config import AlbertConfig

# TF ALBERT's additive mask value for padded keys.
MASK_VALUE = -10000.0
# Added to the MLM weight sum, as in TF run_pretraining.py, so an all-padding batch gives 0, not NaN.
MLM_WEIGHT_EPS = 1e-5
# What masked logits are set to before a cross entropy (fp32): exp() of it underflows to exactly 0,
# so a padded position or an absent choice takes no probability mass at all.
LOGIT_MASK_VALUE = torch.finfo(torch.float32).min


def activation(name: str, x: torch.Tensor) -> torch.Tensor:
    """Apply a config ``hidden_act`` (names as in transformers)."""
    if name == "gelu_new":
        return F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu(x)
    if name == "relu":
        return F.relu(x)
    if name == "silu":
        return F.silu(x)
    raise ValueError(f"unknown activation {name!r}")  # AlbertConfig validates this first


def group_of_layer(layer: int, config: AlbertConfig) -> int:
    """Which weight group layer ``layer`` uses: ``int(layer / num_layers * G)`` in exact integers."""
    return layer * config.num_hidden_groups // config.num_hidden_layers


def extended_attention_mask(input_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, L) 1 = token, 0 = padding -> additive (B, 1, 1, L) mask over keys in ``dtype``."""
    if input_mask is None:
        return None
    mask = (1.0 - input_mask[:, None, None, :].to(dtype)) * MASK_VALUE  # (B, 1, 1, L)
    return mask


class AlbertEmbeddings(nn.Module):
    """Word + token-type + position embeddings, LayerNorm, dropout.

    Google layout: all three tables and the LayerNorm at width E (the model maps E -> H after).
    brightmart layout (albert_zh's ``embedding_lookup_factorized`` + ``embedding_postprocessor``):
    the word lookup at E times ``word_embeddings_2`` (E -> H, no bias), then the token-type and
    position tables, LayerNorm and dropout at H; the output is already H wide.
    """

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        brightmart = config.embedding_layout == "brightmart"
        width = config.hidden_size if brightmart else config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size)
        # A Linear, so the weight is [out, in] = [H, E] like every other weight here; the TF
        # variable is the [E, H] matrix itself, so ``import tf`` transposes it as it does kernels.
        self.word_embeddings_2 = (
            nn.Linear(config.embedding_size, config.hidden_size, bias=False) if brightmart else None
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and types -> (B, L, E) (Google layout) or (B, L, H) (brightmart layout)."""
        length = input_ids.shape[1]
        x = self.word_embeddings(input_ids)  # (B, L, E)
        if self.word_embeddings_2 is not None:
            x = self.word_embeddings_2(x)  # (B, L, H)
        x = x + self.token_type_embeddings(token_type_ids)  # (B, L, E or H)
        x = x + self.position_embeddings.weight[:length]  # (L, E or H) broadcast over B
        return self.dropout(self.layer_norm(x))


class AlbertAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention`` (post-LN residual)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.attention_dropout_prob = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape
        # One GEMM for q, k and v (about 10% faster than three); the parameters stay separate so
        # names, checkpoints and LAMB's per-tensor trust ratios are those of the reference.
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])  # (3H, H)
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])  # (3H,)
        # (B, L, 3H) -> (B, L, 3, N, D)
        qkv = F.linear(x, weight, bias).view(batch, length, 3, self.num_heads, self.head_size)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, N, L, D)
        if mask is not None:
            mask = mask.to(q.dtype)  # under autocast q is the low-precision dtype
        dropout = self.attention_dropout_prob if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)  # (B, N, L, D)
        context = context.transpose(1, 2).reshape(batch, length, hidden)  # (B, L, H)
        return self.layer_norm(x + self.dropout(self.dense(context)))


class AlbertBlock(nn.Module):
    """One transformer block: attention, then FFN (H -> I -> H) with post-LN residuals."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.hidden_act = config.hidden_act
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.ffn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention(x, mask)  # (B, L, H)
        inner = activation(self.hidden_act, self.ffn(attended))  # (B, L, I)
        return self.ffn_layer_norm(attended + self.dropout(self.ffn_output(inner)))


class AlbertGroup(nn.Module):
    """``inner_group_num`` blocks with their own weights, run in order; shared across layers."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(AlbertBlock(config) for _ in range(config.inner_group_num))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


class AlbertModel(nn.Module):
    """The backbone: embeddings, E -> H mapping, shared layer groups, pooler on token 0.

    In the brightmart layout the embeddings end at H already (``word_embeddings_2``), so there is
    no ``embedding_hidden_mapping_in``; everything after the embeddings is the same in both layouts.

    ``add_pooling_layer=False`` leaves the pooler out (transformers does so for question answering,
    whose checkpoints therefore hold no pooler weights); ``forward`` then returns ``None`` for it.
    """

    def __init__(
        self,
        config: AlbertConfig,
        *,
        add_pooling_layer: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.embeddings = AlbertEmbeddings(config)
        # Google layout: TF creates this only when E != H; we always have it (as transformers
        # does), so every Hugging Face checkpoint loads. At E == H it is one extra H x H matrix.
        self.embedding_hidden_mapping_in = (
            nn.Linear(config.embedding_size, config.hidden_size)
            if config.embedding_layout == "google"
            else None
        )
        self.groups = nn.ModuleList(AlbertGroup(config) for _ in range(config.num_hidden_groups))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        init_albert_weights(self, config, generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        input_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, L) ids, types, mask (1 token / 0 pad) -> sequence output (B, L, H), pooled (B, H) or
        ``None`` without a pooler."""
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {input_ids.shape[1]} exceeds max_position_embeddings "
                f"{self.config.max_position_embeddings}"
            )
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)  # (B, L, E), brightmart: (B, L, H)
        if self.embedding_hidden_mapping_in is not None:
            x = self.embedding_hidden_mapping_in(x)  # (B, L, H)
        mask = extended_attention_mask(input_mask, x.dtype)  # (B, 1, 1, L)
        for layer in range(self.config.num_hidden_layers):
            x = self.groups[group_of_layer(layer, self.config)](x, mask)
        if self.pooler is None:
            return x, None
        pooled = torch.tanh(self.pooler(x[:, 0]))  # (B, H)
        return x, pooled


class AlbertMLMHead(nn.Module):
    """Transform, activation, LayerNorm, then logits against the tied word table + own bias.

    Google layout: the transform is H -> E. brightmart layout (albert_zh's
    ``get_masked_lm_output``): the transform is H -> H, and the result goes back to E through
    ``word_embeddings_2`` transposed (the ``projection`` argument) before the tied word table.
    """

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.hidden_act = config.hidden_act
        width = config.hidden_size if config.embedding_layout == "brightmart" else config.embedding_size
        self.dense = nn.Linear(config.hidden_size, width)
        self.layer_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(
        self, hidden: torch.Tensor, word_embeddings: torch.Tensor, projection: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(..., H) hidden, (V, E) word table, brightmart's (H, E) ``word_embeddings_2`` weight or
        None -> (..., V) logits."""
        x = self.layer_norm(activation(self.hidden_act, self.dense(hidden)))  # (..., E), brightmart (..., H)
        if projection is not None:
            x = x @ projection  # (..., H) @ (H, E) -> (..., E)
        return F.linear(x, word_embeddings, self.bias)  # (..., V)


class PreTrainingOutput(NamedTuple):
    """Logits of the two pretraining heads."""

    mlm_logits: torch.Tensor
    """(B, P, V) at ``masked_lm_positions`` when given, else (B, L, V)."""
    sop_logits: torch.Tensor
    """(B, 2): 0 = segments in order, 1 = swapped."""


class AlbertForPreTraining(nn.Module):
    """Backbone + MLM head (tied decoder) + SOP head (Linear H -> 2 on the pooled output, no dropout)."""

    def __init__(self, config: AlbertConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        generator = default_generator(generator)
        self.albert = AlbertModel(config, generator=generator)
        self.mlm_head = AlbertMLMHead(config)
        self.sop_classifier = nn.Linear(config.hidden_size, 2)
        init_albert_weights(self.mlm_head, config, generator)
        init_albert_weights(self.sop_classifier, config, generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        input_mask: torch.Tensor | None = None,
        masked_lm_positions: torch.Tensor | None = None,
    ) -> PreTrainingOutput:
        """(B, L) inputs, optional (B, P) positions -> MLM logits (B, P, V) or (B, L, V), SOP (B, 2)."""
        sequence, pooled = self.albert(input_ids, token_type_ids, input_mask)  # (B, L, H), (B, H)
        assert pooled is not None  # built with the pooler
        if masked_lm_positions is not None:
            index = masked_lm_positions.long()[:, :, None].expand(-1, -1, sequence.shape[-1])  # (B, P, H)
            sequence = torch.gather(sequence, 1, index)  # (B, P, H)
        embeddings = self.albert.embeddings
        projection = None if embeddings.word_embeddings_2 is None else embeddings.word_embeddings_2.weight
        mlm_logits = self.mlm_head(sequence, embeddings.word_embeddings.weight, projection)
        return PreTrainingOutput(mlm_logits=mlm_logits, sop_logits=self.sop_classifier(pooled))


@dataclass(frozen=True)
class PreTrainingLoss:
    """The pretraining loss and what accuracy needs; counts are detached floats (sums over the batch)."""

    loss: torch.Tensor
    """mlm_loss + sop_loss (scalar, differentiable)."""
    mlm_loss: torch.Tensor
    """Σ w·CE / (Σ w + 1e-5) over masked positions."""
    sop_loss: torch.Tensor
    """Mean CE over the batch."""
    mlm_correct: torch.Tensor
    """Σ w·[argmax == label]."""
    mlm_count: torch.Tensor
    """Σ w (the number of real masked positions)."""
    sop_correct: torch.Tensor
    """Number of sequences whose SOP argmax equals the label."""
    sop_count: torch.Tensor
    """Batch size."""


@dataclass(frozen=True)
class PreTrainingSums:
    """What the pretraining loss and accuracies are made of, summed over one batch: a loss
    normalised over several micro-batches and processes divides these by global counts."""

    mlm_loss_sum: torch.Tensor
    """Σ w·CE over masked positions (scalar, differentiable)."""
    sop_loss_sum: torch.Tensor
    """Σ CE over the batch (scalar, differentiable)."""
    mlm_correct: torch.Tensor
    """Σ w·[argmax == label] (detached)."""
    mlm_count: torch.Tensor
    """Σ w, the number of real masked positions (detached)."""
    sop_correct: torch.Tensor
    """Sequences whose SOP argmax equals the label (detached)."""
    sop_count: torch.Tensor
    """Batch size (detached)."""


def pretraining_sums(
    output: PreTrainingOutput,
    masked_lm_ids: torch.Tensor,
    masked_lm_weights: torch.Tensor,
    sentence_order_label: torch.Tensor,
) -> PreTrainingSums:
    """The sums of :func:`pretraining_loss` from (B, P, V) MLM logits, (B, P) ids and weights and
    (B,) SOP labels; cross entropies in fp32 whatever the logits' dtype."""
    if output.mlm_logits.shape[:2] != masked_lm_ids.shape:
        raise ValueError(
            f"mlm_logits {tuple(output.mlm_logits.shape)} do not match masked_lm_ids "
            f"{tuple(masked_lm_ids.shape)}: pass masked_lm_positions to the model"
        )
    logits = output.mlm_logits.float().flatten(0, 1)  # (B*P, V)
    ids = masked_lm_ids.long().clamp_min(0).flatten()  # (B*P,)
    weights = masked_lm_weights.float().flatten()  # (B*P,)
    mlm_loss_sum = (F.cross_entropy(logits, ids, reduction="none") * weights).sum()  # ()
    sop_logits = output.sop_logits.float()  # (B, 2)
    labels = sentence_order_label.long()  # (B,)
    sop_loss_sum = F.cross_entropy(sop_logits, labels, reduction="sum")  # ()
    with torch.no_grad():
        mlm_correct = ((logits.argmax(-1) == ids).float() * weights).sum()
        sop_correct = (sop_logits.argmax(-1) == labels).float().sum()
    return PreTrainingSums(
        mlm_loss_sum=mlm_loss_sum,
        sop_loss_sum=sop_loss_sum,
        mlm_correct=mlm_correct,
        mlm_count=weights.sum().detach(),
        sop_correct=sop_correct,
        sop_count=torch.tensor(float(labels.numel()), device=labels.device),
    )


def pretraining_loss(
    output: PreTrainingOutput,
    masked_lm_ids: torch.Tensor,
    masked_lm_weights: torch.Tensor,
    sentence_order_label: torch.Tensor,
) -> PreTrainingLoss:
    """TF ALBERT's pretraining loss from (B, P, V) MLM logits, (B, P) ids and weights, (B,) SOP labels.

    Padded prediction slots carry weight 0 (their id may be anything, including -100). The
    cross entropies are computed in fp32 whatever the logits' dtype.
    """
    sums = pretraining_sums(output, masked_lm_ids, masked_lm_weights, sentence_order_label)
    mlm_loss = sums.mlm_loss_sum / (sums.mlm_count + MLM_WEIGHT_EPS)
    sop_loss = sums.sop_loss_sum / sums.sop_count
    return PreTrainingLoss(
        loss=mlm_loss + sop_loss,
        mlm_loss=mlm_loss,
        sop_loss=sop_loss,
        mlm_correct=sums.mlm_correct,
        mlm_count=sums.mlm_count,
        sop_correct=sums.sop_correct,
        sop_count=sums.sop_count,
    )


class AlbertForSequenceClassification(nn.Module):
    """Backbone + dropout(classifier_dropout_prob) + Linear H -> C on the pooled output; C = 1: regression."""

    def __init__(
        self, config: AlbertConfig, num_labels: int, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be an integer >= 1 (1 = regression), got {num_labels!r}")
        self.config = config
        self.num_labels = num_labels
        generator = default_generator(generator)
        self.albert = AlbertModel(config, generator=generator)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        init_albert_weights(self.classifier, config, generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        input_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, L) inputs -> (B, C) logits (C = 1: the regression score)."""
        _, pooled = self.albert(input_ids, token_type_ids, input_mask)  # (B, H)
        assert pooled is not None  # built with the pooler
        return self.classifier(self.dropout(pooled))  # (B, C)


def sequence_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """Cross entropy for (B, C>1) logits and (B,) class ids; squared error for (B, 1) scores and
    (B,) floats. ``reduction``: mean (the reference), or sum (normalised by the caller)."""
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.float().squeeze(-1), labels.float(), reduction=reduction)
    return F.cross_entropy(logits.float(), labels.long(), reduction=reduction)


class SpanLogits(NamedTuple):
    """Start and end scores of an answer span, one per token (transformers' start/end_logits)."""

    start: torch.Tensor
    """(B, L): the answer starts at this token."""
    end: torch.Tensor
    """(B, L): the answer ends at this token (inclusive)."""


class AlbertForQuestionAnswering(nn.Module):
    """Backbone without the pooler + Linear H -> 2 on every token: start and end scores.

    No pooler, as transformers' ``AlbertForQuestionAnswering`` (``add_pooling_layer=False``), so our
    QA checkpoints and theirs have the same keys. No dropout before ``qa_outputs``, as both
    transformers and TF ``squad_utils.py`` (v1 head). TF's SQuAD 2.0 head (XLNet-style top-k start/end
    with an answer classifier) is not reproduced: SQuAD 2.0 uses this head with the no-answer span
    on token 0, as transformers does.
    """

    def __init__(self, config: AlbertConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        generator = default_generator(generator)
        self.albert = AlbertModel(config, add_pooling_layer=False, generator=generator)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        init_albert_weights(self.qa_outputs, config, generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        input_mask: torch.Tensor | None = None,
    ) -> SpanLogits:
        """(B, L) inputs -> start and end scores, each (B, L), in the dtype the model computes in."""
        sequence, _ = self.albert(input_ids, token_type_ids, input_mask)  # (B, L, H)
        logits = self.qa_outputs(sequence)  # (B, L, 2)
        start, end = logits.unbind(-1)  # each (B, L)
        return SpanLogits(start=start.contiguous(), end=end.contiguous())


class AlbertForMultipleChoice(nn.Module):
    """Backbone + dropout(classifier_dropout_prob) + Linear H -> 1 on the pooled output of each
    (question, choice) sequence; the C scores of a question are compared by a softmax.

    As transformers' ``AlbertForMultipleChoice`` and TF ``race_utils.py``: the choices are flattened
    into the batch, so the backbone sees B*C sequences.
    """

    def __init__(self, config: AlbertConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        generator = default_generator(generator)
        self.albert = AlbertModel(config, generator=generator)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, 1)
        init_albert_weights(self.classifier, config, generator)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        input_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, C, L) inputs -> (B, C) scores, one per choice."""
        if input_ids.dim() != 3:
            raise ValueError(f"multiple choice input_ids must be (B, C, L), got {tuple(input_ids.shape)}")
        batch, choices, length = input_ids.shape

        def flat(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.reshape(batch * choices, length)  # (B*C, L)

        _, pooled = self.albert(flat(input_ids), flat(token_type_ids), flat(input_mask))  # (B*C, H)
        assert pooled is not None  # built with the pooler
        scores = self.classifier(self.dropout(pooled))  # (B*C, 1)
        return scores.view(batch, choices)  # (B, C)


def span_loss(
    logits: SpanLogits,
    start_positions: torch.Tensor,
    end_positions: torch.Tensor,
    *,
    input_mask: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """(CE(start) + CE(end)) / 2 from (B, L) span logits and (B,) (or (B, 1)) token positions, in fp32.

    Targets follow transformers' ``AlbertForQuestionAnswering``: positions are clamped to [0, L], so
    a negative position becomes token 0 (it is *not* ignored) and a position >= L (an answer outside
    the window) is ignored. ``reduction="mean"`` is transformers' loss: each of the two terms is
    the mean over its own non-ignored targets (NaN when all are ignored, as there).
    ``reduction="sum"``: the sum over the batch of the per-window losses, ignored terms counting 0,
    for callers that divide by the global number of windows.

    The one difference: given ``input_mask`` (B, L), padded positions take no softmax mass (their
    logits are set to :data:`LOGIT_MASK_VALUE`) and a target on a padded position is ignored like
    one past the end, so with dynamic padding the loss does not depend on how far a batch is
    padded. The references pad every window to a fixed 384 tokens and let padding share the softmax.
    """
    length = logits.start.shape[1]
    padded = None if input_mask is None else input_mask == 0  # (B, L)
    total = logits.start.new_zeros((), dtype=torch.float32)
    for scores, positions in ((logits.start, start_positions), (logits.end, end_positions)):
        scores = scores.float()  # (B, L)
        positions = positions.long().reshape(-1).clamp(0, length)  # (B,); L = ignored
        if padded is not None:
            scores = scores.masked_fill(padded, LOGIT_MASK_VALUE)
            on_padding = padded.gather(1, positions.clamp(max=length - 1)[:, None]).squeeze(1)  # (B,)
            positions = positions.masked_fill(on_padding & (positions < length), length)
        total = total + F.cross_entropy(scores, positions, ignore_index=length, reduction=reduction)
    return total / 2


def multiple_choice_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    choice_mask: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross entropy over the choices, in fp32, from (B, C) scores and (B,) correct-choice ids.

    ``choice_mask`` (B, C), 1 = a real choice, 0 = padding for a question with fewer than C options:
    absent choices take no softmax mass (a label pointing at one gives a huge loss; readers never
    produce it). Labels of -100 are ignored, as in ``F.cross_entropy``. ``reduction``: mean (the
    reference), or sum over the batch (normalised by the caller).
    """
    scores = logits.float()  # (B, C)
    if choice_mask is not None:
        scores = scores.masked_fill(choice_mask == 0, LOGIT_MASK_VALUE)
    return F.cross_entropy(scores, labels.long(), reduction=reduction)


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """The generator to initialise with: the caller's, else a fresh one seeded 0 (deterministic)."""
    return generator if generator is not None else torch.Generator().manual_seed(0)


@torch.no_grad()
def init_albert_weights(module: nn.Module, config: AlbertConfig, generator: torch.Generator | None) -> None:
    """TF initialisation: weights ~ normal(0, σ) truncated at ±2σ, biases 0, LayerNorm 1/0."""
    generator = default_generator(generator)
    std = config.initializer_range
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(sub.weight, std=std, a=-2 * std, b=2 * std, generator=generator)
            if isinstance(sub, nn.Linear) and sub.bias is not None:
                sub.bias.zero_()
        elif isinstance(sub, nn.LayerNorm):
            sub.weight.fill_(1.0)
            sub.bias.zero_()
        elif isinstance(sub, AlbertMLMHead):
            sub.bias.zero_()
