/* One pass of make-data over a group, compiled: SOP pairs and whole-word n-gram masks.
 *
 * The same algorithm as the pure-Python albertctl/data/sop.py and masking.py, step for step and
 * draw for draw: every random number comes from the caller's numpy Generator (its bitgen_t,
 * through BitGenerator.capsule) and through numpy's own sampling routines (libnpyrandom, linked
 * from the installed numpy), in the order the Python code draws them. So the output is the
 * Python builder's, byte for byte (tests/test_data_golden.py runs both; the Python code stays
 * the specification and the fallback where this module cannot be built).
 *
 * Four functions, each called from albertctl/data/columns.py only: build_pass (below), mask_rows
 * (the loader's dynamic masks: masking.mask_row on many rows, one generator each), flatten_ids
 * (the tokenizer's id lists as flat columns) and take_rows (a pass's rows reordered: the shard
 * shuffle).
 *
 * build_pass (albertctl.data.columns.build_pass is the only caller):
 *
 *   build_pass(capsule, tokens, starts, seg_offsets, doc_offsets,
 *              max_seq_length, max_predictions, masked_lm_prob, short_seq_prob, ngram,
 *              whole_word, policy, vocab_size, cls_id, sep_id, pad_id, mask_id, cumulative)
 *
 *   tokens      int32[T]    every segment's piece ids, concatenated
 *   starts      uint8[T]    1 where a piece starts a word
 *   seg_offsets int64[S+1]  segment s is tokens[seg_offsets[s]:seg_offsets[s+1]] (never empty)
 *   doc_offsets int64[D+1]  document d is segments doc_offsets[d]..doc_offsets[d+1]-1 (never empty)
 *   policy      0 reference, 1 split, 2 drop (sop.SINGLE_SEGMENT_POLICIES)
 *   cumulative  float64[ngram]  the cumulative P(n), ending at exactly 1.0 (masking._cumulative)
 *
 * returns the instances of the pass, in the order the Python builder emits them, as bytes:
 *   (input_ids int32, row_offsets int64[R+1], token_type_ids uint8, token_boundary uint8,
 *    masked_lm_positions int32, mask_offsets int64[R+1], masked_lm_ids int32, labels uint8[R])
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "numpy/random/bitgen.h"

/* From numpy's libnpyrandom (numpy/random/lib), declared here to avoid its headers' npy_* needs. */
extern double random_standard_uniform(bitgen_t *bitgen_state);
extern void random_standard_uniform_fill(bitgen_t *bitgen_state, Py_ssize_t cnt, double *out);
extern uint64_t random_interval(bitgen_t *bitgen_state, uint64_t max);
extern void random_bounded_uint64_fill(bitgen_t *bitgen_state, uint64_t off, uint64_t rng, Py_ssize_t cnt,
                                       bool use_masked, uint64_t *out);

enum { POLICY_REFERENCE = 0, POLICY_SPLIT = 1, POLICY_DROP = 2 };

/* -- a growable array ------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap, item;
} Vec;

static int vec_reserve(Vec *v, size_t extra) {
    if (v->len + extra <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < v->len + extra) cap *= 2;
    char *data = realloc(v->data, cap * v->item);
    if (data == NULL) return -1;
    v->data = data;
    v->cap = cap;
    return 0;
}

#define VEC_AT(v, type) ((type *)(v).data)

/* -- the random draws, as numpy's Generator methods make them -------------------------------- */

/* rng.integers(low, high) for a scalar int64: one bounded draw in [low, high). */
static int64_t draw_integer(bitgen_t *bg, int64_t low, int64_t high) {
    uint64_t out;
    random_bounded_uint64_fill(bg, (uint64_t)low, (uint64_t)(high - 1 - low), 1, false, &out);
    return (int64_t)out;
}

/* rng.permutation(n): np.arange(n) shuffled by Fisher-Yates from the end (Generator.shuffle). */
static void draw_permutation(bitgen_t *bg, int64_t *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = (int64_t)random_interval(bg, (uint64_t)i);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* -- one pass ---------------------------------------------------------------------------------- */

typedef struct {
    int64_t max_seq_length, max_predictions, ngram, policy, vocab_size;
    double masked_lm_prob, short_seq_prob;
    int whole_word;
    int32_t cls_id, sep_id, pad_id, mask_id;
    const double *cumulative;
} Options;

typedef struct {
    const int32_t *tokens;
    const uint8_t *starts;
    const int64_t *seg;  /* S + 1 */
    const int64_t *doc;  /* D + 1 */
    int64_t num_docs;
} Group;

typedef struct {
    Vec ids, offsets, types, boundary, mpos, moffsets, mids, labels;
    /* scratch, reused by every instance */
    int64_t *positions, *word_starts, *order;
    double *n_draws, *kind_draws, *trunc_draws;
    uint64_t *random_ids;
    uint8_t *taken;
    int32_t *masked;
    size_t trunc_cap;
} Out;

typedef struct {
    int64_t begin, end; /* a token range of the group */
} Span;

static int is_special(const Options *o, int32_t id) {
    return id == o->cls_id || id == o->sep_id || id == o->pad_id;
}

/* truncate_pair: the longer side (B on a tie) loses one token per draw, front if the draw < 0.5. */
static int truncate_pair(bitgen_t *bg, Out *out, Span *a, Span *b, int64_t max_num_tokens) {
    int64_t la = a->end - a->begin, lb = b->end - b->begin;
    int64_t excess = la + lb - max_num_tokens;
    if (excess <= 0) return 0;
    if ((size_t)excess > out->trunc_cap) {
        double *draws = realloc(out->trunc_draws, (size_t)excess * sizeof(double));
        if (draws == NULL) return -1;
        out->trunc_draws = draws;
        out->trunc_cap = (size_t)excess;
    }
    random_standard_uniform_fill(bg, excess, out->trunc_draws);
    int64_t lead = la > lb ? la - lb : lb - la;
    if (lead > excess) lead = excess;
    int64_t a_front = 0, a_back = 0, b_front = 0, b_back = 0;
    for (int64_t k = 0; k < excess; k++) {
        /* The first `lead` cuts go to the longer side, then B, A, B, A, ... */
        int to_a = k < lead ? la > lb : ((k - lead) % 2 == 1);
        int front = out->trunc_draws[k] < 0.5;
        if (to_a) {
            if (front) a_front++; else a_back++;
        } else {
            if (front) b_front++; else b_back++;
        }
    }
    a->begin += a_front;
    a->end -= a_back;
    b->begin += b_front;
    b->end -= b_back;
    return 0;
}

/* mask_whole_words on one sequence, in place: candidates from the start flags (make_candidates),
 * then mask_ngrams' draws and choices. `starts[i]` is read only where ids[i] is not special (the
 * token boundary works, as in masking.mask_row). Writes the sorted positions and original ids to
 * mpos/mids (room for max_predictions) and returns how many. */
static int64_t mask_sequence(bitgen_t *bg, const Options *o, Out *out, int32_t *ids, const uint8_t *starts,
                             int64_t length, int32_t *mpos, int32_t *mids) {
    /* make_candidates: non-special positions; a word begins at a word start (or every position
     * without whole_word), and the first candidate always begins one. */
    int64_t count = 0, words = 0, masked_count = 0;
    for (int64_t i = 0; i < length; i++) {
        if (is_special(o, ids[i])) continue;
        if (!o->whole_word || starts[i] || count == 0) out->word_starts[words++] = count;
        out->positions[count++] = i;
    }
    out->word_starts[words] = count;
    /* mask_ngrams: the budget, then the draws in the Python order. */
    double expected = (double)length * o->masked_lm_prob;
    int64_t budget = (int64_t)nearbyint(expected); /* half to even, as Python's round */
    if (budget < 1) budget = 1;
    if (budget > o->max_predictions) budget = o->max_predictions;
    draw_permutation(bg, out->order, words);
    random_standard_uniform_fill(bg, words, out->n_draws);
    random_standard_uniform_fill(bg, 2 * budget, out->kind_draws);
    random_bounded_uint64_fill(bg, 0, (uint64_t)(o->vocab_size - 1), budget, false, out->random_ids);
    memset(out->taken, 0, (size_t)words);
    int64_t room = budget;
    for (int64_t visit = 0; visit < words; visit++) {
        if (room <= 0) break;
        int64_t k = out->order[visit];
        double u = out->n_draws[visit];
        int64_t below = 0; /* bisect_right(cumulative, u) */
        while (below < o->ngram && o->cumulative[below] <= u) below++;
        int64_t end = k + 1 + below;
        if (end > k + o->ngram) end = k + o->ngram;
        if (end > words) end = words;
        while (out->word_starts[end] - out->word_starts[k] > room && end - k > 1) end--;
        int64_t size = out->word_starts[end] - out->word_starts[k];
        if (size > room) continue;
        int overlap = 0;
        for (int64_t w = k; w < end; w++) overlap |= out->taken[w];
        if (overlap) continue;
        memset(out->taken + k, 1, (size_t)(end - k));
        for (int64_t p = out->word_starts[k]; p < out->word_starts[end]; p++)
            out->masked[masked_count++] = (int32_t)out->positions[p];
        room -= size;
    }
    /* Originals first (the ids are overwritten below), in masking order; sorted after. */
    for (int64_t j = 0; j < masked_count; j++) {
        int32_t pos = out->masked[j];
        mpos[j] = pos;
        mids[j] = ids[pos];
    }
    for (int64_t j = 0; j < masked_count; j++) {
        int32_t pos = out->masked[j];
        if (out->kind_draws[2 * j] < 0.8)
            ids[pos] = o->mask_id;
        else if (out->kind_draws[2 * j + 1] >= 0.5)
            ids[pos] = (int32_t)out->random_ids[j];
    }
    /* Insertion sort of (position, original id) by position: at most max_predictions. */
    for (int64_t j = 1; j < masked_count; j++) {
        int32_t p = mpos[j], v = mids[j];
        int64_t i = j - 1;
        while (i >= 0 && mpos[i] > p) {
            mpos[i + 1] = mpos[i];
            mids[i + 1] = mids[i];
            i--;
        }
        mpos[i + 1] = p;
        mids[i + 1] = v;
    }
    return masked_count;
}

/* [CLS] A [SEP] B [SEP], its token types and boundary, then the masks (build_instance). */
static int emit_instance(bitgen_t *bg, const Options *o, const Group *g, Out *out, Span a, Span b, int label) {
    int64_t la = a.end - a.begin, lb = b.end - b.begin, length = la + lb + 3;
    if (vec_reserve(&out->ids, length) || vec_reserve(&out->types, length) ||
        vec_reserve(&out->boundary, length) || vec_reserve(&out->offsets, 1) ||
        vec_reserve(&out->moffsets, 1) || vec_reserve(&out->labels, 1) ||
        vec_reserve(&out->mpos, o->max_predictions) || vec_reserve(&out->mids, o->max_predictions))
        return -1;
    int32_t *ids = VEC_AT(out->ids, int32_t) + out->ids.len;
    uint8_t *types = VEC_AT(out->types, uint8_t) + out->types.len;
    uint8_t *boundary = VEC_AT(out->boundary, uint8_t) + out->boundary.len;
    /* Word starts of the sequence: [CLS] and both [SEP] count as starts (they are special anyway). */
    int64_t n = 0;
    ids[n] = o->cls_id; types[n] = 0; boundary[n] = 1; n++;
    for (int64_t t = a.begin; t < a.end; t++, n++) {
        ids[n] = g->tokens[t]; types[n] = 0;
        boundary[n] = g->starts[t] || is_special(o, g->tokens[t]);
    }
    ids[n] = o->sep_id; types[n] = 0; boundary[n] = 1; n++;
    for (int64_t t = b.begin; t < b.end; t++, n++) {
        ids[n] = g->tokens[t]; types[n] = 1;
        boundary[n] = g->starts[t] || is_special(o, g->tokens[t]);
    }
    ids[n] = o->sep_id; types[n] = 1; boundary[n] = 1; n++;

    int64_t masked_count = 0;
    int32_t *mpos = VEC_AT(out->mpos, int32_t) + out->mpos.len;
    int32_t *mids = VEC_AT(out->mids, int32_t) + out->mids.len;
    if (o->masked_lm_prob != 0.0) masked_count = mask_sequence(bg, o, out, ids, boundary, length, mpos, mids);
    out->ids.len += length;
    out->types.len += length;
    out->boundary.len += length;
    out->mpos.len += masked_count;
    out->mids.len += masked_count;
    VEC_AT(out->offsets, int64_t)[out->offsets.len++] = (int64_t)out->ids.len;
    VEC_AT(out->moffsets, int64_t)[out->moffsets.len++] = (int64_t)out->mpos.len;
    VEC_AT(out->labels, uint8_t)[out->labels.len++] = (uint8_t)label;
    return 0;
}

/* The reference's B for a single-segment chunk: segments of a random other document. */
static Span random_document_b(bitgen_t *bg, const Group *g, int64_t document, int64_t target_b_length) {
    int64_t other = document;
    for (int tries = 0; tries < 10; tries++) {
        other = draw_integer(bg, 0, g->num_docs);
        if (other != document) break;
    }
    int64_t first = g->doc[other], last = g->doc[other + 1];
    int64_t s = first + draw_integer(bg, 0, last - first), length = 0;
    Span b = {g->seg[s], g->seg[s]};
    for (; s < last; s++) {
        b.end = g->seg[s + 1];
        length += g->seg[s + 1] - g->seg[s];
        if (length >= target_b_length) break;
    }
    return b;
}

/* pair_chunk + build_instance for the chunk of segments [first, last) of document d. */
static int chunk_instance(bitgen_t *bg, const Options *o, const Group *g, Out *out, int64_t d, int64_t first,
                          int64_t last, int64_t target) {
    int64_t n = last - first;
    int64_t a_end = n < 2 ? 1 : draw_integer(bg, 1, n);
    Span a = {g->seg[first], g->seg[first + a_end]}, b;
    int label;
    if (n >= 2) {
        b.begin = g->seg[first + a_end];
        b.end = g->seg[last];
        label = 0;
        if (random_standard_uniform(bg) < 0.5) {
            Span t = a; a = b; b = t;
            label = 1;
        }
    } else if (o->policy == POLICY_REFERENCE) {
        b = random_document_b(bg, g, d, target - (a.end - a.begin));
        label = 1;
    } else if (o->policy == POLICY_SPLIT) {
        int64_t len = a.end - a.begin;
        if (len < 2) return 0;
        int64_t cuts = 0;
        for (int64_t i = 1; i < len; i++) cuts += g->starts[a.begin + i] != 0;
        int64_t cut;
        if (cuts == 0) {
            cut = 1 + draw_integer(bg, 0, len - 1);
        } else {
            int64_t pick = draw_integer(bg, 0, cuts);
            cut = 0;
            for (int64_t i = 1; i < len; i++) {
                if (g->starts[a.begin + i] && pick-- == 0) {
                    cut = i;
                    break;
                }
            }
        }
        b.begin = a.begin + cut;
        b.end = a.end;
        a.end = a.begin + cut;
        label = 0;
        if (random_standard_uniform(bg) < 0.5) {
            Span t = a; a = b; b = t;
            label = 1;
        }
    } else {
        return 0;
    }
    if (truncate_pair(bg, out, &a, &b, o->max_seq_length - 3)) return -1;
    return emit_instance(bg, o, g, out, a, b, label);
}

static int run_pass(bitgen_t *bg, const Options *o, const Group *g, Out *out) {
    int64_t max_num_tokens = o->max_seq_length - 3;
    VEC_AT(out->offsets, int64_t)[out->offsets.len++] = 0;
    VEC_AT(out->moffsets, int64_t)[out->moffsets.len++] = 0;
    for (int64_t d = 0; d < g->num_docs; d++) {
        /* draw_target_length: the uniform is drawn even when short_seq_prob is 0. */
        int64_t target = max_num_tokens;
        if (random_standard_uniform(bg) < o->short_seq_prob) target = draw_integer(bg, 2, max_num_tokens + 1);
        /* chunk_segments: accumulate until >= target tokens or the document's end. */
        int64_t first = g->doc[d], last = g->doc[d + 1], total = 0;
        for (int64_t s = first; s < last; s++) {
            total += g->seg[s + 1] - g->seg[s];
            if (s == last - 1 || total >= target) {
                if (chunk_instance(bg, o, g, out, d, first, s + 1, target)) return -1;
                first = s + 1;
                total = 0;
            }
        }
    }
    return 0;
}

/* -- the Python entry point -------------------------------------------------------------------- */

/* The output columns and the scratch of sequences up to `length` tokens, `budget` masks. */
static int out_init(Out *out, size_t length, size_t budget) {
    out->ids.item = 4; out->offsets.item = 8; out->types.item = 1; out->boundary.item = 1;
    out->mpos.item = 4; out->moffsets.item = 8; out->mids.item = 4; out->labels.item = 1;
    if (length == 0) length = 1;
    out->positions = malloc(length * sizeof(int64_t));
    out->word_starts = malloc((length + 1) * sizeof(int64_t));
    out->order = malloc(length * sizeof(int64_t));
    out->n_draws = malloc(length * sizeof(double));
    out->kind_draws = malloc(2 * budget * sizeof(double));
    out->random_ids = malloc(budget * sizeof(uint64_t));
    out->taken = malloc(length);
    out->masked = malloc(budget * sizeof(int32_t));
    return !out->positions || !out->word_starts || !out->order || !out->n_draws || !out->kind_draws ||
           !out->random_ids || !out->taken || !out->masked || vec_reserve(&out->offsets, 1) ||
           vec_reserve(&out->moffsets, 1);
}

static void out_free(Out *out) {
    Vec *vecs[] = {&out->ids, &out->offsets, &out->types, &out->boundary,
                   &out->mpos, &out->moffsets, &out->mids, &out->labels};
    for (size_t i = 0; i < sizeof vecs / sizeof *vecs; i++) free(vecs[i]->data);
    free(out->positions); free(out->word_starts); free(out->order); free(out->n_draws);
    free(out->kind_draws); free(out->trunc_draws); free(out->random_ids); free(out->taken);
    free(out->masked);
}

static PyObject *vec_bytes(const Vec *v) {
    return PyBytes_FromStringAndSize(v->data ? v->data : "", (Py_ssize_t)(v->len * v->item));
}

static int check_buffer(const Py_buffer *view, Py_ssize_t item, const char *name) {
    if (view->len % item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %zd-byte items", name,
                     view->len, item);
        return -1;
    }
    return 0;
}

static PyObject *build_pass(PyObject *self, PyObject *args) {
    PyObject *capsule;
    Py_buffer tokens, starts, seg, doc, cumulative;
    Options o;
    int whole_word;
    long long max_seq_length, max_predictions, ngram, policy, vocab_size;
    int cls_id, sep_id, pad_id, mask_id;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oy*y*y*y*LLddLpLLiiiiy*", &capsule, &tokens, &starts, &seg, &doc,
                          &max_seq_length, &max_predictions, &o.masked_lm_prob, &o.short_seq_prob, &ngram,
                          &whole_word, &policy, &vocab_size, &cls_id, &sep_id, &pad_id, &mask_id,
                          &cumulative))
        return NULL;
    PyObject *result = NULL;
    Out out;
    memset(&out, 0, sizeof out);
    bitgen_t *bg = PyCapsule_GetPointer(capsule, "BitGenerator");
    if (bg == NULL) goto done;
    if (check_buffer(&tokens, 4, "tokens") || check_buffer(&seg, 8, "seg_offsets") ||
        check_buffer(&doc, 8, "doc_offsets") || check_buffer(&cumulative, 8, "cumulative"))
        goto done;
    o.max_seq_length = max_seq_length; o.max_predictions = max_predictions; o.ngram = ngram;
    o.policy = policy; o.vocab_size = vocab_size; o.whole_word = whole_word;
    o.cls_id = cls_id; o.sep_id = sep_id; o.pad_id = pad_id; o.mask_id = mask_id;
    o.cumulative = cumulative.buf;
    Group g = {tokens.buf, starts.buf, seg.buf, doc.buf, doc.len / 8 - 1};
    if (o.max_seq_length < 5 || o.ngram < 1 || cumulative.len / 8 != o.ngram || starts.len * 4 != tokens.len ||
        g.num_docs < 0 || o.policy < 0 || o.policy > 2 || o.max_predictions < 1) {
        PyErr_SetString(PyExc_ValueError, "build_pass: inconsistent arguments");
        goto done;
    }
    int failed = out_init(&out, (size_t)o.max_seq_length, (size_t)o.max_predictions);
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = run_pass(bg, &o, &g, &out);
        Py_END_ALLOW_THREADS
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NNNNNNNN)", vec_bytes(&out.ids), vec_bytes(&out.offsets), vec_bytes(&out.types),
                           vec_bytes(&out.boundary), vec_bytes(&out.mpos), vec_bytes(&out.moffsets),
                           vec_bytes(&out.mids), vec_bytes(&out.labels));
done:
    out_free(&out);
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&seg);
    PyBuffer_Release(&doc);
    PyBuffer_Release(&cumulative);
    return result;
}

/* mask_rows(capsules, ids, offsets, boundary, max_predictions, masked_lm_prob, ngram, whole_word,
 *           vocab_size, cls_id, sep_id, pad_id, mask_id, cumulative)
 *   -> (masked ids int32 (same offsets), positions int32, mask_offsets int64[R+1], originals int32)
 * masking.mask_row on each row r, drawing from capsules[r] (the loader's dynamic masks). */
static PyObject *mask_rows(PyObject *self, PyObject *args) {
    PyObject *capsules;
    Py_buffer ids, offsets, boundary, cumulative;
    Options o;
    memset(&o, 0, sizeof o);
    long long max_predictions, ngram, vocab_size;
    int whole_word, cls_id, sep_id, pad_id, mask_id;
    (void)self;
    if (!PyArg_ParseTuple(args, "Oy*y*y*LdLpLiiiiy*", &capsules, &ids, &offsets, &boundary, &max_predictions,
                          &o.masked_lm_prob, &ngram, &whole_word, &vocab_size, &cls_id, &sep_id, &pad_id,
                          &mask_id, &cumulative))
        return NULL;
    PyObject *result = NULL, *masked = NULL, *seq = NULL;
    Out out;
    memset(&out, 0, sizeof out);
    o.max_predictions = max_predictions; o.ngram = ngram; o.whole_word = whole_word;
    o.vocab_size = vocab_size; o.cls_id = cls_id; o.sep_id = sep_id; o.pad_id = pad_id;
    o.mask_id = mask_id; o.cumulative = cumulative.buf;
    seq = PySequence_Fast(capsules, "mask_rows: capsules must be a sequence");
    if (seq == NULL) goto done;
    Py_ssize_t rows = PySequence_Fast_GET_SIZE(seq);
    const int64_t *off = offsets.buf;
    if (check_buffer(&ids, 4, "ids") || check_buffer(&offsets, 8, "offsets") ||
        check_buffer(&cumulative, 8, "cumulative"))
        goto done;
    if (offsets.len / 8 != rows + 1 || off[0] != 0 || off[rows] * 4 != ids.len || boundary.len * 4 != ids.len ||
        cumulative.len / 8 != o.ngram || o.ngram < 1 || o.max_predictions < 1) {
        PyErr_SetString(PyExc_ValueError, "mask_rows: inconsistent arguments");
        goto done;
    }
    int64_t longest = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (off[r + 1] < off[r]) {
            PyErr_SetString(PyExc_ValueError, "mask_rows: offsets must not decrease");
            goto done;
        }
        if (off[r + 1] - off[r] > longest) longest = off[r + 1] - off[r];
    }
    if (out_init(&out, (size_t)longest, (size_t)o.max_predictions) ||
        vec_reserve(&out.mpos, (size_t)(rows * o.max_predictions)) ||
        vec_reserve(&out.mids, (size_t)(rows * o.max_predictions))) {
        PyErr_NoMemory();
        goto done;
    }
    masked = PyBytes_FromStringAndSize(ids.buf, ids.len);
    if (masked == NULL) goto done;
    int32_t *values = (int32_t *)PyBytes_AS_STRING(masked);
    VEC_AT(out.moffsets, int64_t)[out.moffsets.len++] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        bitgen_t *bg = PyCapsule_GetPointer(PySequence_Fast_GET_ITEM(seq, r), "BitGenerator");
        if (bg == NULL) goto done;
        if (vec_reserve(&out.moffsets, 1)) {
            PyErr_NoMemory();
            goto done;
        }
        int64_t n = mask_sequence(bg, &o, &out, values + off[r], (const uint8_t *)boundary.buf + off[r],
                                  off[r + 1] - off[r], VEC_AT(out.mpos, int32_t) + out.mpos.len,
                                  VEC_AT(out.mids, int32_t) + out.mids.len);
        out.mpos.len += n;
        out.mids.len += n;
        VEC_AT(out.moffsets, int64_t)[out.moffsets.len++] = (int64_t)out.mpos.len;
    }
    result = Py_BuildValue("(ONNN)", masked, vec_bytes(&out.mpos), vec_bytes(&out.moffsets), vec_bytes(&out.mids));
done:
    Py_XDECREF(masked);
    Py_XDECREF(seq);
    out_free(&out);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&boundary);
    PyBuffer_Release(&cumulative);
    return result;
}

/* flatten_ids(lists) -> (int32 bytes of every id, int64 bytes of each list's length): the
 * tokenizer's list of id lists as flat columns, without a Python object per id. */
static PyObject *flatten_ids(PyObject *self, PyObject *lists) {
    (void)self;
    if (!PyList_Check(lists)) {
        PyErr_SetString(PyExc_TypeError, "flatten_ids: expected a list of lists of ints");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(lists), total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(lists, i);
        if (!PyList_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "flatten_ids: expected a list of lists of ints");
            return NULL;
        }
        total += PyList_GET_SIZE(row);
    }
    PyObject *ids = PyBytes_FromStringAndSize(NULL, total * 4);
    PyObject *lengths = PyBytes_FromStringAndSize(NULL, n * 8);
    if (ids == NULL || lengths == NULL) goto fail;
    int32_t *out = (int32_t *)PyBytes_AS_STRING(ids);
    int64_t *len = (int64_t *)PyBytes_AS_STRING(lengths);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(lists, i);
        Py_ssize_t m = PyList_GET_SIZE(row);
        len[i] = m;
        for (Py_ssize_t j = 0; j < m; j++) {
            long value = PyLong_AsLong(PyList_GET_ITEM(row, j));
            if (value == -1 && PyErr_Occurred()) goto fail;
            if (value < INT32_MIN || value > INT32_MAX) {
                PyErr_SetString(PyExc_OverflowError, "flatten_ids: an id does not fit in int32");
                goto fail;
            }
            *out++ = (int32_t)value;
        }
    }
    return Py_BuildValue("(NN)", ids, lengths);
fail:
    Py_XDECREF(ids);
    Py_XDECREF(lengths);
    return NULL;
}

/* take_rows(order, offsets, mask_offsets, input_ids, token_type_ids, token_boundary,
 *           masked_lm_positions, masked_lm_ids)
 *   -> (input_ids, offsets, token_type_ids, token_boundary, masked_lm_positions, mask_offsets,
 *       masked_lm_ids) as bytes: the rows order[0], order[1], ... of a pass's columns
 *   (InstanceColumns.take; order int64[R], offsets and mask_offsets int64[R+1]). */
static int check_offsets(const Py_buffer *offsets, Py_ssize_t rows, Py_ssize_t values, const char *name) {
    const int64_t *off = offsets->buf;
    if (offsets->len != (rows + 1) * 8 || off[0] != 0 || off[rows] != values) goto bad;
    for (Py_ssize_t r = 0; r < rows; r++)
        if (off[r + 1] < off[r]) goto bad;
    return 0;
bad:
    PyErr_Format(PyExc_ValueError, "take_rows: %s do not match the columns", name);
    return -1;
}

static void gather(const int64_t *order, Py_ssize_t rows, const int64_t *off, const char *src, size_t item,
                   char *dst, int64_t *new_off) {
    int64_t at = 0;
    if (new_off != NULL) new_off[0] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        int64_t row = order[r], n = off[row + 1] - off[row];
        memcpy(dst + at * item, src + off[row] * item, (size_t)n * item);
        at += n;
        if (new_off != NULL) new_off[r + 1] = at;
    }
}

static PyObject *take_rows(PyObject *self, PyObject *args) {
    Py_buffer order, offsets, moffsets, ids, types, boundary, mpos, mids;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*", &order, &offsets, &moffsets, &ids, &types, &boundary, &mpos,
                          &mids))
        return NULL;
    PyObject *result = NULL;
    PyObject *out[7] = {NULL};
    Py_ssize_t rows = order.len / 8, tokens = ids.len / 4, masks = mpos.len / 4;
    const int64_t *ord = order.buf;
    if (check_buffer(&order, 8, "order") || check_buffer(&ids, 4, "input_ids") ||
        check_buffer(&mpos, 4, "masked_lm_positions") || check_offsets(&offsets, rows, tokens, "offsets") ||
        check_offsets(&moffsets, rows, masks, "mask_offsets"))
        goto done;
    if (types.len != tokens || boundary.len != tokens || mids.len != mpos.len) {
        PyErr_SetString(PyExc_ValueError, "take_rows: the columns differ in length");
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (ord[r] < 0 || ord[r] >= rows) {
            PyErr_SetString(PyExc_ValueError, "take_rows: order holds a row out of range");
            goto done;
        }
    }
    Py_ssize_t sizes[7] = {ids.len, (rows + 1) * 8, tokens, tokens, mpos.len, (rows + 1) * 8, mids.len};
    for (int i = 0; i < 7; i++)
        if ((out[i] = PyBytes_FromStringAndSize(NULL, sizes[i])) == NULL) goto done;
    char *o[7];
    for (int i = 0; i < 7; i++) o[i] = PyBytes_AS_STRING(out[i]);
    Py_BEGIN_ALLOW_THREADS
    gather(ord, rows, offsets.buf, ids.buf, 4, o[0], (int64_t *)o[1]);
    gather(ord, rows, offsets.buf, types.buf, 1, o[2], NULL);
    gather(ord, rows, offsets.buf, boundary.buf, 1, o[3], NULL);
    gather(ord, rows, moffsets.buf, mpos.buf, 4, o[4], (int64_t *)o[5]);
    gather(ord, rows, moffsets.buf, mids.buf, 4, o[6], NULL);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(OOOOOOO)", out[0], out[1], out[2], out[3], out[4], out[5], out[6]);
done:
    for (int i = 0; i < 7; i++) Py_XDECREF(out[i]);
    Py_buffer *views[] = {&order, &offsets, &moffsets, &ids, &types, &boundary, &mpos, &mids};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++) PyBuffer_Release(views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"build_pass", build_pass, METH_VARARGS, "One make-data pass over a group (see the module source)."},
    {"mask_rows", mask_rows, METH_VARARGS, "masking.mask_row on many rows, one generator each."},
    {"flatten_ids", flatten_ids, METH_O, "A list of id lists as (int32 ids, int64 lengths) bytes."},
    {"take_rows", take_rows, METH_VARARGS, "A pass's columns with their rows reordered."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "albertctl.data._instances",
    "Compiled make-data pass: the pure-Python sop/masking algorithm, draw for draw.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__instances(void) { return PyModule_Create(&module); }
